"""Lightning ``Trainer`` construction: checkpoint on the validation selection score, CSV logs."""

from __future__ import annotations

import csv
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from mmanet.config import ConfigError, TrainerConfig
from mmanet.training.resume import AtomicCheckpointIO

__all__ = ["ResumableCSVLogger", "build_trainer", "check_trainer", "hardware", "kept_log_rows", "quiet_lightning"]


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter and advice aimed at large datasets."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from lightning.pytorch.utilities import disable_possible_user_warnings

    disable_possible_user_warnings()
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*torch.distributed.nn.functional.all_gather is deprecated.*")


def kept_log_rows(metrics_csv: Path, last_epoch: int) -> list[dict[str, str]]:
    """Rows of an earlier ``metrics.csv`` up to ``last_epoch`` (the epochs a resumed fit does not repeat)."""
    if not metrics_csv.exists():
        return []
    with open(metrics_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r.get("epoch") not in (None, "") and float(r["epoch"]) <= last_epoch]


class _KeepingWriter(ExperimentWriter):
    def __init__(self, log_dir: str, kept: list[dict[str, str]]) -> None:
        super().__init__(log_dir=log_dir)  # removes the old metrics.csv ...
        self.metrics = [dict(row) for row in kept]  # type: ignore[arg-type]  # written back at the first save


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSV logger, except that a resumed fit keeps the rows of the epochs it continues from
    (Lightning's own writer deletes ``metrics.csv`` when it starts)."""

    def __init__(self, *args: Any, kept: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept = list(kept or [])

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:  # type: ignore[override]
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(self.log_dir, self._kept)
        return self._experiment  # type: ignore[return-value]


def resolve_precision(cfg: TrainerConfig) -> str:
    """``precision: auto``: ``bf16-mixed`` on a CUDA GPU with bfloat16 support, ``32-true`` otherwise."""
    if cfg.precision != "auto":
        return cfg.precision
    cuda = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if cuda and torch.cuda.is_bf16_supported() else "32-true"


def hardware(cfg: TrainerConfig) -> dict[str, Any]:
    """The ``lightning.Trainer`` arguments that pick devices, processes and precision."""
    return {
        "accelerator": cfg.accelerator,
        "devices": cfg.devices,
        "num_nodes": cfg.num_nodes,
        "strategy": cfg.strategy,
        "precision": resolve_precision(cfg),
    }


def check_trainer(cfg: TrainerConfig) -> None:
    """Refuse hardware flags Lightning would refuse (``--accelerator foo``, ``--precision 7-bit``, ...),
    by Lightning's own parsers, before a run writes anything."""
    quiet_lightning()
    try:
        L.Trainer(
            **hardware(cfg),
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
    except Exception as err:  # Lightning raises ValueError, TypeError or MisconfigurationException
        given = ", ".join(f"{k}={v!r}" for k, v in hardware(cfg).items())
        raise ConfigError(f"trainer: {' '.join(str(err).split())[:400]} (given {given})") from err


def build_trainer(
    cfg: TrainerConfig,
    *,
    root: Path,
    epochs: int,
    extra_callbacks: list[Callback] | None = None,
    kept_logs: list[dict[str, str]] | None = None,
) -> L.Trainer:
    """A trainer that keeps the checkpoint with the best ``val/select`` (``best.ckpt``) and the latest
    epoch's (``last.ckpt``, what ``--resume`` continues), and logs CSV under ``root``
    (``kept_logs``: rows of an interrupted fit's ``metrics.csv`` to keep).

    The latest checkpoint has a callback of its own: Lightning (2.6) writes a ``save_last`` file only
    when the monitored checkpoint was saved in that step, so ``last.ckpt`` held the best epoch and a
    resume retrained every epoch after it."""
    quiet_lightning()
    checkpoints = root / "checkpoints"
    callbacks: list[Callback] = [  # the first is ``trainer.checkpoint_callback``: the best epoch
        ModelCheckpoint(dirpath=checkpoints, filename="best", monitor="val/select", mode="max", save_top_k=1),
        ModelCheckpoint(dirpath=checkpoints, filename="last", save_top_k=1, enable_version_counter=False),
    ]
    callbacks += extra_callbacks or []
    return L.Trainer(
        max_epochs=epochs,
        **hardware(cfg),
        callbacks=callbacks,
        logger=ResumableCSVLogger(root, name="logs", version="", kept=kept_logs),
        enable_progress_bar=False,  # the run's own display follows the epochs (mmanet.console)
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=cfg.log_every_n_steps,
        default_root_dir=root,
        plugins=[AtomicCheckpointIO()],
    )
