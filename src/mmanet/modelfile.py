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
import io
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from mmanet.data import DataSource
from mmanet.io import atomic_write_bytes
from mmanet.modality import Combination, parse_combination
from mmanet.nn import NetworkSpec, SubsetNetwork, build_network

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
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _reason(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    unsafe = [line for line in lines if "Unsupported global" in line or "WeightsUnpickler" in line]
    return (unsafe or lines or [type(err).__name__])[0][:300]


def load_model_file(path: str | Path) -> ModelFile:
    """Load with ``weights_only=True`` and rebuild the networks in eval mode."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ModelFileError(f"{path}: no such file") from err
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a loadable mmanet model file ({_reason(err)})") from err
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelFileError(
            f"{path}: expected format {MODEL_FORMAT!r}, found {found!r} (a Lightning checkpoint? export with "
            "`mmanet run`)"
        )
    entries = []
    for raw in payload["entries"]:
        spec = NetworkSpec.from_dict(raw["network"])
        net = build_network(spec)
        net.load_state_dict(raw["state_dict"])
        net.eval()
        entries.append(ModelEntry(net, spec, [parse_combination(n, spec.modalities) for n in raw["serves"]]))
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
