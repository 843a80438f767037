"""What every method of one seed shares: the splits, the network spec, the run directory."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mmanet.config import ExperimentConfig, with_overrides
from mmanet.data import Batch, DataSource, MultimodalDataModule, ReindexedSubset, SplitSet
from mmanet.io import atomic_write_bytes
from mmanet.metrics import TaskSpec
from mmanet.nn import NetworkSpec
from mmanet.training.distributed import is_global_zero

__all__ = ["SeedData", "prepare_seed", "record_split"]


@dataclasses.dataclass(frozen=True)
class SeedData:
    """The data of one seed and what every method trained on it shares (immutable)."""

    cfg: ExperimentConfig
    seed: int
    source: DataSource
    splits: SplitSet
    spec: NetworkSpec
    root: Path

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality order of the data."""
        return self.spec.modalities

    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return len(self.splits.labels["train"])

    @property
    def task(self) -> TaskSpec:
        """The task and its options."""
        return self.source.task_spec

    def datamodule(self) -> MultimodalDataModule:
        """Loaders with the configured batch sizes (workers: 0 in memory, 2 for images on disk by default)."""
        data = self.cfg.data
        workers = self.source.workers(data.num_workers)
        return MultimodalDataModule(
            datasets=self.splits.datasets,
            batch_size=data.batch_size,
            eval_batch_size=data.eval_batch_size,
            seed=self.seed,
            num_workers=workers,
            transform=_compose(
                self.source.batch_transform(), _channels_last if self.cfg.trainer.channels_last else None
            ),
        )

    def with_overrides(self, overrides: dict) -> SeedData:
        """The same data under ``cfg`` with ``overrides`` merged in (e.g. ``distill.teacher_overrides``)."""
        if not overrides:
            return self
        cfg = with_overrides(self.cfg, overrides)
        spec = dataclasses.replace(self.spec, model=cfg.model.for_task(self.source.task))
        return dataclasses.replace(self, cfg=cfg, spec=spec)

    def with_training_subset(self, kept: Sequence[int], root: Path) -> SeedData:
        """Only the training samples at ``kept`` (a cross-fitting fold), run under ``root``."""
        train: Dataset[Batch] = ReindexedSubset(self.splits.datasets["train"], list(kept))
        labels = {**self.splits.labels, "train": self.splits.labels["train"][torch.as_tensor(list(kept))]}
        splits = dataclasses.replace(self.splits, datasets={**self.splits.datasets, "train": train}, labels=labels)
        return dataclasses.replace(self, splits=splits, root=root)


def _channels_last(batch: Batch) -> Batch:
    inputs = {
        m: x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for m, x in batch["inputs"].items()
    }
    return Batch(inputs=inputs, present=batch["present"], target=batch["target"], index=batch["index"])


def _compose(*steps: Callable[[Batch], Batch] | None) -> Callable[[Batch], Batch] | None:
    chosen = [s for s in steps if s is not None]
    if not chosen:
        return None

    def run(batch: Batch) -> Batch:
        for step in chosen:
            batch = step(batch)
        return batch

    return run


def prepare_seed(cfg: ExperimentConfig, source: DataSource, seed: int) -> SeedData:
    """Split (seeded unless the data has its own split) and describe the network."""
    spec = NetworkSpec(source.modalities, source.input_shapes, source.num_classes, cfg.model.for_task(source.task))
    return SeedData(cfg, seed, source, source.splits(seed), spec, Path(cfg.out) / f"seed_{seed}")


def record_split(data: SeedData) -> None:
    """Save the split used (``seed_<s>/split.npz``, one split name per sample) on rank 0."""
    if is_global_zero() and data.splits.record is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, split=data.splits.record)
        atomic_write_bytes(data.root / "split.npz", buffer.getvalue())
