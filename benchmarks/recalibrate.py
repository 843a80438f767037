"""Diagnostic for round 32 of docs/results.md: does the segmentation network's primary (rgb) stream
lose accuracy because its normalisation statistics mix in rows without rgb?

    python benchmarks/recalibrate.py --root runs/study --arm plus-r30-kd-late --seeds 100-104 \
        --json docs/records/diagnostics/recalibrate_tune_seg.json

For each seed's trained unified network (tuning phase, validation split, no retraining) the
primary stages' batch-normalisation running statistics are estimated afresh (cumulative average)
on 20 training batches forwarded under fixed masks, and every combination is evaluated again:
``clean`` forwards each batch under rgb alone and rgb + depth (only rows that hold rgb reach the
statistics); ``mixed`` also under depth alone (as in training, where a pass without rgb still runs
the rgb stages on depth-only maps and then masks them out). Only those statistics change.
``precise`` re-estimates every batch norm of the network from the passes training makes (the
unified network: a sampled combination, each single modality and the complete one, decoded in one
call; a customized model: its combination), at the final weights. ``--arm customized`` evaluates
``precise`` on each seed's customized models.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnostic_record import diagnostic_parser, seed_data, write_record
from study_arms import parse_seeds

BATCHES = 20
MASKS = {"clean": [(True, False), (True, True)], "mixed": [(True, False), (False, True), (True, True)]}


def fresh_statistics(module: nn.Module) -> list[nn.Module]:
    """Every batch norm below ``module``, its running statistics reset to a cumulative average."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
    return norms


def _recalibrated(model: Any, loader: Any, masks: list[tuple[bool, bool]]) -> Any:
    """A copy of ``model`` whose primary stages' batch-norm statistics are re-estimated under ``masks``."""
    out = copy.deepcopy(model)
    net = out.entries[0].net.eval()
    for bn in fresh_statistics(net.primary_stages):
        bn.train()
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i == BATCHES:
                break
            prepared = net.prepare(batch["inputs"])
            rows = batch["target"].shape[0]
            for combo in masks:
                net.fused_from(prepared, torch.tensor([combo] * rows, dtype=torch.bool))
    net.eval()
    return out


def _precise(model: Any, loader: Any) -> Any:
    """A copy of ``model`` whose every batch norm's statistics are re-estimated from training's passes."""
    from mmanet.modality import sample_masks
    from mmanet.training.plus import concat_fused

    out = copy.deepcopy(model)
    draws = torch.Generator().manual_seed(0)
    for entry in out.entries:
        net = entry.net
        fresh_statistics(net)
        net.train()
        count = len(net.modalities)
        with torch.no_grad():
            for i, batch in enumerate(loader):
                if i == BATCHES:
                    break
                rows = batch["target"].shape[0]
                prepared = net.prepare({m: batch["inputs"][m] for m in net.modalities})
                every = torch.ones(rows, count, dtype=torch.bool)
                masks = [every]
                if len(entry.serves) > 1:  # the unified network: sampled, each single, complete
                    eye = torch.eye(count, dtype=torch.bool)
                    sampled = sample_masks(every, torch.rand(rows, generator=draws))
                    masks = [sampled, *(eye[j].expand(rows, count) for j in range(count)), every]
                net.decode(concat_fused([net.fused_from(prepared, m) for m in masks]), torch.cat(masks))
        net.eval()
    return out


def main() -> None:
    args = diagnostic_parser(__doc__ or "", "plus-r30-kd-late").parse_args()
    torch.set_num_threads(1)
    from mmanet.config import TrainerConfig
    from mmanet.modelfile import load_model_file
    from mmanet.training.evaluate import evaluate_model_file

    per_seed: dict[str, dict[str, dict[str, float]]] = {}
    for seed in parse_seeds(args.seeds):
        data, module = seed_data("seg", seed)
        method = "customized" if args.arm == "customized" else "mmanet-plus"
        paths = sorted((args.root / "tune" / "seg" / args.arm).glob(f"seed_{seed}*/seed_{seed}/{method}/model.pt"))
        per_seed[str(seed)] = {}
        for path in paths:  # the customized models of a seed may sit in several chunks
            model = load_model_file(path)
            loader = module.train_dataloader()
            variants = {"trained": model, "precise": _precise(model, loader)}
            if method != "customized":
                variants |= {k: _recalibrated(model, loader, v) for k, v in MASKS.items()}
            for name, variant in variants.items():
                result = evaluate_model_file(variant, module.datasets["val"], TrainerConfig(), data.modalities, 64)
                values = {c: round(100 * v["miou"], 2) for c, v in result.items()}
                per_seed[str(seed)].setdefault(name, {}).update(values)
        print(json.dumps({seed: per_seed[str(seed)]}), flush=True)
    write_record(args.json, "recalibrate.py", {"arm": args.arm, "split": "val", "per_seed": per_seed})


if __name__ == "__main__":
    main()
