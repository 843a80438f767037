"""Fit one module: train, restore the deployment network of the kept epoch (best validation or last), test."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, WeightAveraging
from torch import Tensor
from torch.optim.swa_utils import get_ema_multi_avg_fn

from mmanet.training.calibrate import Calibration, fit_calibration
from mmanet.training.deployment import DeploymentModule
from mmanet.training.seed import SeedData
from mmanet.training.trainer import build_trainer, kept_log_rows

__all__ = ["FitResult", "deployment_state", "fit_module"]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a fit produced.

    Attributes:
        test: ``{combination: {metric: value}}`` of the restored network on the test split.
        val: the selected epoch's validation results per combination.
        val_select: its selection score (``None`` if validation never ran).
        trainer: the trainer (its strategy is what later steps synchronise through).
        calibration: temperatures and thresholds fitted on validation (test results use them).
    """

    test: dict[str, dict[str, Any]]
    val: dict[str, dict[str, Any]]
    val_select: float | None
    trainer: L.Trainer
    calibration: Calibration


def _last_checkpoint(root: Path) -> str | None:
    last = root / "checkpoints" / "last.ckpt"
    return str(last) if last.exists() else None


def deployment_state(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The deployment network's weights (its ``net.`` keys, prefix removed) in a training
    checkpoint's ``state_dict``, which also holds the teacher, specialists and miner."""
    return {k.removeprefix("net."): v for k, v in state_dict.items() if k.startswith("net.")}


def _restore(module: DeploymentModule, trainer: L.Trainer, restore: str) -> tuple[float | None, dict[str, Any]]:
    """Put the kept epoch's deployment network in ``module`` (``best``: the best validation epoch's
    checkpoint; ``last``: the weights as training left them); return its selection score and that
    epoch's validation entry (empty when none was logged). Only the deployment network: the miner
    and diagnostics keep the whole run's history."""
    if restore == "last":
        last = module.last_validation() or {}
        return (float(last["select"]) if last else None), last
    chosen = module.best_validation() or {}
    callback = trainer.checkpoint_callback
    best = getattr(callback, "best_model_path", "")
    if not best:
        return None, chosen
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    module.net.load_state_dict(deployment_state(state))
    raw = getattr(callback, "best_model_score", None)
    return (float(raw) if raw is not None else None), chosen


def fit_module(
    module: DeploymentModule, data: SeedData, root: Path, *, resume: bool = False, callbacks: Sequence[Callback] = ()
) -> FitResult:
    """Fit ``module`` on ``data`` (continuing ``root/checkpoints/last.ckpt`` when ``resume``), restore
    the deployment network of the kept epoch (``optim.restore``: the best validation epoch or the
    last), and test every combination it serves."""
    L.seed_everything(data.seed, verbose=False)
    checkpoint = _last_checkpoint(root) if resume else None
    kept = None
    if checkpoint is not None:  # the log rows of the epochs the checkpoint holds stay in metrics.csv
        last_epoch = int(torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"])
        kept = kept_log_rows(root / "logs" / "metrics.csv", last_epoch)
    epochs = data.cfg.optim.epochs
    extra = list(callbacks)
    if data.cfg.optim.ema > 0:  # validation, selection and the checkpoints see the average
        extra.append(WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(data.cfg.optim.ema)))  # foreach updates
    trainer = build_trainer(data.cfg.trainer, root=root, epochs=epochs, extra_callbacks=extra, kept_logs=kept)
    datamodule = data.datamodule()
    if data.cfg.trainer.channels_last:
        module.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if data.cfg.trainer.compile:
        module.net.compile()  # in place: the state dict (and so model.pt) keeps its keys
    trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    score, chosen = _restore(module, trainer, data.cfg.optim.restore)
    calibration = fit_calibration(
        module.net, data, module.columns, module.combinations, data.cfg.calibration, data.task
    )
    module.use_calibration(calibration)
    trainer.test(module, datamodule=datamodule, verbose=False)
    return FitResult(module.test_results, chosen.get("combinations", {}), score, trainer, calibration)
