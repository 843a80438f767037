"""Training methods by name: what each one samples, distils and regularizes."""

from __future__ import annotations

import dataclasses
from typing import Literal

from mmanet.config import PlusConfig

__all__ = ["METHODS", "MethodSpec", "get_method"]


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """How one method trains.

    Attributes:
        sampling: ``full`` (every modality the data has), ``uniform`` (modality dropout: each
            sample's combination drawn uniformly from the non-empty subsets).
        per_combination: train one model per combination on that combination only.
        distill: knowledge transfer from the frozen teacher, or ``None``.
        regularize: MAR (regularization network on mined weak combinations).
        plus: the ``mmanet-plus`` components (``plus`` config section; it may switch MAD and MAR off).
        single_only: a per-combination method restricted to the single modalities (specialists).
    """

    name: str
    description: str
    sampling: Literal["full", "uniform"] = "uniform"
    per_combination: bool = False
    distill: Literal["sp", "kd", "mad"] | None = None
    regularize: bool = False
    plus: bool = False
    single_only: bool = False

    def distillation(self, plus: PlusConfig) -> Literal["sp", "kd", "mad"] | None:
        """The distillation this method runs (``mmanet-plus`` may switch MAD off with ``plus.mad``)."""
        return None if self.plus and not plus.mad else self.distill

    def regularizes(self, plus: PlusConfig) -> bool:
        """Whether this method runs MAR (``mmanet-plus`` may switch it off with ``plus.mar``)."""
        return self.regularize and (plus.mar or not self.plus)

    def needs_teacher(self, plus: PlusConfig) -> bool:
        """Whether a teacher must be trained (or given) first."""
        return self.distillation(plus) is not None

    def needs_specialists(self, plus: PlusConfig) -> bool:
        """Whether per-modality specialists must be trained (or given) first."""
        return self.plus and plus.needs_specialists


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("teacher", "one model trained on complete modalities", sampling="full"),
        MethodSpec(
            "customized", "one model per combination, trained on it alone", sampling="full", per_combination=True
        ),
        MethodSpec("dropout", "one unified model with uniform modality dropout"),
        MethodSpec("sp", "dropout + similarity-preserving distillation from the teacher", distill="sp"),
        MethodSpec("kd", "dropout + Hinton logit distillation from the teacher", distill="kd"),
        MethodSpec("mad", "dropout + margin-aware distillation (MAD) from the teacher", distill="mad"),
        MethodSpec("mar", "dropout + modality-aware regularization (MAR) on mined weak combinations", regularize=True),
        MethodSpec("mmanet", "MMANet: dropout + MAD + MAR", distill="mad", regularize=True),
        MethodSpec(
            "mmanet-plus",
            "dropout + encoders from the specialists, unimodal heads, single and complete passes, specialist KD "
            "(plus.*; MAD, MAR optional)",
            distill="mad",
            regularize=True,
            plus=True,
        ),
        MethodSpec(
            "specialists",
            "one model per single modality (what mmanet-plus distils from)",
            sampling="full",
            per_combination=True,
            single_only=True,
        ),
    )
}


def get_method(name: str) -> MethodSpec:
    """The method called ``name``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {sorted(METHODS)}")
    return METHODS[name]
