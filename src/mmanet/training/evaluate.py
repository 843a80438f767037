"""Evaluate an exported model file on every combination, through Lightning (DDP-ready)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
from torch import nn
from torch.utils.data import Dataset

from mmanet.config import TrainerConfig
from mmanet.data import Batch, MultimodalDataModule
from mmanet.evaluation import data_columns, update_combination_metrics
from mmanet.metrics import CombinationMetrics, TaskMetrics, TaskSpec
from mmanet.modality import combination_name
from mmanet.modelfile import ModelFile
from mmanet.training.calibrate import Calibration
from mmanet.training.trainer import hardware, quiet_lightning

__all__ = ["EvaluationModule", "evaluate_model_file", "model_task"]


def model_task(model: ModelFile) -> TaskMetrics:
    """The metrics of the task the model was trained for (classification for older files)."""
    return TaskSpec.from_dict(model.meta.get("task")).metrics()


class EvaluationModule(L.LightningModule):
    """Test-only module: each network of a model file evaluates the combinations it serves."""

    def __init__(self, model: ModelFile, data_modalities: Sequence[str]) -> None:
        super().__init__()
        self.nets = nn.ModuleList([e.net for e in model.entries])
        self.serves = [e.serves for e in model.entries]
        self.columns = [data_columns(e.net, data_modalities) for e in model.entries]
        names = [combination_name(c) for serves in self.serves for c in serves]
        self.calibration = Calibration.from_dict(model.meta.get("calibration"))
        options = self.calibration.metric_options()
        self.metrics = CombinationMetrics(names, model.num_classes, model_task(model).factory, options)
        self.results: dict[str, dict[str, float]] = {}

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        temperature = self.calibration.temperature
        for net, serves, columns in zip(self.nets, self.serves, self.columns, strict=True):
            update_combination_metrics(net, batch, columns, serves, self.metrics, temperature)  # type: ignore[arg-type]

    def on_test_epoch_end(self) -> None:
        self.results = self.metrics.compute()
        self.metrics.reset()


def evaluate_model_file(
    model: ModelFile,
    dataset: Dataset[Batch],
    trainer: TrainerConfig,
    data_modalities: Sequence[str],
    batch_size: int = 512,
    num_workers: int = 0,
) -> dict[str, dict[str, Any]]:
    """``{combination: {metric: value}}`` of ``model`` on every sample of ``dataset`` (each exactly once).

    ``data_modalities`` is the modality order of the dataset's presence masks.
    """
    quiet_lightning()
    datasets = {"train": dataset, "val": dataset, "test": dataset}
    datamodule = MultimodalDataModule(
        datasets=datasets, batch_size=batch_size, eval_batch_size=batch_size, seed=0, num_workers=num_workers
    )
    module = EvaluationModule(model, data_modalities)
    runner = L.Trainer(
        **hardware(trainer),
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        use_distributed_sampler=False,
    )
    runner.test(module, datamodule=datamodule, verbose=False)
    return module.results
