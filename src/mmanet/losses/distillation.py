"""Distillation losses: MAD (margin-aware), SP (similarity-preserving) and Hinton logit KD.

Each is a pure function with a thin ``nn.Module`` shell that gives the same value.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmanet.losses.reductions import entropy_weights, weighted_sum
from mmanet.losses.similarity import similarity_distances

__all__ = ["KDLoss", "MADLoss", "SPLoss", "kd_distances", "kd_loss", "mad_loss", "sp_loss"]

Variant = Literal["paper", "official"]


def mad_loss(
    student: Tensor, teacher: Tensor, teacher_logits: Tensor, *, variant: Variant = "paper", temperature: float = 1.0
) -> Tensor:
    """Margin-aware distillation, ``L_MAD = sum_i w_i d_i`` (Wei et al. 2023, METHOD.md section 2).

    Args:
        student: ``(B, ...)`` deployment-network features under each sample's combination.
        teacher: ``(B, ...)`` teacher features on complete modalities.
        teacher_logits: ``(B, K)``; ``w_i`` is the normalised entropy of ``softmax(logits / T)``.
        variant: ``paper`` weighs per-sample row distances ``d_i = (1/B) sum_j E_ij``;
            ``official`` reproduces the public code, ``sum_ij E_ij w_j`` (columns, no ``1/B``):
            about ``B`` times the paper's scale, which the published alpha = 30 assumes.
        temperature: teacher temperature for the entropy (1 in the paper).
    """
    if variant not in ("paper", "official"):
        raise ValueError(f"MAD variant must be 'paper' or 'official', got {variant!r}")
    distances = similarity_distances(student, teacher, "row" if variant == "paper" else "column")
    return weighted_sum(distances, entropy_weights(teacher_logits, temperature))


def sp_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Similarity-preserving distillation, ``||G~_S - G~_T||_F^2 / B^2`` (uniform-weight MAD)."""
    return similarity_distances(student, teacher, "row").mean()


def kd_distances(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Per-sample Hinton KD, ``T^2 KL(softmax(t/T) || softmax(s/T))``: ``(B, K) -> (B,)``."""
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        dtype = torch.promote_types(student_logits.dtype, torch.float32)
        log_s = F.log_softmax(student_logits.to(dtype) / temperature, dim=1)
        log_t = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=1)
        return temperature**2 * (log_t.exp() * (log_t - log_s)).sum(dim=1)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Batch mean of :func:`kd_distances` (Hinton et al. 2015)."""
    return kd_distances(student_logits, teacher_logits, temperature).mean()


class MADLoss(nn.Module):
    """Module form of :func:`mad_loss`."""

    def __init__(self, variant: Variant = "paper", temperature: float = 1.0) -> None:
        super().__init__()
        self.variant = variant
        self.temperature = temperature

    def forward(self, student: Tensor, teacher: Tensor, teacher_logits: Tensor) -> Tensor:
        return mad_loss(student, teacher, teacher_logits, variant=self.variant, temperature=self.temperature)


class SPLoss(nn.Module):
    """Module form of :func:`sp_loss`."""

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        return sp_loss(student, teacher)


class KDLoss(nn.Module):
    """Module form of :func:`kd_loss`."""

    def __init__(self, temperature: float = 4.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return kd_loss(student_logits, teacher_logits, self.temperature)
