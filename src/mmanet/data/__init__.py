"""Datasets by name: the bundled UCI Multiple Features digits, bring-your-own ``.npz``, synthetic."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mmanet.config import DataConfig
from mmanet.data.arrays import SPLITS, DataError, MultimodalArrays, arrays_from_mapping, load_npz, stratified_split
from mmanet.data.datasets import Batch, MultimodalDataModule, MultimodalDataset, ShardSampler
from mmanet.data.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "MFEAT_DEFAULT_MODALITIES",
    "SPLITS",
    "Batch",
    "DataError",
    "MultimodalArrays",
    "MultimodalDataModule",
    "MultimodalDataset",
    "ShardSampler",
    "arrays_from_mapping",
    "load_dataset",
    "load_npz",
    "make_synthetic",
    "mfeat_path",
    "split_arrays",
    "stratified_split",
]

MFEAT_DEFAULT_MODALITIES = ("pix", "fou", "mor")


def mfeat_path() -> Path:
    """Path of the bundled UCI Multiple Features file (2000 digits, six views)."""
    return Path(str(resources.files("mmanet.data").joinpath("mfeat.npz")))


def _mfeat(cfg: DataConfig) -> MultimodalArrays:
    return load_npz(mfeat_path(), cfg.modalities or MFEAT_DEFAULT_MODALITIES)


def _npz(cfg: DataConfig) -> MultimodalArrays:
    if not cfg.path:
        raise DataError("data.path: the npz dataset needs a file path (data.path=FILE.npz)")
    return load_npz(cfg.path, cfg.modalities)


def _synthetic(cfg: DataConfig) -> MultimodalArrays:
    try:
        arrays = make_synthetic(**cfg.options)
    except TypeError as err:
        raise DataError(f"data.options: {err}") from err
    return arrays.select(cfg.modalities) if cfg.modalities else arrays


DATASETS: dict[str, Callable[[DataConfig], MultimodalArrays]] = {
    "mfeat": _mfeat,
    "npz": _npz,
    "synthetic": _synthetic,
}


def load_dataset(cfg: DataConfig) -> MultimodalArrays:
    """Load the dataset named by ``cfg.dataset``; an unknown name lists the valid ones."""
    if cfg.dataset not in DATASETS:
        raise DataError(f"data.dataset: unknown dataset {cfg.dataset!r}; available: {sorted(DATASETS)}")
    arrays = DATASETS[cfg.dataset](cfg)
    if len(arrays.modalities) < 2:
        raise DataError(f"data.modalities: at least two modalities are needed, got {list(arrays.modalities)}")
    return arrays


def split_arrays(arrays: MultimodalArrays, fractions: list[float], seed: int) -> dict[str, MultimodalArrays]:
    """Split by the data's own ``split`` column, or a seeded stratified split of ``fractions``."""
    names = arrays.split if arrays.split is not None else stratified_split(arrays.labels, fractions, seed)
    return {s: arrays.subset((names == s).nonzero()[0]) for s in SPLITS}
