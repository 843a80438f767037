"""Run an experiment: for each seed, split the data, train every method, test every combination.

Output layout under ``cfg.out``::

    config.yaml                     resolved configuration
    report.{json,md,csv,png}        every method x combination, mean and std over seeds
    seed_<s>/split.npz              the split used (``split`` strings, one per sample)
    seed_<s>/<method>/model.pt      exported deployment network(s) (``mmanet evaluate``)
    seed_<s>/<method>/[<combination>/]checkpoints, logs/metrics.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console

from mmanet.config import ExperimentConfig, to_dict
from mmanet.data import DataSource, load_dataset
from mmanet.metrics import task_metrics
from mmanet.modality import all_combinations, combination_name
from mmanet.provenance import provenance
from mmanet.reporting import aggregate_method, atomic_write_text, write_reports
from mmanet.training.fitting import MethodRun, is_global_zero, prepare_seed, train_method
from mmanet.training.methods import MethodSpec, get_method
from mmanet.training.progress import Mode, RunProgress

__all__ = ["build_report", "run_experiment"]

ESS_WARNING = 0.2


def order_methods(names: list[str]) -> list[MethodSpec]:
    """Methods in the order given, except that ``teacher`` and ``specialists`` come before the methods distilling from them."""
    methods = [get_method(n) for n in names]
    if len({m.name for m in methods}) != len(methods):
        raise ValueError(f"methods listed twice: {names}")
    return sorted(methods, key=lambda m: 0 if m.name in ("teacher", "specialists") else 1)


def _warnings(methods: dict[str, Any], higher_is_better: dict[str, bool]) -> list[str]:
    out = []
    dropout_full = [d.get("student_full") for d in methods.get("dropout", {}).get("diagnostics", {}).values()]
    for name, entry in methods.items():
        diags = entry.get("diagnostics", {})
        teacher = [d["teacher_full"] for d in diags.values() if d.get("teacher_full") is not None]
        if not teacher or not dropout_full or None in dropout_full:
            continue
        metric = next(iter(diags.values()))["full_metric"]
        sign = 1.0 if higher_is_better.get(metric, True) else -1.0
        if sign * np.mean(teacher) <= sign * np.mean(dropout_full):
            t, d = 100 * np.mean(teacher), 100 * np.mean(dropout_full)
            out.append(f"{name}: the teacher ({metric} {t:.2f}%) is no better than the dropout student ({d:.2f}%) on the full combination: little to distil")
        ess = [d["ess_share"] for d in diags.values() if d.get("ess_share") is not None]
        if ess and np.mean(ess) < ESS_WARNING:
            out.append(
                f"{name}: MAD's weights fall on {100 * np.mean(ess):.0f}% of each batch (effective sample share < {ESS_WARNING}): a near-certain teacher"
            )
    return out


def build_report(cfg: ExperimentConfig, source: DataSource, runs: dict[str, dict[int, MethodRun]], seconds: dict[str, list[float]]) -> dict[str, Any]:
    """The ``report.json`` dictionary (see :mod:`mmanet.reporting`)."""
    names = [combination_name(c) for c in all_combinations(source.modalities)]
    task = task_metrics(source.task, **source.task_options)
    methods: dict[str, Any] = {}
    for method, per_seed in runs.items():
        served = [n for n in names if all(n in r.results for r in per_seed.values())]  # specialists serve the single modalities
        entry = aggregate_method({s: r.results for s, r in per_seed.items()}, served, task.names, task.higher_is_better)
        entry["seconds"] = float(np.mean(seconds[method]))
        entry["diagnostics"] = {str(s): r.diagnostics for s, r in per_seed.items()}
        entry["val_per_seed"] = {str(s): r.val_results for s, r in per_seed.items()}
        weak = {str(s): r.diagnostics["weak_combinations"] for s, r in per_seed.items() if "weak_combinations" in r.diagnostics}
        if weak:
            entry["weak_combinations"] = weak
        methods[method] = entry
    return {
        "name": cfg.name,
        "dataset": source.name,
        "task": source.task,
        "modalities": list(source.modalities),
        "split": "test",
        "seeds": list(cfg.seeds),
        "metrics": list(task.names),
        "higher_is_better": task.higher_is_better,
        "data": source.info,
        "methods": methods,
        "warnings": _warnings(methods, task.higher_is_better),
        "config": to_dict(cfg),
        "provenance": provenance(),
    }


def run_experiment(cfg: ExperimentConfig, console: Console | None = None, mode: Mode = "new") -> dict[str, Any]:
    """Train and test every method on every seed, write the reports, return ``report.json``'s dict.

    ``mode``: ``new`` refuses an output directory holding an earlier run; ``resume`` reuses its
    finished parts and continues unfinished ones from their last checkpoint; ``overwrite``
    deletes its parts first.
    """
    console = console or Console(quiet=not is_global_zero())
    methods = order_methods(cfg.methods)
    source = load_dataset(cfg.data)
    progress = RunProgress(cfg, mode)
    out = Path(cfg.out)
    if is_global_zero():
        atomic_write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    runs: dict[str, dict[int, MethodRun]] = {m.name: {} for m in methods}
    seconds: dict[str, list[float]] = {m.name: [] for m in methods}
    for seed in cfg.seeds:
        ctx = prepare_seed(cfg, source, seed, console, progress)
        for i, method in enumerate(methods, 1):
            console.print(f"[bold cyan]seed {seed}[/] · [bold]{method.name}[/] ({i}/{len(methods)}): {method.description}")
            runs[method.name][seed] = run = train_method(ctx, method)
            seconds[method.name].append(run.seconds)
    report = build_report(cfg, source, runs, seconds)
    if is_global_zero():
        write_reports(report, out)
    return report
