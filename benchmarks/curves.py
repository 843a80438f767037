"""Per-epoch validation curves of the study's runs, per combination (no training): where in
training a unified network falls behind the customized models.

    python benchmarks/curves.py --root runs/study --phase tune --setting seg --seeds 100-104 \\
        --arms customized,plus-r17-specialist-init --json docs/records/diagnostics/curves_tune_seg.json

Reads each run's ``logs/metrics.csv`` (the validation score of every combination after every
epoch, as the training logged it) under the study's root: a unified arm's one run per seed, and
for ``customized`` the model of each combination (its own curve). Writes the per-seed curves;
``benchmarks/study.py report`` renders their seed means (``<!-- study curves ... -->``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_arms import METRIC, parse_seeds


def read_curve(path: Path, combination: str, metric: str) -> list[float]:
    """``val/<combination>/<metric>`` after each epoch of one run's ``metrics.csv`` (x100), in epoch order.

    Raises:
        ValueError: the file has no such column, or an epoch has no value.
    """
    key = f"val/{combination}/{metric}"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or key not in rows[0]:
        raise ValueError(f"{path}: no column {key!r}")
    values = {int(r["epoch"]): 100 * float(r[key]) for r in rows if r.get(key)}
    if sorted(values) != list(range(len(values))):
        raise ValueError(f"{path}: {key!r} is missing for some epochs (got {sorted(values)})")
    return [values[e] for e in range(len(values))]


def run_logs(root: Path, phase: str, setting: str, arm: str, seed: int, combination: str) -> Path:
    """The ``metrics.csv`` that holds ``combination``'s curve for one arm and seed.

    Raises:
        FileNotFoundError: no run of that arm and seed under ``root`` (or several).
    """
    base = root / phase / setting / arm
    if arm == "customized":  # one model per combination, possibly in chunks
        pattern = f"seed_{seed}*/seed_{seed}/customized/{combination}/logs/metrics.csv"
    else:
        pattern = f"seed_{seed}/seed_{seed}/*/logs/metrics.csv"
    found = sorted(base.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"{base}: expected one {pattern}, found {len(found)}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the study's root (benchmarks/study.py --root)")
    parser.add_argument("--phase", default="tune", choices=["tune", "final"])
    parser.add_argument("--setting", required=True, choices=sorted(METRIC))
    parser.add_argument("--seeds", default="100-104")
    parser.add_argument("--arms", required=True, help="comma-separated arms (customized: each combination's model)")
    parser.add_argument("--combinations", default=None, help="comma-separated (default: every combination logged)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    metric, arms, seeds = METRIC[args.setting], args.arms.split(","), parse_seeds(args.seeds)
    unified = [a for a in arms if a != "customized"]
    if args.combinations:
        combinations = args.combinations.split(",")
    elif not unified:
        parser.error("--combinations is needed when every arm is 'customized' (its logs are per combination)")
    else:
        with run_logs(args.root, args.phase, args.setting, unified[0], seeds[0], "").open(newline="") as handle:
            header = next(csv.reader(handle))
        combinations = [k.split("/")[1] for k in header if k.startswith("val/") and k.endswith(f"/{metric}")]
    curves = {
        arm: {
            str(seed): {
                c: read_curve(run_logs(args.root, args.phase, args.setting, arm, seed, c), c, metric)
                for c in combinations
            }
            for seed in seeds
        }
        for arm in arms
    }
    command = "python benchmarks/curves.py " + " ".join(
        [f"--root {args.root}", f"--phase {args.phase}", f"--setting {args.setting}", f"--seeds {args.seeds}"]
        + [f"--arms {args.arms}", f"--json {args.json}"]
        + ([f"--combinations {args.combinations}"] if args.combinations else [])
    )
    out = {"setting": args.setting, "phase": args.phase, "metric": metric, "arms": curves, "command": command}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, args.json)
    print(f"curves of {len(arms)} arms x {len(seeds)} seeds x {len(combinations)} combinations -> {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
