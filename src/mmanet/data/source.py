"""Data sources: what an experiment needs from a dataset, whatever its storage.

A :class:`DataSource` knows its modalities, per-sample input shapes, class count and task, and
gives, for a seed, the train/val/test datasets (:class:`SplitSet`). In-memory arrays
(:class:`ArraySource`) split by a seeded stratified split unless the data has its own; image
datasets on disk have fixed splits and augment the training split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmanet.data.arrays import SPLITS, MultimodalArrays, stratified_split
from mmanet.data.datasets import Batch, MultimodalDataset
from mmanet.metrics.tasks import TaskSpec

__all__ = ["ArraySource", "DataSource", "ReindexedSubset", "SplitSet"]


@dataclasses.dataclass
class SplitSet:
    """Datasets of one seed.

    Attributes:
        datasets: ``train`` (augmented if the source augments), ``train_eval`` (the training
            samples without augmentation), ``val``, ``test``.
        labels: ``{split: (N,) int64}``.
        statistics: training ``(inputs, present)`` to fit input normalisation, or ``None`` when
            the source normalises its inputs itself.
        record: split name per sample of the source (saved with the run), or ``None``.
    """

    datasets: dict[str, Dataset[Batch]]
    labels: dict[str, Tensor]
    statistics: tuple[dict[str, Tensor], Tensor] | None = None
    record: np.ndarray | None = None


class DataSource:
    """Base class; subclasses set the attributes and implement :meth:`splits` and :meth:`everything`."""

    name: str
    modalities: tuple[str, ...]
    input_shapes: dict[str, tuple[int, ...]]
    num_classes: int
    task: str = "classification"
    task_options: dict[str, Any]
    info: dict[str, Any]
    class_weights: list[float] | None = None
    augments: bool = True  # the training split differs from epoch to epoch (in-memory arrays: False)

    def batch_transform(self) -> Callable[[Batch], Batch] | None:
        """What to do with a batch once it is on the device (``None``: nothing)."""
        return None

    @property
    def task_spec(self) -> TaskSpec:
        """The task and its options (what a model file records)."""
        return TaskSpec(self.task, dict(self.task_options))

    def fingerprint(self) -> str:
        """SHA-256 that changes when the data changes (stored in model files; ``evaluate`` compares).

        The base form hashes the description (modalities, shapes, classes, sample counts);
        in-memory data hashes the arrays, image datasets the listed files and labels.
        """
        description = [self.name, list(self.modalities), self.input_shapes, self.num_classes, self.info]
        return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()

    def workers(self, configured: int | None) -> int:
        """Loader workers: ``configured`` (``data.num_workers``) when set, otherwise this data's
        default (0 in memory, 2 for images on disk)."""
        return configured if configured is not None else int(self.info.get("default_workers", 0))

    def splits(self, seed: int) -> SplitSet:
        """Train/val/test datasets for ``seed``."""
        raise NotImplementedError

    def everything(self) -> Dataset[Batch]:
        """Every sample, unaugmented, in a fixed order."""
        raise NotImplementedError


class ArraySource(DataSource):
    """In-memory arrays; ``fractions`` and ``split_seed`` apply when the data has no ``split``."""

    augments = False

    def __init__(
        self,
        arrays: MultimodalArrays,
        fractions: Sequence[float],
        split_seed: int | None = None,
        name: str | None = None,
    ) -> None:
        self.arrays = arrays
        self.fractions = list(fractions)
        self.split_seed = split_seed
        self.name = name or arrays.source
        self.modalities = arrays.modalities
        self.input_shapes = arrays.input_shapes
        self.num_classes = arrays.num_classes
        self.task_options = {}
        absent = (~arrays.present).sum(0).tolist()
        self.info = {"samples": len(arrays), "absent_in_data": dict(zip(arrays.modalities, absent, strict=True))}

    def split_names(self, seed: int) -> np.ndarray:
        """Split name per sample: the data's own, or seeded and stratified."""
        if self.arrays.split is not None:
            return self.arrays.split
        return stratified_split(
            self.arrays.labels, self.fractions, self.split_seed if self.split_seed is not None else seed
        )

    def splits(self, seed: int) -> SplitSet:
        names = self.split_names(seed)
        parts = {s: self.arrays.subset(np.nonzero(names == s)[0]) for s in SPLITS}
        datasets: dict[str, Dataset[Batch]] = {s: MultimodalDataset(a) for s, a in parts.items()}
        datasets["train_eval"] = datasets["train"]
        train = parts["train"]
        return SplitSet(datasets, {s: a.labels for s, a in parts.items()}, (train.inputs, train.present), names)

    def everything(self) -> Dataset[Batch]:
        return MultimodalDataset(self.arrays)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        a = self.arrays
        for tensor in (a.labels, a.present, *(a.inputs[m] for m in a.modalities)):
            digest.update(tensor.contiguous().numpy().tobytes())
        digest.update(json.dumps([list(a.modalities), None if a.split is None else a.split.tolist()]).encode())
        return digest.hexdigest()


class ReindexedSubset(Dataset[Batch]):
    """Samples ``indices`` of a per-sample dataset, with ``index`` rewritten to the position in the subset."""

    def __init__(self, dataset: Dataset[Batch], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        self.collate_fn = getattr(dataset, "collate_fn", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: Any) -> Batch:
        key = position[0] if isinstance(position, tuple) else position
        inner = (self.indices[key], *position[1:]) if isinstance(position, tuple) else self.indices[key]
        sample: Batch = self.dataset[inner]  # type: ignore[index]
        return Batch(
            inputs=sample["inputs"], present=sample["present"], target=sample["target"], index=torch.tensor(key)
        )

    def __getitems__(self, positions: Sequence[Any]) -> Any:
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is None:
            return [self[p] for p in positions]
        keys = [p[0] if isinstance(p, tuple) else p for p in positions]
        batch = dict(getitems([self.indices[k] for k in keys]))
        batch["index"] = torch.as_tensor(keys, dtype=torch.long)
        return batch
