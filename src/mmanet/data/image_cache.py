"""A pre-decoded image cache: every image of a split decoded once, resized, stored as uint8
memory-mapped arrays (one ``.npy`` per modality) and reused by every later epoch and run.

``<directory>/<key>/`` where ``key`` hashes the listed files, channels and side, so a changed
list or size builds a new cache. The build writes into a temporary folder renamed when complete
(a crash never leaves a half cache), in the data module's ``prepare_data`` (one process), with
worker processes decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from mmanet.data.arrays import DataError

__all__ = ["ImageCache"]


class _Decode(Dataset[Any]):
    def __init__(self, samples: Sequence[Any], modalities: Sequence[str], channels: dict[str, int], side: int) -> None:
        self.samples, self.modalities, self.channels, self.side = list(samples), tuple(modalities), channels, side

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> list[np.ndarray | None]:
        from mmanet.data.images import read_image

        out: list[np.ndarray | None] = []
        sample = self.samples[index]
        for m in self.modalities:
            path = sample.paths.get(m)
            try:
                image = read_image(path, self.channels[m], sample.where) if path is not None else None
            except DataError:
                image = None
            if image is None:
                out.append(None)
                continue
            array = np.asarray(image.resize((self.side, self.side), Image.Resampling.BILINEAR), dtype=np.uint8)
            out.append((array if array.ndim == 3 else array[:, :, None]).transpose(2, 0, 1).copy())
        return out


class ImageCache:
    """The cached images of one split at ``side`` x ``side`` (built by :meth:`prepare`)."""

    def __init__(
        self, directory: Path, samples: Sequence[Any], modalities: Sequence[str], channels: dict[str, int], side: int
    ) -> None:
        self.samples, self.modalities, self.channels, self.side = list(samples), tuple(modalities), dict(channels), side
        listed = [[str(p) for p in s.paths.values()] for s in self.samples]
        key = hashlib.sha256(json.dumps([listed, list(self.modalities), self.channels, side]).encode()).hexdigest()[:20]
        self.folder = Path(directory) / key
        self._arrays: dict[str, np.ndarray] | None = None
        self._ok: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """Whether the cache is complete on disk."""
        return (self.folder / "done.json").exists()

    def prepare(self, workers: int = 0) -> None:
        """Decode, resize and store every image once (no-op when the cache exists)."""
        if self.ready:
            return
        tmp = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            n = len(self.samples)
            arrays = {
                m: np.lib.format.open_memmap(
                    tmp / f"{m}.npy", "w+", np.uint8, (n, self.channels[m], self.side, self.side)
                )
                for m in self.modalities
            }
            ok = np.zeros((n, len(self.modalities)), dtype=bool)
            loader = DataLoader(
                _Decode(self.samples, self.modalities, self.channels, self.side), batch_size=None, num_workers=workers
            )
            for i, images in enumerate(loader):
                for j, (m, image) in enumerate(zip(self.modalities, images, strict=True)):
                    if image is not None:
                        arrays[m][i] = np.asarray(image)
                        ok[i, j] = True
            for array in arrays.values():
                array.flush()
            np.save(tmp / "ok.npy", ok)
            (tmp / "done.json").write_text(
                json.dumps({"samples": n, "side": self.side, "modalities": list(self.modalities)})
            )
            os.replace(tmp, self.folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _open(self) -> None:
        if not self.ready:
            raise DataError(f"{self.folder}: the image cache was not built (prepare_data did not run)")
        self._arrays = {m: np.load(self.folder / f"{m}.npy", mmap_mode="r") for m in self.modalities}
        self._ok = np.load(self.folder / "ok.npy")

    def image(self, modality: str, index: int) -> Image.Image | None:
        """The cached image, or ``None`` where the file was missing or unreadable."""
        if self._arrays is None:
            self._open()
        assert self._arrays is not None and self._ok is not None
        if not self._ok[index, self.modalities.index(modality)]:
            return None
        array = np.asarray(self._arrays[modality][index]).transpose(1, 2, 0)
        return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
