"""Multimodal image samples on disk, read with Pillow, augmented identically across modalities.

Training (METHOD.md section 6): resize to ``resize`` x ``resize``, rotate by one random angle in
``[-rotation, rotation]``, crop one random ``size`` x ``size`` window, flip horizontally with
probability 1/2 - the same draws for every modality of a sample - then ``(x - 127.5) / 128``.
Evaluation: resize to ``size`` x ``size``. The draws are keyed on (seed, epoch, sample index),
so every method of a paired comparison sees the same augmented images, with or without worker
processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from mmanet.data.arrays import DataError
from mmanet.data.datasets import Batch

__all__ = ["ImageAugment", "ImageSample", "ImageSampleDataset", "check_image", "read_image"]

_MODES = {1: "L", 3: "RGB"}


@dataclasses.dataclass(frozen=True)
class ImageSample:
    """One sample: a path per modality (``None`` when missing), its label, and where it was listed."""

    paths: dict[str, Path | None]
    label: int
    where: str


def read_image(path: Path, channels: int, where: str = "") -> Image.Image:
    """Decode ``path`` as a ``channels``-channel Pillow image; failures name the file (and list line)."""
    if channels not in _MODES:
        raise DataError(f"channels must be 1 or 3, got {channels}")
    try:
        with Image.open(path) as image:
            return image.convert(_MODES[channels])
    except (OSError, UnidentifiedImageError, ValueError) as err:
        context = f" (listed at {where})" if where else ""
        raise DataError(f"{path}: unreadable image{context}: {err}") from err


def check_image(path: Path) -> bool:
    """Whether ``path`` decodes as an image: the whole file, so a JPEG cut after its header fails here,
    not in the middle of training."""
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False


def _to_tensor(image: Image.Image) -> Tensor:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return (torch.from_numpy(array.copy()).permute(2, 0, 1) - 127.5) / 128.0


@dataclasses.dataclass(frozen=True)
class ImageAugment:
    """Joint geometry: training augmentation (``train=True``) or the evaluation resize."""

    size: int = 112
    resize: int = 144
    rotation: float = 30.0
    flip: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.size <= self.resize:
            raise DataError(f"image size {self.size} must be positive and at most resize {self.resize}")

    def draw(self, generator: torch.Generator) -> dict[str, Any]:
        """One sample's random parameters (shared by all its modalities)."""
        u = torch.rand(4, generator=generator).tolist()
        span = self.resize - self.size
        return {
            "angle": (2 * u[0] - 1) * self.rotation,
            "left": int(u[1] * (span + 1)) if span else 0,
            "top": int(u[2] * (span + 1)) if span else 0,
            "flip": self.flip and u[3] < 0.5,
        }

    def vector(self, params: dict[str, Any]) -> Tensor:
        """``params`` as the ``(4,)`` row ``(angle, left, top, flip)`` the device path reads."""
        return torch.tensor([params["angle"], params["left"], params["top"], float(params["flip"])])

    def prepare(self, image: Image.Image, train: bool) -> Tensor:
        """The worker's part of the device path: resized (``resize`` to train, ``size`` to evaluate),
        uint8 ``(C, H, W)``."""
        side = self.resize if train else self.size
        array = np.asarray(image.resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint8)
        return torch.from_numpy((array if array.ndim == 3 else array[:, :, None]).copy()).permute(2, 0, 1)

    def apply(self, image: Image.Image, params: dict[str, Any] | None) -> Tensor:
        """Augment one image with ``params`` (or just resize to ``size`` when ``None``) and normalise."""
        if params is None:
            return _to_tensor(image.resize((self.size, self.size), Image.Resampling.BILINEAR))
        out = image.resize((self.resize, self.resize), Image.Resampling.BILINEAR)
        if params["angle"]:
            out = out.rotate(params["angle"], resample=Image.Resampling.BILINEAR)
        out = out.crop((params["left"], params["top"], params["left"] + self.size, params["top"] + self.size))
        if params["flip"]:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return _to_tensor(out)


class ImageSampleDataset(Dataset[Batch]):
    """Samples of images on disk as :data:`Batch` items; a modality whose file is missing is absent.

    Args:
        samples: the samples of one split.
        modalities: modality order of the presence mask.
        channels: channels to read per modality (1 or 3).
        augment: geometry; ``train`` selects augmentation.
        seed: keys the augmentation draws (with epoch and index).
        on_missing: ``error`` raises on an unreadable file at load time; ``absent`` marks the
            modality missing for that sample.
        device_augment: training samples leave the workers as uint8 images resized to
            ``augment.resize`` with their augmentation parameters (``batch["augment"]``); the
            rotation, crop and flip run on the device (:mod:`mmanet.data.device_augment`).
        cache: an :class:`~mmanet.data.image_cache.ImageCache` of this split's decoded, resized
            images (read instead of decoding the files).
    """

    def __init__(
        self,
        samples: Sequence[ImageSample],
        modalities: Sequence[str],
        channels: dict[str, int],
        augment: ImageAugment,
        *,
        train: bool,
        seed: int = 0,
        on_missing: str = "error",
        device_augment: bool = False,
        cache: Any = None,
    ) -> None:
        self.samples = list(samples)
        self.modalities = tuple(modalities)
        self.channels = channels
        self.augment = augment
        self.device_augment = device_augment and train
        self.cache = cache
        self.train = train
        self.seed = seed
        self.on_missing = on_missing

    def __len__(self) -> int:
        return len(self.samples)

    def labels(self) -> Tensor:
        """``(N,)`` labels."""
        return torch.tensor([s.label for s in self.samples], dtype=torch.long)

    def prepare(self, workers: int = 0) -> None:
        """Build this split's image cache, if it has one (the data module's ``prepare_data``)."""
        if self.cache is not None:
            self.cache.prepare(workers)

    def _params(self, index: int, epoch: int) -> dict[str, Any] | None:
        if not self.train:
            return None
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_033 + index)
        return self.augment.draw(generator)

    def _read(self, m: str, index: int, sample: ImageSample) -> Image.Image | None:
        """The image of modality ``m`` (from the cache when there is one), or ``None`` if unreadable."""
        if self.cache is not None:
            return self.cache.image(m, index)
        path = sample.paths.get(m)
        if path is None:
            return None
        try:
            return read_image(path, self.channels[m], sample.where)
        except DataError:
            if self.on_missing == "error":
                raise
            return None

    def _blank(self, m: str) -> Tensor:
        if self.device_augment:
            return torch.zeros(self.channels[m], self.augment.resize, self.augment.resize, dtype=torch.uint8)
        return torch.zeros(self.channels[m], self.augment.size, self.augment.size)

    def __getitem__(self, key: int | tuple[int, int]) -> Batch:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self.samples[index]
        params = self._params(index, epoch)
        inputs, present = {}, []
        for m in self.modalities:
            image = self._read(m, index, sample)
            tensor = None
            if image is not None:
                tensor = self.augment.prepare(image, True) if self.device_augment else self.augment.apply(image, params)
            present.append(tensor is not None)
            inputs[m] = tensor if tensor is not None else self._blank(m)
        if not any(present):
            files = ", ".join(str(p) for p in sample.paths.values() if p is not None)
            raise DataError(f"sample listed at {sample.where}: no image of it could be read ({files})")
        batch = Batch(
            inputs=inputs, present=torch.tensor(present), target=torch.tensor(sample.label), index=torch.tensor(index)
        )
        if self.device_augment and params is not None:
            batch["augment"] = self.augment.vector(params)
        return batch
