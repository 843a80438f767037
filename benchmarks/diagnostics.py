"""Why single modalities lag in a unified network, from the trained model files of the study
(no training): per-encoder linear probes, per-combination training loss, training frequency.

    python benchmarks/diagnostics.py --root runs/study --phase final --setting six --seeds 0-9 \\
        --arms dropout,mmanet-plus,customized --json docs/records/diagnostics/final_six.json

- **probe**: a multinomial logistic regression (L2, LBFGS) fitted on one encoder's features of
  the training split, scored on the validation split: how much of its own modality's
  information an encoder keeps. A lazy encoder (one the fused network leaned away from) probes
  low.
- **training loss**: cross-entropy of the final network on the training split under each single
  modality, each pair (M >= 3) and the complete combination (how well the shared trunk fits each).
- **pair probe** (M >= 3): the same probe on the two encoders' features of a pair side by side
  (the customized column: the pair's own model's encoders): whether the encoders hold what the
  pair needs, whatever the decoder makes of it.
- **trained share**: the fraction of training samples a combination is shown per epoch (the
  sampling policy, plus single-modality passes for ``mmanet-plus``).
- **fit** (segmentation, ``--setting seg``): mIoU per combination on the training split (no
  augmentation) and on validation: under-fitting shows as a low training score, over-fitting as
  a training score far above the validation one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmanet.config import load_config
from mmanet.data import load_dataset
from mmanet.evaluation import evaluate_combinations
from mmanet.metrics import task_metrics
from mmanet.modality import all_combinations, combination_mask, combination_name
from mmanet.modelfile import load_model_file
from mmanet.training import METHODS
from mmanet.training.sampling import ModalityDropout
from study_arms import BASE, SETTING_FILES, SETTINGS, final_arm, parse_seeds


def probe(train: torch.Tensor, y_train: torch.Tensor, val: torch.Tensor, y_val: torch.Tensor, classes: int) -> float:
    """Validation accuracy of an L2 logistic regression on standardised features."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    x, xv = (train - mean) / std, (val - mean) / std
    weight = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y_train) + 1e-3 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(((xv @ weight + bias).argmax(1) == y_val).float().mean())


def _model_path(root: Path, phase: str, setting: str, arm: str, seed: int, method: str) -> Path | None:
    if arm == "customized":
        found = sorted(
            (root / phase / setting / "customized").glob(f"seed_{seed}.chunk*/seed_{seed}/customized/model.pt")
        )
        return found[0] if found else None
    path = root / phase / setting / arm / f"seed_{seed}" / f"seed_{seed}" / method / "model.pt"
    return path if path.exists() else None


def _entries_by_combination(root: Path, phase: str, setting: str, seed: int) -> dict[str, Any]:
    """Every customized network of a seed (chunked runs keep them in several files)."""
    out = {}
    for path in sorted(
        (root / phase / setting / "customized").glob(f"seed_{seed}.chunk*/seed_{seed}/customized/model.pt")
    ):
        for entry in load_model_file(path).entries:
            out[combination_name(entry.serves[0])] = entry
    return out


@torch.no_grad()
def _features(net: Any, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {m: f.flatten(1) for m, f in net.modality_features(net.prepare(inputs)).items()}


@torch.no_grad()
def _loss(net: Any, inputs: dict[str, torch.Tensor], target: torch.Tensor, combination: tuple[str, ...]) -> float:
    mask = combination_mask(combination, net.modalities).expand(len(target), -1)
    return float(F.cross_entropy(net(inputs, mask).logits, target))


def trained_share(
    modalities: tuple[str, ...],
    seed: int,
    samples: int,
    epochs: int,
    passes: bool = False,
    complete: bool = False,
    pairs: bool = False,
) -> dict[str, float]:
    """Per combination: samples shown per training sample and epoch (``passes``: the single-modality
    passes add 1 to each single modality; ``complete``: the complete pass adds 1 to the complete one;
    ``pairs``: the pair passes add 1 to each pair, M >= 3)."""
    dropout = ModalityDropout(samples, seed, "uniform")
    counts = {combination_name(c): 0 for c in all_combinations(modalities)}
    present = torch.ones(samples, len(modalities), dtype=torch.bool)
    for epoch in range(epochs):
        for row in dropout.masks(epoch, torch.arange(samples), present).tolist():
            counts[combination_name(tuple(m for m, k in zip(modalities, row, strict=True) if k))] += 1
    share = {c: n / (samples * epochs) for c, n in counts.items()}
    full = combination_name(modalities)
    pair = pairs and len(modalities) >= 3
    return {
        c: v + float(passes and "+" not in c) + float(complete and c == full) + float(pair and c.count("+") == 1)
        for c, v in share.items()
    }


def diagnose_dense(root: Path, phase: str, setting: str, seed: int, arm: str) -> dict[str, Any] | None:
    """Segmentation: mIoU on the training split (no augmentation) and on validation, per combination:
    under-fitting shows as a low training score, over-fitting as a training score far above validation."""
    method, overrides = final_arm(arm, setting)
    path = _model_path(root, phase, setting, arm, seed, method)
    if path is None:
        return None
    cfg = load_config(SETTING_FILES.get(setting), [*SETTINGS[setting], *overrides])
    source = load_dataset(cfg.data)
    splits = source.splits(seed)
    loaders = {
        split: DataLoader(splits.datasets[key], batch_size=16)  # type: ignore[arg-type]
        for split, key in (("train", "train_eval"), ("val", "val"))
    }
    factory = task_metrics("segmentation").factory
    if arm == "customized":  # each combination's own network, under that combination only
        entries = _entries_by_combination(root, phase, setting, seed)
        jobs = [(entries[combination_name(c)].net, [c]) for c in all_combinations(source.modalities)]
    else:
        jobs = [(load_model_file(path).entries[0].net, all_combinations(source.modalities))]
    fit: dict[str, dict[str, float]] = {}
    for net, combinations in jobs:
        for split, loader in loaders.items():
            scores = evaluate_combinations(net, loader, combinations, source.num_classes, source.modalities, factory)
            for name, values in scores.items():
                fit.setdefault(name, {})[split] = 100 * float(values["miou"])
    return {"fit": fit}


def diagnose(root: Path, phase: str, setting: str, seed: int, arm: str) -> dict[str, Any] | None:
    method, overrides = final_arm(arm, setting)
    path = _model_path(root, phase, setting, arm, seed, method)
    if path is None:
        return None
    base = [] if setting in SETTING_FILES else BASE
    cfg = load_config(SETTING_FILES.get(setting), [*base, *SETTINGS[setting], *overrides])
    source = load_dataset(cfg.data)
    splits = source.splits(seed)
    train, val = splits.datasets["train_eval"], splits.datasets["val"]
    tr = train.__getitems__(list(range(len(train))))  # type: ignore[attr-defined]
    va = val.__getitems__(list(range(len(val))))  # type: ignore[attr-defined]
    classes = source.num_classes
    modalities = source.modalities
    if arm == "customized":
        entries = _entries_by_combination(root, phase, setting, seed)
        nets = {m: entries[m].net for m in modalities}
        full_net = entries[combination_name(modalities)].net
    else:
        full_net = load_model_file(path).entries[0].net
        nets = dict.fromkeys(modalities, full_net)
    out: dict[str, Any] = {"probe": {}, "train_loss": {}}
    for m in modalities:
        f_train, f_val = _features(nets[m], tr["inputs"])[m], _features(nets[m], va["inputs"])[m]
        out["probe"][m] = probe(f_train, tr["target"], f_val, va["target"], classes)
        single = nets[m] if arm == "customized" else full_net
        out["train_loss"][m] = _loss(single, tr["inputs"], tr["target"], (m,))
    out["train_loss"][combination_name(modalities)] = _loss(full_net, tr["inputs"], tr["target"], tuple(modalities))
    out["pair_probe"] = {}
    features: dict[int, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}
    for pair in itertools.combinations(modalities, 2) if len(modalities) >= 3 else []:
        net = entries[combination_name(pair)].net if arm == "customized" else full_net
        out["train_loss"][combination_name(pair)] = _loss(net, tr["inputs"], tr["target"], pair)
        if id(net) not in features:
            features[id(net)] = (_features(net, tr["inputs"]), _features(net, va["inputs"]))
        joint_train, joint_val = (torch.cat([f[m] for m in pair], 1) for f in features[id(net)])
        out["pair_probe"][combination_name(pair)] = probe(joint_train, tr["target"], joint_val, va["target"], classes)
    if arm != "customized":
        on = METHODS[method].plus
        passes, complete, pairs = (
            on and cfg.plus.passes,
            on and cfg.plus.complete_pass > 0,
            on and cfg.plus.pair_passes > 0,
        )
        out["trained_share"] = trained_share(modalities, seed, len(train), cfg.optim.epochs, passes, complete, pairs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("runs/study"))
    parser.add_argument("--phase", default="final")
    parser.add_argument("--setting", default="six", choices=["trio", "six", "seg"])
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--arms", default="dropout,mmanet-plus,customized")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    result: dict[str, Any] = {"setting": args.setting, "phase": args.phase, "arms": {}}
    for arm in args.arms.split(","):
        per_seed = {}
        for seed in parse_seeds(args.seeds):
            run = diagnose_dense if args.setting in SETTING_FILES else diagnose
            found = run(args.root, args.phase, args.setting, seed, arm)
            if found is not None:
                per_seed[str(seed)] = found
                print(f"{arm} seed {seed}: {json.dumps(found.get('probe') or found.get('fit'))[:200]}", flush=True)
        result["arms"][arm] = per_seed
    result["command"] = " ".join(["python benchmarks/diagnostics.py", *sys.argv[1:]])
    from mmanet.io import atomic_write_text

    atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
