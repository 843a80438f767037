"""Tiny network specs and inputs shared by the network tests: a classification trio (vectors and
an image) and a two-modality segmentation network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def mixed_mask(n: int, modalities: int, seed: int = 1) -> torch.Tensor:
    """``(n, modalities)`` bool: seeded random combinations, the first modality added to empty rows."""
    mask = torch.rand(n, modalities, generator=torch.Generator().manual_seed(seed)) > 0.5
    mask[:, 0] |= ~mask.any(1)
    return mask


def assert_each_row_reads_only_its_slot(
    net: torch.nn.Module, x: dict[str, torch.Tensor], mask: torch.Tensor, bump: Callable[[int], None]
) -> None:
    """``bump(code)`` changes one combination's per-combination parameters (under ``no_grad``): only the
    rows of that combination (the first row's) may change, and in eval mode each row's output is
    what it gives alone (no row reads another row's combination)."""
    from mmanet.modality import combination_codes

    codes = combination_codes(mask)
    before = net(x, mask).logits
    target = int(codes[0])
    with torch.no_grad():
        bump(target)
    after = net(x, mask).logits
    changed = (after - before).flatten(1).abs().amax(1) > 1e-6
    assert changed.tolist() == (codes == target).tolist()
    rows = range(mask.shape[0])
    alone = torch.cat([net({m: v[i : i + 1] for m, v in x.items()}, mask[i : i + 1]).logits for i in rows])
    torch.testing.assert_close(alone, after, atol=1e-5, rtol=1e-5)


def saved_and_loaded(net: torch.nn.Module, spec: Any, path: Path) -> Any:
    """``net`` (every combination of ``spec``) written as a classification model file at ``path`` and read back."""
    from mmanet.modality import all_combinations
    from mmanet.modelfile import load_model_file, save_model_file

    names = ["+".join(c) for c in all_combinations(spec.modalities)]
    meta = {"task": "classification", "data_modalities": list(spec.modalities)}
    save_model_file(path, entries=[(net, spec, names)], meta=meta)
    return load_model_file(path)


def assert_fused_maps(net: torch.nn.Module, reference: Callable[..., list[torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Every combination (twice) through the segmentation ``net`` in evaluation: its skips (stages
    4, 3, 2) and context equal ``reference(net, x, mask)``'s five maps. Returns the inputs used."""
    mask = every_combination(net.modalities, repeat=2)
    x = inputs(True, mask.shape[0])
    with torch.no_grad():
        fused = net.fused_features(x, mask)
        maps = reference(net, x, mask)
        for got, k in zip(fused.skips, (3, 2, 1), strict=True):
            torch.testing.assert_close(got, maps[k], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fused.context, net.context(maps[4]), atol=1e-5, rtol=1e-5)
    return x
