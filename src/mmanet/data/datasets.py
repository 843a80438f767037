"""Torch datasets, samplers and the Lightning data module over :class:`MultimodalArrays`.

A batch is a dict::

    {"inputs": {modality: (B, *shape) float32}, "present": (B, M) bool,
     "target": (B,) int64, "index": (B,) int64}

``index`` is the sample's position in its split; the training loop keys the modality-dropout
draws on it so that every method of a paired comparison sees the same draws.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from mmanet.data.arrays import MultimodalArrays

__all__ = ["Batch", "MultimodalDataModule", "MultimodalDataset", "ShardSampler", "collate_batches"]

Batch = dict[str, Any]


class MultimodalDataset(Dataset[Batch]):
    """Map-style dataset over in-memory arrays that fetches whole batches at once."""

    def __init__(self, arrays: MultimodalArrays) -> None:
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> Batch:
        return _squeeze(self.__getitems__([index]))

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        a = self.arrays
        return {
            "inputs": {m: a.inputs[m][idx] for m in a.modalities},
            "present": a.present[idx],
            "target": a.labels[idx],
            "index": idx,
        }


def _squeeze(batch: Batch) -> Batch:
    return {k: ({m: t[0] for m, t in v.items()} if isinstance(v, dict) else v[0]) for k, v in batch.items()}


def collate_batches(batch: Any) -> Batch:
    """Collate for :class:`MultimodalDataset`: ``__getitems__`` already returns a batch."""
    return batch


class ShardSampler(Sampler[int]):
    """Every sample exactly once across ranks, in order (no padding, no shuffling).

    Rank ``r`` of ``w`` takes indices ``r, r + w, ...``, so evaluation under DDP neither
    duplicates nor drops samples (metrics are summed across ranks).
    """

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.indices = list(range(rank, num_samples, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class MultimodalDataModule(L.LightningDataModule):
    """Train/val/test loaders; shuffling is seeded per epoch (``DistributedSampler``) on any rank count."""

    def __init__(
        self,
        *,
        train: MultimodalArrays,
        val: MultimodalArrays,
        test: MultimodalArrays,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.splits = {"train": train, "val": val, "test": test}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def train_dataloader(self) -> DataLoader[Batch]:
        rank, world = self._world()
        dataset = MultimodalDataset(self.splits["train"])
        sampler: Sampler[int] = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
        drop_last = len(dataset) // world > self.batch_size  # never train BatchNorm on a batch of one
        return self._loader(dataset, sampler, self.batch_size, drop_last)

    def eval_dataloader(self, split: str) -> DataLoader[Batch]:
        """Loader over a whole split in order, sharded across ranks without padding."""
        rank, world = self._world()
        dataset = MultimodalDataset(self.splits[split])
        return self._loader(dataset, ShardSampler(len(dataset), rank, world), self.eval_batch_size, False)

    def val_dataloader(self) -> DataLoader[Batch]:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader[Batch]:
        return self.eval_dataloader("test")

    def _loader(self, dataset: MultimodalDataset, sampler: Sampler[int], batch_size: int, drop_last: bool) -> DataLoader[Batch]:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=collate_batches,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
