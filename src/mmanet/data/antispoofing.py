"""Face anti-spoofing datasets on disk: CASIA-SURF and CeFA (RGB, depth, IR).

CASIA-SURF: ``root/`` holds ``train_list.txt``, ``val_private_list.txt``,
``test_private_list.txt``; each line is ``rgb_path depth_path ir_path label`` with paths
relative to ``root`` and label 1 = real (bona fide), 0 = spoof.

CeFA: ``root/{AF,CA,EA}/{race-ID}/{video}/{profile,depth,ir}/*.jpg`` with video names
``race_ID_device_session_PAI`` (race 1 = AF, 2 = CA, 3 = EA; PAI 1 = real, 2 = cloth,
3 = photo, 4 = screen); label 0 if PAI = 1 else 1 (bona fide = 0). Protocol 4@k (race and
PAI): train IDs 0-199 and dev IDs 200-299 of one race with PAI {1, 4}; test IDs 300-499 of
another race with PAI {1, 2}; devices {1, 3}; sessions {1, 2}.

A missing or unreadable file is an error (``on_missing: error``) or marks that modality absent
for the sample (``on_missing: absent``); counts are in ``source.info``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from mmanet.data.arrays import DataError
from mmanet.data.datasets import Batch
from mmanet.data.device_augment import DeviceAugment
from mmanet.data.image_cache import ImageCache
from mmanet.data.images import ImageAugment, ImageSample, ImageSampleDataset, check_image
from mmanet.data.source import DataSource, SplitSet

__all__ = ["CEFA_PROTOCOLS", "CasiaSurfSource", "CefaSource", "ImageSource"]

SPLIT_NAMES = ("train", "val", "test")
RACES = {1: "AF", 2: "CA", 3: "EA"}
CEFA_PROTOCOLS: dict[str, tuple[int, int]] = {
    "4@1": (1, 2),
    "4@2": (1, 3),
    "4@3": (2, 1),
    "4@4": (2, 3),
    "4@5": (3, 1),
    "4@6": (3, 2),
}


class ImageSource(DataSource):
    """Fixed train/val/test image samples; builds augmented and plain datasets."""

    task = "anti_spoofing"

    OPTIONS: ClassVar[set[str]] = {
        "channels", "on_missing", "image_size", "resize", "rotation", "check_images", "augment", "cache",
    }  # fmt: skip

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Refuse unknown ``data.options`` before any scanning."""
        unknown = sorted(set(options) - cls.OPTIONS)
        if unknown:
            raise DataError(f"data.options: unknown {unknown} for {cls.__name__}; valid: {sorted(cls.OPTIONS)}")
        return dict(options)

    def __init__(
        self,
        name: str,
        samples: dict[str, list[ImageSample]],
        modalities: Sequence[str],
        options: dict[str, Any],
        bona_fide: int,
    ) -> None:
        self.name = name
        self.modalities = tuple(modalities)
        channels = {m: 3 for m in self.modalities} | dict(options.get("channels") or {})
        self.channels = {m: int(channels[m]) for m in self.modalities}
        self.augment = ImageAugment(
            int(options.get("image_size", 112)), int(options.get("resize", 144)), float(options.get("rotation", 30.0))
        )
        self.on_missing = str(options.get("on_missing", "error"))
        self.device_augment = str(options.get("augment", "cpu")) == "device"
        if str(options.get("augment", "cpu")) not in ("cpu", "device"):
            raise DataError(f"data.options.augment: expected 'cpu' or 'device', got {options.get('augment')!r}")
        self.cache_dir = Path(options["cache"]) if options.get("cache") else None
        if self.on_missing not in ("error", "absent"):
            raise DataError(f"data.options.on_missing: expected 'error' or 'absent', got {self.on_missing!r}")
        self.samples = {s: _keep_usable(samples[s], self.modalities, name, s) for s in SPLIT_NAMES}
        self.input_shapes = {m: (self.channels[m], self.augment.size, self.augment.size) for m in self.modalities}
        self.num_classes = 2
        self.task_options = {"bona_fide": bona_fide}
        self.info = {
            "samples": {s: len(v) for s, v in self.samples.items()},
            "missing": {
                s: {m: sum(x.paths.get(m) is None for x in v) for m in self.modalities} for s, v in self.samples.items()
            },
            "dropped_without_any_modality": {s: len(samples[s]) - len(self.samples[s]) for s in SPLIT_NAMES},
            "default_workers": 2,
        }

    def _dataset(self, split: str, train: bool, seed: int) -> ImageSampleDataset:
        cache = None
        if self.cache_dir is not None:
            side = self.augment.resize if train else self.augment.size
            cache = ImageCache(self.cache_dir, self.samples[split], self.modalities, self.channels, side)
        return ImageSampleDataset(
            self.samples[split],
            self.modalities,
            self.channels,
            self.augment,
            train=train,
            seed=seed,
            on_missing=self.on_missing,
            device_augment=self.device_augment,
            cache=cache,
        )

    def batch_transform(self) -> Callable[[Batch], Batch] | None:
        """Joint augmentation on the device when ``data.options.augment: device``."""
        return DeviceAugment(self.augment.size) if self.device_augment else None

    def splits(self, seed: int) -> SplitSet:
        datasets: dict[str, Any] = {s: self._dataset(s, s == "train", seed) for s in SPLIT_NAMES}
        datasets["train_eval"] = self._dataset("train", False, seed)
        labels = {s: torch.tensor([x.label for x in self.samples[s]], dtype=torch.long) for s in SPLIT_NAMES}
        return SplitSet(datasets, labels)

    def fingerprint(self) -> str:
        listed = {s: [[str(p) for p in x.paths.values()] + [x.label] for x in self.samples[s]] for s in SPLIT_NAMES}
        return hashlib.sha256(json.dumps([self.name, list(self.modalities), listed]).encode()).hexdigest()

    def everything(self) -> ImageSampleDataset:
        all_samples = [x for s in SPLIT_NAMES for x in self.samples[s]]
        return ImageSampleDataset(
            all_samples, self.modalities, self.channels, self.augment, train=False, on_missing=self.on_missing
        )


def _chosen(modalities: Sequence[str] | None, available: tuple[str, ...], dataset: str) -> tuple[str, ...]:
    chosen = tuple(modalities or available)
    bad = [m for m in chosen if m not in available]
    if bad:
        raise DataError(f"data.modalities: {bad} not in {dataset}'s {list(available)}")
    return chosen


def _keep_usable(samples: list[ImageSample], modalities: Sequence[str], name: str, split: str) -> list[ImageSample]:
    usable = [s for s in samples if any(s.paths.get(m) is not None for m in modalities)]
    if not usable:
        raise DataError(f"{name}: the {split} split has no usable samples")
    return usable


def _checked(path: Path, where: str, on_missing: str, check_images: bool) -> Path | None:
    """``path`` if it exists (and opens as an image); else ``None`` or an error, by policy."""
    problem = None
    if not path.is_file():
        problem = "missing file"
    elif check_images and not check_image(path):
        problem = "unreadable image"
    if problem is None:
        return path
    if on_missing == "error":
        raise DataError(
            f"{path}: {problem} (listed at {where}); set data.options.on_missing=absent to treat it as a "
            "missing modality"
        )
    return None


def _inside(root: Path, relative: str, where: str) -> Path:
    if Path(relative).is_absolute():
        raise DataError(f"{where}: path {relative!r} must be relative to the dataset root")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"{where}: path {relative!r} escapes the dataset root {root}")
    return path


class CasiaSurfSource(ImageSource):
    """CASIA-SURF from its three list files (bona fide label 1)."""

    LISTS: ClassVar[dict[str, str]] = {
        "train": "train_list.txt",
        "val": "val_private_list.txt",
        "test": "test_private_list.txt",
    }
    MODALITIES = ("rgb", "depth", "ir")

    def __init__(
        self, root: str | Path, modalities: Sequence[str] | None = None, options: dict[str, Any] | None = None
    ) -> None:
        options = self.check_options(options or {})
        self.root = Path(root).resolve()
        mods = _chosen(modalities, self.MODALITIES, "CASIA-SURF")
        policy, check = str(options.get("on_missing", "error")), bool(options.get("check_images", True))
        samples = {s: self._read_list(self.root / f, mods, policy, check) for s, f in self.LISTS.items()}
        super().__init__(f"casia-surf ({self.root})", samples, mods, options, bona_fide=1)

    def _read_list(
        self, path: Path, modalities: Sequence[str], on_missing: str, check_images: bool
    ) -> list[ImageSample]:
        if not path.is_file():
            raise DataError(f"{path}: list file not found (expected {sorted(self.LISTS.values())} in the dataset root)")
        samples = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            fields = line.split()
            if len(fields) != 4 or fields[3] not in ("0", "1"):
                raise DataError(
                    f"{where}: expected 'rgb_path depth_path ir_path label' with label 0 or 1, got {line.strip()!r}"
                )
            given = dict(zip(self.MODALITIES, fields[:3], strict=True))
            paths = {
                m: _checked(_inside(self.root, given[m], where), where, on_missing, check_images) for m in modalities
            }
            samples.append(ImageSample(paths, int(fields[3]), where))
        return samples


class CefaSource(ImageSource):
    """CASIA-SURF CeFA by directory walk and protocol 4@k (bona fide label 0)."""

    FOLDERS: ClassVar[dict[str, str]] = {"rgb": "profile", "depth": "depth", "ir": "ir"}
    OPTIONS: ClassVar[set[str]] = ImageSource.OPTIONS | {"protocol", "frame_step"}

    def __init__(
        self, root: str | Path, modalities: Sequence[str] | None = None, options: dict[str, Any] | None = None
    ) -> None:
        options = self.check_options(options or {})
        self.root = Path(root).resolve()
        mods = _chosen(modalities, tuple(self.FOLDERS), "CeFA")
        protocol = str(options.get("protocol", "4@5"))
        if protocol not in CEFA_PROTOCOLS:
            raise DataError(
                f"data.options.protocol: unknown CeFA protocol {protocol!r}; available: {sorted(CEFA_PROTOCOLS)}"
            )
        self.protocol = protocol
        step = int(options.get("frame_step", 1))
        policy, check = str(options.get("on_missing", "error")), bool(options.get("check_images", True))
        samples: dict[str, list[ImageSample]] = {s: [] for s in SPLIT_NAMES}
        for video, split, label in self._videos():
            samples[split] += self._frames(video, mods, label, step, policy, check)
        super().__init__(f"cefa {protocol} ({self.root})", samples, mods, options, bona_fide=0)

    def _rules(self) -> dict[str, dict[str, set[int]]]:
        train_race, test_race = CEFA_PROTOCOLS[self.protocol]
        common = {"device": {1, 3}, "session": {1, 2}}
        return {
            "train": {"race": {train_race}, "id": set(range(0, 200)), "pai": {1, 4}, **common},
            "val": {"race": {train_race}, "id": set(range(200, 300)), "pai": {1, 4}, **common},
            "test": {"race": {test_race}, "id": set(range(300, 500)), "pai": {1, 2}, **common},
        }

    def _videos(self) -> list[tuple[Path, str, int]]:
        if not self.root.is_dir():
            raise DataError(f"{self.root}: CeFA root directory not found")
        rules = self._rules()
        out = []
        for race in sorted(RACES.values()):
            for video in sorted(self.root.glob(f"{race}/*/*")):
                parts = video.name.split("_")
                if not video.is_dir() or len(parts) != 5 or not all(p.isdigit() for p in parts):
                    continue
                race_code, subject, device, session, pai = (int(p) for p in parts)
                fields = {"race": race_code, "id": subject, "device": device, "session": session, "pai": pai}
                for split, rule in rules.items():
                    if all(fields[k] in allowed for k, allowed in rule.items()):
                        out.append((video, split, 0 if pai == 1 else 1))
        return out

    def _frames(
        self, video: Path, modalities: Sequence[str], label: int, step: int, policy: str, check: bool
    ) -> list[ImageSample]:
        """Frames aligned across modalities by file name; a frame absent in one folder is missing there."""
        listing = {m: {p.stem: p for p in (video / self.FOLDERS[m]).glob("*") if p.is_file()} for m in modalities}
        stems = sorted(set().union(*listing.values()))[::step]
        samples = []
        for stem in stems:
            where = f"{video.relative_to(self.root)}/{stem}"
            paths = {
                m: (
                    _checked(listing[m][stem], where, policy, check)
                    if stem in listing[m]
                    else _missing(video, m, stem, policy)
                )
                for m in modalities
            }
            samples.append(ImageSample(paths, label, where))
        return samples


def _missing(video: Path, modality: str, stem: str, policy: str) -> Path | None:
    """``None`` (absent) for a frame without an image of ``modality``, or an error, by policy."""
    if policy == "error":
        raise DataError(
            f"{video}: frame {stem!r} has no {modality} image; set data.options.on_missing=absent to treat it "
            "as missing"
        )
    return None
