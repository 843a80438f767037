"""Checks of a whole data source before anything is trained or written (sklearn-style).

:func:`check_splits` looks at every seed's split: every class must occur in the training split
(an error otherwise), a class missing from validation or test is a warning, and anti-spoofing
splits need both bona fide and attack samples (the metrics are undefined otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mmanet.data.arrays import DataError
from mmanet.data.source import DataSource

__all__ = ["check_splits"]


def _missing(labels: torch.Tensor, num_classes: int) -> list[int]:
    counts = torch.bincount(labels, minlength=num_classes)
    return [int(c) for c in torch.nonzero(counts == 0).flatten()]


def check_splits(source: DataSource, seeds: Sequence[int]) -> list[str]:
    """Raise :class:`DataError` for splits that cannot train or be scored; return warnings."""
    if source.task == "segmentation":
        return []  # per-pixel labels: classes are counted by the metrics, not per sample
    warnings: list[str] = []
    for seed in seeds:
        labels = source.splits(seed).labels
        for split in ("train", "val", "test"):
            if len(labels[split]) == 0:
                raise DataError(f"{source.name}: the {split} split of seed {seed} has no samples")
            missing = _missing(labels[split], source.num_classes)
            if not missing:
                continue
            message = f"{source.name}: the {split} split of seed {seed} has no samples of class {missing}"
            if split == "train" or source.task == "anti_spoofing":
                what = "bona fide and attack samples" if source.task == "anti_spoofing" else "every class"
                raise DataError(f"{message}; it needs {what}")
            if message not in warnings:
                warnings.append(message)
    return warnings
