"""Torch datasets, samplers and the Lightning data module over :class:`MultimodalArrays`.

A batch is a dict::

    {"inputs": {modality: (B, *shape) float32}, "present": (B, M) bool,
     "target": (B,) int64, "index": (B,) int64}

``index`` is the sample's position in its split; the training loop keys the modality-dropout
draws on it so that every method of a paired comparison sees the same draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NotRequired, TypedDict

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate

from mmanet.data.arrays import MultimodalArrays

__all__ = [
    "Batch",
    "EpochTaggedSampler",
    "MultimodalDataModule",
    "MultimodalDataset",
    "ShardSampler",
    "check_batch",
    "collate_batches",
]


class Batch(TypedDict):
    """A batch (or one sample, without the leading axis) as every dataset yields it.

    ``augment`` (image datasets augmenting on the device): ``(B, 4)`` joint augmentation
    parameters, the inputs then being uint8 images that
    :class:`~mmanet.data.device_augment.DeviceAugment` transforms after the transfer.
    """

    inputs: dict[str, Tensor]
    present: Tensor
    target: Tensor
    index: Tensor
    augment: NotRequired[Tensor]


def check_batch(batch: Batch, num_modalities: int) -> None:
    """Raise unless ``present`` is ``(B, num_modalities)`` bool and matches the batch size of ``target``."""
    present, target = batch["present"], batch["target"]
    if present.dtype != torch.bool or present.ndim != 2 or tuple(present.shape) != (target.shape[0], num_modalities):
        expected = f"bool ({target.shape[0]}, {num_modalities})"
        raise ValueError(f"batch['present']: expected {expected}, got {present.dtype} {tuple(present.shape)}")


class MultimodalDataset(Dataset[Batch]):
    """Map-style dataset over in-memory arrays that fetches whole batches at once."""

    def __init__(self, arrays: MultimodalArrays) -> None:
        self.arrays = arrays
        self.collate_fn = collate_batches

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> Batch:
        return _squeeze(self.__getitems__([index]))

    def __getitems__(self, indices: Sequence[Any]) -> Batch:
        keys = [i[0] if isinstance(i, tuple) else i for i in indices]  # (index, epoch) from EpochTaggedSampler
        idx = torch.as_tensor(keys, dtype=torch.long)
        a = self.arrays
        return {
            "inputs": {m: a.inputs[m][idx] for m in a.modalities},
            "present": a.present[idx],
            "target": a.labels[idx],
            "index": idx,
        }


def _squeeze(batch: Batch) -> Batch:
    inputs = {m: t[0] for m, t in batch["inputs"].items()}
    return Batch(inputs=inputs, present=batch["present"][0], target=batch["target"][0], index=batch["index"][0])


def collate_batches(batch: Any) -> Batch:
    """Collate for :class:`MultimodalDataset`: ``__getitems__`` already returns a batch."""
    return batch


class EpochTaggedSampler(DistributedSampler):  # type: ignore[type-arg]
    """A seeded ``DistributedSampler`` that yields ``(index, epoch)``, so a dataset can key its
    augmentation on (seed, epoch, index) and every method of a paired comparison sees the same
    augmented samples, with or without worker processes."""

    def __iter__(self) -> Iterator[Any]:
        return ((i, self.epoch) for i in super().__iter__())


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
    """Train/val/test loaders; shuffling is seeded per epoch (``DistributedSampler``) on any rank count.

    Workers persist across epochs, batches are pinned when a GPU is present, and ``transform``
    runs on every batch once it is on the device (the source's
    :meth:`~mmanet.data.source.DataSource.batch_transform`).

    ``datasets`` maps ``train``, ``val``, ``test`` to datasets yielding :data:`Batch` items (or
    whole batches through ``__getitems__`` with a ``collate_fn`` attribute).
    """

    def __init__(
        self,
        *,
        datasets: dict[str, Dataset[Batch]],
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        num_workers: int = 0,
        transform: Callable[[Batch], Batch] | None = None,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        missing = [s for s in ("train", "val", "test") if s not in datasets]
        if missing:
            raise ValueError(f"datasets for {missing} missing")
        self.datasets = datasets
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.transform = transform
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory

    def prepare_data(self) -> None:
        """Build what datasets prepare once (image caches), in one process before the loaders start."""
        for dataset in self.datasets.values():
            prepare = getattr(dataset, "prepare", None)
            if prepare is not None:
                prepare(self.num_workers)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Apply the source's device transform (e.g. joint augmentation on the GPU) to the moved batch."""
        return self.transform(batch) if self.transform is not None else batch

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def train_dataloader(self) -> DataLoader[Batch]:
        rank, world = self._world()
        dataset = self.datasets["train"]
        size = len(dataset)  # type: ignore[arg-type]
        sampler = EpochTaggedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=self.seed)
        drop_last = size // world > self.batch_size  # never train BatchNorm on a batch of one
        return self._loader(dataset, sampler, self.batch_size, drop_last)

    def eval_dataloader(self, split: str) -> DataLoader[Batch]:
        """Loader over a whole split in order, sharded across ranks without padding."""
        rank, world = self._world()
        dataset = self.datasets[split]
        sampler = ShardSampler(len(dataset), rank, world)  # type: ignore[arg-type]
        return self._loader(dataset, sampler, self.eval_batch_size, False)

    def val_dataloader(self) -> DataLoader[Batch]:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader[Batch]:
        return self.eval_dataloader("test")

    def _loader(
        self, dataset: Dataset[Batch], sampler: Sampler[Any], batch_size: int, drop_last: bool
    ) -> DataLoader[Batch]:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=getattr(dataset, "collate_fn", None) or default_collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )
