"""RGB-D semantic segmentation datasets: synthetic scenes, NYUv2, Cityscapes with depth.

Every source yields batches ``{"inputs": {"rgb": (3, H, W), "depth": (1, H, W)}, "present",
"target": (H, W) int64 with void = ``ignore_index`` (255), "index"}``. Training samples are
augmented jointly (:mod:`mmanet.data.seg_transforms`); evaluation samples are resized to
``eval_size`` (labels stay at full size: logits are upsampled to them). Validation data comes
from the training split (seeded) whenever the dataset has no validation split: mining and
model selection never see the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from mmanet.data.arrays import DataError
from mmanet.data.datasets import Batch
from mmanet.data.seg_transforms import SegAugment, _resize, hsv_jitter, normalise_depth, normalise_rgb
from mmanet.data.source import DataSource, SplitSet

__all__ = ["RawSample", "SegDataset", "SegmentationSource", "median_frequency_weights"]

IGNORE = 255
RawSample = tuple[dict[str, np.ndarray], np.ndarray]  # {"rgb": (H, W, 3) uint8, "depth": (H, W) raw}, label (H, W)


class SegDataset(Dataset[Batch]):
    """Reads raw samples with ``reader(i)``, augments (training) or resizes (evaluation), normalises."""

    def __init__(
        self,
        reader: Callable[[int], RawSample],
        length: int,
        modalities: Sequence[str],
        depth_stats: dict[str, tuple[float, float]],
        *,
        augment: SegAugment | None,
        eval_size: tuple[int, int] | None,
        seed: int = 0,
    ) -> None:
        self.reader = reader
        self.length = length
        self.modalities = tuple(modalities)
        self.depth_stats = depth_stats
        self.augment = augment
        self.eval_size = eval_size
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> Batch:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        raw, label_np = self.reader(index)
        params = None
        if self.augment is not None:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_033 + index)
            params = self.augment.draw(generator)
        images: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            array = raw[m]
            if m == "rgb":
                rgb = hsv_jitter(array, params["hsv"]) if params is not None else array
                images[m] = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)
            else:
                images[m] = torch.from_numpy(np.array(array, dtype=np.float32))[None]
        label = torch.from_numpy(np.array(label_np, dtype=np.int64))
        modes = {m: "bilinear" if m == "rgb" else "nearest" for m in self.modalities}
        if params is not None and self.augment is not None:
            images, label = self.augment.geometry(images, label, params, modes)
        elif self.eval_size is not None:
            images = {m: _resize(x, self.eval_size, modes[m]) for m, x in images.items()}
        inputs = {
            m: normalise_rgb(x) if m == "rgb" else normalise_depth(x, *self.depth_stats[m]) for m, x in images.items()
        }
        return {
            "inputs": inputs,
            "present": torch.ones(len(self.modalities), dtype=torch.bool),
            "target": label,
            "index": torch.tensor(index),
        }


def median_frequency_weights(labels: Sequence[np.ndarray], num_classes: int) -> list[float]:
    """ESANet/SegNet median-frequency balancing: ``w_c = median(f) / f_c`` with ``f_c`` = pixels of ``c``
    over pixels of the images containing ``c``; classes never seen get weight 0."""
    pixels = np.zeros(num_classes)
    present_pixels = np.zeros(num_classes)
    for lab in labels:
        valid = lab[lab != IGNORE]
        counts = np.bincount(valid.ravel(), minlength=num_classes)[:num_classes]
        pixels += counts
        present_pixels[counts > 0] += valid.size
    freq = np.where(present_pixels > 0, pixels / np.maximum(present_pixels, 1), 0.0)
    median = np.median(freq[freq > 0]) if (freq > 0).any() else 1.0
    return [float(median / f) if f > 0 else 0.0 for f in freq]


class SegmentationSource(DataSource):
    """A segmentation dataset from per-split readers; subclasses fill ``readers`` and metadata."""

    task = "segmentation"

    def __init__(
        self,
        name: str,
        readers: dict[str, tuple[Callable[[int], RawSample], int]],
        modalities: Sequence[str],
        num_classes: int,
        crop: tuple[int, int],
        depth_stats: dict[str, tuple[float, float]],
        options: dict[str, Any],
        eval_size: tuple[int, int] | None = None,
    ) -> None:
        for dim in (*crop, *(eval_size or ())):
            if dim % 32:
                raise DataError(
                    f"{name}: crop and eval sizes must be multiples of 32, got crop {crop}, eval {eval_size}"
                )
        self.name = name
        self.readers = readers
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.depth_stats = depth_stats
        self.eval_size = eval_size
        scale = options.get("scale", [1.0, 1.4])
        self.augment = SegAugment(crop=crop, scale=(float(scale[0]), float(scale[1])), ignore_index=IGNORE)
        self.input_shapes = {m: (3 if m == "rgb" else 1, *crop) for m in self.modalities}
        self.task_options = {"ignore_index": IGNORE}
        self.info = {
            "samples": {s: n for s, (_, n) in readers.items()},
            "depth_stats": depth_stats,
            "default_workers": 2 if options.get("workers", True) else 0,
        }
        self.class_weights: list[float] | None = None

    def splits(self, seed: int) -> SplitSet:
        def dataset(split: str, train: bool) -> SegDataset:
            reader, length = self.readers[split]
            augment = self.augment if train else None
            return SegDataset(
                reader, length, self.modalities, self.depth_stats, augment=augment, eval_size=self.eval_size, seed=seed
            )

        datasets: dict[str, Any] = {s: dataset(s, s == "train") for s in ("train", "val", "test")}
        datasets["train_eval"] = dataset("train", False)
        labels = {
            s: torch.zeros(n, dtype=torch.long) for s, (_, n) in self.readers.items()
        }  # per-sample labels: not meaningful for dense tasks
        return SplitSet(datasets, labels)

    def everything(self) -> Dataset[Batch]:
        return self.splits(0).datasets["test"]


def read_png(path: Path, where: str) -> np.ndarray:
    """A PNG (8- or 16-bit) as a numpy array; unreadable files name the path."""
    try:
        with Image.open(path) as image:
            return np.asarray(image)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable image ({where}): {err}") from err
