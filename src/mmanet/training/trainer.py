"""Lightning ``Trainer`` construction: checkpoint on the validation selection score, CSV logs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from mmanet.config import ConfigError, TrainerConfig
from mmanet.training.resume import AtomicCheckpointIO

__all__ = ["build_trainer", "check_trainer", "hardware", "quiet_lightning", "resolve_precision"]


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter and advice aimed at large datasets."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from lightning.pytorch.utilities import disable_possible_user_warnings

    disable_possible_user_warnings()
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


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
        raise ConfigError(f"trainer: {' '.join(str(err).split())[:400]}") from err


def build_trainer(
    cfg: TrainerConfig, *, root: Path, epochs: int, extra_callbacks: list[Callback] | None = None
) -> L.Trainer:
    """A trainer that keeps the checkpoint with the best ``val/select`` and logs CSV under ``root``."""
    quiet_lightning()
    callbacks: list[Callback] = [
        ModelCheckpoint(
            dirpath=root / "checkpoints",
            filename="best",
            monitor="val/select",
            mode="max",
            save_top_k=1,
            save_last=True,
        ),
    ]
    if cfg.progress:
        callbacks.append(TQDMProgressBar(leave=False))
    callbacks += extra_callbacks or []
    return L.Trainer(
        max_epochs=epochs,
        **hardware(cfg),
        callbacks=callbacks,
        logger=CSVLogger(root, name="logs", version=""),
        enable_progress_bar=cfg.progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        log_every_n_steps=cfg.log_every_n_steps,
        default_root_dir=root,
        plugins=[AtomicCheckpointIO()],
    )
