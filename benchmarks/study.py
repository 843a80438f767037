"""Paired-seed study of every method on the bundled UCI digits (issue 3), run by hand.

Each *arm* is a method plus config overrides. A seed fixes the split, the initial weights and
the modality-dropout draws identically for every arm. Results (test and best-validation
metrics per combination, diagnostics, wall time) are stored per (phase, setting, arm, seed)
as JSON under ``--root`` and reused on reruns, so the study can be stopped and resumed.

    python benchmarks/study.py run --phase tune --setting trio --seeds 100-104 --arms dropout,mmanet-paper --jobs 2
    python benchmarks/study.py summarize --phase tune --setting trio        # validation only
    python benchmarks/study.py run --phase final --setting six --seeds 0-9 --jobs 2
    python benchmarks/study.py report --out docs/results.md                  # test tables

Tuning uses seeds 100+ and validation metrics only; the final phase reads the test split once.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SETTINGS: dict[str, list[str]] = {
    "trio": ["data.modalities=[pix, fou, mor]", "model.embed_dim=64"],
    "six": ["data.modalities=[fou, fac, kar, pix, zer, mor]", "model.embed_dim=32"],
    # ResNet-18 encoders take ~13 min per model on one CPU core here; the study uses the tiny
    # encoder (5-stage conv stack) so 3 seeds x 8 methods fit on 2 cores.
    "seg": [
        "data.options={num_samples: 300, height: 64, width: 96, objects: 4, workers: false}",
        "model.encoders={default: {name: tiny, width: 16}}",
        "model.decoder={name: esanet, channels: [64, 32, 16]}",
        "model.context_channels=64",
        "optim.epochs=15",
        "trainer.progress=false",
    ],
}
SETTING_FILES = {"seg": "configs/synthetic_rgbd.yaml"}  # settings with their own base config (no BASE)
METRIC = {"trio": "accuracy", "six": "accuracy", "seg": "miou"}
BASE = [
    "optim.epochs=30",
    "optim.lr=0.002",
    "optim.scheduler=cosine",
    "trainer.progress=false",
    "mar.mine_start=2",
    "mar.begin_epoch=5",
]
PAPER = ["distill.variant=official", "distill.alpha=30", "mar.beta=0.5", "mar.criterion=label_kl", "mar.top_k=1"]
NOISY_TEACHER = "distill.teacher_overrides={optim: {input_noise: 0.3}}"

ARMS: dict[str, tuple[str, list[str]]] = {
    "teacher": ("teacher", []),
    "customized": ("customized", []),
    "dropout": ("dropout", []),
    "dropout-input": ("dropout", ["model.masking=input"]),
    "sp": ("sp", ["distill.alpha=100"]),
    "kd": ("kd", ["distill.alpha=1", "distill.temperature=4"]),
    "mad-paper": ("mad", PAPER),
    "mar-paper": ("mar", PAPER),
    "mmanet-paper": ("mmanet", PAPER),
    "mad-a10": ("mad", ["distill.alpha=10"]),
    "mad-a100": ("mad", ["distill.alpha=100"]),
    "mad-a1000": ("mad", ["distill.alpha=1000"]),
    "mad-a100-t4": ("mad", ["distill.alpha=100", "distill.teacher_temperature=4"]),
    "mad-a100-ls": ("mad", ["distill.alpha=100", "distill.teacher_overrides={optim: {label_smoothing: 0.1}}"]),
    "mad-a100-noise": ("mad", ["distill.alpha=100", "distill.teacher_overrides={optim: {input_noise: 0.3}}"]),
    "mad-a100-cf": ("mad", ["distill.alpha=100", "distill.uncertainty=cross_fit", "distill.folds=5"]),
    "mad-a100-fused": ("mad", ["distill.alpha=100", "distill.layer=fused"]),
    "mar-b05": ("mar", ["mar.beta=0.5"]),
    "mar-b1": ("mar", ["mar.beta=1.0"]),
    "mar-b1-post": ("mar", ["mar.beta=1.0", "mar.criterion=posterior_kl"]),
    "mar-b1-gap": ("mar", ["mar.beta=1.0", "mar.criterion=metric_gap"]),
    "mar-b1-top2": ("mar", ["mar.beta=1.0", "mar.top_k=2"]),
    "mar-b1-remine": ("mar", ["mar.beta=1.0", "mar.remine_every=5", "mar.criterion=posterior_kl"]),
    "mar-b1-long": ("mar", ["mar.beta=1.0", "mar.mine_start=1", "mar.begin_epoch=10", "mar.criterion=posterior_kl"]),
    "mar-b1-input": ("mar", ["mar.beta=1.0", "model.masking=input"]),
    # round 2: combinations of the round-1 factors that helped on validation
    "mmanet-a100-noise-b05": ("mmanet", ["distill.alpha=100", NOISY_TEACHER, "mar.beta=0.5"]),
    "mmanet-a100-noise-b1-post": (
        "mmanet",
        ["distill.alpha=100", NOISY_TEACHER, "mar.beta=1.0", "mar.criterion=posterior_kl"],
    ),
    "mmanet-a100-noise-b05-remine": (
        "mmanet",
        ["distill.alpha=100", NOISY_TEACHER, "mar.beta=0.5", "mar.remine_every=5", "mar.criterion=posterior_kl"],
    ),
    "mmanet-a100-ls-b05": (
        "mmanet",
        ["distill.alpha=100", "distill.teacher_overrides={optim: {label_smoothing: 0.1}}", "mar.beta=0.5"],
    ),
    "mmanet-a100-b05": ("mmanet", ["distill.alpha=100", "mar.beta=0.5"]),
}


# Final arms. Classification: the configuration chosen on validation (tuning seeds 100-104, trio;
# rule: the largest sum of the paired validation gains over dropout in mean and worst
# combination): MAD at alpha 100 (paper scale) from a teacher trained with input noise 0.3,
# MAR with beta 0.5 on the posterior-KL criterion, re-mined every 5 epochs. SP and KD use the
# same teacher. Segmentation: the settings of configs/synthetic_rgbd.yaml.
TUNED_MAD = ["distill.alpha=100", NOISY_TEACHER]
TUNED_MAR = ["mar.beta=0.5", "mar.criterion=posterior_kl", "mar.remine_every=5"]
FINAL = {
    "teacher-noisy": ("teacher", [NOISY_TEACHER]),
    "sp": ("sp", TUNED_MAD),
    "kd": ("kd", ["distill.alpha=1", "distill.temperature=4", NOISY_TEACHER]),
    "mad": ("mad", TUNED_MAD),
    "mar": ("mar", TUNED_MAR),
    "mmanet": ("mmanet", TUNED_MAD + TUNED_MAR),
}


# Issue 10: components of mmanet-plus, one at a time on top of dropout (MAD and MAR off), on the
# tuning seeds' validation split of every setting. Rule fixed before looking: an arm's score is
# the sum over the three settings of its paired validation gains over dropout (mean + worst
# combination, points); round 2 combines every round-1 component with a positive score, with
# and without MAD + MAR; the arm with the largest score whose training cost at M = 6 (teachers
# and specialists included) is at most 3x dropout becomes the mmanet-plus default.
# `plus-none` runs the mmanet-plus code path with every component off: it must equal dropout.
PLUS_OFF = ["plus.mad=false", "plus.mar=false"]
PLUS_ARMS: dict[str, list[str]] = {
    "plus-none": PLUS_OFF,
    "plus-heads": [*PLUS_OFF, "plus.unimodal_heads=1"],
    "plus-size": [*PLUS_OFF, "plus.sampling=size_uniform"],
    "plus-single": [*PLUS_OFF, "plus.single_passes=1"],
    "plus-spec": [*PLUS_OFF, "plus.specialists=1"],
    "plus-absent": [*PLUS_OFF, "model.absent=learned"],
}


def final_arm(arm: str, setting: str) -> tuple[str, list[str]]:
    """(method, overrides) of an arm in a setting."""
    if arm in PLUS_ARMS:
        return "mmanet-plus", PLUS_ARMS[arm]
    if arm == "specialists":
        return "specialists", []
    if arm in FINAL:
        method, overrides = FINAL[arm]
        return method, [] if setting in SETTING_FILES else overrides
    return ARMS[arm]


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` or ``"0,3,5"`` -> seeds."""
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",") if x]


def result_path(root: Path, phase: str, setting: str, arm: str, seed: int) -> Path:
    return root / phase / setting / arm / f"seed_{seed}.json"


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}"


def _peak_rss() -> int:
    """Peak resident memory of this worker process in bytes (one job per worker, see cmd_run)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _base(setting: str) -> list[str]:
    return [*([] if setting in SETTING_FILES else BASE), *SETTINGS[setting]]


def run_chunk(root: Path, phase: str, setting: str, seed: int, chunk: tuple[int, int], extra: list[str]) -> str:
    """Customized models for every K-th combination (chunk k of K), stored as a partial record."""
    from mmanet.config import load_config
    from mmanet.data import load_dataset
    from mmanet.modality import all_combinations, combination_name
    from mmanet.training import METHODS, prepare_seed, train_per_combination

    k, parts = chunk
    out = result_path(root, phase, setting, "customized", seed).with_suffix(f".chunk{k}of{parts}.json")
    if out.exists() or result_path(root, phase, setting, "customized", seed).exists():
        return f"skip {out}"
    run_dir = out.with_suffix("")
    cfg = load_config(
        SETTING_FILES.get(setting),
        [*_base(setting), *extra, "methods=[customized]", f"seeds=[{seed}]", f"out={run_dir}"],
    )
    source = load_dataset(cfg.data)
    names = [combination_name(c) for c in all_combinations(source.modalities)][k::parts]
    start = time.perf_counter()
    run = train_per_combination(prepare_seed(cfg, source, seed), METHODS["customized"], only=names)
    record = {
        "arm": "customized",
        "method": "customized",
        "overrides": extra,
        "seed": seed,
        "setting": setting,
        "chunk": [k, parts],
    }
    record |= {"test": run.results, "val": run.val_results, "diagnostics": {}, "seconds": time.perf_counter() - start}
    record |= {"peak_rss_bytes": _peak_rss(), "machine": _machine()}
    _write(out, record)
    return f"done customized chunk {k}/{parts} seed {seed} in {record['seconds']:.0f}s"


def _write(path: Path, record: dict[str, Any]) -> None:
    from mmanet.io import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=1))


def run_arm(job: tuple[str, str, str, int, str, list[str]]) -> str:
    """Train one arm for one seed in this process (single-threaded) and store its JSON."""
    root_text, phase, setting, seed, arm, extra = job
    import torch

    torch.set_num_threads(1)
    from mmanet.config import load_config
    from mmanet.training import run_experiment

    root = Path(root_text)
    if "#" in arm:
        k, parts = (int(x) for x in arm.split("#")[1].split("/"))
        return run_chunk(root, phase, setting, seed, (k, parts), extra)
    out = result_path(root, phase, setting, arm, seed)
    if out.exists():
        return f"skip {out}"
    method, overrides = final_arm(arm, setting)
    teacher_arm = "teacher-noisy" if NOISY_TEACHER in overrides and method != "teacher" else "teacher"
    teacher = result_path(root, phase, setting, teacher_arm, seed).with_suffix("")
    teacher_model = teacher / f"seed_{seed}" / "teacher" / "model.pt"
    uses_teacher = method in ("sp", "kd", "mad", "mmanet", "mmanet-plus")
    teacher_arg = [f"distill.teacher={teacher_model}"] if uses_teacher and teacher_model.exists() else []
    if any(o.startswith("plus.specialists=") and not o.endswith("=0") for o in overrides):
        specialists = (
            result_path(root, phase, setting, "specialists", seed).with_suffix("")
            / f"seed_{seed}"
            / "specialists"
            / "model.pt"
        )
        teacher_arg.append(f"plus.specialists_path={specialists}")
    run_dir = out.with_suffix("")
    cfg = load_config(
        SETTING_FILES.get(setting),
        [*_base(setting), *overrides, *teacher_arg, *extra, f"methods=[{method}]", f"seeds=[{seed}]", f"out={run_dir}"],
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    report = run_experiment(cfg, mode="overwrite")
    entry = report["methods"][method]
    record = {
        "arm": arm,
        "method": method,
        "overrides": overrides + extra,
        "seed": seed,
        "setting": setting,
        "test": entry["per_seed"][str(seed)],
        "val": entry["val_per_seed"][str(seed)],
        "diagnostics": entry["diagnostics"][str(seed)],
        "seconds": time.perf_counter() - start,
        "peak_cuda_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "peak_rss_bytes": _peak_rss(),
        "threads": 1,
        "machine": _machine(),
    }
    _write(out, record)
    return f"done {arm} seed {seed} in {record['seconds']:.0f}s"


def cmd_run(args: argparse.Namespace) -> None:
    seeds = parse_seeds(args.seeds)
    arms = args.arms.split(",")
    known = {*ARMS, *FINAL, *PLUS_ARMS, "specialists"}
    unknown = [a for a in arms if a not in known]
    if unknown:
        sys.exit(f"unknown arms {unknown}; known: {sorted(known)}")
    extra = list(args.set or [])
    teacher_arms = ["teacher"] + [a for a in arms if a.startswith("teacher-") or a == "specialists"]
    teachers = [(str(args.root), args.phase, args.setting, s, a, extra) for a in teacher_arms for s in seeds]
    expanded = [a for a in arms if a not in teacher_arms and a != "customized"]
    if "customized" in arms:
        expanded = [f"customized#{k}/{args.chunks}" for k in range(args.chunks)] + expanded
    rest = [(str(args.root), args.phase, args.setting, s, a, extra) for a in expanded for s in seeds]
    with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:  # fresh process: peak RSS per job
        for phase_jobs in (teachers, rest):
            for message in pool.imap_unordered(run_arm, phase_jobs):
                print(message, flush=True)


def load_records(root: Path, phase: str, setting: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Records by arm and seed; customized chunks are merged once every chunk of a seed is there."""
    records: dict[str, dict[int, dict[str, Any]]] = {}
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
    return records


def t_quantile(df: int) -> float:
    """Two-sided 95% Student-t quantile (table for small df, normal beyond)."""
    table = {
        1: 12.706,
        2: 4.303,
        3: 3.182,
        4: 2.776,
        5: 2.571,
        6: 2.447,
        7: 2.365,
        8: 2.306,
        9: 2.262,
        10: 2.228,
        11: 2.201,
        12: 2.179,
        14: 2.145,
        19: 2.093,
        29: 2.045,
    }
    for key in sorted(table):
        if df <= key:
            return table[key]
    return 1.96


def summary(values: dict[str, dict[str, Any]], metric: str | None = None) -> tuple[float, float]:
    """(mean over combinations, worst combination) of one seed (accuracy, or mIoU for segmentation)."""
    metric = metric or ("miou" if "miou" in next(iter(values.values())) else "accuracy")
    scores = [v[metric] for v in values.values()]
    return float(np.mean(scores)), float(np.min(scores))


def paired(
    records: dict[int, dict[str, Any]], reference: dict[int, dict[str, Any]], split: str, index: int
) -> tuple[float, float, int]:
    """Mean paired difference (points) and 95% half-width over the seeds both have."""
    seeds = sorted(set(records) & set(reference))
    diffs = [100 * (summary(records[s][split])[index] - summary(reference[s][split])[index]) for s in seeds]
    if len(diffs) < 2:
        return (diffs[0] if diffs else math.nan), math.nan, len(diffs)
    sd = float(np.std(diffs, ddof=1))
    return float(np.mean(diffs)), t_quantile(len(diffs) - 1) * sd / math.sqrt(len(diffs)), len(diffs)


def cmd_summarize(args: argparse.Namespace) -> None:
    records = load_records(args.root, args.phase, args.setting)
    ref = records.get(args.reference, {})
    print(f"{args.phase}/{args.setting}: {args.split} accuracy, paired difference to {args.reference} (points, 95% CI)")
    print(f"{'arm':18s} {'n':>3s} {'mean':>7s} {'worst':>7s} {'d mean':>15s} {'d worst':>15s} {'sec':>6s}")
    for arm, recs in sorted(records.items()):
        if arm == "customized" and args.split == "val":
            continue
        means = [summary(r[args.split]) for r in recs.values()]
        dm, hm, n = paired(recs, ref, args.split, 0)
        dw, hw, _ = paired(recs, ref, args.split, 1)
        sec = np.mean([r["seconds"] for r in recs.values()])
        mean, worst = 100 * np.mean([m[0] for m in means]), 100 * np.mean([m[1] for m in means])
        print(f"{arm:18s} {n:3d} {mean:7.2f} {worst:7.2f} {dm:+7.2f}±{hm:5.2f} {dw:+7.2f}±{hw:5.2f} {sec:6.0f}")


def _cell(values: list[float]) -> str:
    mean, std = 100 * float(np.mean(values)), 100 * float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def _ci(value: tuple[float, float, int]) -> str:
    mean, half, _ = value
    return f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]"


def _peak_mib(records: dict[int, dict[str, Any]], key: str) -> str:
    """Largest recorded peak (bytes under ``key``) over seeds, in MiB, or ``-`` if none was recorded."""
    peaks = [r[key] for r in records.values() if r.get(key)]
    return f"{max(peaks) / 2**20:.0f}" if peaks else "-"


def setting_markdown(
    records: dict[str, dict[int, dict[str, Any]]], setting: str, order: list[str], combos_limit: int = 80
) -> list[str]:
    """Summary, paired differences, per-combination table, mining and diagnostics for one setting."""
    ref = records.get("dropout", {})
    arms = [a for a in order if a in records]
    seeds = sorted(ref)
    metric = METRIC[setting]
    lines = [f"### Summary ({setting}, test {metric} %, {len(seeds)} paired seeds)", ""]
    header = (
        "| method | seeds | mean | worst | Δ mean vs dropout [95% CI] | Δ worst vs dropout [95% CI] "
        "| time / seed (s) | peak RSS MiB | peak GPU MiB |"
    )
    lines += [header, "|---|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        recs = records[arm]
        means = [summary(r["test"])[0] for r in recs.values()]
        worsts = [summary(r["test"])[1] for r in recs.values()]
        seconds = float(np.mean([r["seconds"] for r in recs.values()]))
        dm = _ci(paired(recs, ref, "test", 0)) if arm != "dropout" else "-"
        dw = _ci(paired(recs, ref, "test", 1)) if arm != "dropout" else "-"
        peaks = f"{_peak_mib(recs, 'peak_rss_bytes')} | {_peak_mib(recs, 'peak_cuda_bytes')}"
        lines.append(
            f"| {arm} | {len(recs)} | {_cell(means)} | {_cell(worsts)} | {dm} | {dw} | {seconds:.0f} | {peaks} |"
        )
    names = list(next(iter(ref.values()))["test"]) if ref else []
    lines += ["", f"### Per combination ({setting}, test {metric} %, mean ± std over seeds)", ""]
    if len(names) > combos_limit:
        names = names[:combos_limit]
    lines += [
        "<details><summary>table</summary>",
        "",
        "| combination | " + " | ".join(arms) + " |",
        "|---" * (len(arms) + 1) + "|",
    ]
    for name in names:
        cells = [_cell([r["test"][name][metric] for r in records[a].values()]) for a in arms]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "</details>", ""]
    lines += mining_markdown(records, setting) + diagnostics_markdown(records, setting)
    return lines


def mining_markdown(records: dict[str, dict[int, dict[str, Any]]], setting: str) -> list[str]:
    """Final mined set per seed, its stability, and the first set mined (before any re-mining)."""
    lines = [
        f"### Mined weak combinations ({setting})",
        "",
        "| method | final weak set per seed | most frequent final set (seeds) | most frequent first set "
        "(seeds) | seeds whose set changed on re-mining |",
        "|---|---|---|---|---|",
    ]
    for arm, recs in records.items():
        sets = {s: r["diagnostics"].get("weak_combinations") for s, r in sorted(recs.items())}
        if not any(sets.values()):
            continue
        keys = [", ".join(v) if v else "-" for v in sets.values()]
        top = max(set(keys), key=keys.count)
        selections = [r["diagnostics"].get("selections") or [] for r in recs.values()]
        firsts = [", ".join(sel[0]["weak_combinations"]) for sel in selections if sel]
        first = max(set(firsts), key=firsts.count) if firsts else "-"
        changed = sum(len({tuple(x["weak_combinations"]) for x in sel}) > 1 for sel in selections)
        per_seed = "; ".join(f"{s}: {', '.join(v or [])}" for s, v in sets.items())
        stable = f"{top} ({keys.count(top)}/{len(keys)})"
        lines.append(
            f"| {arm} | {per_seed} | {stable} | {first} ({firsts.count(first)}/{len(firsts)}) | "
            f"{changed}/{len(selections)} |"
        )
    return [*lines, ""]


def diagnostics_markdown(records: dict[str, dict[int, dict[str, Any]]], setting: str) -> list[str]:
    lines = [
        f"### Distillation diagnostics ({setting})",
        "",
        f"| method | teacher full-combination {METRIC[setting]} | student full-combination {METRIC[setting]} "
        "| MAD effective sample share |",
        "|---|---|---|---|",
    ]
    for arm, recs in records.items():
        diags = [r["diagnostics"] for r in recs.values()]
        teacher = [d["teacher_full"] for d in diags if d.get("teacher_full") is not None]
        if not teacher:
            continue
        student = [d["student_full"] for d in diags if d.get("student_full") is not None]
        ess = [d["ess_share"] for d in diags if d.get("ess_share") is not None]
        ess_text = f"{np.mean(ess):.2f}" if ess else "-"
        lines.append(f"| {arm} | {_cell(teacher)} | {_cell(student)} | {ess_text} |")
    return [*lines, ""]


def cmd_report(args: argparse.Namespace) -> None:
    lines: list[str] = []
    for setting in args.settings.split(","):
        records = load_records(args.root, args.phase, setting)
        lines += setting_markdown(records, setting, args.order.split(","))
    text = "\n".join(lines) + "\n"
    if args.out:
        from mmanet.io import atomic_write_text

        atomic_write_text(args.out, text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("runs/study"))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--phase", default="final")
    run.add_argument("--setting", choices=sorted(SETTINGS), required=True)
    run.add_argument("--seeds", required=True)
    run.add_argument("--arms", required=True)
    run.add_argument("--jobs", type=int, default=2)
    run.add_argument("--set", action="append", help="extra override for every arm")
    run.add_argument("--chunks", type=int, default=1, help="split customized training into this many jobs per seed")
    summ = sub.add_parser("summarize")
    summ.add_argument("--phase", default="tune")
    summ.add_argument("--setting", choices=sorted(SETTINGS), required=True)
    summ.add_argument("--split", default="val", choices=["val", "test"])
    summ.add_argument("--reference", default="dropout")
    report = sub.add_parser("report", help="markdown tables of a phase (test split)")
    report.add_argument("--phase", default="final")
    report.add_argument("--settings", default="trio,six")
    report.add_argument("--order", default="teacher,customized,dropout,sp,kd,mad,mar,mmanet,mmanet-paper")
    report.add_argument("--out", type=Path)
    args = parser.parse_args()
    {"run": cmd_run, "summarize": cmd_summarize, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
