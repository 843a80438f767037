"""Optimiser and per-epoch learning-rate schedule from :class:`mmanet.config.OptimConfig`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from mmanet.config import OptimConfig

__all__ = ["build_optimizer", "lr_factor"]


def lr_factor(cfg: OptimConfig) -> Callable[[int], float]:
    """Multiplier of the base learning rate at each epoch: linear warm-up, then the schedule."""

    def factor(epoch: int) -> float:
        if epoch < cfg.warmup_epochs:
            return (epoch + 1) / (cfg.warmup_epochs + 1)
        if cfg.scheduler == "cosine":
            span = max(1, cfg.epochs - cfg.warmup_epochs)
            return 0.5 * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))
        if cfg.scheduler == "step":
            passed = sum(epoch >= round(m * cfg.epochs) for m in cfg.milestones)
            return cfg.gamma**passed
        return 1.0

    return factor


def build_optimizer(
    cfg: OptimConfig, parameters: Iterable[nn.Parameter]
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser named by ``cfg.optimizer`` and a per-epoch ``LambdaLR``."""
    params = [p for p in parameters if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    elif cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg))
