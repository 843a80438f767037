"""Pixel-wise cross-entropy for segmentation, with deep supervision and class weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["downsample_labels", "per_sample_cross_entropy", "segmentation_loss"]


def downsample_labels(target: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest-neighbour resize of ``(B, H, W)`` labels (ignore labels stay ignore labels)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    return F.interpolate(target[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def segmentation_loss(
    logits: Tensor,
    side: Sequence[Tensor],
    target: Tensor,
    *,
    ignore_index: int,
    class_weights: Tensor | None = None,
    side_weight: float = 1.0,
) -> Tensor:
    """CE of the full-resolution logits plus ``side_weight`` times the CE of each side output.

    Side outputs are compared with labels downsampled (nearest) to their resolution, as ESANet.
    """
    weight = class_weights.to(logits.device, torch.float32) if class_weights is not None else None
    loss = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=ignore_index)
    for s in side:
        loss = loss + side_weight * F.cross_entropy(
            s.float(), downsample_labels(target, tuple(s.shape[-2:])), weight=weight, ignore_index=ignore_index
        )
    return loss


def per_sample_cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """``(N,)`` cross-entropy per sample: plain for ``(N, K)`` logits; the mean over labelled
    pixels for ``(N, K, H, W)`` (0 for a sample without labelled pixels)."""
    per = F.cross_entropy(logits.float(), target, reduction="none", ignore_index=ignore_index)
    if per.ndim == 1:
        return per
    valid = (target != ignore_index).flatten(1).float()
    return (per.flatten(1) * valid).sum(1) / valid.sum(1).clamp_min(1)
