"""Tables of the study, computed from the per-seed records alone (no training).

``docs/results.md`` marks every generated table with a block::

    <!-- study summary phase=final setting=trio arms=teacher,dropout,mmanet versus=dropout -->
    ...the table...
    <!-- /study -->

:func:`render_page` regenerates the content of every block from the records; ``study.py page
--check`` fails when the page differs from what the records give.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmanet.routing import choose_routes
from study_arms import DESCRIPTIONS, METRIC, ONLY_SETTINGS, ROUTED

Records = dict[str, dict[int, dict[str, Any]]]  # arm -> seed -> record

__all__ = ["load_records", "paired", "render_page", "summary"]


def load_records(root: Path, phase: str, setting: str) -> Records:
    """Records by arm and seed; customized chunks are merged once every chunk of a seed is there.

    ``phase`` may pool phases run on different seeds, ``final+final-more``: each arm's seeds of
    every phase together; a seed that two pooled phases both hold for one arm is an error."""
    if "+" in phase:
        return _pooled([load_records(root, p, setting) for p in phase.split("+")], phase, setting)
    records: Records = {}
    chunks: dict[int, list[dict[str, Any]]] = {}
    for path in sorted((root / phase / setting).glob("*/seed_*.json")):
        rec = json.loads(path.read_text())
        if "chunk" in rec:
            chunks.setdefault(rec["seed"], []).append(rec)
        else:
            records.setdefault(rec["arm"], {})[rec["seed"]] = rec
    for seed, parts in chunks.items():
        if len(parts) == parts[0]["chunk"][1]:
            merged = dict(parts[0], test={}, val={}, seconds=sum(p["seconds"] for p in parts))
            merged["peak_rss_bytes"] = max((p.get("peak_rss_bytes") or 0 for p in parts), default=0) or None
            for p in parts:
                merged["test"].update(p["test"])
                merged["val"].update(p["val"])
            records.setdefault("customized", {})[seed] = merged
    for arm, (base, candidates) in ROUTED.items():
        seeds = set(records.get(base, {})).intersection(*(records.get(c, {}) for c in candidates))
        for seed in sorted(seeds):
            files = [records[base][seed], *(records[c][seed] for c in candidates)]
            records.setdefault(arm, {})[seed] = routed_record(arm, files, METRIC[setting])
    return records


def _pooled(parts: list[Records], phase: str, setting: str) -> Records:
    """The records of several phases together, arm by arm; an arm absent from one phase is left out
    (a pooled table pairs seeds across every arm it reads, so a partial arm would read fewer seeds)."""
    arms = set.intersection(*(set(p) for p in parts))
    pooled: Records = {}
    for arm in sorted(arms):
        for part in parts:
            clash = set(pooled.get(arm, {})) & set(part[arm])
            if clash:
                raise ValueError(f"phases {phase!r}, setting {setting}: arm {arm} has seeds {sorted(clash)} twice")
            pooled.setdefault(arm, {}).update(part[arm])
    return pooled


def routed_record(arm: str, files: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The record of a routed file: per combination, the file ``mmanet route`` chooses on the
    validation split (margin 0) serves it on both splits; time is every file's, memory the largest."""
    scores = [{n: float(v[metric]) for n, v in f["val"].items()} for f in files]
    routes = choose_routes(scores, higher_is_better=True)
    peaks = [f.get("peak_rss_bytes") or 0 for f in files]
    return {
        "arm": arm,
        "seed": files[0]["seed"],
        "setting": files[0]["setting"],
        "val": {n: files[k]["val"][n] for n, k in routes.items()},
        "test": {n: files[k]["test"][n] for n, k in routes.items()},
        "served_by": routes,
        "seconds": sum(f["seconds"] for f in files),
        "peak_rss_bytes": max(peaks) or None,
    }


def t_quantile(df: int) -> float:
    """Two-sided 95% Student-t quantile (table for small df, normal beyond)."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
    table |= {10: 2.228, 11: 2.201, 12: 2.179, 14: 2.145, 19: 2.093, 29: 2.045}
    for key in sorted(table):
        if df <= key:
            return table[key]
    return 1.96


def summary(values: dict[str, dict[str, Any]], metric: str | None = None) -> tuple[float, float]:
    """(mean over combinations, worst combination) of one seed (accuracy, or mIoU for segmentation)."""
    metric = metric or ("miou" if "miou" in next(iter(values.values())) else "accuracy")
    scores = [v[metric] for v in values.values()]
    return float(np.mean(scores)), float(np.min(scores))


def _score(record: dict[str, Any], split: str, what: str) -> float:
    """One seed's ``mean``, ``worst`` or a combination's value (points)."""
    values = record[split]
    if what == "mean":
        return 100 * summary(values)[0]
    if what == "worst":
        return 100 * summary(values)[1]
    metric = "miou" if "miou" in values[what] else "accuracy"
    return 100 * float(values[what][metric])


def paired_diffs(
    records: dict[int, dict[str, Any]], reference: dict[int, dict[str, Any]], split: str, what: str
) -> list[float]:
    """Per-seed differences (points) of ``what`` (``mean``, ``worst`` or a combination) over shared seeds."""
    seeds = sorted(set(records) & set(reference))
    return [_score(records[s], split, what) - _score(reference[s], split, what) for s in seeds]


def interval(diffs: list[float]) -> tuple[float, float, int]:
    """Mean and 95% Student-t half-width of paired differences."""
    if len(diffs) < 2:
        return (diffs[0] if diffs else math.nan), math.nan, len(diffs)
    sd = float(np.std(diffs, ddof=1))
    return float(np.mean(diffs)), t_quantile(len(diffs) - 1) * sd / math.sqrt(len(diffs)), len(diffs)


def paired(
    records: dict[int, dict[str, Any]], reference: dict[int, dict[str, Any]], split: str, index: int
) -> tuple[float, float, int]:
    """Mean paired difference (points) and 95% half-width of the mean (``index`` 0) or worst (1)."""
    return interval(paired_diffs(records, reference, split, ("mean", "worst")[index]))


def _cell(values: list[float]) -> str:
    mean, std = 100 * float(np.mean(values)), 100 * float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def _ci(value: tuple[float, float, int]) -> str:
    mean, half, _ = value
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]"


def _pm(value: tuple[float, float, int]) -> str:
    mean, half, _ = value
    return f"{mean:+.2f} ± {half:.2f}"


def _peak_mib(records: dict[int, dict[str, Any]], key: str) -> str:
    """Largest recorded peak (bytes under ``key``) over seeds, in MiB, or ``-`` if none was recorded."""
    peaks = [r[key] for r in records.values() if r.get(key)]
    return f"{max(peaks) / 2**20:.0f}" if peaks else "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


# ---------------------------------------------------------------------------------------------- blocks
def block_summary(records: Records, setting: str, arms: list[str], versus: list[str], split: str = "test") -> list[str]:
    """Mean and worst per method with paired intervals to each reference, time and peak memory."""
    header = ["method", "seeds", "mean", "worst"]
    for ref in versus:
        header += [f"Δ mean vs {ref} [95% CI]", f"Δ worst vs {ref} [95% CI]"]
    header += ["time / seed (s)", "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for arm in [a for a in arms if a in records]:
        recs = records[arm]
        means = [summary(r[split])[0] for r in recs.values()]
        worsts = [summary(r[split])[1] for r in recs.values()]
        row = [arm, str(len(recs)), _cell(means), _cell(worsts)]
        for ref in versus:
            same = arm == ref or ref not in records
            row += ["-" if same else _ci(paired(recs, records[ref], split, i)) for i in (0, 1)]
        seconds = float(np.mean([r["seconds"] for r in recs.values()]))
        row += [f"{seconds:.0f}", _peak_mib(recs, "peak_rss_bytes"), _peak_mib(recs, "peak_cuda_bytes")]
        rows.append(row)
    return _table(header, rows)


def block_paired(
    records: Records,
    setting: str,
    pairs: list[tuple[str, str]],
    what: list[str],
    split: str = "test",
    rows_are_pairs: bool = False,
) -> list[str]:
    """Paired differences ``arm`` - ``reference`` per (arm, reference) of ``pairs`` on ``split``: mean,
    worst and the named combinations; a column per pair (or, ``rows_are_pairs``, a row per pair)."""
    cells = [[_ci(interval(paired_diffs(records[a], records[r], split, w))) for a, r in pairs] for w in what]
    names = [f"`{arm}` − `{reference}`" for arm, reference in pairs]
    if rows_are_pairs:
        header = ["[95% CI]", *what]
        return _table(header, [[name, *[cells[j][i] for j in range(len(what))]] for i, name in enumerate(names)])
    header = ["", *[f"{name} [95% CI]" for name in names]]
    return _table(header, [[w, *row] for w, row in zip(what, cells, strict=True)])


def block_combinations(records: Records, setting: str, arms: list[str], split: str = "test") -> list[str]:
    """Per-combination mean ± std over seeds (in a collapsed section)."""
    arms = [a for a in arms if a in records]
    names = max((list(next(iter(records[a].values()))[split]) for a in arms), key=len)
    metric = METRIC[setting]
    rows = []
    for name in names:
        cells = [
            _cell([r[split][name][metric] for r in records[a].values()]) if name in _served(records[a]) else "-"
            for a in arms
        ]
        rows.append([name, *cells])
    return ["<details><summary>table</summary>", "", *_table(["combination", *arms], rows), "", "</details>"]


def block_routing(records: Records, setting: str, arms: list[str]) -> list[str]:
    """Routed arms: per combination, on how many seeds a candidate network serves it instead of
    the base, and the networks a routed file holds (mean over seeds)."""
    arms = [a for a in arms if a in records]
    names = list(next(iter(records[arms[0]].values()))["served_by"])
    rows = [[n, *(f"{sum(bool(r['served_by'][n]) for r in records[a].values())}" for a in arms)] for n in names]
    networks = [np.mean([1 + sum(map(bool, r["served_by"].values())) for r in records[a].values()]) for a in arms]
    rows.append(["networks per file (mean)", *(f"{v:.1f}" for v in networks)])
    seeds = ", ".join(f"{a}: {len(records[a])}" for a in arms)
    table = _table(["seeds served by a candidate", *arms], rows)
    if len(names) > 8:  # the six views' 63 rows: collapsed, as the combinations tables
        table = ["<details><summary>table</summary>", "", *table, "", "</details>"]
    return [*table, "", f"Seeds: {seeds}."]


def _served(recs: dict[int, dict[str, Any]]) -> set[str]:
    return set(next(iter(recs.values()))["test"])


def block_mining(records: Records, setting: str, arms: list[str]) -> list[str]:
    """Final mined set per seed, its stability, and the first set mined (before any re-mining)."""
    header = ["method", "final weak set per seed", "most frequent final set (seeds)", "most frequent first set (seeds)"]
    header.append("seeds whose set changed on re-mining")
    rows = []
    for arm in [a for a in arms if a in records]:
        recs = records[arm]
        sets = {s: r["diagnostics"].get("weak_combinations") for s, r in sorted(recs.items())}
        if not any(sets.values()):
            continue
        keys = [", ".join(v) if v else "-" for v in sets.values()]
        top = max(sorted(set(keys)), key=keys.count)
        selections = [r["diagnostics"].get("selections") or [] for _, r in sorted(recs.items())]
        firsts = [", ".join(sel[0]["weak_combinations"]) for sel in selections if sel]
        first = max(sorted(set(firsts)), key=firsts.count) if firsts else "-"
        changed = sum(len({tuple(x["weak_combinations"]) for x in sel}) > 1 for sel in selections)
        per_seed = "; ".join(f"{s}: {', '.join(v or [])}" for s, v in sets.items())
        first_count = f"{first} ({firsts.count(first)}/{len(firsts)})"
        rows.append(
            [arm, per_seed, f"{top} ({keys.count(top)}/{len(keys)})", first_count, f"{changed}/{len(selections)}"]
        )
    return _table(header, rows)


def block_diagnostics(records: Records, setting: str, arms: list[str]) -> list[str]:
    """Teacher and student on the full combination, MAD's effective sample share."""
    metric = METRIC[setting]
    header = ["method", f"teacher full-combination {metric}", f"student full-combination {metric}"]
    header.append("MAD effective sample share")
    rows = []
    for arm in [a for a in arms if a in records]:
        diags = [r["diagnostics"] for _, r in sorted(records[arm].items())]
        teacher = [d["teacher_full"] for d in diags if d.get("teacher_full") is not None]
        if not teacher:
            continue
        student = [d["student_full"] for d in diags if d.get("student_full") is not None]
        ess = [d["ess_share"] for d in diags if d.get("ess_share") is not None]
        rows.append([arm, _cell(teacher), _cell(student), f"{np.mean(ess):.2f}" if ess else "-"])
    return _table(header, rows)


def block_sampling(records: Records, setting: str, arms: list[str], what: list[str]) -> list[str]:
    """``plus.sampling: adaptive``: how often each combination in ``what`` was drawn, as its
    probability times the number of combinations (1: uniform's share), the mean over the epochs
    that drew adaptively and the seeds (the records' ``sampling`` diagnostic), and its range over
    seeds."""
    header = ["arm", *[f"`{name}`" for name in what]]
    rows = []
    for arm in [a for a in arms if a in records]:
        histories = [
            r["diagnostics"]["sampling"] for _, r in sorted(records[arm].items()) if r["diagnostics"].get("sampling")
        ]
        if not histories:
            continue
        count = len(histories[0][0])
        cells = []
        for name in what:
            per_seed = [count * float(np.mean([epoch[name] for epoch in history])) for history in histories]
            cells.append(f"{np.mean(per_seed):.2f} ({min(per_seed):.2f}-{max(per_seed):.2f})")
        rows.append([f"`{arm}`", *cells])
    return _table(header, rows)


def block_tune(records: Records, setting: str, arms: list[str], reference: str = "dropout") -> list[str]:
    """Validation table of tuning arms: paired difference to ``reference`` (± 95% half-width)."""
    ref = records.get(reference, {})
    header = ["arm", "what it changes", "val mean", "val worst", "Δ mean", "Δ worst", "sec"]
    rows = []
    for arm in [a for a in arms if a in records]:
        recs = records[arm]
        means = [summary(r["val"]) for r in recs.values()]
        mean, worst = 100 * np.mean([m[0] for m in means]), 100 * np.mean([m[1] for m in means])
        dm = "-" if arm == reference else _pm(paired(recs, ref, "val", 0))
        dw = "-" if arm == reference else _pm(paired(recs, ref, "val", 1))
        sec = float(np.mean([r["seconds"] for r in recs.values()]))
        rows.append([f"`{arm}`", DESCRIPTIONS.get(arm, ""), f"{mean:.2f}", f"{worst:.2f}", dm, dw, f"{sec:.0f}"])
    return _table(header, rows)


def rule_scores(
    root: Path, phase: str, settings: list[str], arms: list[str], reference: str = "dropout"
) -> dict[str, Any]:
    """Per arm: the paired validation gains (mean + worst) over ``reference`` in each setting and their sum."""
    out: dict[str, Any] = {}
    for setting in settings:
        records = load_records(root, phase, setting)
        for arm in [a for a in arms if a in ONLY_SETTINGS and setting not in ONLY_SETTINGS[a]]:
            out.setdefault(arm, {})[setting] = 0.0  # the component does not exist in this setting
        for arm in [a for a in arms if a in records and a != reference]:
            gain = (
                paired(records[arm], records[reference], "val", 0)[0]
                + paired(records[arm], records[reference], "val", 1)[0]
            )
            out.setdefault(arm, {})[setting] = gain
    return {a: v | {"total": sum(v.values()) if len(v) == len(settings) else math.nan} for a, v in out.items()}


def block_score(root: Path, phase: str, settings: list[str], arms: list[str], reference: str = "dropout") -> list[str]:
    """The selection rule: sum over settings of the paired validation gains (mean + worst) over ``reference``."""
    scores = rule_scores(root, phase, settings, arms, reference)
    header = ["arm", "what it changes", *[f"{s}: Δ mean + Δ worst" for s in settings], "score (sum)"]
    rows = []
    for arm in [a for a in arms if a in scores]:
        cells = [f"{scores[arm].get(s, math.nan):+.2f}" for s in settings]
        rows.append([f"`{arm}`", DESCRIPTIONS.get(arm, ""), *cells, f"{scores[arm]['total']:+.2f}"])
    return _table(header, rows)


def _complete(records: Records) -> str:
    """The complete combination's name (the customized models serve every combination)."""
    return max(_served(records["customized"]), key=lambda n: n.count("+"))


def gaps_to_customized(records: Records, arm: str, split: str) -> dict[str, float]:
    """Per combination the customized models serve: the mean paired gap ``arm`` - ``customized``."""
    recs, cust = records[arm], records["customized"]
    return {n: float(np.mean(paired_diffs(recs, cust, split, n))) for n in sorted(_served(cust))}


# Scores are stored as float32 fractions: a gap of exactly 0.5 points (common: 400 validation samples
# give 0.25-point steps) reads as 0.50000x; "more than 0.5 below" allows for that.
TOLERANCE = 1e-4
SHORT = -0.5 - TOLERANCE


def _short(gap: float) -> bool:
    """Whether a mean paired gap (points) is more than 0.5 below the customized model."""
    return gap < SHORT


def shortfalls(records: Records, arm: str, split: str = "val") -> list[tuple[str, float]]:
    """(combination, mean paired gap) where ``arm`` is more than 0.5 below ``customized`` on ``split``."""
    return [(n, g) for n, g in gaps_to_customized(records, arm, split).items() if _short(g)]


def block_shortfall(
    root: Path, phase: str, settings: list[str], arms: list[str], reference: str, split: str = "val"
) -> list[str]:
    """Round 9's rule on ``split`` (validation; the test split for a confirmation): the cells more
    than 0.5 below ``customized``, the paired per-seed score (mean + worst gains, summed over
    settings) minus ``reference``'s, and the complete combination's gain over ``dropout`` per setting."""
    loaded = {s: load_records(root, phase, s) for s in settings}
    header = ["arm", "cells > 0.5 below customized", f"score − `{reference}` (paired)"]
    header += [f"{s}: Δ complete vs dropout" for s in settings]
    rows = []
    for arm in arms:
        if any(arm not in loaded[s] or reference not in loaded[s] for s in settings):
            continue
        short = [f"{s} {n} {g:+.2f}" for s in settings for n, g in shortfalls(loaded[s], arm, split)]
        diffs = [
            paired_diffs(loaded[s][arm], loaded[s][reference], split, w) for s in settings for w in ("mean", "worst")
        ]
        per_seed = [float(v) for v in np.sum(diffs, axis=0)]
        complete = [
            _pm(interval(paired_diffs(loaded[s][arm], loaded[s]["dropout"], split, _complete(loaded[s]))))
            for s in settings
        ]
        cells = f"{len(short)}: " + ", ".join(short) if short else "0"
        rows.append([f"`{arm}`", cells, "-" if arm == reference else _ci(interval(per_seed)), *complete])
    return _table(header, rows)


def probed_readouts(root: Path, setting: str, arm: str = "plus-r4-patches") -> list[str]:
    """Round 9's readout list: the single modalities and pairs whose probe on ``arm``'s encoders
    (``diagnostics/tune_<setting>.json``) beats ``arm``'s own validation accuracy, means over the
    tuning seeds."""
    probes = json.loads((root / "diagnostics" / f"tune_{setting}.json").read_text())["arms"][arm]
    records = load_records(root, "tune", setting)[arm]
    seeds = sorted(probes)
    chosen = []
    for key in ("probe", "pair_probe"):
        for name in probes[seeds[0]][key]:
            probe = 100 * float(np.mean([probes[s][key][name] for s in seeds]))
            own = float(np.mean([_score(records[int(s)], "val", name) for s in seeds]))
            if probe > own:
                chosen.append(name)
    return chosen


def block_goal(root: Path, phase: str, settings: list[str], arm: str) -> list[str]:
    """Issue 10's criteria for ``arm`` per setting, against ``customized`` and ``dropout`` (test split)."""
    header = ["setting", "seeds", "worst combination gap to customized (seed means)"]
    header += ["Δ mean vs customized", "Δ worst vs customized", "Δ mean vs dropout", "Δ worst vs dropout"]
    header += ["Δ complete vs dropout", "criteria"]
    rows = []
    for setting in settings:
        records = load_records(root, phase, setting)
        if arm not in records or "customized" not in records or "dropout" not in records:
            continue
        recs, cust, drop = records[arm], records["customized"], records["dropout"]
        gaps = gaps_to_customized(records, arm, "test")
        lowest = min(gaps, key=lambda n: gaps[n])
        full = _complete(records)
        vs_c = [interval(paired_diffs(recs, cust, "test", w)) for w in ("mean", "worst")]
        vs_d = [interval(paired_diffs(recs, drop, "test", w)) for w in ("mean", "worst", full)]
        checks = {
            "every combination ≥ customized − 0.5": not _short(gaps[lowest]),
            "mean ≥ customized": vs_c[0][0] + vs_c[0][1] >= 0,
            "worst ≥ customized": vs_c[1][0] + vs_c[1][1] >= 0,
            "mean > dropout": vs_d[0][0] - vs_d[0][1] > 0,
            "worst > dropout": vs_d[1][0] - vs_d[1][1] > 0,
            "complete ≥ dropout": vs_d[2][0] + vs_d[2][1] >= 0,
        }
        failed = [name for name, ok in checks.items() if not ok]
        gap = f"{gaps[lowest]:+.2f} ({lowest})"
        verdict = "all met" if not failed else "not met: " + "; ".join(failed)
        rows.append([setting, str(len(recs)), gap, *map(_ci, vs_c), *map(_ci, vs_d), verdict])
    return _table(header, rows)


def _below(gap: float, se: float, margin: float = 0.5) -> float:
    """Normal-approximation probability that a cell whose true gap is ``gap`` shows a seed mean more
    than ``margin`` below (standard error ``se`` of that mean)."""
    if se <= 0:
        return float(gap < -margin)
    return 0.5 * (1 + math.erf((-margin - gap) / (se * math.sqrt(2))))


def chance_of_shortfall(gaps: np.ndarray, margin: float = 0.5) -> dict[str, float]:
    """What the criterion "every combination >= customized - ``margin``" reads under seed noise alone.

    ``gaps``: ``(seeds, cells)`` paired gaps (points) of an arm to the customized models. Each cell's
    standard error of its seed mean is taken from its own spread; for a true gap ``g`` on every cell
    (``level``: 0; ``mean``: the arm's mean gap over cells) the expected number of cells whose seed
    mean falls more than ``margin`` below, and the probability that at least one does (cells taken as
    independent)."""
    n = gaps.shape[0]
    se = gaps.std(axis=0, ddof=1) / math.sqrt(n)
    means = gaps.mean(axis=0)
    half = t_quantile(n - 1) * se
    out = {
        "se_median": float(np.median(se)),
        "se_max": float(se.max()),
        "observed": float((means < -margin - TOLERANCE).sum()),
        "surely_below": float((means + half < -margin - TOLERANCE).sum()),
    }
    for name, gap in (("level", 0.0), ("mean", float(means.mean()))):
        p = np.array([_below(gap, s, margin) for s in se])
        out[f"{name}_expected"] = float(p.sum())
        out[f"{name}_any"] = float(1 - np.prod(1 - p))
    return out


def block_chance(root: Path, phase: str, settings: list[str], arm: str) -> list[str]:
    """Issue 10's per-combination criterion for ``arm`` against seed noise (test split): how many cells
    a network level with the customized models on every cell would leave more than 0.5 below by
    chance, and one at ``arm``'s mean gap on every cell (:func:`chance_of_shortfall`)."""
    header = ["setting", "seeds", "combinations", "standard error of a cell's gap (median, largest)"]
    header += ["cells > 0.5 below (interval wholly below)", "if level on every cell: expected, P(≥ 1)"]
    header += [f"if every cell at `{arm}`'s mean gap: expected, P(≥ 1)"]
    rows = []
    for setting in settings:
        records = load_records(root, phase, setting)
        if arm not in records or "customized" not in records:
            continue
        cust = records["customized"]
        names = sorted(_served(cust))
        gaps = np.array([paired_diffs(records[arm], cust, "test", n) for n in names]).T
        c = chance_of_shortfall(gaps)
        rows.append(
            [
                setting,
                str(gaps.shape[0]),
                str(len(names)),
                f"{c['se_median']:.2f}, {c['se_max']:.2f}",
                f"{c['observed']:.0f} ({c['surely_below']:.0f})",
                f"{c['level_expected']:.2f}, {c['level_any']:.2f}",
                f"{np.mean(gaps):+.2f}: {c['mean_expected']:.2f}, {c['mean_any']:.2f}",
            ]
        )
    return _table(header, rows)


def block_statistics_gap(root: Path, file: str) -> list[str]:
    """``benchmarks/statistics_gap.py``'s record: per part and combination the mean (± std) over
    seeds of the gap to the shared statistics, and on how many seeds it is the largest."""
    data = json.loads((root / file).read_text())
    seeds = list(data["per_seed"])
    parts = list(data["per_seed"][seeds[0]])
    names = list(data["per_seed"][seeds[0]][parts[0]])
    header = ["combination"] + [f"{p}: gap (largest on)" for p in parts]
    rows = []
    for name in names:
        row = [name]
        for part in parts:
            values = [data["per_seed"][s][part][name] for s in seeds]
            largest = sum(max(data["per_seed"][s][part], key=data["per_seed"][s][part].get) == name for s in seeds)
            row.append(f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} ({largest}/{len(seeds)})")
        rows.append(row)
    return [*_table(header, rows), "", f"`{data['command']}` ({data['arm']}; {data['machine']})"]


def block_readouts(root: Path, file: str) -> list[str]:
    """``benchmarks/weak_readouts.py``'s record: per read-out variant, the paired change against the
    network as trained on the mean over combinations and over the cells more than 0.5 below the
    customized models (validation), and how many such cells are left."""
    data = json.loads((root / file).read_text())
    per_seed, setting = data["per_seed"], data["setting"]
    seeds = sorted(per_seed)
    cust = load_records(root, "tune", setting)["customized"]
    names = list(per_seed[seeds[0]])

    def gap(variant: str, name: str) -> float:
        return float(np.mean([per_seed[s][name][variant] - _score(cust[int(s)], "val", name) for s in seeds]))

    short = [n for n in names if _short(gap("trained", n))]
    variants = list(per_seed[seeds[0]][names[0]])
    header = ["read-out", "Δ mean over combinations", f"Δ mean over the {len(short)} cells short on `trained`"]
    header.append("cells > 0.5 below customized")
    rows = []
    for variant in variants:
        diffs, on_short = (
            [[per_seed[s][n][variant] - per_seed[s][n]["trained"] for n in c] for s in seeds] for c in (names, short)
        )
        gaps = {n: gap(variant, n) for n in names}
        left = [f"{n} {g:+.2f}" for n, g in gaps.items() if _short(g)]
        cells = f"{len(left)}: " + ", ".join(left) if left else "0"
        deltas = [_ci(interval([float(np.mean(d)) for d in x])) for x in (diffs, on_short)]
        rows.append([f"`{variant}`", *(["-", "-"] if variant == "trained" else deltas), cells])
    return [*_table(header, rows), "", f"`{data['command']}` ({data['arm']}; {data['machine']})"]


def block_pair_readout(root: Path, file: str) -> list[str]:
    """``benchmarks/pair_readout.py``'s record: per pair, seed means of the networks' validation
    accuracy and of each read-out trained on frozen encoders (best epoch / mean of the last ten);
    then each shared re-fit's paired change against the unified network."""
    data = json.loads((root / file).read_text())
    per_seed, pairs = data["per_seed"], data["pairs"]
    seeds = sorted(per_seed)

    def mean(pair: str, key: str, part: str | None = None) -> float:
        return float(np.mean([per_seed[s][pair][key] if part is None else per_seed[s][pair][key][part] for s in seeds]))

    trained = [k for k, v in per_seed[seeds[0]][pairs[0]].items() if isinstance(v, dict)]
    names = {
        "tuned_unified": "`unified` decoder trained on under the pair",
        "tuned_network": "whole `unified` network trained on under the pair",
        "unified_network": "network `unified`, its own epochs",
        "customized_network": "network `customized`, its own epochs",
    }
    header = ["pair", "network `unified`", "network `customized`"]
    header += [
        names.get(k, f"read-out on `{k.removeprefix('readout_')}` encoders") + " (best / last 10)" for k in trained
    ]
    rows = []
    for pair in pairs:
        row = [f"`{pair}`", f"{mean(pair, 'unified'):.2f}", f"{mean(pair, 'customized'):.2f}"]
        row += [f"{mean(pair, k, 'best'):.2f} / {mean(pair, k, 'last10'):.2f}" for k in trained]
        rows.append(row)
    refits = [k for k in per_seed[seeds[0]] if k.startswith("refit_")]
    second = ["shared re-fit − unified network", "mean over combinations", *[f"`{p}`" for p in pairs]]
    refit_rows = []
    for k in refits:
        row = [f"`{k}`", _ci(interval([per_seed[s][k]["mean"] - per_seed[s]["unified_mean"] for s in seeds]))]
        row += [_ci(interval([per_seed[s][k][p] - per_seed[s][p]["unified"] for s in seeds])) for p in pairs]
        refit_rows.append(row)
    footer = f"`{data['command']}` ({data['arm']}; {len(seeds)} seeds; {data['machine']})"
    return [*_table(header, rows), "", *_table(second, refit_rows), "", footer]


def block_epoch_choice(root: Path, file: str, arm: str) -> list[str]:
    """``benchmarks/epoch_choice.py``'s record: per combination (then the mean over combinations),
    ``arm`` − ``customized`` on the test split with each network at its chosen epoch (the records')
    and at its last epoch, and what each side's epoch choice is worth (chosen − last); paired over
    seeds; last, the cells more than 0.5 below (seed means) at each."""
    data = json.loads((root / file).read_text())
    per_seed = data["per_seed"]
    seeds = sorted(per_seed, key=int)
    names = list(per_seed[seeds[0]]["customized"]["scores"])

    def score(side: str, name: str, epoch: str) -> list[float]:
        if name == "mean":
            return [float(np.mean([per_seed[s][side]["scores"][n][epoch] for n in names])) for s in seeds]
        return [per_seed[s][side]["scores"][name][epoch] for s in seeds]

    def diff(a: list[float], b: list[float]) -> list[float]:
        return [x - y for x, y in zip(a, b, strict=True)]

    header = [
        "combination",
        f"`{arm}` − `customized`, chosen epochs",
        "both at their last epochs",
        "`customized`: chosen − last",
        f"`{arm}`: chosen − last",
    ]
    rows, short = [], {"chosen": [], "last": []}
    for name in [*names, "mean"]:
        gaps = {e: diff(score(arm, name, e), score("customized", name, e)) for e in ("chosen", "last")}
        worth = [diff(score(side, name, "chosen"), score(side, name, "last")) for side in ("customized", arm)]
        label = "mean over combinations" if name == "mean" else f"`{name}`"
        rows.append([label, *(_ci(interval(v)) for v in (gaps["chosen"], gaps["last"], *worth))])
        for epoch, values in gaps.items():
            if name != "mean" and _short(float(np.mean(values))):
                short[epoch].append(name)
    epochs = [v for s in seeds for v in per_seed[s]["customized"]["epochs"].values()]
    chosen = [per_seed[s][arm]["epochs"][names[0]][0] for s in seeds]
    lines = [
        f"Cells more than 0.5 below: {len(short['chosen'])} at the chosen epochs "
        f"({', '.join(short['chosen']) or 'none'}), {len(short['last'])} at the last epochs "
        f"({', '.join(short['last']) or 'none'}). Epochs "
        f"(1-based) chosen by the customized models: mean {1 + np.mean([e[0] for e in epochs]):.1f} of "
        f"{1 + epochs[0][1]}; by `{arm}`: mean {1 + np.mean(chosen):.1f}.",
        "",
        f"`{data['command']}` ({len(seeds)} seeds, {data['phase']}, {data['split']} split; {data['machine']})",
    ]
    return [*_table(header, rows), "", *lines]


def block_ensembles(root: Path, file: str, arm: str, what: list[str]) -> list[str]:
    """``benchmarks/specialist_ensembles.py``'s record beside the customized models and ``arm``
    (tuning records, validation): seed means of the mean over combinations and of the ``what``
    combinations, and the cells more than 0.5 below the customized models."""
    data = json.loads((root / file).read_text())
    per_seed, setting = data["per_seed"], data["setting"]
    seeds = sorted(per_seed)
    records = load_records(root, "tune", setting)
    names = list(per_seed[seeds[0]])
    values: dict[str, dict[str, float]] = {}
    for label, recs in (("customized", records["customized"]), (arm, records[arm])):
        values[f"`{label}`"] = {n: float(np.mean([_score(recs[int(s)], "val", n) for s in seeds])) for n in names}
    for variant in per_seed[seeds[0]][names[0]]:
        values[f"specialists' {variant}"] = {n: float(np.mean([per_seed[s][n][variant] for s in seeds])) for n in names}
    header = ["read-out", "mean over combinations", *[f"`{n}`" for n in what], "cells > 0.5 below customized"]
    rows = []
    for label, cells in values.items():
        short = [n for n in names if cells[n] - values["`customized`"][n] < SHORT]
        row = [label, f"{np.mean(list(cells.values())):.2f}", *[f"{cells[n]:.2f}" for n in what]]
        rows.append([*row, "-" if label == "`customized`" else str(len(short))])
    return [*_table(header, rows), "", f"`{data['command']}` ({data['machine']})"]


def block_verdict(root: Path, phase: str, settings: list[str], arm: str, candidates: list[str]) -> list[str]:
    """``arm`` against dropout per setting, and the unified method with the largest mean gain."""
    header = [
        "setting",
        "seeds",
        f"`{arm}` − `dropout`, mean over combinations",
        f"`{arm}` − `dropout`, worst combination",
    ]
    header.append("best unified method on the mean")
    rows = []
    for setting in settings:
        records = load_records(root, phase, setting)
        if arm not in records:
            continue
        drop = records["dropout"]
        gains = {c: paired(records[c], drop, "test", 0) for c in candidates if c in records}
        best = max(gains, key=lambda c: gains[c][0])
        resolved = "resolved" if gains[best][0] - gains[best][1] > 0 else "not resolved"
        vs_drop = [_ci(paired(records[arm], drop, "test", i)) for i in (0, 1)]
        rows.append([setting, str(len(records[arm])), *vs_drop, f"`{best}` {_ci(gains[best])} ({resolved})"])
    return _table(header, rows)


_DIAGNOSTIC_COLUMNS: dict[str, tuple[str, Callable[[list[float]], str]]] = {
    "probe": ("probe", _cell),
    "pair_probe": ("pair probe", _cell),
    "train_loss": ("train loss", lambda v: f"{np.mean(v):.3f}"),
    "trained_share": ("trained share", lambda v: f"{100 * np.mean(v):.1f}%"),
}


def _diagnostic_table(
    data: dict[str, Any], arms: list[str], label: str, keys: list[str], fields: list[str]
) -> list[str]:
    """One row per ``key``; per field of :data:`_DIAGNOSTIC_COLUMNS`, a column per arm whose records have it."""
    columns = [(f, a) for f in fields for a in arms if next(iter(data[a].values())).get(f)]
    header = [label, *[f"{_DIAGNOSTIC_COLUMNS[f][0]} `{a}`" for f, a in columns]]
    rows = [
        [key, *[_DIAGNOSTIC_COLUMNS[f][1]([r[f][key] for r in data[a].values()]) for f, a in columns]] for key in keys
    ]
    return _table(header, rows)


def _diagnostics(root: Path, file: str, arms: list[str]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """The diagnostics file's arms, the requested arms it holds, and the first arm's first record."""
    data = json.loads((root / file).read_text())["arms"]
    arms = [a for a in arms if data.get(a)]
    return data, arms, next(iter(data[arms[0]].values()))


def block_probes(root: Path, file: str, arms: list[str]) -> list[str]:
    """Per modality: linear-probe accuracy of its encoder, training loss alone, trained share (diagnostics.py)."""
    data, arms, first = _diagnostics(root, file, arms)
    return _diagnostic_table(data, arms, "modality", list(first["probe"]), ["probe", "train_loss", "trained_share"])


def block_pairs(root: Path, file: str, arms: list[str], fields: list[str] | None = None) -> list[str]:
    """Per pair of modalities: training loss under that pair, pair probe, trained share (diagnostics.py),
    or only the named ``fields``."""
    data, arms, first = _diagnostics(root, file, arms)
    pairs = [c for c in first["train_loss"] if c.count("+") == 1]
    return _diagnostic_table(data, arms, "pair", pairs, fields or ["train_loss", "pair_probe", "trained_share"])


def block_fit(root: Path, file: str, arms: list[str]) -> list[str]:
    """Per combination: the training-split and validation score of each arm (diagnostics.py, segmentation)."""
    data, arms, first = _diagnostics(root, file, arms)
    combinations = list(first["fit"])
    header = ["combination", *[f"{split} `{a}`" for a in arms for split in ("train", "val")]]
    rows = []
    for c in combinations:
        cells = [
            f"{np.mean([r['fit'][c][split] for r in data[a].values()]):.2f}" for a in arms for split in ("train", "val")
        ]
        rows.append([c, *cells])
    return _table(header, rows)


def block_curves(root: Path, file: str, combination: str, arms: list[str]) -> list[str]:
    """Seed means of each arm's validation score of ``combination`` after every epoch (curves.py)."""
    data = json.loads((root / file).read_text())
    means = {a: np.mean([seed[combination] for seed in data["arms"][a].values()], axis=0) for a in arms}
    epochs = len(next(iter(means.values())))
    header = [f"{combination} ({data['metric']})", *[str(e + 1) for e in range(epochs)]]
    rows = [[f"`{a}`", *[f"{v:.1f}" for v in means[a]]] for a in arms]
    return [
        *_table(header, rows),
        "",
        f"epochs 1 to {epochs}, means of {len(data['arms'][arms[0]])} seeds; `{data['command']}`",
    ]


def block_cost(root: Path, file: str) -> list[str]:
    """Training time per seed with prerequisites and peak memory (cost.py)."""
    data = json.loads((root / file).read_text())
    header = ["method", "own time (s)", "with prerequisites (s)", "× dropout", "peak RSS MiB"]
    rows = []
    for method, v in data["methods"].items():
        times = [f"{v['own_s']:.0f}", f"{v['with_prerequisites_s']:.0f}", f"{v['ratio_to_dropout']:.2f}"]
        rows.append([f"`{method}`", *times, f"{v['peak_rss_mib']:.0f}"])
    return [*_table(header, rows), "", f"{data['machine']}; `{data['command']}`"]


# ------------------------------------------------------------------------------------------------ page
# a block's body may be empty (a fresh page): the end marker is matched on its own; markers open a line,
# so prose that quotes the syntax (`<!-- study ... -->`) is left alone
_BLOCK = re.compile(
    r"^(?P<start><!-- study (?P<spec>[^>]*?) -->)(?P<body>.*?)^(?P<end><!-- /study -->)", re.DOTALL | re.MULTILINE
)


def _options(spec: str) -> tuple[str, dict[str, str]]:
    kind, *pairs = spec.split()
    return kind, dict(p.split("=", 1) for p in pairs)


def _pairs(opt: dict[str, str]) -> list[tuple[str, str]]:
    """``arm=A reference=R`` or ``pairs=A:R,B:S`` -> [(A, R), ...]."""
    if "pairs" in opt:
        return [tuple(p.split(":", 1)) for p in opt["pairs"].split(",")]  # type: ignore[misc]
    return [(opt["arm"], opt["reference"])]


def render_block(spec: str, root: Path) -> str:
    """The generated content of one block (``spec`` = ``kind key=value ...``)."""
    kind, opt = _options(spec)
    lists = {k: v.split(",") for k, v in opt.items() if k in ("arms", "versus", "settings", "candidates")}
    phase = opt.get("phase", "final")
    per_setting: dict[str, Callable[..., list[str]]] = {
        "summary": lambda r, s: block_summary(
            r, s, lists["arms"], lists.get("versus", ["dropout"]), opt.get("split", "test")
        ),
        "combinations": lambda r, s: block_combinations(r, s, lists["arms"], opt.get("split", "test")),
        "paired": lambda r, s: block_paired(
            r, s, _pairs(opt), opt["what"].split(","), opt.get("split", "test"), opt.get("rows") == "pairs"
        ),
        "mining": lambda r, s: block_mining(r, s, lists["arms"]),
        "routing": lambda r, s: block_routing(r, s, lists["arms"]),
        "diagnostics": lambda r, s: block_diagnostics(r, s, lists["arms"]),
        "sampling": lambda r, s: block_sampling(r, s, lists["arms"], opt["what"].split(",")),
        "tune": lambda r, s: block_tune(r, s, lists["arms"], opt.get("reference", "dropout")),
    }
    if kind in per_setting:
        return "\n".join(per_setting[kind](load_records(root, phase, opt["setting"]), opt["setting"]))
    if kind == "score":
        return "\n".join(block_score(root, phase, lists["settings"], lists["arms"], opt.get("reference", "dropout")))
    if kind == "shortfall":
        split = opt.get("split", "val")
        return "\n".join(block_shortfall(root, phase, lists["settings"], lists["arms"], opt["reference"], split))
    if kind == "goal":
        return "\n".join(block_goal(root, phase, lists["settings"], opt["arm"]))
    if kind == "chance":
        return "\n".join(block_chance(root, phase, lists["settings"], opt["arm"]))
    if kind == "readouts":
        return "\n".join(block_readouts(root, opt["file"]))
    if kind == "pair_readout":
        return "\n".join(block_pair_readout(root, opt["file"]))
    if kind == "epoch_choice":
        return "\n".join(block_epoch_choice(root, opt["file"], opt["arm"]))
    if kind == "ensembles":
        return "\n".join(block_ensembles(root, opt["file"], opt["arm"], opt["what"].split(",")))
    if kind == "statistics_gap":
        return "\n".join(block_statistics_gap(root, opt["file"]))
    if kind == "probes":
        return "\n".join(block_probes(root, opt["file"], lists["arms"]))
    if kind == "pairs":
        fields = opt["fields"].split(",") if "fields" in opt else None
        return "\n".join(block_pairs(root, opt["file"], lists["arms"], fields))
    if kind == "fit":
        return "\n".join(block_fit(root, opt["file"], lists["arms"]))
    if kind == "cost":
        return "\n".join(block_cost(root, opt["file"]))
    if kind == "curves":
        return "\n".join(block_curves(root, opt["file"], opt["combination"], lists["arms"]))
    if kind == "verdict":
        return "\n".join(block_verdict(root, phase, lists["settings"], opt["arm"], lists["candidates"]))
    raise ValueError(f"unknown study block {kind!r} in <!-- study {spec} -->")


def render_page(text: str, root: Path) -> str:
    """``text`` with every study block's content regenerated from the records under ``root``."""
    return _BLOCK.sub(lambda m: f"{m['start']}\n{render_block(m['spec'], root)}\n{m['end']}", text)
