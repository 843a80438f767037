"""Presentation-attack detection metrics (ISO/IEC 30107-3), as a DDP-synced torchmetrics Metric.

With the decision "bona fide" when ``p(bona fide) >= 0.5`` (the argmax of two classes):

- APCER = attack presentations accepted as bona fide / attack presentations;
- BPCER = bona fide presentations rejected / bona fide presentations;
- ACER = (APCER + BPCER) / 2;
- HTER = (FAR + FRR) / 2 at the decision ``threshold`` on ``p(bona fide)`` chosen on validation
  data (the equal-error point by default, as papers report it); with the default threshold 0.5
  it equals ACER;
- accuracy, ROC AUC of ``p(bona fide)``, and ``ece`` (top-label expected calibration error).

Which class index is bona fide is set per dataset (CASIA-SURF: 1, CeFA: 0). A split with no
attack or no bona fide samples makes APCER/BPCER undefined: :meth:`compute` raises a clear
error instead of returning NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc, multiclass_calibration_error
from torchmetrics.utilities import dim_zero_cat

__all__ = ["AntiSpoofingMetrics", "UndefinedMetricError"]


class UndefinedMetricError(ValueError):
    """A metric has no defined value on the evaluated samples (e.g. APCER without attacks)."""


class AntiSpoofingMetrics(Metric):
    """``update(logits (B, 2), target (B,))``; ``compute()`` -> apcer, bpcer, acer, hter, accuracy, auc."""

    full_state_update = False
    attacks: Tensor
    attacks_accepted: Tensor
    bona_fide: Tensor
    bona_fide_rejected: Tensor
    scores: list[Tensor]
    is_bona_fide: list[Tensor]

    def __init__(self, bona_fide_label: int = 1, threshold: float = 0.5) -> None:
        super().__init__()
        if bona_fide_label not in (0, 1):
            raise ValueError(f"bona_fide_label must be 0 or 1, got {bona_fide_label}")
        self.bona_fide_label = bona_fide_label
        self.threshold = float(threshold)
        for name in ("attacks", "attacks_accepted", "bona_fide", "bona_fide_rejected"):
            self.add_state(name, torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("scores", [], dist_reduce_fx="cat")
        self.add_state("is_bona_fide", [], dist_reduce_fx="cat")

    def update(self, logits: Tensor, target: Tensor) -> None:  # type: ignore[override]
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise ValueError(f"anti-spoofing metrics expect (B, 2) logits, got {tuple(logits.shape)}")
        p_bona = torch.softmax(logits.float(), dim=1)[:, self.bona_fide_label]
        accepted = p_bona >= 0.5
        real = target == self.bona_fide_label
        self.attacks += (~real).sum()
        self.attacks_accepted += (~real & accepted).sum()
        self.bona_fide += real.sum()
        self.bona_fide_rejected += (real & ~accepted).sum()
        self.scores.append(p_bona)
        self.is_bona_fide.append(real.long())

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        if int(self.attacks) == 0:
            raise UndefinedMetricError("APCER is undefined: the evaluated samples contain no attack presentations")
        if int(self.bona_fide) == 0:
            raise UndefinedMetricError("BPCER is undefined: the evaluated samples contain no bona fide presentations")
        apcer = self.attacks_accepted.float() / self.attacks
        bpcer = self.bona_fide_rejected.float() / self.bona_fide
        acer = (apcer + bpcer) / 2
        wrong = self.attacks_accepted + self.bona_fide_rejected
        accuracy = 1 - wrong.float() / (self.attacks + self.bona_fide)
        scores, real = dim_zero_cat(self.scores), dim_zero_cat(self.is_bona_fide).bool()
        far = ((scores >= self.threshold) & ~real).sum().float() / self.attacks
        frr = ((scores < self.threshold) & real).sum().float() / self.bona_fide
        auc = binary_auroc(scores, real.long())
        ece = multiclass_calibration_error(torch.stack([1 - scores, scores], 1), real.long(), num_classes=2, n_bins=15)
        out = {"acer": acer, "apcer": apcer, "bpcer": bpcer, "hter": (far + frr) / 2, "accuracy": accuracy, "auc": auc}
        return out | {"ece": ece}
