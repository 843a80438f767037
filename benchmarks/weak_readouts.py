"""Diagnostic for the six views' remaining shortfall (issue 10, docs/results.md): would the trained
unified network read its weak combinations better with per-combination normalisation in its
decoder, or with its unimodal heads' votes added?

    python benchmarks/weak_readouts.py --root runs/study --arm plus-r34-decoder-statistics \
        --seeds 100-104 --json docs/records/diagnostics/weak_readouts_tune_six.json

For each seed's trained unified network (tuning phase, validation split, no retraining) and every
combination, the validation accuracy of:

- ``trained``: the network as trained (the study's record);
- ``statistics``: the decoder's batch norms with running statistics of that combination alone,
  estimated (cumulative average) over one pass of the training split under that combination;
  round 34's mechanism on the classification decoder, with every combination given enough rows;
- ``experts_sum`` / ``experts_mean``: the decoder's log-probabilities plus the sum / the mean over
  the present modalities of the unimodal heads' log-probabilities (the heads ``plus.unimodal_heads``
  trains on each encoder's features, read from the run's best checkpoint; fixed weights, nothing
  fitted);
- ``singles_sum`` / ``singles_mean``: the same with the network's own decodes under each present
  modality alone in place of the heads (one network; |c| + 1 decoder calls per combination ``c``;
  a single modality's read-out is its own decode).

``--no-statistics`` leaves out ``statistics`` (its pass of the training split per combination is
the slow part).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnostic_record import diagnostic_parser, seed_data, write_record
from recalibrate import fresh_statistics
from study_arms import parse_seeds


def _heads(checkpoint: Path, modalities: list[str]) -> dict[str, nn.Linear]:
    """The unimodal heads of a run's Lightning checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    heads = {}
    for m in modalities:
        weight, bias = state[f"plus.heads.{m}.weight"], state[f"plus.heads.{m}.bias"]
        heads[m] = nn.Linear(weight.shape[1], weight.shape[0])
        heads[m].load_state_dict({"weight": weight, "bias": bias})
    return heads


@torch.no_grad()
def encoded(net: Any, batches: list[dict[str, Any]]) -> list[tuple[Any, Tensor]]:
    """Each batch's (prepared encoder outputs, ``(B,)`` targets), encoded once for every combination
    and variant (the variants share the network's encoders)."""
    net.eval()
    return [(net.prepare({m: b["inputs"][m] for m in net.modalities}), b["target"]) for b in batches]


@torch.no_grad()
def _own_statistics(net: Any, train: list[tuple[Any, Tensor]], mask_row: Tensor) -> Any:
    """A copy of ``net`` whose decoder's batch-norm statistics are those of ``mask_row`` alone
    (``train``: :func:`encoded` training batches)."""
    out = copy.deepcopy(net).eval()
    for bn in fresh_statistics(out.decoder):
        bn.train()
    for prepared, target in train:
        mask = mask_row.expand(target.shape[0], -1)
        out.decode(out.fused_from(prepared, mask), mask)
    return out.eval()


@torch.no_grad()
def _decoded(net: Any, prepared: Any, mask: Tensor) -> Tensor:
    """The network's log-probabilities ``(B, K)`` under ``mask`` ``(B, M)``."""
    return F.log_softmax(net.decode(net.fused_from(prepared, mask), mask).logits, 1)


@torch.no_grad()
def readouts(
    net: Any, heads: dict[str, nn.Linear], train: Any, val: Any, statistics: bool = True
) -> dict[str, dict[str, float]]:
    """Per combination name: each variant's validation accuracy (points)."""
    from mmanet.modality import all_combinations, combination_mask, combination_name

    train_encoded, val_encoded = encoded(net, train), encoded(net, val)
    singles = [
        {m: _decoded(net, p, combination_mask((m,), net.modalities).expand(t.shape[0], -1)) for m in net.modalities}
        for p, t in val_encoded
    ]
    out: dict[str, dict[str, float]] = {}
    for combo in all_combinations(net.modalities):
        mask_row = combination_mask(combo, net.modalities)
        own = _own_statistics(net, train_encoded, mask_row) if statistics else None
        right: dict[str, int] = {}
        rows = 0
        for (prepared, target), alone in zip(val_encoded, singles, strict=True):
            mask = mask_row.expand(target.shape[0], -1)
            logp = _decoded(net, prepared, mask)
            features = net.modality_features(prepared)
            votes = torch.stack([F.log_softmax(heads[m](features[m]), 1) for m in combo]).sum(0)
            own_votes = torch.stack([alone[m] for m in combo]).sum(0)
            scores = {
                "trained": logp,
                "experts_sum": logp + votes,
                "experts_mean": logp + votes / len(combo),
                "singles_sum": logp + own_votes,
                "singles_mean": logp + own_votes / len(combo),
            }
            if own is not None:
                scores["statistics"] = own.decode(own.fused_from(prepared, mask), mask).logits
            for name, value in scores.items():
                right[name] = right.get(name, 0) + int((value.argmax(1) == target).sum())
            rows += int(target.shape[0])
        out[combination_name(combo)] = {k: round(100 * v / rows, 2) for k, v in right.items()}
    return out


def main() -> None:
    parser = diagnostic_parser(__doc__ or "", "plus-r34-decoder-statistics")
    parser.add_argument("--setting", default="six", choices=["trio", "six"])
    parser.add_argument("--no-statistics", action="store_true", help="leave out the slow `statistics` read-out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from mmanet.modelfile import load_model_file

    per_seed = {}
    for seed in parse_seeds(args.seeds):
        _, module = seed_data(args.setting, seed)
        run = next((args.root / "tune" / args.setting / args.arm).glob(f"seed_{seed}*/seed_{seed}/mmanet-plus"))
        net = load_model_file(run / "model.pt").entries[0].net
        heads = _heads(run / "checkpoints" / "best.ckpt", list(net.modalities))
        train, val = list(module.train_dataloader()), list(module.val_dataloader())
        per_seed[str(seed)] = readouts(net, heads, train, val, statistics=not args.no_statistics)
        print(f"seed {seed} done", flush=True)
    record = {"arm": args.arm, "setting": args.setting, "split": "val", "per_seed": per_seed}
    write_record(args.json, "weak_readouts.py", record)


if __name__ == "__main__":
    main()
