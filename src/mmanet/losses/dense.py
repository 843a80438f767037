"""Dense MAD for segmentation: pixels are the samples (METHOD.md section 2).

Each distilled map ``(B, C, H, W)`` is average-pooled to at most ``max_size`` (30 x 40 by
default) and reshaped to ``N = B h w`` rows of ``C`` features. The ``N x N`` Gram matrices are
computed ``chunk`` rows at a time: every row is normalised by the norm of the WHOLE row (all
``N`` columns), never of a chunk, and each chunk is recomputed in the backward pass
(activation checkpointing), so the extra memory is ``O(chunk * N)`` instead of ``O(N^2)``.
Per-pixel weights are the normalised entropies of the teacher's class probabilities pooled to
each map's resolution; the loss is summed over the maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from mmanet.losses.reductions import normalize_weights, weighted_sum

__all__ = ["dense_mad_loss", "dense_similarity_distances", "pixel_entropy_weights", "pool_rows"]


def _pooled_size(h: int, w: int, max_size: tuple[int, int]) -> tuple[int, int]:
    return min(h, max_size[0]), min(w, max_size[1])


def pool_rows(feature_map: Tensor, max_size: tuple[int, int] = (30, 40)) -> Tensor:
    """``(B, C, H, W)`` -> average-pooled to at most ``max_size`` -> ``(B h w, C)`` float32 rows
    (pooled outside autocast: mixed precision never reaches the Gram matrices)."""
    c, h, w = feature_map.shape[1:]
    size = _pooled_size(h, w, max_size)
    with torch.autocast(device_type=feature_map.device.type, enabled=False):
        x = feature_map.float()
        pooled = F.adaptive_avg_pool2d(x, size) if size != (h, w) else x
        return pooled.permute(0, 2, 3, 1).reshape(-1, c)


def _chunk_distances(student_rows: Tensor, teacher_rows: Tensor, student_all: Tensor, teacher_all: Tensor) -> Tensor:
    gs = F.normalize(student_rows @ student_all.T, dim=1)  # each row normalised over all N columns
    gt = F.normalize(teacher_rows @ teacher_all.T, dim=1)
    return (gs - gt).pow(2)


def _chunk_halves(student_rows: Tensor, teacher_rows: Tensor, student_all: Tensor, teacher_all: Tensor) -> Tensor:
    """The public segmentation form: columns split in two halves, each row normalised per half."""
    half = student_all.shape[0] // 2
    parts = []
    for columns in (slice(0, half), slice(half, None)):
        gs = F.normalize(student_rows @ student_all[columns].T, dim=1)
        gt = F.normalize(teacher_rows @ teacher_all[columns].T, dim=1)
        parts.append((gs - gt).pow(2))
    return torch.cat(parts, dim=1)


def dense_similarity_distances(
    student: Tensor, teacher: Tensor, chunk: int = 1024, axis: Literal["row", "column", "halves"] = "row"
) -> Tensor:
    """Per-row SP distances for ``(N, C)`` student and teacher rows, computed ``chunk`` rows at a time.

    ``row``: ``d_i = (1/N) sum_j E_ij``; ``column``: ``d_j = sum_i E_ij`` (the public
    classification code's form); ``halves``: the public segmentation code's form (METHOD.md
    section 2): the N columns split into halves ``0..N/2-1`` and ``N/2..N-1``, each row of each
    half normalised on its own, ``d_i = sum_j E_ij`` over both halves (no ``1/N``).
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student and teacher have {student.shape[0]} and {teacher.shape[0]} rows")
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    n = student.shape[0]
    with torch.autocast(device_type=student.device.type, enabled=False):  # Gram products in float32, always
        s_all = student.float()
        t_all = teacher.detach().float()
        rows, columns = [], torch.zeros(n, device=student.device)
        for start in range(0, n, chunk):
            args = (s_all[start : start + chunk], t_all[start : start + chunk], s_all, t_all)
            grad = s_all.requires_grad
            piece = _chunk_halves if axis == "halves" else _chunk_distances
            diff = checkpoint(piece, *args, use_reentrant=False) if grad else piece(*args)
            if axis == "row":
                rows.append(diff.mean(dim=1))
            elif axis == "halves":
                rows.append(diff.sum(dim=1))
            else:
                columns = columns + diff.sum(dim=0)
        return torch.cat(rows) if axis != "column" else columns


def pixel_entropy_weights(
    teacher_logits: Tensor, size: tuple[int, int], temperature: float = 1.0, eps: float = 1e-12
) -> Tensor:
    """Teacher class probabilities ``(B, K, H, W)`` pooled to ``size``; normalised entropy per pixel, ``(B h w,)``."""
    probs = torch.softmax(teacher_logits.detach().float() / temperature, dim=1)
    probs = F.adaptive_avg_pool2d(probs, size).clamp_min(0)
    probs = probs / probs.sum(dim=1, keepdim=True).clamp_min(eps)
    entropy = -(probs * probs.clamp_min(eps).log()).sum(dim=1).reshape(-1)
    return normalize_weights(entropy, eps)


def dense_mad_loss(
    student: Sequence[Tensor],
    teacher: Sequence[Tensor],
    teacher_logits: Tensor | None,
    *,
    max_size: tuple[int, int] = (30, 40),
    chunk: int = 1024,
    variant: Literal["paper", "official"] = "paper",
    temperature: float = 1.0,
) -> Tensor:
    """Dense MAD summed over the distilled maps; ``teacher_logits=None`` gives dense SP (uniform weights)."""
    if len(student) != len(teacher):
        raise ValueError(f"{len(student)} student maps vs {len(teacher)} teacher maps")
    total = torch.zeros((), device=student[0].device)
    for s_map, t_map in zip(student, teacher, strict=True):
        size = _pooled_size(s_map.shape[-2], s_map.shape[-1], max_size)
        distances = dense_similarity_distances(
            pool_rows(s_map, max_size), pool_rows(t_map, max_size), chunk, "row" if variant == "paper" else "halves"
        )
        if teacher_logits is None:
            total = total + distances.mean()
        else:
            total = total + weighted_sum(distances, pixel_entropy_weights(teacher_logits, size, temperature))
    return total
