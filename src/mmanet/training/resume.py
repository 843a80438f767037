"""Crash safety: atomic checkpoints, random states, and which parts of a multi-method, multi-seed run are done.

A *part* is one method for one seed (``seed_<s>/<method>/``). When it finishes, its results go to
``result.json`` (atomically); a rerun with ``--resume`` reuses finished parts and continues an
unfinished one from its ``checkpoints/last.ckpt``. Each part records a fingerprint of the
configuration it was trained with; resuming under a different configuration is refused and
names the keys that differ.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mmanet.config import ConfigError, ExperimentConfig, to_dict
from mmanet.io import atomic_save_torch, atomic_write_text

__all__ = ["AtomicCheckpointIO", "Mode", "RunProgress", "config_fingerprint", "rng_state", "set_rng_state"]

Mode = Literal["new", "resume", "overwrite"]
_IGNORED = ("name", "out", "seeds", "methods", "trainer")
RESULT = "result.json"
PART = "part.json"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes through a temporary file and a rename, and loads with
    ``weights_only=True`` (a checkpoint that would run code when unpickled is refused)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_save_torch(path, checkpoint)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states, as plain values and tensors."""
    kind, keys, position, has_gauss, gauss = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _relevant(cfg: ExperimentConfig) -> dict[str, Any]:
    return {k: v for k, v in to_dict(cfg).items() if k not in _IGNORED}


def config_fingerprint(cfg: ExperimentConfig) -> str:
    """SHA-256 of everything in the config that changes what a part trains (not out, seeds, methods, hardware)."""
    return hashlib.sha256(json.dumps(_relevant(cfg), sort_keys=True, default=str).encode()).hexdigest()


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else k)]
    return [] if old == new else [prefix]


class RunProgress:
    """Finished and unfinished parts of a run; ``mode`` (``new``, ``resume``, ``overwrite``) says
    whether an interrupted fit continues from its last checkpoint.

    Every part records the configuration fingerprint it was trained with, in ``part.json`` when it
    starts and in ``result.json`` when it ends; a part whose fingerprint differs from the current
    configuration is refused, naming the keys that differ, so a report never mixes configurations.
    """

    def __init__(self, cfg: ExperimentConfig, mode: Mode = "new") -> None:
        self.cfg = cfg
        self.mode = mode
        self.fingerprint = config_fingerprint(cfg)

    def _refuse(self, part: Path, recorded: dict[str, Any]) -> None:
        if recorded.get("fingerprint") != self.fingerprint:
            keys = _differences(recorded.get("config", {}), _relevant(self.cfg)) or ["(unrecorded)"]
            raise ConfigError(
                f"{part} was trained with another configuration (differs in {keys[:5]}): pass --overwrite to start over"
            )

    def _check(self, part: Path) -> dict[str, Any] | None:
        marker = part / PART
        if not marker.exists():
            return None
        recorded = json.loads(marker.read_text())
        self._refuse(part, recorded)
        return recorded

    def finished(self, part: Path) -> dict[str, Any] | None:
        """The stored result of a finished part, or ``None``."""
        if self._check(part) is None or not (part / RESULT).exists():
            return None
        stored = json.loads((part / RESULT).read_text())
        self._refuse(part, {"config": stored.pop("config", {}), "fingerprint": stored.pop("fingerprint", None)})
        return stored

    def begin(self, part: Path) -> None:
        """Mark ``part`` as started with this configuration."""
        if self._check(part) is None:
            atomic_write_text(part / PART, json.dumps(self._stamp(), default=str))

    def finish(self, part: Path, result: dict[str, Any]) -> None:
        """Record ``part`` as finished with ``result`` (stamped with this configuration)."""
        atomic_write_text(part / RESULT, json.dumps({**result, **self._stamp()}, default=str))

    def _stamp(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "config": _relevant(self.cfg)}
