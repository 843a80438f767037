"""Diagnostic: what each network's epoch choice is worth on the test split (issue 10's per-cell
criterion). Every model of the study is restored at its best validation epoch: a customized model
chooses it on its own combination, a unified network on the mean over every combination. On the
validation split the customized models' choice is optimistic (the best of 30 noisy epochs; the
pair read-outs, ``pair_readout.py``); on the test split it is worth whatever real differences
between epochs it finds. This scores each network on the test split at that chosen epoch (its
model file, as the records have it) and at its last epoch (``last.ckpt``; no choice), for
runs already made; nothing is chosen here.

    python benchmarks/epoch_choice.py --root runs/study --phase final --setting quad --seeds 0-9 \
        --json docs/records/diagnostics/epoch_choice_final_quad.json

Needs runs made at d4409c5 or later: before it ``last.ckpt`` held the best epoch (Lightning writes
its ``save_last`` file only when the monitored checkpoint was saved), and the script refuses a
``last.ckpt`` that is not the run's final epoch.

Reading fixed before its first run (quad, seeds 0-9; round 34 against the customized models):
per combination, the gap at the chosen epochs (the records') and at the last epochs (both sides
without a choice), and each side's choice worth (chosen - last). If the customized models'
choice is worth more than round 34's on the cells more than 0.5 below at the chosen epochs (their
mean, paired over seeds, interval above zero) and at the last epochs fewer cells are more than
0.5 below, the per-cell shortfall is what a customized model's own epoch choice finds on test,
which one network choosing one epoch for every combination cannot have. Otherwise it is a level
difference.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnostic_record import diagnostic_parser, seed_data, write_record
from pair_readout import accuracy
from study_arms import final_arm, parse_seeds


def restore_last(net: Any, checkpoint: Path, epochs: int) -> tuple[Any, int]:
    """A copy of ``net`` with the deployment network of ``checkpoint`` (its ``net.`` keys) and the
    checkpoint's epoch (0-based); refused unless that is the run's final epoch (``epochs - 1``)."""
    from mmanet.training.fit import deployment_state

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if int(state["epoch"]) != epochs - 1:
        raise SystemExit(
            f"{checkpoint}: holds epoch {state['epoch']}, not the run's last ({epochs - 1}); "
            "runs made before d4409c5 kept the best epoch in last.ckpt"
        )
    last = copy.deepcopy(net)
    last.load_state_dict(deployment_state(state["state_dict"]))
    return last, int(state["epoch"])


def _best_epoch(run: Path) -> int:
    return int(torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)["epoch"])


def _scores(net: Any, last: Any, test: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, float]]:
    from mmanet.modality import parse_combination

    out = {}
    for name in names:
        combo = parse_combination(name, net.modalities)
        out[name] = {"chosen": accuracy(net, test, combo), "last": accuracy(last, test, combo)}
    return out


def unified_record(run: Path, test: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """One unified network's test accuracy per combination at its chosen and last epochs."""
    from mmanet.modality import all_combinations, combination_name
    from mmanet.modelfile import load_model_file

    net = load_model_file(run / "model.pt").entries[0].net
    last, last_epoch = restore_last(net, run / "checkpoints" / "last.ckpt", epochs)
    names = [combination_name(c) for c in all_combinations(net.modalities)]
    epochs_kept = [_best_epoch(run), last_epoch]  # one network: the same two epochs for every combination
    return {"scores": _scores(net, last, test, names), "epochs": dict.fromkeys(names, epochs_kept)}


def customized_record(chunks: list[Path], test: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """Every customized model's test accuracy on its own combination at its chosen and last epochs."""
    from mmanet.modality import combination_name
    from mmanet.modelfile import load_model_file

    scores, chosen_epochs = {}, {}
    for root in chunks:
        for entry in load_model_file(root / "model.pt").entries:
            name = combination_name(entry.serves[0])
            last, last_epoch = restore_last(entry.net, root / name / "checkpoints" / "last.ckpt", epochs)
            scores |= _scores(entry.net, last, test, [name])
            chosen_epochs[name] = [_best_epoch(root / name), last_epoch]
    return {"scores": scores, "epochs": chosen_epochs}


def seed_record(root: Path, phase: str, setting: str, seed: int, arms: list[str]) -> dict[str, Any]:
    """Per arm (``customized`` and the unified ``arms``): test accuracy per combination at the
    chosen and last epochs, each network's two epochs, and how far the chosen scores sit from the
    study's record of that seed (0 when the model files are the records')."""
    data, module = seed_data(setting, seed)
    module.setup("test")
    test = list(module.test_dataloader())
    epochs = data.cfg.optim.epochs
    base = root / phase / setting
    chunks = sorted(base.glob(f"customized/seed_{seed}.chunk*of*/seed_{seed}/customized"))
    out: dict[str, Any] = {"customized": customized_record(chunks, test, epochs)}
    for arm in arms:
        out[arm] = unified_record(
            base / arm / f"seed_{seed}" / f"seed_{seed}" / final_arm(arm, setting)[0], test, epochs
        )
    for arm, rec in out.items():
        files = sorted((base / arm).glob(f"seed_{seed}.json" if arm != "customized" else f"seed_{seed}.chunk*of*.json"))
        recorded: dict[str, Any] = {}
        for file in files:
            recorded |= json.loads(file.read_text())["test"]
        rec["record_difference"] = max(
            abs(rec["scores"][n]["chosen"] - 100 * recorded[n]["accuracy"]) for n in rec["scores"]
        )
        print(f"seed {seed} {arm}: record difference {rec['record_difference']:.3f}", flush=True)
    return out


def main() -> None:
    parser = diagnostic_parser(__doc__ or "", "plus-r34-decoder-statistics")
    parser.add_argument("--phase", default="final")
    parser.add_argument("--setting", default="quad", choices=["quad", "trio", "six"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    arms = [args.arm, "dropout"]
    per_seed = {
        str(seed): seed_record(args.root, args.phase, args.setting, seed, arms) for seed in parse_seeds(args.seeds)
    }
    record = {"arms": arms, "phase": args.phase, "setting": args.setting, "split": "test", "per_seed": per_seed}
    write_record(args.json, "epoch_choice.py", record)


if __name__ == "__main__":
    main()
