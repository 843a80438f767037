"""Miniature CASIA-SURF and CeFA trees in the exact on-disk layouts, made by the tests."""

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
            rel = {m: f"{folder[split]}/{'real' if label else 'fake'}/{i:04d}/{m}.{ext}" for m in ("color", "depth", "ir")}
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
                        for m, folder in (("rgb", "profile"), ("depth", "depth"), ("ir", "ir")):
                            write_image(video / folder / f"{f:04d}.jpg", 200 if pai == 1 else 60, seed=f, mode="RGB")
    (root / "AF" / "AF-005" / "not_a_video").mkdir(parents=True, exist_ok=True)
    return root
