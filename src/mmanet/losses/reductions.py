"""Reductions that turn per-sample loss values into one number: mean, or teacher-entropy weights.

MAD (METHOD.md section 2) weighs each sample by the normalised entropy of the teacher's
prediction, ``w_i = H_i / sum_k H_k``; with uniform weights it is SP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["effective_sample_share", "entropy_weights", "normalize_weights", "prediction_entropy", "weighted_sum"]


def prediction_entropy(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``H_i = -sum_c p(c|x_i) log p(c|x_i)`` of ``softmax(logits / T)``: ``(B, K) -> (B,)``.

    Uses ``log_softmax`` so saturated logits give 0, never NaN.
    """
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    log_p = F.log_softmax(logits / temperature, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def normalize_weights(weights: Tensor, eps: float = 1e-12) -> Tensor:
    """``w / sum(w)`` for non-negative ``(N,)`` weights; uniform ``1/N`` when the sum is ``<= eps``.

    Decided on the device (no host synchronisation).
    """
    total = weights.sum()
    uniform = torch.full_like(weights, 1.0 / weights.numel())
    return torch.where(total > eps, weights / total.clamp_min(eps), uniform)


def entropy_weights(logits: Tensor, temperature: float = 1.0, eps: float = 1e-12) -> Tensor:
    """``w_i = H_i / sum_k H_k`` from teacher logits ``(B, K)``; uniform when every entropy vanishes.

    The weights are constants for the student (detached) and sum to 1.
    """
    return normalize_weights(prediction_entropy(logits.detach(), temperature), eps)


def weighted_sum(values: Tensor, weights: Tensor) -> Tensor:
    """``sum_i w_i v_i`` for ``(B,)`` values and weights."""
    if values.shape != weights.shape:
        raise ValueError(f"values {tuple(values.shape)} and weights {tuple(weights.shape)} differ")
    return (values * weights.to(values.dtype)).sum()


def effective_sample_share(weights: Tensor) -> Tensor:
    """Kish's effective sample size over the batch size, ``1 / (B sum_i w_i^2)`` for weights summing to 1.

    1 for uniform weights; ``1/B`` when one sample carries all the weight.
    """
    w = weights.float() / weights.float().sum()
    return 1.0 / (w.pow(2).sum() * w.numel())
