"""Crash safety: atomic checkpoints, and which parts of a multi-method, multi-seed run are done.

A *part* is one method for one seed (``seed_<s>/<method>/``). When it finishes, its results go to
``result.json`` (atomically); a rerun with ``--resume`` reuses finished parts and continues an
unfinished one from its ``checkpoints/last.ckpt``. Each part records a fingerprint of the
configuration it was trained with; resuming under a different configuration is refused and
names the keys that differ.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mmanet.config import ConfigError, ExperimentConfig, to_dict
from mmanet.reporting import atomic_write_bytes, atomic_write_text

__all__ = ["AtomicCheckpointIO", "Mode", "RunProgress", "config_fingerprint"]

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
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def _rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


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
    """Finished and unfinished parts under ``cfg.out``; ``mode`` decides what a rerun does."""

    def __init__(self, cfg: ExperimentConfig, mode: Mode = "new") -> None:
        self.cfg = cfg
        self.mode = mode
        self.out = Path(cfg.out)
        self.fingerprint = config_fingerprint(cfg)
        if not _rank_zero():
            return  # other DDP ranks start once rank 0 has begun: it alone checks and cleans
        previous = sorted(self.out.glob(f"seed_*/*/{PART}"))
        if previous and mode == "new":
            raise ConfigError(f"{self.out} holds an earlier run ({len(previous)} parts): pass --resume to continue it or --overwrite to start over")
        if mode == "overwrite":
            for path in sorted(self.out.glob("seed_*")):
                shutil.rmtree(path)

    def _check(self, part: Path) -> dict[str, Any] | None:
        marker = part / PART
        if not marker.exists():
            return None
        recorded = json.loads(marker.read_text())
        if recorded["fingerprint"] != self.fingerprint:
            keys = _differences(recorded.get("config", {}), _relevant(self.cfg))
            raise ConfigError(f"{part} was trained with another configuration (differs in {keys[:5]}): pass --overwrite to start over")
        return recorded

    def finished(self, part: Path) -> dict[str, Any] | None:
        """The stored result of a finished part, or ``None``."""
        if self._check(part) is None or not (part / RESULT).exists():
            return None
        return json.loads((part / RESULT).read_text())

    def begin(self, part: Path) -> None:
        """Mark ``part`` as started with this configuration."""
        if self._check(part) is None:
            atomic_write_text(part / PART, json.dumps({"fingerprint": self.fingerprint, "config": _relevant(self.cfg)}, default=str))

    def finish(self, part: Path, result: dict[str, Any]) -> None:
        """Record ``part`` as finished with ``result``."""
        atomic_write_text(part / RESULT, json.dumps(result, default=str))

    @staticmethod
    def resume_checkpoint(root: Path) -> str | None:
        """``root/checkpoints/last.ckpt`` if an interrupted fit left one."""
        last = root / "checkpoints" / "last.ckpt"
        return str(last) if last.exists() else None
