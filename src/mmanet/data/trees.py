"""Miniature dataset trees in the exact on-disk layouts of CASIA-SURF, CeFA, NYUv2 and Cityscapes.

Generated images (blobs plus noise), for the tests, the throughput benchmarks and anyone who
wants to try a loader before the real data arrives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int, size: int = 20, seed: int = 0, mode: str = "RGB") -> None:
    """A small image: a bright (real) or dark (spoof) face-like blob plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    blob = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2.5) ** 2) / (size * 2.0))
    gray = np.clip(value * blob + rng.normal(0, 8, (size, size)) + 40, 0, 255).astype(np.uint8)
    array = np.repeat(gray[:, :, None], 3, axis=2) if mode == "RGB" else gray
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def make_casia_surf(root: Path, per_split: dict[str, int] | None = None, ext: str = "jpg") -> Path:
    """``root`` with train/val/test lists; half the samples real (label 1), half spoof."""
    per_split = per_split or {"train": 24, "val": 12, "test": 12}
    lists = {"train": "train_list.txt", "val": "val_private_list.txt", "test": "test_private_list.txt"}
    folder = {"train": "Training", "val": "Val", "test": "Testing"}
    for split, count in per_split.items():
        lines = []
        for i in range(count):
            label = i % 2
            rel = {
                m: f"{folder[split]}/{'real' if label else 'fake'}/{i:04d}/{m}.{ext}" for m in ("color", "depth", "ir")
            }
            for k, (m, r) in enumerate(rel.items()):
                write_image(root / r, 200 if label else 60, seed=i * 3 + k, mode="L" if m != "color" else "RGB")
            lines.append(f"{rel['color']} {rel['depth']} {rel['ir']} {label}")
        (root / lists[split]).write_text("\n".join(lines) + "\n")
    return root


def make_cefa(root: Path, frames: int = 3) -> Path:
    """Videos for every race with IDs in each protocol range, PAI 1, 2 and 4, devices 1 and 3."""
    races = {1: "AF", 2: "CA", 3: "EA"}
    for code, race in races.items():
        for subject in (5, 250, 350):
            for pai in (1, 2, 4):
                for device in (1, 3):
                    video = root / race / f"{race}-{subject:03d}" / f"{code}_{subject:03d}_{device}_1_{pai}"
                    for f in range(frames):
                        for folder in ("profile", "depth", "ir"):
                            write_image(video / folder / f"{f:04d}.jpg", 200 if pai == 1 else 60, seed=f, mode="RGB")
    (root / "AF" / "AF-005" / "not_a_video").mkdir(parents=True, exist_ok=True)
    return root


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_nyuv2(root: Path, train: int = 10, test: int = 4, size: tuple[int, int] = (64, 96)) -> Path:
    """ESANet layout: {train,test}/{rgb,depth,depth_raw,labels_40}/<name>.png plus train.txt / test.txt.

    Label = (row band) in 0..40 with 0 void; depth (mm, 16-bit) = 1000 + 50 * label, with a hole."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        names = []
        for i in range(count):
            name = f"{i:04d}"
            names.append(name)
            label = (np.arange(size[0])[:, None] // 4 + i) % 41 * np.ones(size, dtype=np.int64)
            rgb = np.stack([label * 6, 255 - label * 6, rng.integers(0, 255, size)], -1).astype(np.uint8)
            depth = (1000 + 50 * label).astype(np.uint16)
            depth[:3, :3] = 0
            for folder, array in (
                ("rgb", rgb),
                ("depth", depth),
                ("depth_raw", depth),
                ("labels_40", label.astype(np.uint8)),
            ):
                _write_png(root / split / folder / f"{name}.png", array)
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root


def make_cityscapes(root: Path, train: int = 8, val: int = 3, size: tuple[int, int] = (64, 128)) -> Path:
    """{train,val}/{rgb,disparity,labels_19}/<name>.png plus train.txt / val.txt; disparity 16-bit."""
    for split, count in (("train", train), ("val", val)):
        names = []
        for i in range(count):
            name = f"city_{i:03d}"
            names.append(name)
            label = (np.arange(size[1])[None, :] // 8 + i) % 20 * np.ones(size, dtype=np.int64)
            rgb = np.stack([label * 12, label * 5, 255 - label * 12], -1).astype(np.uint8)
            disparity = (1 + 256 * (10 + label)).astype(np.uint16)
            disparity[-2:, -2:] = 0
            for folder, array in (("rgb", rgb), ("disparity", disparity), ("labels_19", label.astype(np.uint8))):
                _write_png(root / split / folder / f"{name}.png", array)
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root
