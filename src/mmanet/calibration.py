"""Calibrated confidence: temperature scaling per combination, expected calibration error, and
anti-spoofing decision thresholds chosen on validation data.

- :func:`fit_temperature`: the ``T > 0`` minimising the negative log-likelihood of
  ``softmax(logits / T)`` (Guo et al., ICML 2017), by a bounded 1-D search on ``log T``.
- expected calibration error (top-label, 15 equal-width bins) is reported by the metric sets
  (torchmetrics' calibration error) for every combination.
- :func:`eer_threshold` / :func:`apcer_threshold`: the threshold on ``p(bona fide)`` where
  APCER = BPCER (equal error rate), or the smallest one with APCER at most a target.

>>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
>>> target = torch.tensor([0, 1, 1, 0])
>>> fit_temperature(logits, target) > 1.0  # over-confident on a wrong sample: softened
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["apcer_threshold", "eer_threshold", "fit_temperature"]


def fit_temperature(logits: Tensor, target: Tensor, low: float = 0.05, high: float = 20.0, steps: int = 60) -> float:
    """Temperature minimising the NLL of ``(N, K)`` logits on ``(N,)`` targets (golden-section on ``log T``).

    The NLL is convex in ``1/T``, so the search finds its minimum inside ``[low, high]``.
    """
    logits, target = logits.detach().double(), target.detach()

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), target))

    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(steps):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return math.exp((a + b) / 2)


def _rates(scores: Tensor, bona: Tensor, threshold: float) -> tuple[float, float]:
    """(APCER, BPCER) when ``score >= threshold`` is accepted as bona fide."""
    accepted = scores >= threshold
    attacks, real = ~bona, bona
    apcer = float((accepted & attacks).sum()) / max(1, int(attacks.sum()))
    bpcer = float((~accepted & real).sum()) / max(1, int(real.sum()))
    return apcer, bpcer


def eer_threshold(scores: Tensor, bona: Tensor) -> float:
    """Threshold on ``p(bona fide)`` ``(N,)`` where APCER and BPCER are closest (the equal-error point).

    ``bona``: ``(N,)`` bool, True for bona fide samples. Candidates are the observed scores (and
    just above the largest); ties go to the smaller threshold.
    """
    candidates = torch.unique(torch.cat([scores.detach().double(), scores.max().double().reshape(1) + 1e-6]))
    best, best_gap = 0.5, math.inf
    for threshold in candidates.tolist():
        apcer, bpcer = _rates(scores, bona, threshold)
        if abs(apcer - bpcer) < best_gap:
            best, best_gap = threshold, abs(apcer - bpcer)
    return float(best)


def apcer_threshold(scores: Tensor, bona: Tensor, target_apcer: float) -> float:
    """Smallest threshold on ``p(bona fide)`` whose APCER is at most ``target_apcer``."""
    candidates = torch.unique(torch.cat([scores.detach().double(), scores.max().double().reshape(1) + 1e-6]))
    for threshold in candidates.tolist():
        if _rates(scores, bona, threshold)[0] <= target_apcer:
            return float(threshold)
    return float(candidates[-1])
