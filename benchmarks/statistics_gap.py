"""Diagnostic for rounds 33 and 34 of docs/results.md: how far is each combination's
normalisation from the one a shared batch norm would use?

    python benchmarks/statistics_gap.py --root runs/study --arm plus-r34-decoder-statistics \
        --seeds 100-104 --json docs/records/diagnostics/statistics_gap_tune_seg.json

Reads each seed's trained segmentation network (tuning phase, no retraining, no data). Every
:class:`~mmanet.nn.patches.CombinationStatistics` layer holds per-combination running means and
variances ``(slots, C)``. For combination ``c`` the gap is the Kullback-Leibler divergence, per
channel, from ``N(mean_c, var_c)`` to the Gaussian of the blend a shared batch norm estimates
when every combination trained in the call holds an equal share of its rows (the pooled mean and
variance of the mixture: the decoder's one call of the sampled, single and complete passes gives
each of the 2^M - 1 combinations the same expected share at M = 2), averaged over channels and
then over the layers of a part (``decoder``: shared decoder and context module; ``primary``: the
primary stream's stages, which training runs once per pass: there the pooled mixture is what one
batch norm over all passes' rows would estimate; round 30's running statistics averaged the
passes' own statistics instead). A combination whose rows a shared batch norm would normalise furthest
from their own statistics has the largest gap.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnostic_record import diagnostic_parser, write_record
from study_arms import parse_seeds


def blend_divergence(mean: Tensor, var: Tensor) -> Tensor:
    """``(K,)`` per-combination divergence, mean over channels, of ``N(mean[k], var[k])`` from the
    equal-share mixture's moment-matched Gaussian; ``mean``, ``var``: ``(K, C)``."""
    pooled_mean = mean.mean(0)
    pooled_var = (var + mean**2).mean(0) - pooled_mean**2
    kl = 0.5 * (torch.log(pooled_var / var) + (var + (mean - pooled_mean) ** 2) / pooled_var - 1)
    return kl.mean(1)


def part_gaps(module: torch.nn.Module, codes: list[int]) -> Tensor | None:
    """``(len(codes),)`` mean over ``module``'s combination-statistics layers of
    :func:`blend_divergence` over the combinations ``codes``; ``None`` if it has none."""
    from mmanet.nn.patches import CombinationStatistics

    layers = [m for m in module.modules() if isinstance(m, CombinationStatistics)]
    if not layers:
        return None
    index = torch.tensor(codes)
    return torch.stack([blend_divergence(m.running_mean[index], m.running_var[index]) for m in layers]).mean(0)


def seed_gaps(path: Path) -> dict[str, dict[str, float]]:
    """Per part (``decoder``, ``primary``) and combination name: the gap of one model file's network."""
    from mmanet.modality import all_combinations, combination_code, combination_name
    from mmanet.modelfile import load_model_file

    net = load_model_file(path).entries[0].net
    combos = all_combinations(net.modalities)
    codes = [combination_code(c, net.modalities) for c in combos]
    names = [combination_name(c) for c in combos]
    parts = {"decoder": [net.decoder, net.context], "primary": [net.primary_stages]}
    out: dict[str, dict[str, float]] = {}
    for part, modules in parts.items():
        gaps = [g for g in (part_gaps(m, codes) for m in modules) if g is not None]
        if gaps:
            out[part] = {n: round(float(v), 4) for n, v in zip(names, torch.stack(gaps).mean(0), strict=True)}
    return out


def main() -> None:
    args = diagnostic_parser(__doc__ or "", "plus-r34-decoder-statistics").parse_args()
    per_seed = {}
    for seed in parse_seeds(args.seeds):
        path = next((args.root / "tune" / "seg" / args.arm).glob(f"seed_{seed}*/seed_{seed}/mmanet-plus/model.pt"))
        per_seed[str(seed)] = seed_gaps(path)
        print(json.dumps({seed: per_seed[str(seed)]}), flush=True)
    write_record(args.json, "statistics_gap.py", {"arm": args.arm, "per_seed": per_seed})


if __name__ == "__main__":
    main()
