"""In-memory multimodal data and the bring-your-own ``.npz`` format.

An ``.npz`` file holds one array per modality (first axis = samples; vectors ``(N, D)`` or
images ``(N, C, H, W)``), ``labels`` (integers), optionally ``split`` (strings ``train`` /
``val`` / ``test``) and ``present_<modality>`` booleans marking samples whose modality is
missing in the data itself. :func:`arrays_from_mapping` checks all of it and names the key at
fault.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmanet.modality import check_modalities

__all__ = [
    "MAX_NPZ_BYTES",
    "SPLITS",
    "DataError",
    "MultimodalArrays",
    "arrays_from_mapping",
    "inspect_npz",
    "load_npz",
    "read_inputs",
    "stratified_split",
]

SPLITS = ("train", "val", "test")
_RESERVED = ("labels", "split")
_PRESENT = "present_"


class DataError(ValueError):
    """Input data is malformed; the message names the file and key."""


@dataclasses.dataclass
class MultimodalArrays:
    """A labelled multimodal dataset held in memory.

    Attributes:
        inputs: ``{modality: (N, *shape) float32}``; absent entries are zero.
        present: ``(N, M)`` boolean, modality order = ``modalities``.
        labels: ``(N,)`` int64 class indices.
        split: ``(N,)`` strings from :data:`SPLITS`, or ``None`` (then a seeded split is made).
    """

    modalities: tuple[str, ...]
    inputs: dict[str, Tensor]
    present: Tensor
    labels: Tensor
    num_classes: int
    source: str
    split: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each modality."""
        return {m: tuple(self.inputs[m].shape[1:]) for m in self.modalities}

    def subset(self, indices: np.ndarray | Tensor) -> MultimodalArrays:
        """The samples at ``indices`` (same modalities and class count)."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return dataclasses.replace(
            self,
            inputs={m: t[idx] for m, t in self.inputs.items()},
            present=self.present[idx],
            labels=self.labels[idx],
            split=None if self.split is None else self.split[idx.numpy()],
        )

    def select(self, modalities: Sequence[str]) -> MultimodalArrays:
        """Keep only ``modalities`` (in the order given); samples left with none are an error."""
        names = check_modalities(modalities)
        unknown = [m for m in names if m not in self.modalities]
        if unknown:
            raise DataError(f"data.modalities: {unknown} not in {self.source}; available: {list(self.modalities)}")
        columns = [self.modalities.index(m) for m in names]
        present = self.present[:, columns]
        _check_some_present(present, self.source)
        return dataclasses.replace(self, modalities=names, inputs={m: self.inputs[m] for m in names}, present=present)


def _check_some_present(present: Tensor, source: str) -> None:
    empty = torch.nonzero(~present.any(1)).flatten()
    if len(empty):
        raise DataError(f"{source}: sample {int(empty[0])} has no modality present ({len(empty)} such samples)")


def _labels(raw: np.ndarray, source: str, n: int) -> Tensor:
    if raw.ndim != 1 or len(raw) != n:
        raise DataError(f"{source}: key 'labels' must have shape ({n},), got {raw.shape}")
    if not np.issubdtype(raw.dtype, np.integer):
        raise DataError(f"{source}: key 'labels' must hold integers, got dtype {raw.dtype}")
    if len(raw) and raw.min() < 0:
        raise DataError(f"{source}: key 'labels' has negative class {int(raw.min())}")
    classes = np.unique(raw)
    if len(classes) < 2:
        raise DataError(
            f"{source}: key 'labels' holds {len(classes)} class(es) {classes.tolist()}; at least 2 are needed"
        )
    absent = sorted(set(range(int(classes.max()) + 1)) - set(classes.tolist()))
    if absent:
        raise DataError(
            f"{source}: key 'labels' must use the classes 0..K-1 with K = {int(classes.max()) + 1}, "
            f"but classes {absent[:10]} have no sample; renumber the labels"
        )
    return torch.as_tensor(raw.astype(np.int64))


def _split(raw: np.ndarray, source: str, n: int) -> np.ndarray:
    if raw.shape != (n,) or raw.dtype.kind not in "US":
        raise DataError(f"{source}: key 'split' must be ({n},) strings, got shape {raw.shape} dtype {raw.dtype}")
    values = raw.astype(str)
    unknown = sorted(set(values.tolist()) - set(SPLITS))
    if unknown:
        raise DataError(f"{source}: key 'split' has unknown names {unknown}; expected {list(SPLITS)}")
    missing = [s for s in SPLITS if not (values == s).any()]
    if missing:
        raise DataError(f"{source}: key 'split' has no samples for {missing}")
    return values


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _modality(name: str, raw: np.ndarray, present: np.ndarray, source: str, n: int) -> Tensor:
    if raw.ndim < 2 or raw.shape[0] != n:
        raise DataError(f"{source}: key {name!r} must have shape (N={n}, ...), got {raw.shape}")
    if raw.dtype.kind == "c":
        raise DataError(f"{source}: key {name!r} holds complex numbers; store the real and imaginary parts as channels")
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{source}: key {name!r} must be numeric, got dtype {raw.dtype}")
    if 0 in raw.shape[1:]:
        raise DataError(f"{source}: key {name!r} has no features per sample (shape {raw.shape})")
    flat = raw.reshape(n, -1)
    finite = np.isfinite(flat).all(1) if raw.dtype.kind == "f" else np.ones(n, dtype=bool)
    bad = np.nonzero(present & ~finite)[0]
    if len(bad):
        raise DataError(f"{source}: key {name!r} has NaN/inf in present sample {int(bad[0])} ({len(bad)} samples)")
    if flat.size and raw.dtype.kind in "iuf" and raw.dtype.itemsize > 4:
        big = np.nonzero(present & (np.abs(flat) > _FLOAT32_MAX).any(1))[0]
        if len(big):
            raise DataError(
                f"{source}: key {name!r} has values beyond the float32 range (±3.4e38) in sample {int(big[0])}"
            )
    values = raw.astype(np.float32)
    values[~present] = 0.0
    return torch.from_numpy(values)


def _present(raw: np.ndarray, key: str, source: str, n: int) -> np.ndarray:
    if raw.shape != (n,) or raw.dtype != bool:
        raise DataError(f"{source}: key {key!r} must be ({n},) booleans, got shape {raw.shape} dtype {raw.dtype}")
    return raw


def arrays_from_mapping(
    raw: Mapping[str, np.ndarray], source: str, modalities: Sequence[str] | None = None
) -> MultimodalArrays:
    """Validate raw arrays (the ``.npz`` format above) and build :class:`MultimodalArrays`."""
    if "labels" not in raw:
        raise DataError(f"{source}: missing key 'labels'; keys found: {sorted(raw)}")
    n = len(raw["labels"]) if np.ndim(raw["labels"]) else -1
    labels = _labels(np.asarray(raw["labels"]), source, n)
    names = [k for k in raw if k not in _RESERVED and not k.startswith(_PRESENT)]
    orphans = [k for k in raw if k.startswith(_PRESENT) and k[len(_PRESENT) :] not in names]
    if orphans:
        raise DataError(f"{source}: key {orphans[0]!r} has no modality array {orphans[0][len(_PRESENT) :]!r}")
    if not names:
        raise DataError(f"{source}: no modality arrays found (keys: {sorted(raw)})")
    try:
        all_names = check_modalities(names)
    except ValueError as err:
        raise DataError(f"{source}: {err}") from err
    present = {
        m: _present(np.asarray(raw[_PRESENT + m]), _PRESENT + m, source, n) if _PRESENT + m in raw else np.ones(n, bool)
        for m in all_names
    }
    inputs = {m: _modality(m, np.asarray(raw[m]), present[m], source, n) for m in all_names}
    arrays = MultimodalArrays(
        modalities=all_names,
        inputs=inputs,
        present=torch.as_tensor(np.stack([present[m] for m in all_names], 1)),
        labels=labels,
        num_classes=int(labels.max()) + 1 if n else 0,
        source=source,
        split=_split(np.asarray(raw["split"]), source, n) if "split" in raw else None,
    )
    return arrays.select(modalities) if modalities is not None else arrays.select(all_names)


MAX_NPZ_BYTES = 1 << 30


def _member_header(handle: Any, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, without reading the data."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise DataError(f"{where}: unsupported .npy format version {version}")
    return tuple(int(d) for d in shape), dtype


def inspect_npz(path: Path, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{key: (shape, dtype)}`` of an ``.npz`` archive from its headers, before anything is allocated.

    Refuses a file that is not a zip of ``.npy`` arrays, object (pickled) arrays, a member whose
    header claims more data than it holds, and archives whose arrays would exceed ``max_bytes``.
    """
    members: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                where = f"{path}: member {key!r}"
                with archive.open(info) as handle:
                    shape, dtype = _member_header(handle, where)
                if dtype.hasobject:
                    raise DataError(f"{where} holds pickled objects (dtype {dtype}); only numeric arrays are read")
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if nbytes > info.file_size:
                    raise DataError(f"{where} claims shape {shape} ({nbytes} bytes) but holds {info.file_size} bytes")
                total += nbytes
                members[key] = (shape, dtype)
    except DataError:
        raise
    except FileNotFoundError as err:
        raise DataError(f"{path}: no such file") from err
    except (zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not an .npz archive (a zip of .npy arrays, as numpy.savez writes): {err}") from err
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable .npz archive: {err}") from err
    if not members:
        raise DataError(f"{path}: the archive holds no arrays")
    if total > max_bytes:
        raise DataError(f"{path}: its arrays take {total} bytes, more than data.max_bytes = {max_bytes}")
    return members


def load_npz(
    path: str | Path, modalities: Sequence[str] | None = None, max_bytes: int = MAX_NPZ_BYTES
) -> MultimodalArrays:
    """Load and validate a bring-your-own-data ``.npz`` file (headers checked first; no pickles)."""
    path = Path(path)
    inspect_npz(path, max_bytes)
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file without pickled objects ({err})") from err
    return arrays_from_mapping(raw, str(path), modalities)


def stratified_split(labels: Tensor, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Seeded stratified split into ``train``/``val``/``test`` by ``fractions`` (per class)."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    out = np.empty(len(y), dtype="<U5")
    cuts = np.cumsum(np.asarray(fractions, dtype=float))[:-1]
    for cls in np.unique(y):
        idx = rng.permutation(np.nonzero(y == cls)[0])
        bounds = np.round(cuts * len(idx)).astype(int)
        for name, part in zip(SPLITS, np.split(idx, bounds), strict=True):
            out[part] = name
    missing = [s for s in SPLITS if not (out == s).any()]
    if missing:
        raise DataError(f"split {list(fractions)} of {len(y)} samples leaves {missing} empty")
    return out


def read_inputs(
    path: str | Path,
    modalities: Sequence[str],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    dense: bool = False,
    max_bytes: int = MAX_NPZ_BYTES,
) -> tuple[dict[str, np.ndarray | None], np.ndarray]:
    """Inputs to predict on from an ``.npz`` in the training format (``labels`` and ``split`` not needed).

    A modality absent from the file is missing for every sample; ``present_<m>`` marks per-sample
    gaps. Returns ``{m: (N, *shape) float32 or None}`` and the ``(N, M)`` presence mask. The same
    checks as training data (shapes, dtypes, finite values where present) name the file and key.
    ``dense`` (segmentation): images of any size with the model's channels.
    """
    path = Path(path)
    inspect_npz(path, max_bytes)
    with np.load(path, allow_pickle=False) as npz:
        raw = {key: npz[key] for key in npz.files}
    found = [m for m in modalities if m in raw]
    if not found:
        raise DataError(
            f"{path}: none of the model's modalities {list(modalities)} is in the file (keys: {sorted(raw)})"
        )
    n = int(raw[found[0]].shape[0]) if np.ndim(raw[found[0]]) else -1
    inputs: dict[str, np.ndarray | None] = {}
    present = np.zeros((n, len(modalities)), dtype=bool)
    for j, m in enumerate(modalities):
        if m not in raw:
            inputs[m] = None
            continue
        mask = (
            _present(np.asarray(raw[f"{_PRESENT}{m}"]), f"{_PRESENT}{m}", str(path), n)
            if f"{_PRESENT}{m}" in raw
            else np.ones(n, bool)
        )
        values = _modality(m, np.asarray(raw[m]), mask, str(path), n).numpy()
        expected = tuple(shapes[m])
        if (dense and (values.ndim != 4 or values.shape[1] != expected[0])) or (
            not dense and values.shape[1:] != expected
        ):
            raise DataError(
                f"{path}: key {m!r} must have shape (N, {', '.join(map(str, expected))}), got {values.shape}"
            )
        inputs[m], present[:, j] = values, mask
    empty = np.nonzero(~present.any(1))[0]
    if len(empty):
        raise DataError(f"{path}: sample {int(empty[0])} has no modality present ({len(empty)} such samples)")
    return inputs, present
