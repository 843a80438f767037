"""Distributed helpers, all through the Lightning strategy (no direct ``torch.distributed`` calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from torch import Tensor

__all__ = ["GatherWithGradient", "barrier", "check_same_on_every_rank", "gather_function", "is_global_zero"]


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


class GatherWithGradient(torch.autograd.Function):
    """Concatenate ``(B, ...)`` tensors of every process (same ``B`` everywhere) along dim 0, with a
    gradient: each process's gradient of the concatenation is summed over the processes and the
    slice of its own rows is returned (made contiguous first: gloo mishandles strided gradients)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, tensor: Tensor, gather: Callable[[Tensor], Tensor], reduce_sum: Callable[[Tensor], Tensor], rank: int
    ) -> Tensor:
        ctx.reduce_sum, ctx.rank, ctx.rows = reduce_sum, rank, tensor.shape[0]
        return gather(tensor.detach().contiguous()).flatten(0, 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        total = ctx.reduce_sum(grad.contiguous())
        return total[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows], None, None, None


def gather_function(trainer: L.Trainer | None) -> Callable[[Tensor, bool], Tensor] | None:
    """``gather(tensor, grad)`` over the processes of ``trainer``'s strategy, or ``None`` in one process."""
    if trainer is None or trainer.world_size == 1:
        return None
    strategy = trainer.strategy

    def plain(tensor: Tensor) -> Tensor:
        return strategy.all_gather(tensor)  # (W, B, ...)

    def reduce_sum(tensor: Tensor) -> Tensor:
        return strategy.reduce(tensor, reduce_op="sum")  # type: ignore[no-any-return]

    def gather(tensor: Tensor, grad: bool) -> Tensor:
        if grad:
            gathered: Tensor = GatherWithGradient.apply(tensor, plain, reduce_sum, trainer.global_rank)
            return gathered
        return plain(tensor.contiguous()).flatten(0, 1)

    return gather
