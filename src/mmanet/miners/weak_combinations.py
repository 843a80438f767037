"""MAR's miner: which modality combinations are weak (METHOD.md section 3).

By the memorisation effect, early in training the combinations whose predictions diverge most
from the complete combination are the weak ones. After each mining epoch the deployment
network is evaluated on the VALIDATION split under every candidate combination; the miner
accumulates a divergence score per candidate; at ``begin_epoch`` the top-k candidates plus
their single-modality members form the weak set.

Criteria (``d_k`` added up over the mining epochs):

- ``label_kl`` (the paper): ``KL(P_k || P_full)`` of the predicted-label distributions
  (normalised histograms of argmax predictions, smoothed with ``eps``; no softmax on top);
- ``posterior_kl``: mean over samples of ``KL(p_k(.|x) || p_full(.|x))``;
- ``metric_gap``: ``(acc_full - acc_k)^2`` (the paper's segmentation criterion, with accuracy).

Per-epoch statistics are torchmetrics states summed across DDP ranks, so every rank mines the
same set. Learned results end in ``_`` and travel in the checkpoint (``state_dict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from mmanet.modality import (
    Combination,
    all_combinations,
    combination_name,
    combinations_mask,
    full_combination,
    parse_combination,
    single_modalities,
)

__all__ = ["Criterion", "WeakCombinationMiner", "default_candidates"]

Criterion = Literal["label_kl", "posterior_kl", "metric_gap"]


def default_candidates(modalities: Sequence[str]) -> list[Combination]:
    """Every non-full combination with at least two modalities; every non-full one when M = 2."""
    full = full_combination(modalities)
    rest = [c for c in all_combinations(modalities) if c != full]
    return rest if len(full) <= 2 else [c for c in rest if len(c) >= 2]


class WeakCombinationMiner(Metric):
    """Stateful miner: ``update`` per validation batch, ``accumulate`` per mining epoch, ``select`` once.

    Args:
        modalities: modality order of the network.
        num_classes: ``K``.
        criterion: see the module docstring.
        candidates: combination names to rank (default :func:`default_candidates`).
        top_k: how many top-ranked candidates are weak (their single modalities join them).
        eps: smoothing of the label histograms.
        ignore_index: label of pixels/samples left out (dense tasks: every pixel is a sample).

    For dense logits ``(B, K, H, W)`` every labelled pixel counts as a sample, and
    ``metric_gap`` uses mIoU (the paper's segmentation criterion) instead of accuracy.
    """

    full_state_update = False
    scores_: Tensor
    label_counts: Tensor
    posterior_kl: Tensor
    correct: Tensor
    total: Tensor
    confusion: Tensor

    def __init__(
        self,
        modalities: Sequence[str],
        num_classes: int,
        *,
        criterion: Criterion = "label_kl",
        candidates: Sequence[str] | None = None,
        top_k: int = 1,
        eps: float = 1e-6,
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        if criterion not in ("label_kl", "posterior_kl", "metric_gap"):
            raise ValueError(f"unknown mining criterion {criterion!r}; choose label_kl, posterior_kl or metric_gap")
        self.modalities = tuple(modalities)
        self.full = full_combination(self.modalities)
        self.candidates = (
            [parse_combination(c, self.modalities) for c in candidates]
            if candidates
            else default_candidates(self.modalities)
        )
        if self.full in self.candidates or not self.candidates:
            raise ValueError(
                "mining candidates must be non-empty and exclude the full combination, got "
                f"{[combination_name(c) for c in self.candidates]}"
            )
        if not 1 <= top_k <= len(self.candidates):
            raise ValueError(f"top_k must be in [1, {len(self.candidates)}], got {top_k}")
        self.criterion = criterion
        self.top_k = top_k
        self.eps = eps
        self.num_classes = num_classes
        rows = len(self.candidates) + 1  # last row: the full combination
        self.add_state("label_counts", torch.zeros(rows, num_classes), dist_reduce_fx="sum")
        self.add_state("posterior_kl", torch.zeros(rows - 1), dist_reduce_fx="sum")
        self.add_state("correct", torch.zeros(rows), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(()), dist_reduce_fx="sum")
        self.add_state("confusion", torch.zeros(rows, num_classes, num_classes), dist_reduce_fx="sum")
        self.ignore_index = ignore_index
        self.dense = False
        self.register_buffer("scores_", torch.zeros(rows - 1))
        self.history_: list[dict[str, Any]] = []
        self.selections_: list[dict[str, Any]] = []
        self.weak_combinations_: list[str] | None = None

    @property
    def candidate_names(self) -> list[str]:
        """Readable names of the candidates, in ranking-tie order."""
        return [combination_name(c) for c in self.candidates]

    def update(self, logits: Mapping[str, Tensor], target: Tensor) -> None:  # type: ignore[override]
        """Add one validation batch: ``{combination name: (B, K) logits}`` (candidates and full)."""
        names = [*self.candidate_names, combination_name(self.full)]
        missing = [n for n in names if n not in logits]
        if missing:
            raise KeyError(f"mining needs logits for {missing}")
        size = tuple(target.shape[-2:]) if target.ndim == 3 else None
        valid = target.reshape(-1) != self.ignore_index
        self.dense = logits[names[-1]].ndim == 4
        log_full = self._flat_log_probs(logits[names[-1]], size)[valid]
        target = target.reshape(-1)[valid]
        for row, name in enumerate(names):
            log_p = self._flat_log_probs(logits[name], size)[valid] if name != names[-1] else log_full
            pred = log_p.argmax(1)
            self.label_counts[row] += torch.bincount(pred, minlength=self.num_classes).to(self.label_counts)
            self.correct[row] += (pred == target).sum()
            if self.dense:
                codes = target * self.num_classes + pred
                self.confusion[row] += (
                    torch.bincount(codes, minlength=self.num_classes**2)
                    .reshape(self.num_classes, self.num_classes)
                    .to(self.confusion)
                )
            if row < len(self.candidates):
                self.posterior_kl[row] += (log_p.exp() * (log_p - log_full)).sum()
        self.total += target.numel()

    @staticmethod
    def _flat_log_probs(logits: Tensor, size: tuple[int, ...] | None) -> Tensor:
        """``(N, K)`` log-probabilities; dense logits are upsampled to the label ``size`` and flattened."""
        if logits.ndim == 4:
            if size is not None and tuple(logits.shape[-2:]) != size:
                logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
            logits = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
        return F.log_softmax(logits.float(), dim=1)

    def compute(self) -> Tensor:
        """This epoch's score per candidate, ``(K_candidates,)`` (synced across ranks)."""
        if self.criterion == "label_kl":
            hist = self.label_counts + self.eps
            p = hist / hist.sum(dim=1, keepdim=True)
            return (p[:-1] * (p[:-1].log() - p[-1:].log())).sum(dim=1)
        total = self.total.clamp_min(1)
        if self.criterion == "posterior_kl":
            return self.posterior_kl / total
        quality = self._miou() if self.dense else self.correct / total
        return (quality[-1] - quality[:-1]).pow(2)

    def _miou(self) -> Tensor:
        tp = self.confusion.diagonal(dim1=1, dim2=2)
        union = self.confusion.sum(1) + self.confusion.sum(2) - tp
        seen = union > 0
        iou = torch.where(seen, tp / union.clamp_min(1), torch.zeros_like(tp))
        return iou.sum(1) / seen.sum(1).clamp_min(1)

    def accumulate(self, epoch: int) -> dict[str, float]:
        """Add this epoch's scores to ``scores_``, record them in ``history_``, reset the epoch state."""
        scores = self.compute().to(self.scores_)
        self.scores_ += scores
        entry = dict(zip(self.candidate_names, scores.tolist(), strict=True))
        self.history_.append({"epoch": int(epoch), "scores": entry})
        self.reset()
        return entry

    def select(self, epoch: int | None = None) -> list[str]:
        """Fix ``weak_combinations_``: the top-k candidates by accumulated score plus their single modalities."""
        order = sorted(range(len(self.candidates)), key=lambda i: (-float(self.scores_[i]), i))
        chosen: set[Combination] = set()
        for i in order[: self.top_k]:
            chosen.add(self.candidates[i])
            chosen.update(single_modalities(self.candidates[i]))
        self.weak_combinations_ = [combination_name(c) for c in all_combinations(self.modalities) if c in chosen]
        self.selections_.append({"epoch": epoch, "weak_combinations": self.weak_combinations_})
        return self.weak_combinations_

    def restart(self) -> None:
        """Start a new scoring window (re-mining): zero ``scores_``, keep the current weak set and history."""
        self.scores_.zero_()
        self.reset()

    def weak_mask(self, masks: Tensor) -> Tensor:
        """``(B, M)`` sampled combinations -> ``(B,)`` bool, True where the combination is weak."""
        if self.weak_combinations_ is None:
            raise RuntimeError("no weak combinations selected yet: call select() after mining")
        weak = combinations_mask(
            [parse_combination(n, self.modalities) for n in self.weak_combinations_], self.modalities
        ).to(masks.device)
        return (masks[:, None, :] == weak[None, :, :]).all(-1).any(-1)

    def get_extra_state(self) -> dict[str, Any]:
        return {"history": self.history_, "selections": self.selections_, "weak_combinations": self.weak_combinations_}

    def set_extra_state(self, state: Any) -> None:
        self.history_ = list(state.get("history", []))
        self.selections_ = list(state.get("selections", []))
        self.weak_combinations_ = state.get("weak_combinations")
