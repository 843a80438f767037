"""Under DDP, MAD, SP and dense MAD equal one process on the global batch (2 gloo processes)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmanet.losses import build_distillation
from mmanet.training.distributed import GatherWithGradient

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batch(dense: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (8, 6, 4, 4) if dense else (8, 10)
    logits = (8, 3, 8, 8) if dense else (8, 3)
    return {"student": torch.randn(*shape, generator=g), "teacher": torch.randn(*shape, generator=g),
            "logits": torch.randn(*logits, generator=g) * 2, "index": torch.arange(8)}  # fmt: skip


def _loss(kind: str, dense: bool, data: dict, gather=None) -> tuple[torch.Tensor, torch.Tensor]:
    loss_fn = build_distillation(kind, dense=dense, max_size=(4, 4), chunk=5)
    student = data["student"].clone().requires_grad_()
    layer = (student,) if dense else student
    teacher = (data["teacher"],) if dense else data["teacher"]
    loss, _ = loss_fn({"features": layer}, {"features": teacher, "logits": data["logits"]}, data["index"], gather)
    loss.backward()
    return loss.detach(), student.grad


def _stacked(tensor: torch.Tensor) -> torch.Tensor:
    out = [torch.empty_like(tensor) for _ in range(WORLD)]
    dist.all_gather(out, tensor)
    return torch.stack(out)


def _summed(tensor: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(tensor)
    return tensor


def _gather(tensor: torch.Tensor, grad: bool) -> torch.Tensor:
    """What the training module uses (GatherWithGradient), on plain torch.distributed collectives."""
    if grad:
        return GatherWithGradient.apply(tensor, _stacked, _summed, dist.get_rank())
    return _stacked(tensor.contiguous()).flatten(0, 1)


def _worker(rank: int, port: int, kind: str, dense: bool, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    data = _batch(dense)
    half = {k: v[rank * 4 : (rank + 1) * 4] for k, v in data.items()}
    loss, grad = _loss(kind, dense, half, _gather)
    queue.put((rank, float(loss), (grad / WORLD).tolist()))  # DDP averages gradients over the processes
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "dense"), [("mad", False), ("sp", False), ("mad", True)])
def test_two_processes_equal_one_process_on_the_global_batch(kind, dense):
    full_loss, full_grad = _loss(kind, dense, _batch(dense))
    queue = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(_worker, args=(_free_port(), kind, dense, queue), nprocs=WORLD, start_method="spawn")
    results = sorted(queue.get() for _ in range(WORLD))
    for rank, loss, grad in results:
        assert loss == pytest.approx(float(full_loss), rel=1e-5), (kind, dense, rank)
        torch.testing.assert_close(torch.tensor(grad), full_grad[rank * 4 : (rank + 1) * 4], rtol=1e-4, atol=1e-8)
