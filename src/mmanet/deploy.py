"""The deployed model: ONE module for every subset, used by :mod:`mmanet.predict` and traced by
:mod:`mmanet.export`, so Python, ONNX and TorchScript compute the same thing.

``DeployedModel(*inputs, present)``: raw (unstandardised) inputs, one per modality in
:attr:`modalities` order, shapes ``(B, *input_shape)``, and ``present`` ``(B, M)`` bool (which
modalities each sample holds); returns calibrated ``logits`` ``(B, K)`` (``(B, K, H, W)`` for
segmentation). A sample's combination is its ``present`` row; the network of the model file that
serves it decodes it (one network for a unified model, one per combination for ``customized``),
and its logits are divided by that combination's temperature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmanet.modality import all_combinations, combination_codes, combination_mask, combination_name
from mmanet.modelfile import ModelFile

__all__ = ["DeployedModel"]


def _code(mask: Tensor) -> int:
    return int(combination_codes(mask[None])[0])


class DeployedModel(nn.Module):
    """Every network of a model file behind one forward, with calibration applied."""

    serves: Tensor
    temperature: Tensor

    def __init__(self, model: ModelFile) -> None:
        super().__init__()
        self.modalities = tuple(model.modalities)
        self.input_shapes = {m: e.spec.input_shapes[m] for e in model.entries for m in e.spec.modalities}
        self.modalities = tuple(m for m in self.modalities if m in self.input_shapes)
        self.nets = nn.ModuleList([e.net for e in model.entries])
        self.columns = [[self.modalities.index(m) for m in e.spec.modalities] for e in model.entries]
        size = 1 << len(self.modalities)
        serves = torch.zeros(len(model.entries), size, dtype=torch.bool)
        temperature = torch.ones(size)
        names = {}
        for combo in all_combinations(self.modalities):
            names[_code(combination_mask(combo, self.modalities))] = combination_name(combo)
        calibration = model.meta.get("calibration") or {}
        for e, entry in enumerate(model.entries):
            for combo in entry.serves:
                serves[e, _code(combination_mask(combo, self.modalities))] = True
        for code, name in names.items():
            temperature[code] = float((calibration.get("temperature") or {}).get(name, 1.0))
        self.register_buffer("serves", serves)
        self.register_buffer("temperature", temperature)
        self.combination_names = names  # code -> name, for the combinations some network serves
        self.served = sorted(code for code in names if bool(serves[:, code].any()))

    def forward(self, *inputs: Tensor, present: Tensor) -> Tensor:
        """Calibrated logits; ``inputs`` in :attr:`modalities` order."""
        code = combination_codes(present)
        out: Tensor | None = None
        for e, (net, columns) in enumerate(zip(self.nets, self.columns, strict=True)):
            logits = net({self.modalities[c]: inputs[c] for c in columns}, present[:, columns]).logits
            if out is None:
                out = logits
            else:
                chosen = self.serves[e][code].reshape(-1, *([1] * (logits.ndim - 1)))
                out = torch.where(chosen, logits, out)
        assert out is not None
        scale = self.temperature[code].reshape(-1, *([1] * (out.ndim - 1)))
        return out / scale

    def example_inputs(self, batch: int = 2) -> tuple[Sequence[Tensor], Tensor]:
        """Zero inputs of every modality and an all-present mask (for tracing)."""
        inputs = [torch.zeros(batch, *self.input_shapes[m]) for m in self.modalities]
        return inputs, torch.ones(batch, len(self.modalities), dtype=torch.bool)
