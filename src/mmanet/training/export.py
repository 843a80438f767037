"""Export: the deployment network(s) of a trained method as ``model.pt``, and prediction figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmanet.config import to_dict
from mmanet.figures import prediction_grid
from mmanet.io import atomic_write_bytes
from mmanet.modality import all_combinations
from mmanet.modelfile import save_model_file
from mmanet.nn import NetworkSpec, SubsetNetwork
from mmanet.provenance import provenance
from mmanet.training.deployment import DeploymentModule
from mmanet.training.methods import MethodSpec
from mmanet.training.mmanet_module import MMANetModule
from mmanet.training.seed import SeedData

__all__ = ["export_model", "model_meta", "write_prediction_grid"]


def model_meta(
    data: SeedData, method: MethodSpec, results: dict[str, Any], module: DeploymentModule | None = None
) -> dict[str, Any]:
    """What a model file records besides its networks (all plain values)."""
    teacher = module.teacher_info or None if isinstance(module, MMANetModule) else None
    specialists = module.specialists_info or None if isinstance(module, MMANetModule) else None
    return {
        "teacher": teacher,  # path, SHA-256, method, config and results of the teacher distilled from
        "specialists": specialists,  # path and SHA-256 of the per-modality specialists (mmanet-plus)
        "method": method.name,
        "seed": data.seed,
        "data_modalities": list(data.modalities),
        "task": data.task.to_dict(),
        "data_fingerprint": data.source.fingerprint(),  # evaluate warns when the data changed since training
        "config": to_dict(data.cfg),
        "results": results,
        "provenance": provenance(),
    }


def export_model(
    path: Path, entries: Sequence[tuple[SubsetNetwork, NetworkSpec, Sequence[str]]], meta: dict[str, Any]
) -> Path:
    """Write the networks (each with its spec and served combination names) to ``path``."""
    return save_model_file(path, entries=entries, meta=meta)


def write_prediction_grid(path: Path, net: SubsetNetwork, data: SeedData) -> None:
    """A figure of test predictions under every combination (dense tasks)."""
    task = data.task.metrics()
    combos = all_combinations(data.modalities)
    grid = prediction_grid(net, data.splits.datasets["test"], combos, data.spec.num_classes, task.ignore_index)
    atomic_write_bytes(path, grid)
