"""Semantic segmentation metrics from one confusion matrix over the split (DDP-synced).

Logits ``(B, K, h, w)`` are upsampled (bilinear) to the label size ``(B, H, W)`` before the
argmax; pixels labelled ``ignore_index`` are left out. ``IoU_c = TP / (TP + FP + FN)``;
``miou`` averages over the classes that occur in the labels or the predictions (a class absent
from both has no IoU and is left out, as in mmsegmentation); ``pixel_accuracy`` is the share
of labelled pixels predicted right; ``iou_per_class`` lists every class (NaN where absent).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

__all__ = ["IGNORE_INDEX", "SegmentationMetrics", "upsample_logits"]

IGNORE_INDEX = 255


def upsample_logits(logits: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize of ``(B, K, h, w)`` logits to ``size`` (no-op when equal)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


class SegmentationMetrics(Metric):
    """``update(logits (B, K, h, w), target (B, H, W))``; ``compute()`` -> miou, pixel_accuracy, iou_per_class."""

    full_state_update = False
    confusion: Tensor

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor, target: Tensor) -> None:  # type: ignore[override]
        if logits.ndim != 4 or target.ndim != 3 or logits.shape[0] != target.shape[0]:
            raise ValueError(
                f"expected logits (B, K, h, w) and target (B, H, W), got {tuple(logits.shape)} and "
                f"{tuple(target.shape)}"
            )
        pred = upsample_logits(logits, tuple(target.shape[-2:])).argmax(1)
        valid = target != self.ignore_index
        if bool((target[valid] >= self.num_classes).any()) or bool((target[valid] < 0).any()):
            raise ValueError(f"labels outside [0, {self.num_classes}) other than ignore_index {self.ignore_index}")
        codes = target[valid] * self.num_classes + pred[valid]
        self.confusion += torch.bincount(codes, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        conf = self.confusion.double()
        tp = conf.diag()
        union = conf.sum(0) + conf.sum(1) - tp
        iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
        seen = union > 0
        miou = iou[seen].mean() if bool(seen.any()) else torch.tensor(float("nan"), dtype=torch.float64)
        total = conf.sum()
        accuracy = tp.sum() / total if float(total) > 0 else torch.tensor(float("nan"), dtype=torch.float64)
        if not bool(seen.any()):
            raise ValueError("no labelled pixels were evaluated (every pixel is ignore_index)")
        return {"miou": miou.float(), "pixel_accuracy": accuracy.float(), "iou_per_class": iou.float()}
