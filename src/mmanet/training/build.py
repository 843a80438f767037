"""Module construction: one complete, freshly initialised Lightning module per model trained."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import lightning as L
from torch import Tensor

from mmanet.modality import combination_name
from mmanet.nn import NetworkSpec
from mmanet.training.deployment import DeploymentModule
from mmanet.training.methods import MethodSpec
from mmanet.training.mmanet_module import MMANetModule
from mmanet.training.seed import SeedData
from mmanet.training.teacher import ModelRef

__all__ = ["Prerequisites", "build_module"]


@dataclasses.dataclass(frozen=True)
class Prerequisites:
    """What earlier steps of a seed produced for the methods that need it."""

    teacher: ModelRef | None = None
    specialists: ModelRef | None = None
    entropy_table: Tensor | None = None


def build_module(
    data: SeedData,
    method: MethodSpec,
    *,
    spec: NetworkSpec | None = None,
    prerequisites: Prerequisites = Prerequisites(),
    combinations: Sequence[str] | None = None,
) -> DeploymentModule:
    """A module for ``method``, seeded so every method of a seed starts from the same weights.

    ``spec``: the network (default: the seed's; a customized model restricts it), its
    ``combination_patches: auto`` resolved for ``method`` (the module's ``spec``);
    ``combinations``: what it serves and is selected on (default: every combination).
    """
    spec = spec or data.spec
    spec = dataclasses.replace(spec, model=spec.model.for_method(method.plus))
    cfg = data.cfg
    full = [combination_name(spec.modalities)] if method.sampling == "full" and not method.per_combination else None
    L.seed_everything(data.seed, verbose=False)
    common = {
        "spec": spec,
        "data_modalities": data.modalities,
        "optim": cfg.optim,
        "method": method,
        "seed": data.seed,
        "num_train": data.num_train,
        "task": data.task,
        "eval_combinations": combinations,
        "select_combinations": full,
        "class_weights": data.source.class_weights,
        "sampling": cfg.plus.sampling if method.plus else "uniform",
        "sampling_mix": cfg.plus.sampling_mix,
    }
    module: DeploymentModule
    if method.needs_teacher(cfg.plus) or method.regularizes(cfg.plus) or method.plus:
        module = MMANetModule(
            distill=cfg.distill,
            mar=cfg.mar,
            plus=cfg.plus,
            teacher=prerequisites.teacher,
            specialists=prerequisites.specialists,
            entropy_table=prerequisites.entropy_table if method.distillation(cfg.plus) == "mad" else None,
            fixed_inputs=not data.source.augments,
            **common,  # type: ignore[arg-type]
        )
    else:
        module = DeploymentModule(**common)  # type: ignore[arg-type]
    if data.splits.statistics is not None and cfg.data.normalize:
        module.fit_input_statistics(*data.splits.statistics)
    return module
