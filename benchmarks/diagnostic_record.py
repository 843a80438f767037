"""What the study's diagnostic scripts share (recalibrate.py, statistics_gap.py, weak_readouts.py):
their common arguments and how they write a per-seed record."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch


def diagnostic_parser(doc: str, arm: str) -> argparse.ArgumentParser:
    """``--root`` (the study's root), ``--arm`` (default ``arm``), ``--seeds`` (tuning seeds) and ``--json``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the study's root (benchmarks/study.py --root)")
    parser.add_argument("--arm", default=arm)
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--json", type=Path, required=True)
    return parser


def write_record(path: Path, script: str, record: dict[str, Any]) -> None:
    """Write ``record`` with the machine and the command that made it (``script`` and this run's
    arguments) as JSON to ``path``, atomically."""
    from mmanet.io import atomic_write_text

    record = {
        **record,
        "machine": f"{platform.machine()}, torch {torch.__version__}",
        "command": " ".join([f"python benchmarks/{script}", *sys.argv[1:]]),
    }
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
