"""MAR during training: the regularization network, its miner, and its loss on weak samples."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmanet.config import MARConfig
from mmanet.losses import mar_loss, mar_loss_official, segmentation_loss
from mmanet.miners import WeakCombinationMiner
from mmanet.nn import NetworkSpec, SegFeatures, SubsetNetwork, build_regularization_decoder

__all__ = ["ModalityRegularization"]


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class ModalityRegularization(nn.Module):
    """Regularization network ``R`` (its own decoder on the shared fused features) and the miner.

    ``R`` runs once per step, on the weak-combination samples only, so no other sample sends
    gradient through it (``variant="official"`` runs it on every sample, as the public code).
    For segmentation, ``mar.task_loss`` gives ``R`` the task's loss on those samples (class
    weights and deep-supervision side outputs, as the public segmentation code), scaled by their
    share of the batch; otherwise the per-sample pixel cross-entropy of METHOD.md section 3.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        net: SubsetNetwork,
        cfg: MARConfig,
        ignore_index: int = -100,
        class_weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.ignore_index = ignore_index
        self.class_weights = class_weights
        self.decoder = build_regularization_decoder(spec, net)
        self.miner = WeakCombinationMiner(
            net.modalities,
            spec.num_classes,
            criterion=cfg.criterion,
            candidates=cfg.candidates,
            top_k=cfg.top_k,
            ignore_index=ignore_index,
        )
        self._needs_pairs = _has_batchnorm(self.decoder)

    def mining(self, epoch: int) -> bool:
        """Whether ``epoch``'s validation pass feeds the miner (always from ``mine_start`` when re-mining)."""
        if self.cfg.remine_every > 0:
            return epoch >= self.cfg.mine_start
        return self.cfg.mine_start <= epoch < self.cfg.begin_epoch and self.miner.weak_combinations_ is None

    def selects_after(self, epoch: int) -> bool:
        """Whether the weak set is (re)selected after ``epoch``'s validation pass."""
        last = self.cfg.begin_epoch - 1
        every = self.cfg.remine_every
        return epoch == last or (every > 0 and epoch > last and (epoch - last) % every == 0)

    def active(self, epoch: int) -> bool:
        """Whether the MAR loss applies at ``epoch``."""
        return epoch >= self.cfg.begin_epoch and self.miner.weak_combinations_ is not None

    def _touch(self) -> Tensor:
        # zero-valued use of every parameter, so DDP sees them in every step without find_unused_parameters
        return torch.stack([p.sum() for p in self.decoder.parameters()]).sum() * 0.0

    def forward(self, fused: Any, mask: Tensor, target: Tensor, epoch: int) -> tuple[Tensor, int]:
        """``(unweighted L_MAR, number of weak samples)`` for one batch; 0 before ``begin_epoch``."""
        touch = self._touch()
        if not self.active(epoch):
            return touch, 0
        weak = self.miner.weak_mask(mask)
        count = int(weak.sum())
        if self.cfg.variant == "official":
            return touch + mar_loss_official(self.decoder(fused).logits, target, weak, self.ignore_index), count
        if count == 0 or (count == 1 and self._needs_pairs):
            return touch, count  # BatchNorm cannot train on a single sample
        out = self.decoder(fused.select(weak) if isinstance(fused, SegFeatures) else fused[weak])
        if self.cfg.task_loss and isinstance(fused, SegFeatures):  # the public segmentation form
            weights, ignore = self.class_weights, self.ignore_index
            loss = segmentation_loss(out.logits, out.side, target[weak], ignore_index=ignore, class_weights=weights)
            return touch + loss * (count / int(target.shape[0])), count
        return touch + mar_loss(out.logits, target[weak], int(target.shape[0]), self.ignore_index), count
