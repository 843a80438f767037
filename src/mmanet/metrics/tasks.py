"""Which metrics a task reports, which one selects checkpoints, and which direction is better.

- ``classification``: ``accuracy``, ``macro_f1``, ``ece``; selection on accuracy.
- ``anti_spoofing``: ``acer``, ``apcer``, ``bpcer``, ``hter``, ``accuracy``, ``auc``, ``ece``;
  selection on ACER (lower is better); option ``bona_fide`` (the bona fide class index).
- ``segmentation``: ``miou``, ``pixel_accuracy`` (and ``iou_per_class``); selection on mIoU;
  option ``ignore_index`` (label of void pixels, 255 by default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from mmanet.metrics.anti_spoofing import AntiSpoofingMetrics
from mmanet.metrics.classification import classification_metrics
from mmanet.metrics.segmentation import IGNORE_INDEX, SegmentationMetrics

__all__ = ["TASKS", "TaskMetrics", "TaskSpec", "task_metrics"]


@dataclasses.dataclass(frozen=True)
class TaskMetrics:
    """Metric names (report order), the selection metric, directions, and a per-combination factory."""

    names: tuple[str, ...]
    select: str
    higher_is_better: dict[str, bool]
    factory: Callable[[int], nn.Module]
    ignore_index: int = -100

    @property
    def dense(self) -> bool:
        """Whether predictions are per pixel (segmentation)."""
        return self.select == "miou"

    def score(self, values: dict[str, float]) -> float:
        """Selection score, higher is better (an error rate enters as ``1 - rate``)."""
        value = values[self.select]
        return value if self.higher_is_better[self.select] else 1.0 - value


def _classification(**options: Any) -> TaskMetrics:
    if options:
        raise ValueError(f"task 'classification' takes no options, got {sorted(options)}")
    better = {"accuracy": True, "macro_f1": True, "ece": False}
    return TaskMetrics(("accuracy", "macro_f1", "ece"), "accuracy", better, classification_metrics)


def _anti_spoofing(bona_fide: int = 1) -> TaskMetrics:
    names = ("acer", "apcer", "bpcer", "hter", "accuracy", "auc", "ece")
    better = {"acer": False, "apcer": False, "bpcer": False, "hter": False, "accuracy": True, "auc": True, "ece": False}

    def factory(num_classes: int, threshold: float = 0.5) -> nn.Module:
        if num_classes != 2:
            raise ValueError(f"anti-spoofing needs 2 classes (bona fide, attack), got {num_classes}")
        return AntiSpoofingMetrics(bona_fide, threshold)

    return TaskMetrics(names, "acer", better, factory)


def _segmentation(ignore_index: int = IGNORE_INDEX) -> TaskMetrics:
    def factory(num_classes: int) -> nn.Module:
        return SegmentationMetrics(num_classes, ignore_index)

    return TaskMetrics(
        ("miou", "pixel_accuracy"), "miou", {"miou": True, "pixel_accuracy": True}, factory, ignore_index=ignore_index
    )


TASKS: dict[str, Callable[..., TaskMetrics]] = {
    "classification": _classification,
    "anti_spoofing": _anti_spoofing,
    "segmentation": _segmentation,
}


def task_metrics(name: str, **options: Any) -> TaskMetrics:
    """The :class:`TaskMetrics` of task ``name``; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {sorted(TASKS)}")
    return TASKS[name](**options)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A task by name with its options; stored in model files as ``{"name": ..., **options}``.

    >>> TaskSpec.from_dict({"name": "anti_spoofing", "bona_fide": 0}).metrics().select
    'acer'
    """

    name: str = "classification"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def metrics(self) -> TaskMetrics:
        """The task's :class:`TaskMetrics`."""
        return task_metrics(self.name, **self.options)

    def to_dict(self) -> dict[str, Any]:
        """Plain form ``{"name": ..., **options}``."""
        return {"name": self.name, **self.options}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TaskSpec:
        """Inverse of :meth:`to_dict` (``None``: classification, for older model files)."""
        options = dict(data or {"name": "classification"})
        return cls(str(options.pop("name")), options)
