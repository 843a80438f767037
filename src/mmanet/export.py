"""Export a model file as ONE graph for every subset: ONNX or TorchScript.

Inputs are named by modality (raw, unstandardised, as :meth:`mmanet.Predictor.predict` takes
them) plus ``present`` ``(B, M)`` bool; the output is ``logits`` ``(B, K)`` (``(B, K, H, W)`` for
segmentation), calibrated. The batch axis is dynamic. ONNX needs the ``export`` extra
(``pip install "mmanet[export]"``: onnx, onnxruntime).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from mmanet.deploy import DeployedModel
from mmanet.io import atomic_write_bytes
from mmanet.modelfile import load_model_file
from mmanet.nn.segmentation import PyramidPooling

__all__ = ["export_model_file", "export_onnx", "export_torchscript"]

Format = Literal["onnx", "torchscript"]


class _Positional(nn.Module):
    """``(*inputs, present) -> logits`` with ``present`` last and positional (for tracing)."""

    def __init__(self, deployed: DeployedModel) -> None:
        super().__init__()
        self.deployed = deployed

    def forward(self, *args: Tensor) -> Tensor:
        return self.deployed(*args[:-1], present=args[-1])


def _example(deployed: DeployedModel) -> tuple[Tensor, ...]:
    inputs, present = deployed.example_inputs(batch=2)
    present = present.clone()
    present[1, 0] = False  # a partial row, so the trace keeps the masking branches general
    return (*inputs, present)


def export_onnx(deployed: DeployedModel, path: str | Path, opset: int = 17) -> Path:
    """Write ``deployed`` as an ONNX graph (inputs: modality names and ``present``; output: ``logits``)."""
    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError as err:
        raise RuntimeError('ONNX export needs the onnx package: pip install "mmanet[export]"') from err
    _check_onnx_pooling(deployed)
    names = [*deployed.modalities, "present"]
    axes = {n: {0: "batch"} for n in [*names, "logits"]}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape checks folded into constants
        try:
            torch.onnx.export(
                _Positional(deployed).eval(),
                _example(deployed),
                buffer,  # type: ignore[arg-type]
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        except torch.onnx.errors.OnnxExporterError as err:
            raise RuntimeError(_onnx_failure(err)) from err
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _onnx_failure(err: Exception) -> str:
    """Why the ONNX exporter refused, in one line."""
    return f"ONNX export failed: {' '.join(str(err).split())[:300]}"


def _check_onnx_pooling(deployed: DeployedModel) -> None:
    """Refuse, before tracing, a pyramid pooling whose bins do not divide its feature map at the
    export size: the ONNX exporter has no form for that adaptive pooling (TorchScript has)."""
    sizes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def record(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        bins = tuple(int(branch[0].output_size) for branch in module.branches)  # type: ignore[union-attr, index]
        sizes.append((tuple(args[0].shape[-2:]), bins))

    hooks = [m.register_forward_pre_hook(record) for m in deployed.modules() if isinstance(m, PyramidPooling)]
    try:
        with torch.no_grad():
            _Positional(deployed).eval()(*_example(deployed))
    finally:
        for hook in hooks:
            hook.remove()
    for size, bins in sizes:
        if any(n % b for n in size for b in bins):
            raise ValueError(
                f"the segmentation network's pyramid pooling pools a {size[0]}x{size[1]} map to {list(bins)} bins "
                "at the export size, which ONNX cannot express; use --format torchscript"
            )


def export_torchscript(deployed: DeployedModel, path: str | Path) -> Path:
    """Write ``deployed`` as a traced TorchScript module called as ``module(*inputs, present)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_Positional(deployed).eval(), _example(deployed), check_trace=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def export_model_file(model_path: str | Path, out: str | Path, fmt: Format = "onnx") -> Path:
    """Export the model file at ``model_path`` to ``out`` in format ``fmt``."""
    deployed = DeployedModel(load_model_file(model_path)).eval()
    if fmt == "onnx":
        return export_onnx(deployed, out)
    if fmt == "torchscript":
        return export_torchscript(deployed, out)
    raise ValueError(f"unknown export format {fmt!r}; available: ['onnx', 'torchscript']")
