"""Modality combinations: the only module that knows how subsets are enumerated and encoded.

A *combination* is a non-empty subset of the ordered modality names, represented as a tuple
of names in modality order. Its readable name joins them with ``+`` (``"pix+fou"``); its mask
is a ``(M,)`` boolean tensor; a batch of per-sample masks is ``(B, M)``.

>>> mods = ("rgb", "depth", "ir")
>>> [combination_name(c) for c in all_combinations(mods)]
['rgb', 'depth', 'ir', 'rgb+depth', 'rgb+ir', 'depth+ir', 'rgb+depth+ir']
>>> parse_combination("ir+rgb", mods)
('rgb', 'ir')
>>> combination_mask(("rgb", "ir"), mods).tolist()
[True, False, True]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

__all__ = [
    "Combination",
    "all_combinations",
    "check_modalities",
    "code_count",
    "code_sizes",
    "combination_code",
    "combination_codes",
    "combination_mask",
    "combination_name",
    "combinations_mask",
    "full_combination",
    "mask_to_combination",
    "mask_to_name",
    "parse_combination",
    "sample_masks",
    "sample_masks_by_size",
    "sample_masks_weighted",
    "single_modalities",
]

Combination = tuple[str, ...]
_SEPARATOR = "+"
_NAME = re.compile(r"[A-Za-z0-9_\-]+")


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """Validate modality names (letters, digits, ``_``, ``-``; unique) and return them as a tuple."""
    names = tuple(modalities)
    if not names:
        raise ValueError("at least one modality is needed, got none")
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"invalid modality name {name!r}: use letters, digits, '_' or '-' (no spaces, '+' or '.')")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate modality names: {duplicates}")
    return names


def all_combinations(modalities: Sequence[str]) -> list[Combination]:
    """All ``2^M - 1`` non-empty subsets, by size, then in modality order."""
    names = check_modalities(modalities)
    return [c for size in range(1, len(names) + 1) for c in itertools.combinations(names, size)]


def full_combination(modalities: Sequence[str]) -> Combination:
    """The complete combination (every modality)."""
    return check_modalities(modalities)


def single_modalities(combination: Combination) -> list[Combination]:
    """The one-modality combinations contained in ``combination``."""
    return [(name,) for name in combination]


def combination_name(combination: Iterable[str]) -> str:
    """Readable name of a combination, e.g. ``"rgb+depth"``."""
    return _SEPARATOR.join(combination)


def parse_combination(name: str, modalities: Sequence[str]) -> Combination:
    """Parse ``"ir+rgb"`` into a combination in modality order; unknown names are an error."""
    names = check_modalities(modalities)
    parts = [p.strip() for p in name.split(_SEPARATOR)]
    unknown = [p for p in parts if p not in names]
    if unknown or not parts:
        raise ValueError(f"combination {name!r}: unknown modality {unknown}; expected names from {list(names)}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"combination {name!r} names a modality twice")
    return tuple(n for n in names if n in parts)


def combination_codes(mask: Tensor) -> Tensor:
    """``(B, M)`` bool presence mask -> ``(B,)`` long code ``sum_j mask_j 2^j`` (0: nothing present)."""
    if mask.ndim != 2 or mask.dtype != torch.bool:
        raise ValueError(f"presence mask: expected bool (B, M), got {mask.dtype} {tuple(mask.shape)}")
    weights = torch.pow(2, torch.arange(mask.shape[1], device=mask.device))
    return (mask.long() * weights).sum(1)


def combination_code(combination: Iterable[str], modalities: Sequence[str]) -> int:
    """The code :func:`combination_codes` gives a combination's mask, as a Python int (for
    configuration-time tables, e.g. on networks built on the meta device)."""
    members = set(combination)
    return sum(2**j for j, name in enumerate(check_modalities(modalities)) if name in members)


def code_sizes(num_modalities: int) -> list[int]:
    """How many modalities the combination of each code holds (``2^M`` ints, plain Python so
    configuration-time tables work on networks built on the meta device)."""
    return [bin(code).count("1") for code in range(code_count(num_modalities))]


def code_count(num_modalities: int) -> int:
    """How many codes :func:`combination_codes` can give for ``num_modalities``: ``2^M``, the empty set included."""
    return 2**num_modalities


def combination_mask(combination: Iterable[str], modalities: Sequence[str]) -> Tensor:
    """``(M,)`` boolean mask of a combination."""
    names = check_modalities(modalities)
    members = set(combination)
    unknown = members - set(names)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; expected names from {list(names)}")
    return torch.tensor([n in members for n in names], dtype=torch.bool)


def combinations_mask(combinations: Sequence[Combination], modalities: Sequence[str]) -> Tensor:
    """``(K, M)`` boolean masks, one row per combination."""
    if not combinations:
        return torch.zeros(0, len(modalities), dtype=torch.bool)
    return torch.stack([combination_mask(c, modalities) for c in combinations])


def mask_to_combination(mask: Tensor, modalities: Sequence[str]) -> Combination:
    """Inverse of :func:`combination_mask` for one ``(M,)`` mask."""
    names = check_modalities(modalities)
    if mask.shape != (len(names),):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match {len(names)} modalities")
    return tuple(n for n, keep in zip(names, mask.tolist(), strict=True) if keep)


def mask_to_name(mask: Tensor, modalities: Sequence[str]) -> str:
    """Readable name of one ``(M,)`` mask."""
    return combination_name(mask_to_combination(mask, modalities))


def sample_masks(present: Tensor, uniform: Tensor) -> Tensor:
    """Draw one combination per sample, uniformly among the non-empty subsets of its present set.

    Args:
        present: ``(B, M)`` boolean, which modalities each sample has in the data.
        uniform: ``(B,)`` floats in ``[0, 1)`` (the caller's random draws, so the same draws can
            be replayed for every method of a paired comparison).

    Returns:
        ``(B, M)`` boolean masks; every row is a non-empty subset of the ``present`` row.
    """
    candidates, allowed = _allowed_subsets(present, uniform)
    return candidates[_pick(allowed.float(), uniform)]


def sample_masks_by_size(present: Tensor, uniform: Tensor) -> Tensor:
    """Draw one combination per sample: a size uniformly among ``1..|present|``, then a subset of
    that size uniformly among those within the present set.

    Small subsets are drawn more often than under :func:`sample_masks` when M > 2 (a single
    modality of six is drawn with probability 1/36 instead of 1/63; with M = 2 it is 1/4
    instead of 1/3). Same arguments and result as :func:`sample_masks`; the one draw per sample
    picks the size with its integer part and the subset with its fractional part.
    """
    candidates, allowed = _allowed_subsets(present, uniform)
    sizes = candidates.sum(1)  # (K,)
    available = present.sum(1)  # (B,) sizes 1..available are possible
    scaled = uniform.clamp(0, 1 - 1e-7) * available
    size = scaled.floor().long() + 1  # (B,)
    within = allowed & (sizes[None, :] == size[:, None])
    return candidates[_pick(within.float(), scaled - scaled.floor())]


def sample_masks_weighted(present: Tensor, uniform: Tensor, weights: Tensor) -> Tensor:
    """Draw one combination per sample with probability proportional to its weight, among the
    non-empty subsets of the sample's present set.

    Args:
        present: ``(B, M)`` boolean, which modalities each sample has in the data.
        uniform: ``(B,)`` floats in ``[0, 1)`` (the caller's draws, as for :func:`sample_masks`).
        weights: ``(2^M,)`` non-negative weight of each combination, indexed by its code
            (:func:`combination_codes`; entry 0, the empty set, is ignored). Equal weights give
            exactly :func:`sample_masks`'s draws.

    Returns:
        ``(B, M)`` boolean masks; every row a non-empty subset of the ``present`` row.
    """
    candidates, allowed = _allowed_subsets(present, uniform)
    if weights.shape != (code_count(present.shape[1]),):
        raise ValueError(
            f"weights: expected one per combination code, shape ({code_count(present.shape[1])},), "
            f"got {tuple(weights.shape)}"
        )
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError("weights must be finite and non-negative")
    w = allowed * weights[1:].to(allowed.device, torch.float64)[None, :]  # (B, K), candidates are codes 1..2^M-1
    empty = w.sum(1) <= 0
    if bool(empty.any()):
        raise ValueError(f"sample {int(torch.nonzero(empty)[0, 0])} of the batch has no combination of positive weight")
    return candidates[_pick(w, uniform)]


def _allowed_subsets(present: Tensor, uniform: Tensor) -> tuple[Tensor, Tensor]:
    """``(K, M)`` every non-empty subset and ``(B, K)`` which of them lie within each sample's present set."""
    if present.ndim != 2 or uniform.shape != present.shape[:1]:
        raise ValueError(
            f"expected present (B, M) and uniform (B,), got {tuple(present.shape)} and {tuple(uniform.shape)}"
        )
    num_modalities = present.shape[1]
    codes = torch.arange(1, 2**num_modalities, device=present.device)
    bits = 2 ** torch.arange(num_modalities, device=present.device)
    candidates = (codes[:, None] & bits[None, :]) > 0  # (K, M)
    allowed = ~(candidates[None, :, :] & ~present[:, None, :]).any(-1)  # (B, K)
    empty = ~present.any(1)
    if bool(empty.any()):
        raise ValueError(f"sample {int(torch.nonzero(empty)[0, 0])} of the batch has no modality present")
    return candidates, allowed


def _pick(weights: Tensor, uniform: Tensor) -> Tensor:
    """``(B,)`` index, in each row of ``weights`` ``(B, K)``, of the first column whose running sum
    passes ``u * row total``. With 0/1 weights (the allowed subsets) that is the allowed subset at
    rank ``floor(u * count)``: every allowed subset equally likely."""
    target = uniform.clamp(0, 1 - 1e-7).to(weights.dtype) * weights.sum(1)
    return (weights.cumsum(1) > target[:, None]).float().argmax(1)
