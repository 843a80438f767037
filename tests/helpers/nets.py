"""Tiny network specs and inputs shared by the network tests: a classification trio (vectors and
an image) and a two-modality segmentation network."""

from __future__ import annotations

import torch

SHAPES = {"v": (5,), "w": (3,), "img": (1, 6, 6)}
SEG_SHAPES = {"rgb": (3, 32, 32), "depth": (1, 32, 32)}
SEG_MODEL = {
    "architecture": "esanet",
    "encoders": {"default": {"name": "tiny", "width": 8}},
    "decoder": {"name": "esanet", "channels": [16, 8, 8]},
    "context_channels": 16,
}


def inputs(seg: bool, n: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random inputs ``{modality: (n, *shape)}`` for :data:`SEG_SHAPES` or :data:`SHAPES`."""
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, *s, generator=g) for m, s in (SEG_SHAPES if seg else SHAPES).items()}


def every_combination(modalities: tuple[str, ...], repeat: int = 1) -> torch.Tensor:
    """``(repeat * (2^M - 1), M)`` bool: every combination's mask, the list repeated ``repeat`` times."""
    from mmanet.modality import all_combinations, combinations_mask

    return combinations_mask(all_combinations(modalities), modalities).repeat(repeat, 1)
