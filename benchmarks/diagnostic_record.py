"""What the study's diagnostic scripts share (recalibrate.py, statistics_gap.py, weak_readouts.py,
specialist_ensembles.py, pair_readout.py): their common arguments, one seed's data as the study
prepares it, and how they write a per-seed record."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from study_arms import BASE, SETTING_FILES, SETTINGS


def diagnostic_parser(doc: str, arm: str) -> argparse.ArgumentParser:
    """``--root`` (the study's root), ``--arm`` (default ``arm``), ``--seeds`` (tuning seeds) and ``--json``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the study's root (benchmarks/study.py --root)")
    parser.add_argument("--arm", default=arm)
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--json", type=Path, required=True)
    return parser


def seed_data(setting: str, seed: int) -> tuple[Any, Any]:
    """One seed's prepared data and its data module, set up for fitting, under a study setting's
    configuration (the study's base options and the setting's, as ``study.py`` trains it)."""
    from mmanet.config import load_config
    from mmanet.data import load_dataset
    from mmanet.training.seed import prepare_seed

    base = [] if setting in SETTING_FILES else BASE
    cfg = load_config(SETTING_FILES.get(setting), [*base, *SETTINGS[setting], f"seeds=[{seed}]"])
    data = prepare_seed(cfg, load_dataset(cfg.data), seed)
    module = data.datamodule()
    module.setup("fit")
    return data, module


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
