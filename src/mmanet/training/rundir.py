"""Run directories with an owner: a marker that says a directory is an mmanet run, a lock while a
run writes, and a list of what the run created (the only entries ``--overwrite`` removes).

``<out>/.mmanet-run.json``::

    {"format": "mmanet-run/1", "created": ["config.yaml", "seed_0", "report.json", ...]}

``<out>/.mmanet-run.lock`` is held with ``flock`` while a run writes; a second writer is
refused and told who holds it. The lock is released when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from mmanet.config import ConfigError
from mmanet.io import atomic_write_text

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, runs are not protected from each other
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK", "MARKER", "RunDirectory", "RunDirectoryError", "check_run_directory"]

MARKER = ".mmanet-run.json"
LOCK = ".mmanet-run.lock"
FORMAT = "mmanet-run/1"


class RunDirectoryError(ConfigError):
    """``--out`` cannot be used: not a run, in use by another run, not writable, ..."""


def _marker(path: Path) -> dict[str, Any] | None:
    file = path / MARKER
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise RunDirectoryError(f"{file}: unreadable run marker ({err}); remove the directory by hand") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("created"), list):
        raise RunDirectoryError(f"{file}: not an mmanet run marker; remove the directory by hand")
    return data


def _writable_ancestor(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path(".")


def check_run_directory(path: Path, mode: str, config_file: Path | None = None) -> None:
    """Refuse an ``--out`` the run may not use, before anything is written.

    Raises:
        RunDirectoryError: ``path`` is a file; a non-empty directory that is not an mmanet run;
            an earlier run while ``mode`` is ``new``; ``--resume``/``--overwrite`` of a directory
            that holds no run; no write permission; or ``config_file`` is the run's own
            ``config.yaml`` (it would be replaced by the resolved configuration).
    """
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {path} is a file, not a directory")
    marker = _marker(path) if path.is_dir() else None
    entries = [p.name for p in path.iterdir()] if path.is_dir() else []
    if entries and marker is None:
        raise RunDirectoryError(
            f"--out {path} is not empty and is not an mmanet run (no {MARKER}); nothing in it is touched: "
            "choose a new or empty directory"
        )
    if marker is not None and mode == "new" and any(n.startswith("seed_") for n in marker["created"]):
        raise RunDirectoryError(
            f"{path} holds an earlier run: pass --resume to continue it or --overwrite to start over"
        )
    ancestor = _writable_ancestor(path)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunDirectoryError(f"--out {path}: no permission to write in {ancestor}")
    if config_file is not None and (path / "config.yaml").resolve() == config_file.resolve():
        raise RunDirectoryError(
            f"{config_file} is the run directory's own config.yaml, which the run replaces with the resolved "
            "configuration: copy it elsewhere and pass the copy"
        )


class RunDirectory:
    """An ``--out`` directory held by this process while it writes (a context manager).

    On entry: create it, take the lock, and (``overwrite``) remove what the earlier run created.
    :meth:`created` records every top-level entry before the run writes it.
    """

    def __init__(self, path: Path, mode: str) -> None:
        self.path = Path(path)
        self.mode = mode
        self._lock: int | None = None
        self._created: list[str] = []

    def __enter__(self) -> RunDirectory:
        self.path.mkdir(parents=True, exist_ok=True)
        self._acquire()
        try:
            marker = _marker(self.path)
            self._created = list(marker["created"]) if marker else []
            if self.mode == "overwrite":
                self._remove_created()
            self._write_marker()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._release()

    def created(self, name: str) -> Path:
        """Record ``name`` (a top-level entry) as the run's own; returns its path."""
        if name not in self._created:
            self._created.append(name)
            self._write_marker()
        return self.path / name

    def _write_marker(self) -> None:
        atomic_write_text(self.path / MARKER, json.dumps({"format": FORMAT, "created": self._created}, indent=1) + "\n")

    def _remove_created(self) -> None:
        for name in list(self._created):
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        self._created = []

    def _acquire(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirectoryError(
                f"{self.path} is being written by another mmanet run ({holder}): wait for it, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        since = datetime.datetime.now().isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        self._lock = fd

    def _release(self) -> None:
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._lock, 0)
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        os.close(self._lock)
        self._lock = None
