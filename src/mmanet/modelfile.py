"""Exported model files: the deployment network(s) plus everything needed to use them.

A model file is a ``torch.save`` dict of plain values and tensors (loaded with
``weights_only=True``)::

    {"format": "mmanet-model/1", "meta": {...},
     "entries": [{"network": NetworkSpec dict, "serves": [combination names], "state_dict": ...}]}

A unified model has one entry serving every combination; ``customized`` has one per
combination. Only deployment networks are exported: no teacher, no regularization network.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mmanet.io import atomic_save_torch
from mmanet.modality import Combination, parse_combination
from mmanet.nn import NetworkSpec, SubsetNetwork, build_network

if TYPE_CHECKING:
    from mmanet.data import DataSource

__all__ = [
    "MODEL_FORMAT",
    "ModelEntry",
    "ModelFile",
    "ModelFileError",
    "check_compatible",
    "load_model_file",
    "save_model_file",
]

MODEL_FORMAT = "mmanet-model/1"


class ModelFileError(ValueError):
    """A model file is unreadable, of another format, or does not fit the data."""


@dataclasses.dataclass
class ModelEntry:
    """One deployment network and the combinations it serves."""

    net: SubsetNetwork
    spec: NetworkSpec
    serves: list[Combination]


@dataclasses.dataclass
class ModelFile:
    """A loaded model file."""

    path: Path
    meta: dict[str, Any]
    entries: list[ModelEntry]

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities of the data the model was trained on (presence-mask order)."""
        return tuple(self.meta["data_modalities"])

    @property
    def num_classes(self) -> int:
        """Number of classes of every entry."""
        return self.entries[0].spec.num_classes


def save_model_file(
    path: str | Path, *, entries: Sequence[tuple[SubsetNetwork, NetworkSpec, Sequence[str]]], meta: Mapping[str, Any]
) -> Path:
    """Write networks (each with its spec and served combination names) atomically."""
    payload = {
        "format": MODEL_FORMAT,
        "meta": dict(meta),
        "entries": [
            {
                "network": spec.to_dict(),
                "serves": list(serves),
                "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            }
            for net, spec, serves in entries
        ],
    }
    atomic_save_torch(path, payload)
    return Path(path)


_GLOBAL = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL)\s+([\w.]+)", re.IGNORECASE)


def _refusal(path: Path, err: BaseException) -> ModelFileError:
    """Our own message for a file ``torch.load(weights_only=True)`` refused (never torch's advice to
    retry unsafely)."""
    found = _GLOBAL.search(str(err))
    if found:
        return ModelFileError(
            f"{path}: refused, not loaded: it holds a pickled Python object ({found.group(1)}) that could run code "
            "when loaded; mmanet model files hold only tensors and plain values"
        )
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return ModelFileError(f"{path}: not a loadable mmanet model file ({first[:200]})")


def _check_entry(path: Path, index: int, raw: Any) -> NetworkSpec:
    """The entry's spec, checked against its stored tensors on the ``meta`` device (nothing allocated)."""
    where = f"{path}: entry {index}"
    if not isinstance(raw, dict) or not {"network", "serves", "state_dict"} <= set(raw):
        raise ModelFileError(f"{where}: expected keys network, serves, state_dict")
    try:
        spec = NetworkSpec.from_dict(raw["network"])
        with torch.device("meta"):
            skeleton = build_network(spec).state_dict()
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise ModelFileError(f"{where}: invalid network spec ({' '.join(str(err).split())[:200]})") from err
    stored = raw["state_dict"]
    if not isinstance(stored, dict) or set(stored) != set(skeleton):
        missing = sorted(set(skeleton) - set(stored if isinstance(stored, dict) else {}))
        raise ModelFileError(f"{where}: weights do not match the network spec (missing {missing[:3]})")
    for key, tensor in skeleton.items():
        value = stored[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(tensor.shape):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ModelFileError(f"{where}: weight {key!r} has shape {got}, the spec says {tuple(tensor.shape)}")
    return spec


def load_model_file(path: str | Path) -> ModelFile:
    """Load with ``weights_only=True``, check every spec against its weights, rebuild the networks in eval mode."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ModelFileError(f"{path}: no such file") from err
    except IsADirectoryError as err:
        raise ModelFileError(f"{path}: is a directory, not a model file") from err
    except Exception as err:  # a corrupt pickle stream can raise nearly anything (IndexError, KeyError, ...)
        raise _refusal(path, err) from err
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelFileError(
            f"{path}: expected format {MODEL_FORMAT!r}, found {found!r} "
            "(a Lightning checkpoint? export with `mmanet run`)"
        )
    if (
        not isinstance(payload.get("meta"), dict)
        or not isinstance(payload.get("entries"), list)
        or not payload["entries"]
    ):
        raise ModelFileError(f"{path}: expected a 'meta' mapping and a non-empty 'entries' list")
    entries = []
    for index, raw in enumerate(payload["entries"]):
        spec = _check_entry(path, index, raw)
        net = build_network(spec)
        net.load_state_dict(raw["state_dict"])
        net.eval()
        try:
            if not isinstance(raw["serves"], list) or not all(isinstance(n, str) for n in raw["serves"]):
                raise TypeError(f"expected a list of combination names, got {raw['serves']!r:.80}")
            serves = [parse_combination(n, spec.modalities) for n in raw["serves"]]
        except (ValueError, TypeError) as err:
            raise ModelFileError(f"{path}: entry {index}: invalid served combinations ({err})") from err
        entries.append(ModelEntry(net, spec, serves))
    return ModelFile(path, payload["meta"], entries)


def check_compatible(model: ModelFile, source: DataSource) -> None:
    """Raise :class:`ModelFileError` unless ``source`` has the model's modalities, shapes and classes."""
    needed = sorted({m for e in model.entries for m in e.spec.modalities})
    missing = [m for m in needed if m not in source.modalities]
    if missing:
        raise ModelFileError(
            f"{model.path}: the data {source.name} lacks modalities {missing} (has {list(source.modalities)})"
        )
    for entry in model.entries:
        for m in entry.spec.modalities:
            if tuple(source.input_shapes[m]) != entry.spec.input_shapes[m]:
                raise ModelFileError(
                    f"{model.path}: modality {m!r} expects per-sample shape {entry.spec.input_shapes[m]}, "
                    f"data has {source.input_shapes[m]}"
                )
    if source.num_classes > model.num_classes:
        raise ModelFileError(f"{model.path}: model has {model.num_classes} classes, the data {source.num_classes}")
