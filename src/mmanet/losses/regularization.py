"""The MAR loss: cross-entropy of the regularization network on weak-combination samples.

``L_MAR = (1/B) sum_i 1[c_i in weak] CE(R(x_i), y_i)`` (METHOD.md section 3), where ``c_i`` is
the combination sampled for sample ``i``.
"""

from __future__ import annotations

from torch import Tensor

from mmanet.losses.segmentation import per_sample_cross_entropy

__all__ = ["mar_loss", "mar_loss_official"]


def mar_loss(weak_logits: Tensor, weak_target: Tensor, batch_size: int, ignore_index: int = -100) -> Tensor:
    """``sum`` of the weak samples' cross-entropy over the whole batch size.

    Args:
        weak_logits: ``(N_weak, K)`` (or ``(N_weak, K, H, W)``: per-sample mean over labelled
            pixels) regularization-network logits of the weak samples only.
        weak_target: ``(N_weak,)`` (or ``(N_weak, H, W)``) their labels.
        batch_size: ``B``, the number of samples in the batch (weak or not).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return per_sample_cross_entropy(weak_logits, weak_target, ignore_index).sum() / batch_size


def mar_loss_official(logits: Tensor, target: Tensor, weak: Tensor, ignore_index: int = -100) -> Tensor:
    """The public code's behaviour, for comparison only: ``(sum_i 1[weak_i]) * mean_j CE_j``.

    Its ``[B, 1, 1, 1]`` mask times ``[B]`` loss broadcasts to ``[B, 1, 1, B]``, so the
    regularization network learns from every sample, scaled by the number of weak ones.
    """
    return weak.float().sum() * per_sample_cross_entropy(logits, target, ignore_index).mean()
