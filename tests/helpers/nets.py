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


class _Logits(torch.nn.Module):
    """``(*inputs in modality order, mask) -> logits``: a network in the positional form tracing needs."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.net(dict(zip(self.net.modalities, args[:-1], strict=True)), args[-1]).logits


def traced_logits(
    net: torch.nn.Module, x: dict[str, torch.Tensor], example: torch.Tensor | None = None, check: bool = True
) -> torch.jit.ScriptModule:
    """``net`` traced on the first two rows of ``x`` under ``example`` ``(2, M)`` (default: one complete
    row and one without the first modality, so the masking branches stay general); called as
    ``traced(*x.values(), mask)``. ``check``: let the tracer compare its graph on the example."""
    if example is None:
        example = torch.ones(2, len(net.modalities), dtype=torch.bool)
        example[1, 0] = False
    return torch.jit.trace(_Logits(net), (*(v[:2] for v in x.values()), example), check_trace=check)
