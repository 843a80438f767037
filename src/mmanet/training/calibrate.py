"""Fit the calibration of a trained network on the validation split (every sample, every rank alike)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, default_collate

from mmanet.calibration import apcer_threshold, eer_threshold, fit_temperature
from mmanet.config import CalibrationConfig
from mmanet.evaluation import combination_outputs
from mmanet.metrics import TaskSpec
from mmanet.modality import Combination
from mmanet.nn import SubsetNetwork
from mmanet.training.seed import SeedData

__all__ = ["Calibration", "fit_calibration"]


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Per combination name: a temperature dividing the logits, and (anti-spoofing) the threshold on
    the calibrated ``p(bona fide)`` above which a sample is accepted as bona fide."""

    temperature: Mapping[str, float] = dataclasses.field(default_factory=dict)
    threshold: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain form stored in ``model.pt``."""
        return {"temperature": dict(self.temperature), "threshold": dict(self.threshold)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Calibration:
        """Inverse of :meth:`to_dict` (``None``: uncalibrated)."""
        data = data or {}
        temperature = {str(k): float(v) for k, v in (data.get("temperature") or {}).items()}
        return cls(temperature, {str(k): float(v) for k, v in (data.get("threshold") or {}).items()})

    def metric_options(self) -> dict[str, dict[str, float]]:
        """Per-combination options of the metric factory (the anti-spoofing threshold)."""
        return {name: {"threshold": t} for name, t in self.threshold.items()}


@torch.no_grad()
def _validation_logits(
    net: SubsetNetwork, data: SeedData, columns: Sequence[int], combinations: Sequence[Combination]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    dataset = data.splits.datasets["val"]
    collate = getattr(dataset, "collate_fn", None) or default_collate
    loader = DataLoader(dataset, batch_size=data.cfg.data.eval_batch_size, shuffle=False, collate_fn=collate)
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    logits: dict[str, list[torch.Tensor]] = {}
    targets = []
    for batch in loader:
        inputs = {m: x.to(device) for m, x in batch["inputs"].items()}
        present = batch["present"][:, list(columns)].to(device)
        for name, out in combination_outputs(net, inputs, present, combinations).items():
            logits.setdefault(name, []).append(out.logits.float().cpu())
        targets.append(batch["target"])
    net.train(was_training)
    return {n: torch.cat(v) for n, v in logits.items()}, torch.cat(targets)


def fit_calibration(
    net: SubsetNetwork,
    data: SeedData,
    columns: Sequence[int],
    combinations: Sequence[Combination],
    cfg: CalibrationConfig,
    task: TaskSpec,
) -> Calibration:
    """Temperatures (and anti-spoofing thresholds) per combination from the validation split.

    Dense tasks are not calibrated (an empty :class:`Calibration`).
    """
    if task.name == "segmentation" or (not cfg.temperature and cfg.threshold == "none"):
        return Calibration()
    logits, target = _validation_logits(net, data, columns, combinations)
    temperature = {n: fit_temperature(v, target) for n, v in logits.items()} if cfg.temperature else {}
    threshold: dict[str, float] = {}
    if task.name == "anti_spoofing" and cfg.threshold != "none":
        bona_label = int(task.options.get("bona_fide", 1))
        bona = target == bona_label
        for name, values in logits.items():
            scores = torch.softmax(values / temperature.get(name, 1.0), dim=1)[:, bona_label]
            fitted = (
                eer_threshold(scores, bona)
                if cfg.threshold == "eer"
                else apcer_threshold(scores, bona, cfg.target_apcer)
            )
            threshold[name] = fitted
    return Calibration(temperature, threshold)
