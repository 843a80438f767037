"""Per-combination low-rank adapters on the shared decoder's layers (issue 10, round 26).

Combination patches (:mod:`mmanet.nn.patches`) give each combination a scale and shift per
channel; own decoders (:mod:`mmanet.nn.own_decoders`) give it a whole decoder, and with it
stop the transfer that sharing carries (on segmentation the complete combination's rows train
the decoder that serves ``depth``). An *adapter* sits between the two: every linear or
convolution layer keeps its shared weight ``W`` and adds a rank-``r`` update of the sample's
combination ``c``,

    y = W x + b + U[c] (D[c] x),    D[c]: (r, C_in, k, k),  U[c]: (C_out, r),

(low-rank adaptation, Hu et al., ICLR 2022, one adapter per combination). ``U`` starts at zero,
so the adapted network starts as the shared one, and every row still trains ``W``: what the
combinations share stays shared, and each gets ``r (C_in k^2 + C_out)`` parameters of its own per
layer. The combination reaches the adapters as it reaches the patches (:func:`conditioned`).

A linear layer gathers each row's ``D[c]`` and ``U[c]`` (cost independent of the number of
combinations); a convolution runs every combination's ``D`` at once (``2^M r`` output channels)
and keeps each row's own ``r`` maps, which traces with any batch size (ONNX, TorchScript).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmanet.modality import code_count
from mmanet.nn.patches import MAX_PATCHED_MODALITIES, Conditioned

__all__ = ["CombinationLowRank", "attach_adapters"]


class CombinationLowRank(Conditioned):
    """A linear or convolution layer plus a rank-``rank`` update per combination.

    Args:
        base: ``nn.Linear`` or ``nn.Conv2d`` (ungrouped); its weight and bias stay the shared part.
        rank: ``r``, the rank of each combination's update.
        slots: ``2^M`` (one per subset, the empty one included).
    """

    def __init__(self, base: nn.Linear | nn.Conv2d, rank: int, slots: int) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"adapter rank must be >= 1, got {rank}")
        if isinstance(base, nn.Conv2d) and (base.groups != 1 or base.padding_mode != "zeros"):
            raise ValueError(
                f"adapters need an ungrouped convolution with zero padding, got groups={base.groups}, "
                f"padding_mode={base.padding_mode!r}"
            )
        self.base = base
        self.rank = rank
        kernel = tuple(base.weight.shape[2:])  # () for a linear layer
        self.down = nn.Parameter(torch.empty(slots, rank, base.weight.shape[1], *kernel))
        self.up = nn.Parameter(torch.zeros(slots, base.weight.shape[0], rank))
        bound = 1 / math.sqrt(base.weight[0].numel())  # the base layer's default fan-in scale
        nn.init.uniform_(self.down, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, C_in)`` or ``(B, C_in, H, W)`` -> the base layer's output shape."""
        codes = self._codes_for(x.shape[0])
        out = self.base(x)
        up = self.up[codes]  # (B, C_out, r)
        if isinstance(self.base, nn.Linear):
            hidden = torch.einsum("bi,bri->br", x, self.down[codes])
            return out + torch.einsum("br,bor->bo", hidden, up)
        conv = self.base
        slots = self.down.shape[0]
        every = F.conv2d(
            x, self.down.flatten(0, 1), None, conv.stride, conv.padding, conv.dilation
        )  # (B, 2^M r, H', W')
        every = every.view(x.shape[0], slots, self.rank, *every.shape[2:])
        rows = torch.arange(x.shape[0], device=x.device)
        return out + torch.einsum("brhw,bor->bohw", every[rows, codes], up)

    def merged_weight(self, code: int) -> Tensor:
        """The base weight with combination ``code``'s update added: ``W + U[c] D[c]`` (base's shape)."""
        update = torch.einsum("or,r...->o...", self.up[code], self.down[code])
        return self.base.weight + update


def attach_adapters(module: nn.Module, num_modalities: int, rank: int) -> int:
    """Wrap every ``nn.Linear`` and ungrouped ``nn.Conv2d`` below ``module`` in a
    :class:`CombinationLowRank` of rank ``rank``, in place; grouped (depthwise) convolutions stay as
    they are. Returns the number of layers adapted."""
    if not 1 <= num_modalities <= MAX_PATCHED_MODALITIES:
        raise ValueError(f"combination adapters support 1 to {MAX_PATCHED_MODALITIES} modalities, got {num_modalities}")
    slots = code_count(num_modalities)
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear) or (isinstance(child, nn.Conv2d) and child.groups == 1):
            setattr(module, name, CombinationLowRank(child, rank, slots))
            count += 1
        elif not isinstance(child, CombinationLowRank):
            count += attach_adapters(child, num_modalities, rank)
    return count
