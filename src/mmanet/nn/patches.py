"""Per-combination affine patches on the normalisation layers of the shared trunk (issue 10).

A unified network shares its decoder between every combination of modalities, while a
customized model gives one combination the whole network. A *patch* gives each combination a
little of its own: after a normalisation layer (BatchNorm or LayerNorm) the features are scaled
and shifted per channel by parameters of the sample's combination,

    y = norm(x) * (1 + scale[c]) + shift[c],    c = sum_j mask_j * 2^j  (the combination's code),

(:func:`mmanet.modality.combination_codes`), with ``scale`` and ``shift`` of shape
``(2^M, C)`` starting at zero (the patched network starts as the unpatched one).
Normalisation statistics stay shared, so training and evaluation normalise alike; only the
affine part is per combination ("model patches", Mudrakarta et al., ICLR 2019: per-task
normalisation parameters carry much of what separate networks learn).
The parameters cost ``2 * 2^M * C`` per layer; at M = 6 and 128 channels 16 k.

A *readout* (:class:`CombinationReadout`, classification) adds a linear map per combination
from the fused vector to the logits, next to the shared decoder.

The combination reaches the patches through :func:`conditioned`, which sets every patch's codes
for one call (the network's ``decode``); a patch used outside it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from mmanet.modality import code_count, combination_codes

__all__ = [
    "MAX_PATCHED_MODALITIES",
    "CombinationAffine",
    "CombinationReadout",
    "Conditioned",
    "attach_patches",
    "conditioned",
]

MAX_PATCHED_MODALITIES = 12  # 4096 slots per layer
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


class Conditioned(nn.Module):
    """A part with per-combination parameters: :func:`conditioned` gives it each row's code."""

    codes: Tensor | None = None

    def _codes_for(self, rows: int) -> Tensor:
        if self.codes is None:
            raise RuntimeError("a combination patch was called without its combination: use net.decode(fused, mask)")
        if self.codes.shape[0] != rows:
            raise ValueError(f"combination patch: {self.codes.shape[0]} codes for a batch of {rows} rows")
        return self.codes


class CombinationAffine(Conditioned):
    """``norm`` followed by a per-combination scale and shift.

    Args:
        norm: the normalisation layer (its own affine part stays: the shared part).
        channels: ``C``, the feature dimension the layer normalises (dim 1 of its input).
        slots: ``2^M`` (one per subset, the empty one included).
    """

    def __init__(self, norm: nn.Module, channels: int, slots: int) -> None:
        super().__init__()
        self.norm = norm
        self.scale = nn.Parameter(torch.zeros(slots, channels))
        self.shift = nn.Parameter(torch.zeros(slots, channels))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, C, *spatial)`` -> same shape."""
        codes = self._codes_for(x.shape[0])
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        return self.norm(x) * (1 + self.scale[codes].view(shape)) + self.shift[codes].view(shape)


class CombinationReadout(Conditioned):
    """A decoder plus a linear map per combination from the fused vector to the logits.

    ``logits = decoder(fused).logits + active[c] * (fused @ weight[c] + bias[c])``, ``weight``
    ``(2^M, D, K)`` and ``bias`` ``(2^M, K)`` starting at zero; ``active`` ``(2^M,)`` bool says
    which combinations have a readout (default: all); the features (what MAD reads) are the
    decoder's.
    """

    active: Tensor

    def __init__(
        self, decoder: nn.Module, features: int, classes: int, slots: int, active: Tensor | None = None
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.in_shape = getattr(decoder, "in_shape", (features,))
        self.weight = nn.Parameter(torch.zeros(slots, features, classes))
        self.bias = nn.Parameter(torch.zeros(slots, classes))
        on = torch.ones(slots, dtype=torch.bool) if active is None else active.to(torch.bool)
        if on.shape != (slots,):
            raise ValueError(f"combination readout: 'active' must have shape ({slots},), got {tuple(on.shape)}")
        self.register_buffer("active", on, persistent=False)  # derived from the configuration

    def forward(self, fused: Tensor) -> Any:
        """``fused`` ``(B, D)`` -> the decoder's :class:`~mmanet.nn.decoders.NetOutput` with the readout added."""
        codes = self._codes_for(fused.shape[0])
        out = self.decoder(fused)
        readout = torch.einsum("bd,bdk->bk", fused.flatten(1), self.weight[codes]) + self.bias[codes]
        return out._replace(logits=out.logits + readout * self.active[codes].to(readout.dtype)[:, None])


def _channels(norm: nn.Module) -> int:
    if isinstance(norm, nn.LayerNorm):
        if len(norm.normalized_shape) != 1:
            raise ValueError(f"combination patches need LayerNorm over one dimension, got {norm.normalized_shape}")
        return int(norm.normalized_shape[0])
    return int(norm.num_features)  # type: ignore[arg-type]


def attach_patches(module: nn.Module, num_modalities: int) -> int:
    """Wrap every normalisation layer below ``module`` in a :class:`CombinationAffine`, in place.

    Returns the number of layers patched.
    """
    if not 1 <= num_modalities <= MAX_PATCHED_MODALITIES:
        raise ValueError(f"combination patches support 1 to {MAX_PATCHED_MODALITIES} modalities, got {num_modalities}")
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, _NORMS):
            setattr(module, name, CombinationAffine(child, _channels(child), code_count(num_modalities)))
            count += 1
        elif not isinstance(child, CombinationAffine):
            count += attach_patches(child, num_modalities)
    return count


@contextmanager
def conditioned(module: nn.Module, mask: Tensor) -> Iterator[None]:
    """Within the block, every patch below ``module`` serves the combinations of ``mask`` ``(B, M)``."""
    patches = [m for m in module.modules() if isinstance(m, Conditioned)]
    if not patches:
        yield
        return
    codes = combination_codes(mask)
    for patch in patches:
        patch.codes = codes
    try:
        yield
    finally:
        for patch in patches:
            patch.codes = None
