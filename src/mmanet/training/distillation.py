"""Distillation from the frozen teacher: which loss, on which layer, with which sample weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from mmanet.config import DistillConfig
from mmanet.losses import (
    dense_mad_loss,
    effective_sample_share,
    entropy_weights,
    kd_loss,
    pixel_entropy_weights,
    similarity_distances,
    sp_loss,
    weighted_sum,
)
from mmanet.losses.similarity import Axis

__all__ = ["Distillation"]


def _pixels(logits: Tensor) -> Tensor:
    """``(B, K, H, W)`` -> ``(B H W, K)``; ``(B, K)`` unchanged."""
    return logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]) if logits.ndim == 4 else logits


class Distillation:
    """Computes the unweighted distillation loss (``sp``, ``kd`` or ``mad``) for one batch.

    Args:
        kind: ``sp`` (uniform weights), ``kd`` (Hinton logit KD, temperature
            ``cfg.temperature``) or ``mad`` (teacher-entropy weights).
        cfg: layer (``features`` = the trunk's last stage before pooling, ``fused``, ``logits``),
            MAD variant and teacher temperature.
        entropy_table: ``(N_train,)`` per-training-sample entropies (cross-fitted teachers) that
            replace the teacher's own entropy in MAD's weights.
    """

    def __init__(self, kind: str, cfg: DistillConfig, entropy_table: Tensor | None = None) -> None:
        if kind not in ("sp", "kd", "mad"):
            raise ValueError(f"unknown distillation {kind!r}; available: ['kd', 'mad', 'sp']")
        self.kind = kind
        self.cfg = cfg
        self.entropy_table = entropy_table

    def weights(self, teacher_logits: Tensor, index: Tensor) -> Tensor:
        """MAD's ``(B,)`` sample weights (sum to 1)."""
        if self.entropy_table is None:
            return entropy_weights(teacher_logits, self.cfg.teacher_temperature)
        entropy = self.entropy_table.to(teacher_logits.device)[index]
        total = entropy.sum()
        return entropy / total if float(total) > 1e-12 else entropy.new_full(entropy.shape, 1.0 / entropy.numel())

    def __call__(self, student: dict[str, Any], teacher: dict[str, Any], index: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """``(loss, diagnostics)`` from ``{"fused", "features", "logits"}`` of student and teacher."""
        if self.kind == "kd":
            return kd_loss(_pixels(student["logits"]), _pixels(teacher["logits"]), self.cfg.temperature), {}
        layer = self.cfg.layer
        if isinstance(student[layer], tuple | list):
            return self._dense(student[layer], teacher[layer], teacher["logits"])
        if self.kind == "sp":
            return sp_loss(student[layer], teacher[layer]), {}
        axis: Axis = "row" if self.cfg.variant == "paper" else "column"
        weights = self.weights(teacher["logits"], index)
        loss = weighted_sum(similarity_distances(student[layer], teacher[layer], axis), weights)
        return loss, {"ess_share": float(effective_sample_share(weights))}

    def _dense(self, student: Sequence[Tensor], teacher: Sequence[Tensor], teacher_logits: Tensor) -> tuple[Tensor, dict[str, Any]]:
        """Pixels as samples (segmentation): dense MAD, or dense SP with uniform weights."""
        if self.entropy_table is not None:
            raise ValueError("cross-fitted uncertainty is per sample; dense (segmentation) MAD takes per-pixel teacher entropies")
        size = (int(self.cfg.max_size[0]), int(self.cfg.max_size[1]))
        logits = teacher_logits if self.kind == "mad" else None
        loss = dense_mad_loss(student, teacher, logits, max_size=size, chunk=self.cfg.chunk, variant=self.cfg.variant, temperature=self.cfg.teacher_temperature)
        if logits is None:
            return loss, {}
        first = (min(student[0].shape[-2], size[0]), min(student[0].shape[-1], size[1]))
        return loss, {"ess_share": float(effective_sample_share(pixel_entropy_weights(logits, first, self.cfg.teacher_temperature)))}
