"""Export a model file as ONE graph for every subset: ONNX or TorchScript.

Inputs are named by modality (raw, unstandardised, as :meth:`mmanet.Predictor.predict` takes
them) plus ``present`` ``(B, M)`` bool; the output is ``logits`` ``(B, K)`` (``(B, K, H, W)`` for
segmentation), calibrated. The batch axis is dynamic. ONNX needs the ``export`` extra
(``pip install "mmanet[export]"``: onnx, onnxruntime). A segmentation graph is fixed at the
export size in ONNX (its pyramid pooling becomes two matrix products with bins computed for that
size, which ONNX can express where ``AdaptiveAvgPool2d`` cannot); TorchScript takes any size.
"""

from __future__ import annotations

import copy
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
    deployed = _onnx_ready(deployed)
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


def pooling_matrix(size: int, bins: int) -> Tensor:
    """``(bins, size)`` rows that average what adaptive average pooling gives bin ``i``: positions
    ``floor(i * size / bins)`` to ``ceil((i + 1) * size / bins) - 1``, PyTorch's rule."""
    index = torch.arange(bins)
    start = (index * size) // bins
    end = ((index + 1) * size + bins - 1) // bins
    position = torch.arange(size)
    inside = (position[None, :] >= start[:, None]) & (position[None, :] < end[:, None])
    return inside.float() / (end - start).float()[:, None]


class MatrixPool(nn.Module):
    """Adaptive average pooling to ``bins x bins`` as ``P_h @ x @ P_w^T`` (ONNX: two MatMuls).

    ``(N, C, H, W) -> (N, C, bins, bins)``; the matrices are built for the size of the input it
    is traced with, so an ONNX graph holding it serves that spatial size only.
    """

    def __init__(self, bins: int) -> None:
        super().__init__()
        self.output_size = bins

    def forward(self, x: Tensor) -> Tensor:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        rows = pooling_matrix(height, self.output_size).to(x)
        cols = pooling_matrix(width, self.output_size).to(x)
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


def _onnx_ready(deployed: DeployedModel) -> DeployedModel:
    """A copy of ``deployed`` whose pyramid poolings pool with :class:`MatrixPool` (same values)."""
    ready = copy.deepcopy(deployed)
    for module in ready.modules():
        if isinstance(module, PyramidPooling):
            for branch in module.branches:
                pool = branch[0]  # type: ignore[index]
                branch[0] = MatrixPool(int(pool.output_size))  # type: ignore[index, operator]
    return ready


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
