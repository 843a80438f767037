"""Aggregate per-seed results and write ``report.json``, ``report.md``, ``report.csv``, ``report.png``.

``report.json``::

    {"dataset": str, "modalities": [str], "split": "test", "seeds": [int], "metrics": [str],
     "methods": {METHOD: {"combinations": {NAME: {METRIC: mean, METRIC + "_std": std}},
                          "mean": {...}, "worst": {...}, "per_seed": {SEED: {NAME: {METRIC: v}}},
                          "seconds": float}},
     ...}

``mean`` is each seed's mean over combinations, then averaged over seeds; ``worst`` is each
seed's worst combination (minimum, or maximum for error rates such as ACER), averaged
likewise; ``_std`` is the sample standard deviation over seeds (0 for one seed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmanet.io import atomic_write_bytes, atomic_write_text
from mmanet.report_plots import render_report_png

__all__ = [
    "aggregate_method",
    "format_cell",
    "render_csv",
    "render_markdown",
    "table_rows",
    "write_reports",
]

PerSeed = Mapping[int, Mapping[str, Mapping[str, float]]]


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample std of the values that exist (``None``: a combination no sample served)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(arr):
        return None, None
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def _summarise(samples: Mapping[str, list[float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for metric, values in samples.items():
        out[metric], out[f"{metric}_std"] = _mean_std(values)
    return out


def _present(values: Any) -> list[float]:
    return [v for v in values if v is not None]


def _lists(per_seed: PerSeed, seeds: Sequence[int], combination: str) -> dict[str, list[float | None]]:
    """Element-wise mean over seeds of list-valued metrics (e.g. ``iou_per_class``), skipping ``None``."""
    out: dict[str, list[float | None]] = {}
    for key, value in per_seed[seeds[0]][combination].items():
        if isinstance(value, list):
            columns = zip(*[per_seed[s][combination][key] for s in seeds], strict=True)
            out[key] = [float(np.mean(v)) if (v := [x for x in col if x is not None]) else None for col in columns]
    return out


def _worst_name(
    results: Mapping[str, Mapping[str, float]], combinations: Sequence[str], metric: str, higher_is_better: bool
) -> str:
    sign = 1.0 if higher_is_better else -1.0
    scored = [c for c in combinations if results[c].get(metric) is not None]
    return min(scored, key=lambda c: sign * results[c][metric]) if scored else "-"


def aggregate_method(
    per_seed: PerSeed,
    combinations: Sequence[str],
    metrics: Sequence[str],
    higher_is_better: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """Mean and std over seeds per combination, plus the mean and worst over combinations.

    The worst combination of a metric is its minimum, or its maximum for error rates
    (``higher_is_better[metric]`` False).
    """
    better = {m: True for m in metrics} | dict(higher_is_better or {})
    seeds = sorted(per_seed)
    missing = [(s, c) for s in seeds for c in combinations if c not in per_seed[s]]
    if missing:
        raise ValueError(f"results missing for (seed, combination) {missing[:3]}")
    table = {
        c: _summarise({m: [per_seed[s][c][m] for s in seeds] for m in metrics}) | _lists(per_seed, seeds, c)
        for c in combinations
    }
    mean = _summarise(
        {m: [float(np.mean(_present(per_seed[s][c][m] for c in combinations))) for s in seeds] for m in metrics}
    )
    pick = {m: (min if better[m] else max) for m in metrics}
    worst = _summarise(
        {m: [pick[m](_present(per_seed[s][c][m] for c in combinations)) for s in seeds] for m in metrics}
    )
    worst_names = {str(s): _worst_name(per_seed[s], combinations, metrics[0], better[metrics[0]]) for s in seeds}
    counts = {c: per_seed[seeds[0]][c].get("samples") for c in combinations}
    return {
        "combinations": table,
        "mean": mean,
        "worst": worst,
        "worst_combination": worst_names,
        "samples": counts,  # test samples scored under each combination (those holding all its modalities)
        "per_seed": {str(s): {c: dict(per_seed[s][c]) for c in combinations} for s in seeds},
    }


def format_cell(values: Mapping[str, float], metric: str, with_std: bool = True) -> str:
    """``"94.50 ± 0.30"`` (percent) from a summary with ``metric`` and ``metric_std``."""
    value = values.get(metric, math.nan)
    if value is None:
        return "-"  # no sample held this combination
    if not with_std:
        return f"{100 * value:.2f}"
    std = values.get(f"{metric}_std") or 0.0
    return f"{100 * value:.2f} ± {100 * std:.2f}"


def table_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    names = max((list(e["combinations"]) for e in report["methods"].values()), key=len)
    return [(name, "combinations") for name in names] + [("mean", "mean"), ("worst", "worst")]


def _values(entry: Mapping[str, Any], row: tuple[str, str]) -> Mapping[str, float] | None:
    """A method's summary for a row, or ``None`` where it serves no such combination (specialists)."""
    name, kind = row
    return entry[kind] if kind != "combinations" else entry["combinations"].get(name)


def _cell(report: Mapping[str, Any], method: str, row: tuple[str, str], metric: str) -> str:
    values = _values(report["methods"][method], row)
    return "-" if values is None else format_cell(values, metric, with_std=len(report["seeds"]) > 1)


def render_markdown(report: Mapping[str, Any]) -> str:
    """One table per metric: rows = combinations (+ mean, worst), columns = methods."""
    methods = list(report["methods"])
    lines = [f"# {report.get('name', 'Results')}", ""]
    lines.append(
        f"Dataset `{report['dataset']}`, modalities {', '.join(report['modalities'])}; split "
        f"`{report['split']}`; seeds {report['seeds']}."
    )
    lines.append("Values are percent, mean ± std over seeds; *mean* and *worst* are over combinations, per seed.")
    for metric in report["metrics"]:
        lines += [
            "",
            f"## {metric}",
            "",
            "| combination | " + " | ".join(methods) + " |",
            "|---" * (len(methods) + 1) + "|",
        ]
        for row in table_rows(report):
            label = f"**{row[0]}**" if row[1] != "combinations" else row[0]
            lines.append(f"| {label} | " + " | ".join(_cell(report, m, row, metric) for m in methods) + " |")
    for warning in report.get("warnings", []):
        lines += ["", f"> **Warning:** {warning}"]
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def render_csv(report: Mapping[str, Any]) -> str:
    """Long format: ``method, combination, metric, mean, std, n_seeds``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "combination", "metric", "mean", "std", "n_seeds"])
    for method, entry in report["methods"].items():
        for row in table_rows(report):
            values = _values(entry, row)
            if values is None:
                continue
            for metric in report["metrics"]:
                writer.writerow(
                    [
                        method,
                        row[0],
                        metric,
                        _number(values[metric]),
                        _number(values[f"{metric}_std"]),
                        len(report["seeds"]),
                    ]
                )
    return buffer.getvalue()


def write_reports(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write all report files atomically; returns ``{kind: path}``."""
    out = Path(out_dir)
    paths = {kind: out / f"report.{kind}" for kind in ("json", "md", "csv", "png")}
    atomic_write_text(paths["json"], json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    atomic_write_text(paths["md"], render_markdown(report))
    atomic_write_text(paths["csv"], render_csv(report))
    atomic_write_bytes(paths["png"], render_report_png(report, report["metrics"][0]))
    return paths
