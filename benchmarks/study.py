"""Paired-seed studies of every method (issues 3 and 10), run by hand; tables regenerated from records.

Each *arm* is a method plus config overrides. A seed fixes the split, the initial weights and
the modality-dropout draws identically for every arm. Results (test and best-validation
metrics per combination, diagnostics, wall time) are stored per (phase, setting, arm, seed)
as JSON under ``--root`` and reused on reruns, so the study can be stopped and resumed.

    python benchmarks/study.py run --phase tune --setting trio --seeds 100-104 --arms dropout,mmanet-paper --jobs 2
    python benchmarks/study.py summarize --phase tune --setting trio        # validation only
    python benchmarks/study.py run --phase final --setting six --seeds 0-9 --jobs 2
    python benchmarks/study.py export --to docs/records                     # compact copies of the records
    python benchmarks/study.py report --check     # docs/results.md tables == docs/records? (exit 1 if not)

Tuning uses seeds 100+ and validation metrics only; the final phase reads the test split once.
A page block may pool phases run on different seeds (``phase=final+final-more``: seeds 0-9 and
10-19 of every arm the block reads).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from study_arms import (
    BASE,
    NOISY_TEACHER,
    ONLY_SETTINGS,
    OWN_SPECIALISTS,
    SETTING_FILES,
    SETTINGS,
    final_arm,
    known_arms,
    parse_seeds,
)
from study_tables import load_records, paired, summary

ROOT = Path(__file__).resolve().parents[1]


def result_path(root: Path, phase: str, setting: str, arm: str, seed: int) -> Path:
    return root / phase / setting / arm / f"seed_{seed}.json"


def _machine() -> str:
    import lightning
    import numpy
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    isa = torch.backends.cpu.get_cpu_capability()  # the vector kernels torch runs: results can differ by it
    versions = f"torch {torch.__version__}, lightning {lightning.__version__}, numpy {numpy.__version__}"
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({isa}), {gpu}, {versions}"


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


def shared_teacher_arm(setting: str, method: str, overrides: list[str]) -> str | None:
    """The shared teacher arm an arm reads: ``teacher`` (no teacher overrides) or ``teacher-noisy``
    (the noisy teacher's), when its method needs a teacher under its configuration (``mmanet-plus``
    only with MAD on); ``None`` when it needs none or trains its own (other teacher overrides)."""
    from mmanet.config import load_config
    from mmanet.training import METHODS

    if method not in METHODS or not METHODS[method].needs_teacher(
        load_config(SETTING_FILES.get(setting), [*_base(setting), *overrides]).plus
    ):
        return None
    asked = [o for o in overrides if o.startswith("distill.teacher_overrides=")]
    return {(): "teacher", (NOISY_TEACHER,): "teacher-noisy"}.get(tuple(asked))


def teacher_arms(setting: str, arms: list[str], extra: list[str]) -> list[str]:
    """What ``run`` trains first: the teachers and specialists ``arms`` name, then each shared
    teacher another arm reads (:func:`shared_teacher_arm`; ``extra``: overrides given to every arm)."""
    named = [a for a in arms if a.startswith("teacher") or a == "specialists"]
    for arm in arms:
        if arm in named or arm == "customized":
            continue
        method, overrides = final_arm(arm, setting)
        shared = shared_teacher_arm(setting, method, [*overrides, *extra])
        if shared is not None and shared not in named:
            named.append(shared)
    return named


def _shared_teacher(root: Path, phase: str, setting: str, seed: int, method: str, overrides: list[str]) -> list[str]:
    """``distill.teacher=`` of the shared teacher arm this arm reads (:func:`shared_teacher_arm`), if
    it is there; an arm with other teacher overrides trains its own teacher in its run."""
    arm = shared_teacher_arm(setting, method, overrides)
    if arm is None:
        return []
    model = result_path(root, phase, setting, arm, seed).with_suffix("") / f"seed_{seed}" / "teacher" / "model.pt"
    return [f"distill.teacher={model}"] if model.exists() else []


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
    teacher_arg = _shared_teacher(root, phase, setting, seed, method, [*overrides, *extra])
    if method == "mmanet-plus" and "plus.specialists=0" not in overrides and arm not in OWN_SPECIALISTS:
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
    known = known_arms()
    unknown = [a for a in arms if a not in known]
    if unknown:
        sys.exit(f"unknown arms {unknown}; known: {sorted(known)}")
    extra = list(args.set or [])
    first = teacher_arms(args.setting, arms, extra)
    teachers = [(str(args.root), args.phase, args.setting, s, a, extra) for a in first for s in seeds]
    expanded = [a for a in arms if a not in first and a != "customized"]
    if "customized" in arms:
        expanded = [f"customized#{k}/{args.chunks}" for k in range(args.chunks)] + expanded
    expanded = [a for a in expanded if args.setting in ONLY_SETTINGS.get(a, (args.setting,))]
    rest = [(str(args.root), args.phase, args.setting, s, a, extra) for a in expanded for s in seeds]
    with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:  # fresh process: peak RSS per job
        for phase_jobs in (teachers, rest):
            for message in pool.imap_unordered(run_arm, phase_jobs):
                print(message, flush=True)


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


def cmd_page(args: argparse.Namespace) -> None:
    """Regenerate every study block of a page from the records; ``--check`` only compares."""
    from study_tables import render_page

    text = args.page.read_text()
    rendered = render_page(text, args.root)
    if args.check:
        if rendered != text:
            import difflib

            diff = difflib.unified_diff(
                text.splitlines(), rendered.splitlines(), str(args.page), "from records", lineterm=""
            )
            print("\n".join(list(diff)[:80]))
            sys.exit(f"{args.page}: generated tables differ from the records under {args.root}")
        print(f"{args.page}: every generated table matches the records under {args.root}")
        return
    from mmanet.io import atomic_write_text

    atomic_write_text(args.page, rendered)
    print(f"{args.page}: tables regenerated from {args.root}")


def cmd_export(args: argparse.Namespace) -> None:
    """Copy records to ``--to`` as compact JSON, without the teacher test results they repeat."""
    from mmanet.io import atomic_write_text

    count = 0
    for path in sorted(args.root.glob("*/*/*/seed_*.json")):
        record = json.loads(path.read_text())
        record.get("diagnostics", {}).get("teacher", {}).pop("test", None)
        atomic_write_text(args.to / path.relative_to(args.root), json.dumps(record, separators=(",", ":")) + "\n")
        count += 1
    print(f"{count} records written under {args.to}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="records (default: runs/study; docs/records for page/report)")
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
    page = sub.add_parser(
        "page", aliases=["report"], help="regenerate the study blocks of a markdown page (default docs/results.md)"
    )
    page.add_argument("page", type=Path, nargs="?", default=ROOT / "docs" / "results.md")
    page.add_argument("--check", action="store_true", help="compare only; exit 1 on any difference")
    export = sub.add_parser("export", help="copy the records (compact JSON) to --to, e.g. docs/records")
    export.add_argument("--to", type=Path, required=True)
    args = parser.parse_args()
    if args.root is None:
        args.root = ROOT / "docs" / "records" if args.command in ("page", "report") else Path("runs/study")
    commands = {"run": cmd_run, "summarize": cmd_summarize, "page": cmd_page, "report": cmd_page, "export": cmd_export}
    commands[args.command](args)


if __name__ == "__main__":
    main()
