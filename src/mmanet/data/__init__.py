"""Datasets by name: the bundled UCI Multiple Features digits, bring-your-own ``.npz``, synthetic,
and the face anti-spoofing datasets (CASIA-SURF, CeFA) read from disk."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mmanet.config import DataConfig
from mmanet.data.antispoofing import CEFA_PROTOCOLS, CasiaSurfSource, CefaSource, ImageSource
from mmanet.data.arrays import (
    SPLITS,
    DataError,
    MultimodalArrays,
    arrays_from_mapping,
    load_npz,
    read_inputs,
    stratified_split,
)
from mmanet.data.datasets import (
    Batch,
    EpochTaggedSampler,
    MultimodalDataModule,
    MultimodalDataset,
    ShardSampler,
    check_batch,
)
from mmanet.data.seg_sources import CityscapesSource, NYUv2Source, SyntheticScenesSource
from mmanet.data.segmentation import SegDataset, SegmentationSource, median_frequency_weights
from mmanet.data.source import ArraySource, DataSource, ReindexedSubset, SplitSet
from mmanet.data.synthetic import make_synthetic
from mmanet.data.validation import check_splits

__all__ = [
    "CEFA_PROTOCOLS",
    "DATASETS",
    "MFEAT_DEFAULT_MODALITIES",
    "SPLITS",
    "ArraySource",
    "Batch",
    "CasiaSurfSource",
    "CefaSource",
    "CityscapesSource",
    "DataError",
    "DataSource",
    "EpochTaggedSampler",
    "ImageSource",
    "MultimodalArrays",
    "MultimodalDataModule",
    "MultimodalDataset",
    "NYUv2Source",
    "ReindexedSubset",
    "SegDataset",
    "SegmentationSource",
    "ShardSampler",
    "SplitSet",
    "SyntheticScenesSource",
    "arrays_from_mapping",
    "check_batch",
    "check_splits",
    "load_dataset",
    "load_npz",
    "make_synthetic",
    "median_frequency_weights",
    "mfeat_path",
    "read_inputs",
    "split_arrays",
    "stratified_split",
]

MFEAT_DEFAULT_MODALITIES = ("pix", "fou", "mor")


def mfeat_path() -> Path:
    """Path of the bundled UCI Multiple Features file (2000 digits, six views)."""
    return Path(str(resources.files("mmanet.data").joinpath("mfeat.npz")))


def _arrays(cfg: DataConfig, arrays: MultimodalArrays, name: str) -> ArraySource:
    if cfg.options and cfg.dataset != "synthetic":
        raise DataError(f"data.options: dataset {cfg.dataset!r} takes no options, got {sorted(cfg.options)}")
    return ArraySource(arrays, cfg.split, cfg.split_seed, name)


def _mfeat(cfg: DataConfig) -> DataSource:
    return _arrays(cfg, load_npz(mfeat_path(), cfg.modalities or MFEAT_DEFAULT_MODALITIES), "mfeat")


def _npz(cfg: DataConfig) -> DataSource:
    if not cfg.path:
        raise DataError("data.path: the npz dataset needs a file path (data.path=FILE.npz)")
    return _arrays(cfg, load_npz(cfg.path, cfg.modalities, cfg.max_bytes), str(cfg.path))


def _synthetic(cfg: DataConfig) -> DataSource:
    try:
        arrays = make_synthetic(**cfg.options)
    except TypeError as err:
        raise DataError(f"data.options: {err}") from err
    return _arrays(cfg, arrays.select(cfg.modalities) if cfg.modalities else arrays, "synthetic")


def _root(cfg: DataConfig) -> str:
    if not cfg.root:
        raise DataError(f"data.root: dataset {cfg.dataset!r} needs its directory (--data-root DIR)")
    return cfg.root


def _casia_surf(cfg: DataConfig) -> DataSource:
    return CasiaSurfSource(_root(cfg), cfg.modalities, cfg.options)


def _cefa(cfg: DataConfig) -> DataSource:
    return CefaSource(_root(cfg), cfg.modalities, cfg.options)


def _split_seed(cfg: DataConfig) -> int:
    return cfg.split_seed if cfg.split_seed is not None else 0


def _synthetic_rgbd(cfg: DataConfig) -> DataSource:
    return SyntheticScenesSource(cfg.options, cfg.split, _split_seed(cfg), cfg.modalities)


def _nyuv2(cfg: DataConfig) -> DataSource:
    return NYUv2Source(_root(cfg), cfg.options, _split_seed(cfg))


def _cityscapes(cfg: DataConfig) -> DataSource:
    return CityscapesSource(_root(cfg), cfg.options, _split_seed(cfg))


DATASETS: dict[str, Callable[[DataConfig], DataSource]] = {
    "mfeat": _mfeat,
    "npz": _npz,
    "synthetic": _synthetic,
    "casia-surf": _casia_surf,
    "cefa": _cefa,
    "synthetic-rgbd": _synthetic_rgbd,
    "nyuv2": _nyuv2,
    "cityscapes": _cityscapes,
}


def load_dataset(cfg: DataConfig) -> DataSource:
    """Load the dataset named by ``cfg.dataset``; an unknown name lists the valid ones."""
    if cfg.dataset not in DATASETS:
        raise DataError(f"data.dataset: unknown dataset {cfg.dataset!r}; available: {sorted(DATASETS)}")
    source = DATASETS[cfg.dataset](cfg)
    if len(source.modalities) < 2:
        raise DataError(f"data.modalities: at least two modalities are needed, got {list(source.modalities)}")
    return source


def split_arrays(arrays: MultimodalArrays, fractions: list[float], seed: int) -> dict[str, MultimodalArrays]:
    """Split by the data's own ``split`` column, or a seeded stratified split of ``fractions``."""
    names = arrays.split if arrays.split is not None else stratified_split(arrays.labels, fractions, seed)
    return {s: arrays.subset((names == s).nonzero()[0]) for s in SPLITS}
