"""Fit one method for one seed: build the module, train, restore the best checkpoint, test, export."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.fabric.utilities.rank_zero import rank_zero_only
from rich.console import Console

from mmanet.config import ExperimentConfig, to_dict, with_overrides
from mmanet.data import DataSource, MultimodalDataModule, ReindexedSubset, SplitSet
from mmanet.figures import prediction_grid
from mmanet.modality import all_combinations, combination_name
from mmanet.modelfile import save_model_file
from mmanet.nn import NetworkSpec
from mmanet.provenance import provenance
from mmanet.reporting import atomic_write_bytes
from mmanet.training.crossfit import held_out_entropy
from mmanet.training.methods import METHODS, MethodSpec
from mmanet.training.mmanet_module import MMANetClassifier
from mmanet.training.module import MultimodalClassifier
from mmanet.training.progress import RunProgress
from mmanet.training.teacher import file_sha256
from mmanet.training.trainer import build_trainer

__all__ = ["MethodRun", "SeedContext", "barrier", "fit_module", "is_global_zero", "prepare_seed", "train_method"]


def is_global_zero() -> bool:
    """Whether this process writes files and prints (rank 0, or no distributed run)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


def barrier() -> None:
    """Wait for every rank (no-op without torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


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


@dataclasses.dataclass
class SeedContext:
    """What every method of one seed shares: the splits, the loaders, the network spec, the teacher."""

    cfg: ExperimentConfig
    seed: int
    source: DataSource
    splits: SplitSet
    datamodule: MultimodalDataModule
    spec: NetworkSpec
    root: Path
    console: Console
    teacher: MethodRun | None = None
    specialists: MethodRun | None = None
    entropy_table: torch.Tensor | None = None
    progress: RunProgress | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality order of the data."""
        return self.spec.modalities

    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return len(self.splits.labels["train"])


def make_datamodule(cfg: ExperimentConfig, source: DataSource, datasets: dict[str, Any], seed: int) -> MultimodalDataModule:
    """Loaders with the configured batch sizes (workers: 0 in memory, 2 for images on disk by default)."""
    workers = cfg.data.num_workers if cfg.data.num_workers is not None else int(source.info.get("default_workers", 0))
    return MultimodalDataModule(datasets=datasets, batch_size=cfg.data.batch_size, eval_batch_size=cfg.data.eval_batch_size, seed=seed, num_workers=workers)


def prepare_seed(cfg: ExperimentConfig, source: DataSource, seed: int, console: Console, progress: RunProgress | None = None) -> SeedContext:
    """Split (seeded unless the data has its own split), build loaders, record the split."""
    splits = source.splits(seed)
    root = Path(cfg.out) / f"seed_{seed}"
    if is_global_zero() and splits.record is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, split=splits.record)
        atomic_write_bytes(root / "split.npz", buffer.getvalue())
    datamodule = make_datamodule(cfg, source, splits.datasets, seed)
    spec = NetworkSpec(source.modalities, source.input_shapes, source.num_classes, cfg.model.for_task(source.task))
    return SeedContext(cfg, seed, source, splits, datamodule, spec, root, console, progress=progress)


def fit_module(ctx: SeedContext, module: MultimodalClassifier, root: Path) -> MultimodalClassifier:
    """Fit, restore the deployment network with the best validation score, and test every combination."""
    L.seed_everything(ctx.seed, verbose=False)
    trainer = build_trainer(ctx.cfg.trainer, root=root, epochs=ctx.cfg.optim.epochs)
    resume = RunProgress.resume_checkpoint(root) if ctx.progress is not None and ctx.progress.mode == "resume" else None
    if resume:
        ctx.console.print(f"    resuming from {resume}")
    trainer.fit(module, datamodule=ctx.datamodule, ckpt_path=resume)
    callback = trainer.checkpoint_callback
    best = getattr(callback, "best_model_path", "")
    if best:  # restore the deployment network only: the miner and diagnostics keep the whole run's history
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
        score = getattr(callback, "best_model_score", None)
        module.best_val = float(score) if score is not None else None
    trainer.test(module, datamodule=ctx.datamodule, verbose=False)
    return module


def teacher_context(ctx: SeedContext) -> SeedContext:
    """``ctx`` with ``distill.teacher_overrides`` applied (the teacher's own config and network)."""
    overrides = ctx.cfg.distill.teacher_overrides
    if not overrides:
        return ctx
    cfg = with_overrides(ctx.cfg, overrides)
    return dataclasses.replace(ctx, cfg=cfg, spec=dataclasses.replace(ctx.spec, model=cfg.model.for_task(ctx.source.task)))


def _teacher_ref(ctx: SeedContext) -> dict[str, Any]:
    path = ctx.cfg.distill.teacher
    if path is None:
        if ctx.teacher is None:
            ctx.console.print("    training the teacher first (complete modalities)")
            ctx.teacher = train_method(ctx, METHODS["teacher"])
        path = str(ctx.teacher.model_path)
    return {"path": str(path), "sha256": file_sha256(path)}


def _specialists_ref(ctx: SeedContext) -> dict[str, Any]:
    path = ctx.cfg.plus.specialists_path
    if path is None:
        if ctx.specialists is None:
            ctx.console.print("    training the per-modality specialists first")
            ctx.specialists = train_method(ctx, METHODS["specialists"])
        path = str(ctx.specialists.model_path)
    return {"path": str(path), "sha256": file_sha256(path)}


def _cross_fit_table(ctx: SeedContext) -> torch.Tensor:
    if ctx.entropy_table is None:
        tctx = teacher_context(ctx)

        def fit_teacher(fold: int, kept: np.ndarray) -> Any:
            ctx.console.print(f"    cross-fitted teacher, fold {fold + 1}/{ctx.cfg.distill.folds}")
            datasets = {**ctx.splits.datasets, "train": ReindexedSubset(ctx.splits.datasets["train"], kept.tolist())}
            labels = {**ctx.splits.labels, "train": ctx.splits.labels["train"][torch.as_tensor(kept)]}
            splits = dataclasses.replace(ctx.splits, datasets=datasets, labels=labels)
            fold_ctx = dataclasses.replace(tctx, splits=splits, datamodule=make_datamodule(ctx.cfg, ctx.source, datasets, ctx.seed))
            module = build_module(fold_ctx, METHODS["teacher"], fold_ctx.spec)
            module.select_names = [combination_name(ctx.modalities)]
            return fit_module(fold_ctx, module, ctx.root / "teacher_folds" / f"fold_{fold}").net

        d = ctx.cfg.distill
        ctx.entropy_table = held_out_entropy(
            ctx.splits.datasets["train_eval"], ctx.splits.labels["train"], ctx.modalities, d.folds, ctx.seed, d.teacher_temperature, fit_teacher
        )
    return ctx.entropy_table


def build_module(ctx: SeedContext, method: MethodSpec, spec: NetworkSpec, combinations: list[str] | None = None) -> MultimodalClassifier:
    """A freshly initialised module (seeded so every method starts from the same weights)."""
    common: dict[str, Any] = {
        "network": spec.to_dict(),
        "data_modalities": list(ctx.modalities),
        "optim": to_dict(ctx.cfg.optim),
        "method": method.name,
        "seed": ctx.seed,
        "num_train": ctx.num_train,
        "task": {"name": ctx.source.task, **ctx.source.task_options},
        "eval_combinations": combinations,
        "class_weights": ctx.source.class_weights,
    }
    plus = ctx.cfg.plus
    if method.plus:
        common["sampling"] = plus.sampling
    if method.needs_teacher(plus) or method.regularizes(plus) or method.plus:
        teacher = _teacher_ref(ctx) if method.needs_teacher(plus) else None
        specialists = _specialists_ref(ctx) if method.needs_specialists(plus) else None
        cross_fit = method.distillation(plus) == "mad" and ctx.cfg.distill.uncertainty == "cross_fit"
        table = _cross_fit_table(ctx) if cross_fit else None
        L.seed_everything(ctx.seed, verbose=False)
        distill, mar = to_dict(ctx.cfg.distill), to_dict(ctx.cfg.mar)
        extra = {"plus": to_dict(plus), "specialists": specialists} if method.plus else {}
        module: MultimodalClassifier = MMANetClassifier(distill=distill, mar=mar, teacher=teacher, entropy_table=table, **extra, **common)
    else:
        L.seed_everything(ctx.seed, verbose=False)
        module = MultimodalClassifier(**common)
    if ctx.splits.statistics is not None and ctx.cfg.data.normalize:
        module.fit_input_statistics(*ctx.splits.statistics)
    return module


def _meta(ctx: SeedContext, method: MethodSpec, results: dict[str, Any], module: MultimodalClassifier | None = None) -> dict[str, Any]:
    teacher = module.teacher_info if isinstance(module, MMANetClassifier) and module.teacher_info else None
    specialists = module.specialists_info if isinstance(module, MMANetClassifier) and module.specialists_info else None
    return {
        "teacher": teacher,  # path, SHA-256, method, config and results of the teacher distilled from
        "specialists": specialists,  # path and SHA-256 of the per-modality specialists (mmanet-plus)
        "method": method.name,
        "seed": ctx.seed,
        "data_modalities": list(ctx.modalities),
        "task": {"name": ctx.source.task, **ctx.source.task_options},
        "config": to_dict(ctx.cfg),
        "results": results,
        "provenance": provenance(),
    }


def _diagnostics(ctx: SeedContext, module: MultimodalClassifier) -> dict[str, Any]:
    full = combination_name(ctx.modalities)
    metric = module.task.select
    out: dict[str, Any] = {"full_metric": metric, "student_full": module.test_results.get(full, {}).get(metric)}
    if isinstance(module, MMANetClassifier):
        out.update(module.diagnostics())
        if module.teacher_info:
            teacher_test = module.teacher_info.get("results", {}).get("test", {})
            out["teacher_full"] = teacher_test.get(full, {}).get(metric)
            info = module.teacher_info
            out["teacher"] = {"path": info["path"], "sha256": info["sha256"], "method": info["method"], "test": teacher_test}
    return out


def train_unified(ctx: SeedContext, method: MethodSpec) -> MethodRun:
    """One network for every combination (``teacher`` selects on the full combination)."""
    root = ctx.root / method.name
    module = build_module(ctx, method, ctx.spec)
    if method.sampling == "full":
        module.select_names = [combination_name(ctx.modalities)]
    fit_module(ctx, module, root)
    path = root / "model.pt"
    best = module.best_validation() or {}
    if is_global_zero():
        names = [combination_name(c) for c in all_combinations(ctx.modalities)]
        results = {"test": module.test_results, "val": best.get("combinations", {}), "val_select": module.best_val}
        save_model_file(path, entries=[(module.net, ctx.spec, names)], meta=_meta(ctx, method, results, module))
        if module.task.dense:
            grid = prediction_grid(module.net, ctx.splits.datasets["test"], all_combinations(ctx.modalities), ctx.spec.num_classes, module.task.ignore_index)
            atomic_write_bytes(root / "predictions.png", grid)
    barrier()
    return MethodRun(module.test_results, _diagnostics(ctx, module), path, best.get("combinations", {}))


def train_customized(ctx: SeedContext, method: MethodSpec, only: Sequence[str] | None = None) -> MethodRun:
    """One network per combination (or per combination named in ``only``), each trained and selected on it alone."""
    results: dict[str, dict[str, float]] = {}
    val: dict[str, dict[str, float]] = {}
    entries = []
    for combination in all_combinations(ctx.modalities):
        name = combination_name(combination)
        if (only is not None and name not in only) or (method.single_only and len(combination) > 1):
            continue
        ctx.console.print(f"    customized [bold]{name}[/]")
        spec = ctx.spec.restricted(combination)
        module = build_module(ctx, method, spec, combinations=[name])
        fit_module(ctx, module, ctx.root / method.name / name)
        results[name] = module.test_results[name]
        val[name] = (module.best_validation() or {}).get("combinations", {}).get(name, {})
        entries.append((module.net, spec, [name]))
    path = ctx.root / method.name / "model.pt"
    if is_global_zero():
        save_model_file(path, entries=entries, meta=_meta(ctx, method, {"test": results, "val": val}))
    barrier()
    return MethodRun(results, {}, path, val)


def train_method(ctx: SeedContext, method: MethodSpec) -> MethodRun:
    """Train ``method`` for this seed (the teacher once, reused); a finished part is not trained again."""
    if method.name == "teacher" and ctx.teacher is not None:
        return ctx.teacher
    if method.name == "specialists" and ctx.specialists is not None:
        return ctx.specialists
    part = ctx.root / method.name
    stored = ctx.progress.finished(part) if ctx.progress is not None else None
    if stored is not None:
        ctx.console.print(f"    {method.name}: finished earlier, reusing {part / 'result.json'}")
        run = MethodRun.from_dict(stored)
    else:
        if ctx.progress is not None and is_global_zero():
            ctx.progress.begin(part)
        start = time.perf_counter()
        ctx_used = teacher_context(ctx) if method.name == "teacher" else ctx
        run = train_customized(ctx_used, method) if method.per_combination else train_unified(ctx_used, method)
        run.seconds = time.perf_counter() - start
        if ctx.progress is not None and is_global_zero():
            ctx.progress.finish(part, run.to_dict())
    if method.name == "teacher":
        ctx.teacher = run
    if method.name == "specialists":
        ctx.specialists = run
    return run
