"""Lightning ``Trainer`` construction: checkpoint on the validation selection score, CSV logs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from mmanet.config import TrainerConfig
from mmanet.training.resume import AtomicCheckpointIO

__all__ = ["build_trainer", "quiet_lightning"]


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter and advice aimed at large datasets."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from lightning.pytorch.utilities import disable_possible_user_warnings

    disable_possible_user_warnings()
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


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
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,  # type: ignore[arg-type]
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
