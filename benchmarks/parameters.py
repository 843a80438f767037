"""Parameter counts of the study's networks: one unified network against the customized ones.

    python benchmarks/parameters.py --setting seg --arms plus-r4-patches,plus-r4-wide

Prints, per arm, the deployment network's parameters (heads and other training-only parts
excluded) and the ratio to the 2^M - 1 customized networks of the base configuration together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mmanet.config import load_config
from mmanet.data import load_dataset
from mmanet.modality import all_combinations
from mmanet.nn import NetworkSpec, build_network
from mmanet.training import METHODS
from study_arms import BASE, SETTING_FILES, SETTINGS, final_arm


def count(spec: NetworkSpec) -> int:
    """Parameters of the network ``spec`` builds."""
    return sum(p.numel() for p in build_network(spec).parameters())


def network_spec(setting: str, arm: str) -> NetworkSpec:
    """The deployment network an arm trains in a setting (patches resolved for its method)."""
    method, overrides = final_arm(arm, setting)
    cfg = load_config(
        SETTING_FILES.get(setting), [*([] if setting in SETTING_FILES else BASE), *SETTINGS[setting], *overrides]
    )
    source = load_dataset(cfg.data)
    model = cfg.model.for_task(source.task).for_method(METHODS[method].plus)
    shapes = source.input_shapes
    return NetworkSpec(source.modalities, shapes, source.num_classes, model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="seg", choices=sorted(SETTINGS))
    parser.add_argument("--arms", default="plus-r4-patches,plus-r4-wide")
    args = parser.parse_args()
    base = network_spec(args.setting, "customized")
    customized = sum(count(base.restricted(c)) for c in all_combinations(base.modalities))
    print(f"customized ({2 ** len(base.modalities) - 1} networks together): {customized:,}")
    for arm in args.arms.split(","):
        n = count(network_spec(args.setting, arm))
        print(f"{arm}: {n:,} ({n / customized:.2f} x the customized networks together)")


if __name__ == "__main__":
    main()
