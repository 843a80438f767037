"""Run an experiment: for each seed, split the data, train every method, test every combination.

Output layout under ``cfg.out``::

    config.yaml                     resolved configuration
    report.{json,md,csv,png}        every method x combination, mean and std over seeds
    seed_<s>/split.npz              the split used (``split`` strings, one per sample)
    seed_<s>/<method>/model.pt      exported deployment network(s) (``mmanet evaluate``)
    seed_<s>/<method>/[<combination>/]checkpoints, logs/metrics.csv
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.fabric.utilities.rank_zero import rank_zero_only
from rich.console import Console

from mmanet.config import ExperimentConfig, to_dict
from mmanet.data import MultimodalArrays, MultimodalDataModule, load_dataset, split_arrays, stratified_split
from mmanet.modality import all_combinations, combination_name
from mmanet.modelfile import save_model_file
from mmanet.nn import NetworkSpec
from mmanet.provenance import provenance
from mmanet.reporting import aggregate_method, atomic_write_bytes, atomic_write_text, write_reports
from mmanet.training.methods import MethodSpec, get_method
from mmanet.training.module import MultimodalClassifier
from mmanet.training.trainer import build_trainer

__all__ = ["SeedContext", "fit_module", "run_experiment"]

METRICS = ("accuracy", "macro_f1")


def is_global_zero() -> bool:
    """Whether this process writes files and prints (rank 0, or no distributed run)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0) == 0


@dataclasses.dataclass
class SeedContext:
    """What every method of one seed shares: the split, the loaders, the network spec."""

    cfg: ExperimentConfig
    seed: int
    splits: dict[str, MultimodalArrays]
    datamodule: MultimodalDataModule
    spec: NetworkSpec
    root: Path
    console: Console

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality order of the data."""
        return self.spec.modalities


def prepare_seed(cfg: ExperimentConfig, arrays: MultimodalArrays, seed: int, console: Console) -> SeedContext:
    """Split (seeded unless the data has its own split), build loaders, record the split."""
    split_seed = cfg.data.split_seed if cfg.data.split_seed is not None else seed
    names = arrays.split if arrays.split is not None else stratified_split(arrays.labels, cfg.data.split, split_seed)
    splits = split_arrays(dataclasses.replace(arrays, split=names), cfg.data.split, split_seed)
    root = Path(cfg.out) / f"seed_{seed}"
    if is_global_zero():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, split=names)
        atomic_write_bytes(root / "split.npz", buffer.getvalue())
    datamodule = MultimodalDataModule(
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        batch_size=cfg.data.batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        seed=seed,
        num_workers=cfg.data.num_workers,
    )
    spec = NetworkSpec(arrays.modalities, arrays.input_shapes, arrays.num_classes, to_dict(cfg.model))
    return SeedContext(cfg, seed, splits, datamodule, spec, root, console)


def fit_module(ctx: SeedContext, module: MultimodalClassifier, root: Path) -> MultimodalClassifier:
    """Fit, restore the checkpoint with the best validation score, and test every combination."""
    L.seed_everything(ctx.seed, verbose=False)
    trainer = build_trainer(ctx.cfg.trainer, root=root, epochs=ctx.cfg.optim.epochs)
    trainer.fit(module, datamodule=ctx.datamodule)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""  # type: ignore[attr-defined]
    if best:
        module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    trainer.test(module, datamodule=ctx.datamodule, verbose=False)
    return module


def build_module(ctx: SeedContext, method: MethodSpec, spec: NetworkSpec, combinations: list[str] | None = None) -> MultimodalClassifier:
    """A freshly initialised module (seeded so every method starts from the same weights)."""
    L.seed_everything(ctx.seed, verbose=False)
    module = MultimodalClassifier(
        network=spec.to_dict(),
        data_modalities=list(ctx.modalities),
        optim=to_dict(ctx.cfg.optim),
        method=method.name,
        seed=ctx.seed,
        num_train=len(ctx.splits["train"]),
        eval_combinations=combinations,
    )
    module.fit_input_statistics(ctx.splits["train"])
    return module


def _meta(ctx: SeedContext, method: MethodSpec) -> dict[str, Any]:
    return {
        "method": method.name,
        "seed": ctx.seed,
        "data_modalities": list(ctx.modalities),
        "config": to_dict(ctx.cfg),
        "provenance": provenance(),
    }


def train_unified(ctx: SeedContext, method: MethodSpec) -> dict[str, dict[str, float]]:
    """One network for every combination (``teacher`` selects on the full combination)."""
    root = ctx.root / method.name
    full = combination_name(ctx.modalities)
    module = build_module(ctx, method, ctx.spec)
    if method.sampling == "full":
        module.select_names = [full]
    fit_module(ctx, module, root)
    if is_global_zero():
        names = [combination_name(c) for c in all_combinations(ctx.modalities)]
        save_model_file(root / "model.pt", entries=[(module.net, ctx.spec, names)], meta=_meta(ctx, method))
    return module.test_results


def train_customized(ctx: SeedContext, method: MethodSpec) -> dict[str, dict[str, float]]:
    """One network per combination, each trained and selected on that combination alone."""
    results: dict[str, dict[str, float]] = {}
    entries = []
    for combination in all_combinations(ctx.modalities):
        name = combination_name(combination)
        ctx.console.print(f"    customized [bold]{name}[/]")
        spec = ctx.spec.restricted(combination)
        module = build_module(ctx, method, spec, combinations=[name])
        fit_module(ctx, module, ctx.root / method.name / name)
        results[name] = module.test_results[name]
        entries.append((module.net, spec, [name]))
    if is_global_zero():
        save_model_file(ctx.root / method.name / "model.pt", entries=entries, meta=_meta(ctx, method))
    return results


TRAINERS: dict[str, Callable[[SeedContext, MethodSpec], dict[str, dict[str, float]]]] = {
    "unified": train_unified,
    "customized": train_customized,
}


def build_report(cfg: ExperimentConfig, arrays: MultimodalArrays, results: dict[str, dict[int, Any]], seconds: dict[str, list[float]]) -> dict[str, Any]:
    """The ``report.json`` dictionary (see :mod:`mmanet.reporting`)."""
    names = [combination_name(c) for c in all_combinations(arrays.modalities)]
    methods = {}
    for method, per_seed in results.items():
        methods[method] = aggregate_method(per_seed, names, METRICS)
        methods[method]["seconds"] = float(np.mean(seconds[method]))
    return {
        "name": cfg.name,
        "dataset": cfg.data.dataset if cfg.data.dataset != "npz" else str(cfg.data.path),
        "modalities": list(arrays.modalities),
        "split": "test",
        "seeds": list(cfg.seeds),
        "metrics": list(METRICS),
        "methods": methods,
        "config": to_dict(cfg),
        "provenance": provenance(),
    }


def run_experiment(cfg: ExperimentConfig, console: Console | None = None) -> dict[str, Any]:
    """Train and test every method on every seed, write the reports, return ``report.json``'s dict."""
    console = console or Console(quiet=not is_global_zero())
    methods = [get_method(m) for m in cfg.methods]
    arrays = load_dataset(cfg.data)
    out = Path(cfg.out)
    if is_global_zero():
        atomic_write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    results: dict[str, dict[int, Any]] = {m.name: {} for m in methods}
    seconds: dict[str, list[float]] = {m.name: [] for m in methods}
    for seed in cfg.seeds:
        ctx = prepare_seed(cfg, arrays, seed, console)
        for i, method in enumerate(methods, 1):
            console.print(f"[bold cyan]seed {seed}[/] · [bold]{method.name}[/] ({i}/{len(methods)}): {method.description}")
            start = time.perf_counter()
            trainer = TRAINERS["customized" if method.per_combination else "unified"]
            results[method.name][seed] = trainer(ctx, method)
            seconds[method.name].append(time.perf_counter() - start)
    report = build_report(cfg, arrays, results, seconds)
    if is_global_zero():
        write_reports(report, out)
    return report
