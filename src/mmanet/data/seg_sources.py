"""Segmentation sources: synthetic RGB-D scenes, NYUv2 (ESANet layout), Cityscapes with depth.

NYUv2: ``root/{train,test}/{rgb,depth,depth_raw,labels_40}/<name>.png`` with ``train.txt`` and
``test.txt`` listing the names; 40 classes, label 0 = void; 16-bit depth in millimetres
(``depth``: refined, mean 2841.9 / std 1417.3; ``depth_raw``: raw, statistics measured on the
training split). A validation subset is carved from train (seeded, ``val_fraction``).

Cityscapes: ``root/{train,val}/{rgb,disparity,labels_19}/<name>.png`` with ``train.txt`` and
``val.txt``; 19 classes, label 0 = void; 16-bit disparity ``p`` gives ``d = (p - 1) / 256``
pixels and depth ``baseline * focal / d`` (0 where ``p = 0``). The official validation split is
the test split; validation data is carved from train.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmanet.data.arrays import DataError
from mmanet.data.segmentation import IGNORE, RawSample, SegmentationSource, median_frequency_weights, read_png
from mmanet.data.synthetic_scenes import SCENE_CLASSES, make_scenes

__all__ = ["CityscapesSource", "NYUv2Source", "SyntheticScenesSource"]

NYU_REFINED_STATS = (2841.9, 1417.3)


def _check_options(name: str, options: dict[str, Any], known: set[str]) -> dict[str, Any]:
    unknown = sorted(set(options) - known)
    if unknown:
        raise DataError(f"data.options: unknown {unknown} for {name}; valid: {sorted(known)}")
    return dict(options)


def _depth_stats(depths: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([d[d > 0].ravel() for d in depths]) if depths else np.zeros(0)
    if values.size < 2:
        raise DataError("cannot measure depth statistics: the sampled training depth maps are all holes")
    return float(values.mean()), float(values.std())


def _shifted(label: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """Void 0 -> ignore; classes 1..K -> 0..K-1; anything else is an error naming the file."""
    out = label.astype(np.int64) - 1
    out[label == 0] = IGNORE
    bad = (out != IGNORE) & ((out < 0) | (out >= num_classes))
    if bad.any():
        raise DataError(f"{where}: label values outside 0..{num_classes} (found {int(label[bad].max())})")
    return out


def _carve(names: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed + 104_729)
    order = rng.permutation(len(names))
    count = max(1, round(fraction * len(names)))
    val = sorted(names[i] for i in order[:count])
    return sorted(set(names) - set(val)), val


def _size(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if value else default


class SyntheticScenesSource(SegmentationSource):
    """In-memory synthetic scenes (:mod:`mmanet.data.synthetic_scenes`), split by seed."""

    OPTIONS: ClassVar[set[str]] = {
        "num_samples",
        "height",
        "width",
        "objects",
        "data_seed",
        "scale",
        "class_weights",
        "workers",
    }

    def __init__(
        self,
        options: dict[str, Any],
        fractions: Sequence[float],
        seed: int = 0,
        modalities: Sequence[str] | None = None,
    ) -> None:
        options = _check_options("synthetic-rgbd", options, self.OPTIONS)
        h, w = int(options.get("height", 64)), int(options.get("width", 96))
        scenes = make_scenes(
            int(options.get("num_samples", 240)), h, w, int(options.get("objects", 4)), int(options.get("data_seed", 0))
        )
        order = np.random.default_rng(seed).permutation(len(scenes["label"]))
        cuts = np.cumsum([round(f * len(order)) for f in fractions[:2]])
        parts = dict(zip(("train", "val", "test"), np.split(order, cuts), strict=True))
        readers = {s: (self._reader(scenes, idx), len(idx)) for s, idx in parts.items()}
        stats = _depth_stats([scenes["depth"][i] for i in parts["train"]])
        mods = tuple(modalities or ("rgb", "depth"))
        super().__init__(
            "synthetic-rgbd",
            readers,
            mods,
            len(SCENE_CLASSES),
            (h, w),
            {"depth": stats},
            {"scale": [1.0, 1.25], **options},
        )
        if options.get("class_weights") == "median_frequency":
            self.class_weights = median_frequency_weights(
                [scenes["label"][i] for i in parts["train"]], self.num_classes
            )

    @staticmethod
    def _reader(scenes: dict[str, np.ndarray], indices: np.ndarray) -> Callable[[int], RawSample]:
        def read(i: int) -> RawSample:
            j = int(indices[i])
            return {"rgb": scenes["rgb"][j], "depth": scenes["depth"][j]}, scenes["label"][j]

        return read


def _file_reader(
    root: Path,
    folder: str,
    names: list[str],
    depth_folder: str,
    label_folder: str,
    num_classes: int,
    to_depth: Callable[[np.ndarray], np.ndarray],
) -> Callable[[int], RawSample]:
    def read(i: int) -> RawSample:
        name = names[i]
        rgb = read_png(root / folder / "rgb" / f"{name}.png", name)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise DataError(f"{root / folder / 'rgb' / name}.png: expected an RGB image, got shape {rgb.shape}")
        depth = to_depth(read_png(root / folder / depth_folder / f"{name}.png", name).astype(np.float32))
        label_path = root / folder / label_folder / f"{name}.png"
        label = _shifted(read_png(label_path, name), num_classes, str(label_path))
        if depth.shape != label.shape or rgb.shape[:2] != label.shape:
            raise DataError(f"{name}: rgb {rgb.shape[:2]}, depth {depth.shape} and label {label.shape} sizes differ")
        return {"rgb": rgb[..., :3], "depth": depth}, label

    return read


def _names(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: split list not found")
    names = [line.strip().removesuffix(".png") for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: no sample names")
    return names


class NYUv2Source(SegmentationSource):
    """NYUv2 as prepared by ESANet's script (40 classes)."""

    OPTIONS: ClassVar[set[str]] = {
        "depth",
        "val_fraction",
        "crop",
        "eval_size",
        "scale",
        "class_weights",
        "depth_stats",
        "workers",
    }

    def __init__(self, root: str | Path, options: dict[str, Any], seed: int = 0) -> None:
        options = _check_options("nyuv2", options, self.OPTIONS)
        root = Path(root)
        kind = str(options.get("depth", "refined"))
        if kind not in ("refined", "raw"):
            raise DataError(f"data.options.depth: expected 'refined' or 'raw', got {kind!r}")
        folder = "depth" if kind == "refined" else "depth_raw"
        train, val = _carve(_names(root / "train.txt"), float(options.get("val_fraction", 0.1)), seed)
        test = _names(root / "test.txt")

        def reader(split_folder: str, names: list[str]) -> tuple[Callable[[int], RawSample], int]:
            return _file_reader(root, split_folder, names, folder, "labels_40", 40, lambda d: d), len(names)

        readers = {"train": reader("train", train), "val": reader("train", val), "test": reader("test", test)}
        stats = options.get("depth_stats") or (
            NYU_REFINED_STATS
            if kind == "refined"
            else _depth_stats([readers["train"][0](i)[0]["depth"] for i in range(min(50, len(train)))])
        )
        crop = _size(options.get("crop"), (480, 640))
        eval_size = _size(options["eval_size"], crop) if options.get("eval_size") else None
        super().__init__(
            f"nyuv2 ({root})",
            readers,
            ("rgb", "depth"),
            40,
            crop,
            {"depth": (float(stats[0]), float(stats[1]))},
            options,
            eval_size,
        )
        if options.get("class_weights") == "median_frequency":
            self.class_weights = median_frequency_weights([readers["train"][0](i)[1] for i in range(len(train))], 40)


class CityscapesSource(SegmentationSource):
    """Cityscapes with disparity-derived depth (19 classes); the official val split is the test split."""

    OPTIONS: ClassVar[set[str]] = {
        "val_fraction",
        "crop",
        "eval_size",
        "scale",
        "class_weights",
        "depth_stats",
        "baseline",
        "focal",
        "workers",
    }

    def __init__(self, root: str | Path, options: dict[str, Any], seed: int = 0) -> None:
        options = _check_options("cityscapes", options, self.OPTIONS)
        root = Path(root)
        baseline, focal = float(options.get("baseline", 0.209313)), float(options.get("focal", 2262.52))

        def to_depth(p: np.ndarray) -> np.ndarray:
            disparity = (p - 1.0) / 256.0
            return np.where(p > 0, 1000.0 * baseline * focal / np.maximum(disparity, 1e-3), 0.0).astype(np.float32)

        train, val = _carve(_names(root / "train.txt"), float(options.get("val_fraction", 0.1)), seed)
        test = _names(root / "val.txt")

        def reader(folder: str, names: list[str]) -> tuple[Callable[[int], RawSample], int]:
            return _file_reader(root, folder, names, "disparity", "labels_19", 19, to_depth), len(names)

        readers = {"train": reader("train", train), "val": reader("train", val), "test": reader("val", test)}
        stats = options.get("depth_stats") or _depth_stats(
            [readers["train"][0](i)[0]["depth"] for i in range(min(50, len(train)))]
        )
        crop = _size(options.get("crop"), (512, 1024))
        eval_size = _size(options.get("eval_size"), (512, 1024))
        super().__init__(
            f"cityscapes ({root})",
            readers,
            ("rgb", "depth"),
            19,
            crop,
            {"depth": (float(stats[0]), float(stats[1]))},
            {"scale": [0.5, 2.0], **options},
            eval_size,
        )
        if options.get("class_weights") == "median_frequency":
            self.class_weights = median_frequency_weights([readers["train"][0](i)[1] for i in range(len(train))], 19)
