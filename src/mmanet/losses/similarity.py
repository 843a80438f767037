"""Similarity-preserving distances (SP, Tung & Mori, ICCV 2019) per sample.

For a batch of flattened features ``F`` (``B x d``), the Gram matrix ``G = F F^T`` is
row-normalised, ``G~[i, :] = G[i, :] / ||G[i, :]||_2``, and the element-wise squared
difference ``E = (G~_S - G~_T)^2`` between student and teacher is reduced per sample:

- ``axis="row"`` (the paper, METHOD.md section 2): ``d_i = (1/B) sum_j E[i, j]``;
- ``axis="column"`` (the public code's form): ``d_j = sum_i E[i, j]`` (no ``1/B``).

A mean of the row distances is plain SP (``||G~_S - G~_T||_F^2 / B^2``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["normalized_gram", "similarity_distances"]

Axis = Literal["row", "column"]


def normalized_gram(features: Tensor, eps: float = 1e-12) -> Tensor:
    """Row-normalised Gram matrix of ``(B, ...)`` features, flattened per sample: ``(B, B)``."""
    flat = features.reshape(features.shape[0], -1)
    flat = flat.to(torch.promote_types(flat.dtype, torch.float32))  # float32 at least, float64 kept
    return F.normalize(flat @ flat.T, p=2, dim=1, eps=eps)


def similarity_distances(student: Tensor, teacher: Tensor, axis: Axis = "row") -> Tensor:
    """Per-sample SP distances ``(B,)`` between student and teacher features (both ``(B, ...)``).

    The teacher side is treated as a constant (no gradient flows into it).
    """
    if student.shape[0] != teacher.shape[0]:
        raise ValueError(f"student and teacher batches differ: {student.shape[0]} vs {teacher.shape[0]}")
    with torch.autocast(device_type=student.device.type, enabled=False):
        diff = (normalized_gram(student) - normalized_gram(teacher.detach())).pow(2)
        if axis == "row":
            return diff.mean(dim=1)
        if axis == "column":
            return diff.sum(dim=0)
    raise ValueError(f"axis must be 'row' or 'column', got {axis!r}")
