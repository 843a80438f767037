"""How far a segmentation specialist's encoder, copied into the two-modality network, is from
computing what it computed in its specialist (round 31 of docs/results.md).

    python benchmarks/stream_gap.py --specialists PATH --seed 100

A single-modality network feeds each stage's output to its next stage through the stage's
squeeze-excitation; in the two-modality network a non-primary stream continues on its raw stage
outputs (unless ``model.stream_se``). For each specialist and stage ``k`` this prints
``|SE_k(X'_k) - F_k| / |F_k|`` on the validation images of the seed: ``F_k`` the specialist's own
fused map, ``X'_k`` the same encoder chained without the squeeze-excitations in between (what a
copied non-primary encoder computes without ``stream_se``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_arms import SETTING_FILES, SETTINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specialists", type=Path, required=True, help="a seg specialists model.pt")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    from mmanet.config import load_config
    from mmanet.data import load_dataset
    from mmanet.modelfile import load_model_file
    from mmanet.training.seed import prepare_seed

    cfg = load_config(SETTING_FILES["seg"], [*SETTINGS["seg"], f"seeds=[{args.seed}]"])
    data = prepare_seed(cfg, load_dataset(cfg.data), args.seed)
    module = data.datamodule()
    module.setup("fit")
    gaps: dict[str, list[float]] = {}
    for entry in load_model_file(args.specialists).entries:
        net = entry.net.eval()
        (m,) = entry.spec.modalities
        num, den = torch.zeros(5), torch.zeros(5)
        with torch.no_grad():
            for i, batch in enumerate(module.val_dataloader()):
                if i == args.batches:
                    break
                x = net.norms[m](batch["inputs"][m])
                fused = net._fused_maps({m: [x]}, torch.ones(x.shape[0], 1, dtype=torch.bool))
                raw = net.encoders[m](x)
                for k in range(5):
                    num[k] += (net.se[k][m](raw[k]) - fused[k]).pow(2).sum()
                    den[k] += fused[k].pow(2).sum()
        gaps[m] = [round(float(v), 3) for v in (num / den).sqrt()]
    print(json.dumps({"specialists": str(args.specialists), "seed": args.seed, "relative_gap_by_stage": gaps}))


if __name__ == "__main__":
    main()
