"""Training cost per seed of each method, prerequisites included (issue 10's cost criterion).

    python benchmarks/cost.py --setting six --seed 0 --json docs/cost.json

Every job runs alone, single-threaded, in a fresh process (so its peak resident memory is its
own), one after another: the teacher(s), the specialists, then each method with the teacher and
specialists it uses given as files. A method's cost is its own time plus the prerequisites it
needs, read from its method and configuration (``mmanet-plus``: the specialists; ``mmanet``: the
noisy teacher; ``customized``: its 2^M - 1 models). The ratio to ``dropout`` is the criterion (at most 3 at M = 6).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_arms import BASE, NOISY_TEACHER, SETTING_FILES, SETTINGS, final_arm

PREREQUISITES = ("teacher", "teacher-noisy", "specialists")  # study arms, trained first when an arm needs them


def needs(arm: str, setting: str) -> list[str]:
    """The prerequisite arms ``arm`` uses, from its method and configuration (teacher, specialists)."""
    from mmanet.config import load_config
    from mmanet.training import METHODS

    method, overrides = final_arm(arm, setting)
    base = [] if setting in SETTING_FILES else BASE
    plus = load_config(SETTING_FILES.get(setting), [*base, *SETTINGS[setting], *overrides]).plus
    teacher = (
        ["teacher-noisy" if NOISY_TEACHER in overrides else "teacher"] if METHODS[method].needs_teacher(plus) else []
    )
    return [*teacher, *(["specialists"] if METHODS[method].needs_specialists(plus) else [])]


def _job(args: tuple[str, str, int, str, dict[str, str]]) -> dict[str, Any]:
    arm, setting, seed, out, given = args
    import resource

    import torch

    torch.set_num_threads(1)
    from mmanet.config import load_config
    from mmanet.training import run_experiment

    method, overrides = final_arm(arm, setting)
    refs = [f"distill.teacher={given[k]}" for k in ("teacher", "teacher-noisy") if k in given]
    refs += [f"plus.specialists_path={given['specialists']}"] if "specialists" in given else []
    base = [] if setting in SETTING_FILES else BASE
    cfg = load_config(SETTING_FILES.get(setting), [*base, *SETTINGS[setting], *overrides, *refs,
                                                   f"methods=[{method}]", f"seeds=[{seed}]", f"out={out}"])  # fmt: skip
    start = time.perf_counter()
    run_experiment(cfg)
    seconds = time.perf_counter() - start
    model = Path(out) / f"seed_{seed}" / method / "model.pt"
    return {
        "arm": arm,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model": str(model),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="six", choices=sorted(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default="dropout,mmanet,mmanet-plus,plus-r2-mm,customized")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    arms = args.arms.split(",")
    required = {arm: needs(arm, args.setting) for arm in arms}
    jobs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for prerequisite in PREREQUISITES:
            if any(prerequisite in r for r in required.values()):
                jobs[prerequisite] = pool.apply(
                    _job, ((prerequisite, args.setting, args.seed, f"{tmp}/{prerequisite}", {}),)
                )
        given = {k: v["model"] for k, v in jobs.items()}
        for arm in arms:
            needed = {k: given[k] for k in required[arm]}
            jobs[arm] = pool.apply(_job, ((arm, args.setting, args.seed, f"{tmp}/{arm}", needed),))
    dropout = jobs["dropout"]["seconds"]
    table = {}
    for arm in arms:
        total = jobs[arm]["seconds"] + sum(jobs[k]["seconds"] for k in required[arm])
        peak = max(jobs[k]["peak_rss_mib"] for k in [arm, *required[arm]])
        table[arm] = {"own_s": jobs[arm]["seconds"], "with_prerequisites_s": total, "ratio_to_dropout": total / dropout,
                      "peak_rss_mib": peak}  # fmt: skip
    import torch

    result = {
        "setting": args.setting,
        "seed": args.seed,
        "prerequisites": {k: {"seconds": jobs[k]["seconds"], "peak_rss_mib": jobs[k]["peak_rss_mib"]} for k in given},
        "methods": table,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, one thread per job, torch {torch.__version__}",
        "command": " ".join(["python benchmarks/cost.py", *sys.argv[1:]]),
    }
    from mmanet.io import atomic_write_text

    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
