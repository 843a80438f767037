"""Distributed helpers, all through the Lightning strategy (no direct ``torch.distributed`` calls)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only

__all__ = ["barrier", "check_same_on_every_rank", "is_global_zero"]


def is_global_zero() -> bool:
    """Whether this process writes files and prints (rank 0, or no distributed run)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


def barrier(trainer: L.Trainer | None) -> None:
    """Wait for every rank of ``trainer``'s strategy (no-op in one process or without a trainer)."""
    if trainer is not None:
        trainer.strategy.barrier()


def check_same_on_every_rank(trainer: L.Trainer | None, value: Any, what: str) -> None:
    """Raise unless ``value`` equals rank 0's (e.g. the mined weak combinations)."""
    if trainer is None or trainer.world_size == 1:
        return
    reference = trainer.strategy.broadcast(value, src=0)
    differs = trainer.strategy.reduce_boolean_decision(reference != value, all=False)
    if differs:
        raise RuntimeError(f"ranks disagree on {what}: rank {trainer.global_rank} has {value!r}, rank 0 {reference!r}")
