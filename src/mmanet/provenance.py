"""Where a result came from: package version, git revision, library versions, machine."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["git_revision", "provenance"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


@functools.cache
def git_revision() -> str | None:
    """``HEAD`` of the checkout holding this package (``+dirty`` if modified), or ``None``."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """Versions and machine description saved with every checkpoint and report."""
    import lightning
    import torch

    from mmanet import __version__

    return {
        "mmanet": __version__,
        "git": git_revision(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "lightning": str(lightning.__version__),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
