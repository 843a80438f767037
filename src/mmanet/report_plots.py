"""``report.png``: every combination of every method, and how each method degrades as sensors fail.

Left: grouped bars (legend beside the axes) up to ``BARS_UP_TO`` combinations, a methods x
combinations heat map beyond (values written in the cells while they stay legible). Right: the
expected metric when every modality fails independently with the same probability ``p``
(:func:`mmanet.robustness.robustness_curve`), for the methods that serve every combination.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mmanet.modality import all_combinations, combination_name
from mmanet.robustness import robustness_curve

__all__ = ["BARS_UP_TO", "render_report_png"]

BARS_UP_TO = 15
RATES = [round(0.1 * i, 1) for i in range(10)]


def _values(report: Mapping[str, Any], method: str, names: list[str], metric: str) -> np.ndarray:
    combos = report["methods"][method]["combinations"]
    return np.array([100 * combos[n][metric] if combos.get(n, {}).get(metric) is not None else math.nan for n in names])


def _bars(ax: Any, report: Mapping[str, Any], names: list[str], metric: str) -> None:
    methods = list(report["methods"])
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = np.arange(len(names)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(xs, _values(report, method, names, metric), width, label=method)
    ax.set_xticks(
        np.arange(len(names)), names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center"
    )
    low = np.nanmin([_values(report, m, names, metric) for m in methods])
    ax.set_ylim(max(0.0, low - 5), 100)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _heatmap(ax: Any, fig: Any, report: Mapping[str, Any], names: list[str], metric: str) -> None:
    methods = list(report["methods"])
    grid = np.stack([_values(report, m, names, metric) for m in methods])
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_yticks(np.arange(len(methods)), methods)
    ax.set_xticks(np.arange(len(names)), names, rotation=90, fontsize=6 if len(names) > 31 else 8)
    if len(names) <= 31:
        for (r, c), value in np.ndenumerate(grid):
            if not math.isnan(value):
                ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(image, ax=ax, label=f"{metric} (%)", fraction=0.03)


def _robustness(ax: Any, report: Mapping[str, Any], names: list[str], metric: str) -> None:
    modalities = list(report["modalities"])
    every = {combination_name(c) for c in all_combinations(modalities)}
    for method, entry in report["methods"].items():
        per = {n: v[metric] for n, v in entry["combinations"].items() if v.get(metric) is not None}
        if set(per) >= every:  # specialists (single modalities only) have no curve
            ax.plot(RATES, [100 * v for v in robustness_curve(per, modalities, RATES)], marker="o", ms=3, label=method)
    ax.set_xlabel("failure rate p of every modality")
    ax.set_ylabel(f"expected {metric} (%)")
    ax.set_title("robustness to independent sensor failure", fontsize="medium")
    ax.grid(alpha=0.3)


def render_report_png(report: Mapping[str, Any], metric: str) -> bytes:
    """PNG bytes of the report figure for ``metric``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = max((list(e["combinations"]) for e in report["methods"].values()), key=len)
    bars = len(names) <= BARS_UP_TO
    wide = max(7.0, 0.45 * len(names) * len(report["methods"]) ** 0.5) if bars else max(7.0, 0.2 * len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(wide + 5.5, 4.8), width_ratios=[wide, 4.5])
    if bars:
        _bars(left, report, names, metric)
    else:
        _heatmap(left, fig, report, names, metric)
    left.set_title(f"{report['dataset']}: {metric} per combination ({report['split']}, {len(report['seeds'])} seed(s))")
    _robustness(right, report, names, metric)
    if not bars:  # the heat map has no legend to share colours with
        right.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
