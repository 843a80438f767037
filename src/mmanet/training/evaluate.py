"""Evaluate an exported model file on every combination, through Lightning (DDP-ready)."""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import nn

from mmanet.config import TrainerConfig
from mmanet.data import Batch, MultimodalArrays, MultimodalDataModule
from mmanet.evaluation import combination_outputs, data_columns
from mmanet.metrics import CombinationMetrics
from mmanet.modality import combination_name
from mmanet.modelfile import ModelFile, check_compatible
from mmanet.training.trainer import quiet_lightning

__all__ = ["EvaluationModule", "evaluate_model_file"]


class EvaluationModule(L.LightningModule):
    """Test-only module: each network of a model file evaluates the combinations it serves."""

    def __init__(self, model: ModelFile) -> None:
        super().__init__()
        self.nets = nn.ModuleList([e.net for e in model.entries])
        self.serves = [e.serves for e in model.entries]
        self.columns = [data_columns(e.net, model.modalities) for e in model.entries]
        names = [combination_name(c) for serves in self.serves for c in serves]
        self.metrics = CombinationMetrics(names, model.num_classes)
        self.results: dict[str, dict[str, float]] = {}

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        for net, serves, columns in zip(self.nets, self.serves, self.columns, strict=True):
            outputs = combination_outputs(net, batch["inputs"], batch["present"][:, columns], serves)  # type: ignore[arg-type]
            for name, out in outputs.items():
                self.metrics.update(name, out.logits, batch["target"])

    def on_test_epoch_end(self) -> None:
        self.results = self.metrics.compute()
        self.metrics.reset()


def evaluate_model_file(model: ModelFile, arrays: MultimodalArrays, trainer: TrainerConfig, batch_size: int = 512) -> dict[str, dict[str, Any]]:
    """``{combination: {metric: value}}`` of ``model`` on every sample of ``arrays`` (each exactly once)."""
    check_compatible(model, arrays)
    arrays = arrays.select(model.modalities)
    quiet_lightning()
    datamodule = MultimodalDataModule(train=arrays, val=arrays, test=arrays, batch_size=batch_size, eval_batch_size=batch_size, seed=0)
    module = EvaluationModule(model)
    runner = L.Trainer(
        accelerator=trainer.accelerator,
        devices=trainer.devices,
        num_nodes=trainer.num_nodes,
        strategy=trainer.strategy,
        precision=trainer.precision,  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=trainer.progress,
        use_distributed_sampler=False,
    )
    runner.test(module, datamodule=datamodule, verbose=False)
    return module.results
