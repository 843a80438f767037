"""Diagnostic for issue 10's weak combinations: how good is the product of the single-modality
specialists that ``mmanet-plus`` already trains, on every combination, next to each combination's
own customized model?

    python benchmarks/specialist_ensembles.py --root runs/study --setting six --seeds 100-104 \
        --json docs/records/diagnostics/specialist_ensembles_tune_six.json

For each seed's specialists (the study's ``specialists`` arm, tuning phase, validation split, no
training) and every combination ``c``, the validation accuracy of:

- ``product``: the product of the present modalities' specialists' posteriors (the sum of their
  log-probabilities; a product of experts, as if the views were independent given the class);
- ``average``: the mean of their posteriors (a plain ensemble).

A single modality's two read-outs are its specialist's. The page compares them with the
customized models' and the unified network's validation records of the same seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnostic_record import diagnostic_parser, seed_data, write_record
from study_arms import parse_seeds


def ensembles(log_probs: dict[str, Tensor], target: Tensor, modalities: list[str]) -> dict[str, dict[str, float]]:
    """Per combination name: ``product`` and ``average`` accuracy (points) from each specialist's
    log-probabilities ``(N, K)`` on the same ``N`` samples with labels ``target`` ``(N,)``."""
    from mmanet.modality import all_combinations, combination_name

    out: dict[str, dict[str, float]] = {}
    for combo in all_combinations(modalities):
        stacked = torch.stack([log_probs[m] for m in combo])  # (|c|, N, K)
        product = stacked.sum(0)
        average = torch.logsumexp(stacked, 0)  # log of the summed posteriors: same argmax as their mean
        out[combination_name(combo)] = {
            name: round(100 * float((score.argmax(1) == target).float().mean()), 2)
            for name, score in (("product", product), ("average", average))
        }
    return out


@torch.no_grad()
def specialist_log_probs(model_path: Path, batches: list[dict]) -> tuple[dict[str, Tensor], Tensor]:
    """Each specialist's log-probabilities ``(N, K)`` on its own modality over ``batches``, and the labels."""
    from mmanet.modelfile import load_model_file
    from mmanet.training.plus import FrozenSpecialists

    specialists = FrozenSpecialists({e.spec.modalities[0]: e.net for e in load_model_file(model_path).entries})
    out: dict[str, list[Tensor]] = {m: [] for m in specialists.nets}
    for batch in batches:
        for m in out:
            out[m].append(F.log_softmax(specialists.logits(m, batch["inputs"]).float(), 1))
    return {m: torch.cat(v) for m, v in out.items()}, torch.cat([b["target"] for b in batches])


def main() -> None:
    parser = diagnostic_parser(__doc__ or "", "specialists")
    parser.add_argument("--setting", default="six", choices=["trio", "six"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    per_seed = {}
    for seed in parse_seeds(args.seeds):
        data, module = seed_data(args.setting, seed)
        run = args.root / "tune" / args.setting / args.arm / f"seed_{seed}" / f"seed_{seed}" / "specialists"
        log_probs, target = specialist_log_probs(run / "model.pt", list(module.val_dataloader()))
        per_seed[str(seed)] = ensembles(log_probs, target, list(data.modalities))
        print(f"seed {seed} done", flush=True)
    record = {"arm": args.arm, "setting": args.setting, "split": "val", "per_seed": per_seed}
    write_record(args.json, "specialist_ensembles.py", record)


if __name__ == "__main__":
    main()
