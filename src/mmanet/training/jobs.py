"""Training jobs of one seed: a unified network, one network per combination, cross-fitted entropies.

Each job takes what the steps before it produced (:class:`~mmanet.training.build.Prerequisites`)
and returns a :class:`MethodRun`; none trains another method on the side.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmanet.modality import all_combinations, combination_name
from mmanet.nn import NetworkSpec, SubsetNetwork
from mmanet.training.build import Prerequisites, build_module
from mmanet.training.crossfit import held_out_entropy
from mmanet.training.deployment import DeploymentModule, check_finite_weights
from mmanet.training.display import Display
from mmanet.training.distributed import barrier, is_global_zero
from mmanet.training.export import export_model, model_meta, write_prediction_grid
from mmanet.training.fit import fit_module
from mmanet.training.methods import METHODS, MethodSpec
from mmanet.training.mmanet_module import MMANetModule
from mmanet.training.resume import RunProgress
from mmanet.training.seed import SeedData

__all__ = ["MethodRun", "cross_fit_entropies", "train_part", "train_per_combination", "train_unified"]


@dataclasses.dataclass
class MethodRun:
    """What one method produced for one seed: test and best-validation results per combination."""

    results: dict[str, dict[str, Any]]
    diagnostics: dict[str, Any]
    model_path: Path
    val_results: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored as the part's ``result.json``)."""
        return dataclasses.asdict(self) | {"model_path": str(self.model_path)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MethodRun:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "model_path": Path(data["model_path"])})


def _diagnostics(data: SeedData, module: DeploymentModule, test: dict[str, Any]) -> dict[str, Any]:
    full = combination_name(data.modalities)
    metric = module.task.select
    out: dict[str, Any] = {"full_metric": metric, "student_full": test.get(full, {}).get(metric)}
    if isinstance(module, MMANetModule):
        out.update(module.diagnostics())
        if module.teacher_info:
            info = module.teacher_info
            teacher_test = info.get("results", {}).get("test", {})
            out["teacher_full"] = teacher_test.get(full, {}).get(metric)
            out["teacher"] = {
                "path": info["path"],
                "sha256": info["sha256"],
                "method": info["method"],
                "test": teacher_test,
            }
    return out


def train_unified(
    data: SeedData,
    method: MethodSpec,
    prerequisites: Prerequisites,
    *,
    resume: bool = False,
    display: Display | None = None,
) -> MethodRun:
    """One network for every combination (``teacher`` selects on the full combination)."""
    display = display or Display()
    root = data.root / method.name
    module = build_module(data, method, prerequisites=prerequisites)
    label = f"seed {data.seed} · {method.name}"
    display.model_started(label)
    fit = fit_module(module, data, root, resume=resume, callbacks=display.callbacks())
    display.model_finished(label)
    path = root / "model.pt"
    check_finite_weights(module.net, f"seed {data.seed} · {method.name}")
    if is_global_zero():
        names = [combination_name(c) for c in all_combinations(data.modalities)]
        results = {"test": fit.test, "val": fit.val, "val_select": fit.val_select}
        meta = model_meta(data, method, results, module) | {"calibration": fit.calibration.to_dict()}
        export_model(path, [(module.net, module.spec, names)], meta)
        if module.task.dense:
            write_prediction_grid(root / "predictions.png", module.net, data)
    barrier(fit.trainer)
    return MethodRun(fit.test, _diagnostics(data, module, fit.test), path, fit.val)


def train_per_combination(
    data: SeedData,
    method: MethodSpec,
    *,
    only: Sequence[str] | None = None,
    resume: bool = False,
    display: Display | None = None,
) -> MethodRun:
    """One network per combination (single modalities only for ``specialists``; or those named in
    ``only``), each trained and selected on its combination alone."""
    display = display or Display()
    results: dict[str, dict[str, Any]] = {}
    val: dict[str, dict[str, Any]] = {}
    entries: list[tuple[SubsetNetwork, NetworkSpec, list[str]]] = []
    calibration: dict[str, dict[str, float]] = {"temperature": {}, "threshold": {}}
    trainer = None
    for combination in all_combinations(data.modalities):
        name = combination_name(combination)
        if (only is not None and name not in only) or (method.single_only and len(combination) > 1):
            continue
        label = f"seed {data.seed} · {method.name} · {name}"
        display.model_started(label)
        spec = data.spec.restricted(combination)
        module = build_module(data, method, spec=spec, combinations=[name])
        fit = fit_module(module, data, data.root / method.name / name, resume=resume, callbacks=display.callbacks())
        display.model_finished(label)
        check_finite_weights(module.net, f"seed {data.seed} · {method.name} · {name}")
        results[name] = fit.test[name]
        val[name] = fit.val.get(name, {})
        entries.append((module.net, module.spec, [name]))
        for key, values in fit.calibration.to_dict().items():
            calibration[key].update(values)
        trainer = fit.trainer
    path = data.root / method.name / "model.pt"
    if is_global_zero():
        meta = model_meta(data, method, {"test": results, "val": val}) | {"calibration": calibration}
        export_model(path, entries, meta)
    barrier(trainer)
    return MethodRun(results, {}, path, val)


def cross_fit_entropies(data: SeedData, *, display: Display | None = None) -> torch.Tensor:
    """``(N_train,)`` MAD entropies from teachers that never saw the sample (``distill.uncertainty: cross_fit``)."""
    display = display or Display()
    teacher_data = data.with_overrides(data.cfg.distill.teacher_overrides)
    folds = data.cfg.distill.folds

    def fit_teacher(fold: int, kept: np.ndarray) -> SubsetNetwork:
        label = f"seed {data.seed} · cross-fitted teacher {fold + 1}/{folds}"
        display.model_started(label)
        fold_data = teacher_data.with_training_subset(kept.tolist(), data.root)
        module = build_module(fold_data, METHODS["teacher"])
        fit_module(module, fold_data, data.root / "teacher_folds" / f"fold_{fold}", callbacks=display.callbacks())
        display.model_finished(label)
        return module.net

    d = data.cfg.distill
    train_eval, labels = data.splits.datasets["train_eval"], data.splits.labels["train"]
    return held_out_entropy(train_eval, labels, data.modalities, folds, data.seed, d.teacher_temperature, fit_teacher)


def train_part(
    data: SeedData,
    method: MethodSpec,
    prerequisites: Prerequisites,
    progress: RunProgress | None = None,
    display: Display | None = None,
) -> MethodRun:
    """Train ``method`` for this seed, or reuse its finished part under ``progress``."""
    display = display or Display()
    part = data.root / method.name
    stored = progress.finished(part) if progress is not None else None
    if stored is not None:
        display.announce(f"{method.name}: finished earlier, reusing {part / 'result.json'}")
        return MethodRun.from_dict(stored)
    if progress is not None and is_global_zero():
        progress.begin(part)
    resume = progress is not None and progress.mode == "resume"
    start = time.perf_counter()
    if method.name == "teacher":
        data = data.with_overrides(data.cfg.distill.teacher_overrides)
    if method.per_combination:
        run = train_per_combination(data, method, resume=resume, display=display)
    else:
        run = train_unified(data, method, prerequisites, resume=resume, display=display)
    run.seconds = time.perf_counter() - start
    if progress is not None and is_global_zero():
        progress.finish(part, run.to_dict())
    return run
