"""Distillation as a composition: which layer, a distance per row, a reducer that weighs the rows.

The PML split (``../shared/STYLE.md``): a :class:`Distance` returns one value per row (a sample,
or a pixel for dense maps); a :class:`Reducer` turns them into one number. Training code builds
a :class:`DistillationLoss` once (:func:`build_distillation`) and never branches on loss names:

=====  ===========================  ==========================================
name   distance                     reducer
=====  ===========================  ==========================================
kd     :class:`KDDistance` (logits) :class:`MeanReducer`
sp     SP similarity rows           :class:`MeanReducer`
mad    SP similarity rows           :class:`EntropyReducer` (teacher entropy) or
                                    :class:`TableReducer` (cross-fitted entropies)
=====  ===========================  ==========================================

No reducer reads a value back to the host, so a training step on a GPU is not synchronised.
Under DDP the features, teacher outputs and indices are gathered over every process first
(gradients flow back through the gather), so the loss is that of one process on the global
batch: ``distill.alpha`` and the ``official`` scale (which grows with the batch) mean the same on
one GPU and on eight at the same global batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from torch import Tensor

from mmanet.losses.dense import dense_similarity_distances, pixel_entropy_weights, pool_rows
from mmanet.losses.distillation import kd_distances
from mmanet.losses.reductions import entropy_weights, normalize_weights, weighted_sum
from mmanet.losses.similarity import Axis, similarity_distances

DenseAxis = Literal["row", "column", "halves"]
Gather = Callable[[Tensor, bool], Tensor]

__all__ = [
    "Context",
    "DenseSimilarityDistance",
    "DistillationLoss",
    "EntropyReducer",
    "KDDistance",
    "MeanReducer",
    "SimilarityDistance",
    "TableReducer",
    "build_distillation",
]


@dataclasses.dataclass(frozen=True)
class Context:
    """What a reducer may weigh rows by.

    Attributes:
        teacher_logits: ``(B, K)`` or ``(B, K, H, W)``.
        index: ``(B,)`` positions of the samples in the training split.
        size: ``(h, w)`` of the pooled map the rows come from (dense), else ``None``.
    """

    teacher_logits: Tensor
    index: Tensor
    size: tuple[int, int] | None = None


class Distance(Protocol):
    """Per-row distances between a student and a teacher tensor."""

    def __call__(self, student: Tensor, teacher: Tensor) -> Tensor: ...

    def size(self, feature_map: Tensor) -> tuple[int, int] | None: ...


class Reducer(Protocol):
    """``(loss, weights or None)`` from per-row values."""

    def __call__(self, values: Tensor, context: Context) -> tuple[Tensor, Tensor | None]: ...


@dataclasses.dataclass(frozen=True)
class SimilarityDistance:
    """SP rows of per-sample features ``(B, ...)``: :func:`~mmanet.losses.similarity.similarity_distances`."""

    axis: Axis = "row"

    def __call__(self, student: Tensor, teacher: Tensor) -> Tensor:
        return similarity_distances(student, teacher, self.axis)

    def size(self, feature_map: Tensor) -> tuple[int, int] | None:
        return None


@dataclasses.dataclass(frozen=True)
class DenseSimilarityDistance:
    """SP rows with pixels as samples: each ``(B, C, H, W)`` map pooled to at most ``max_size``,
    Gram rows built ``chunk`` at a time (:func:`~mmanet.losses.dense.dense_similarity_distances`)."""

    max_size: tuple[int, int] = (30, 40)
    chunk: int = 1024
    axis: DenseAxis = "row"

    def __call__(self, student: Tensor, teacher: Tensor) -> Tensor:
        rows = (pool_rows(student, self.max_size), pool_rows(teacher, self.max_size))
        return dense_similarity_distances(*rows, self.chunk, self.axis)

    def size(self, feature_map: Tensor) -> tuple[int, int] | None:
        return min(feature_map.shape[-2], self.max_size[0]), min(feature_map.shape[-1], self.max_size[1])


@dataclasses.dataclass(frozen=True)
class KDDistance:
    """Hinton KD per sample (or per pixel of dense logits): :func:`~mmanet.losses.distillation.kd_distances`."""

    temperature: float = 4.0

    def __call__(self, student: Tensor, teacher: Tensor) -> Tensor:
        return kd_distances(_pixels(student), _pixels(teacher), self.temperature)

    def size(self, feature_map: Tensor) -> tuple[int, int] | None:
        return None


class MeanReducer:
    """Uniform weights: the mean."""

    def __call__(self, values: Tensor, context: Context) -> tuple[Tensor, Tensor | None]:
        return values.mean(), None


@dataclasses.dataclass(frozen=True)
class EntropyReducer:
    """MAD's weights: the normalised entropy of the teacher's prediction per row (per pooled pixel
    for dense maps), ``w_i = H_i / sum_k H_k``."""

    temperature: float = 1.0

    def __call__(self, values: Tensor, context: Context) -> tuple[Tensor, Tensor | None]:
        if context.size is None:
            weights = entropy_weights(context.teacher_logits, self.temperature)
        else:
            weights = pixel_entropy_weights(context.teacher_logits, context.size, self.temperature)
        return weighted_sum(values, weights), weights


@dataclasses.dataclass(frozen=True)
class TableReducer:
    """MAD's weights from a per-training-sample entropy table (cross-fitted teachers)."""

    table: Tensor

    def __call__(self, values: Tensor, context: Context) -> tuple[Tensor, Tensor | None]:
        if context.size is not None:
            raise ValueError("cross-fitted uncertainty is per sample; dense MAD takes per-pixel teacher entropies")
        weights = normalize_weights(self.table.to(values.device)[context.index])
        return weighted_sum(values, weights), weights


class DistillationLoss:
    """``sum over maps of reducer(distance(student map, teacher map))`` on one layer.

    Args:
        name: the loss term's name (``kd``, ``sp``, ``mad``).
        layer: key of the student/teacher outputs compared (``features``, ``fused``, ``logits``);
            a tuple of maps there (dense) is compared map by map and summed.
        distance, reducer: see the module docstring.
    """

    def __init__(self, name: str, layer: str, distance: Distance, reducer: Reducer) -> None:
        self.name = name
        self.layer = layer
        self.distance = distance
        self.reducer = reducer

    def __call__(
        self, student: Mapping[str, Any], teacher: Mapping[str, Any], index: Tensor, gather: Gather | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(loss, weights of the first map or None)``.

        ``gather(tensor, grad)``: concatenate a tensor over every process of a distributed run
        (with gradient for the student's), so the Gram matrices and the MAD weights cover the
        global batch and the loss equals one process on it; ``None`` in one process.
        """
        s_maps, t_maps = _maps(student[self.layer]), _maps(teacher[self.layer])
        logits = teacher["logits"]
        if gather is not None:
            s_maps = [gather(x, True) for x in s_maps]
            t_maps = [gather(x, False) for x in t_maps]
            logits, index = gather(logits, False), gather(index, False)
        if len(s_maps) != len(t_maps):
            raise ValueError(f"{len(s_maps)} student maps vs {len(t_maps)} teacher maps on layer {self.layer!r}")
        if len(s_maps) == 1:
            return self._one(s_maps[0], t_maps[0], logits, index)
        total, first = None, None
        for s_map, t_map in zip(s_maps, t_maps, strict=True):
            loss, weights = self._one(s_map, t_map, logits, index)
            total = loss if total is None else total + loss
            first = weights if first is None else first
        assert total is not None
        return total, first

    def _one(self, student: Tensor, teacher: Tensor, logits: Tensor, index: Tensor) -> tuple[Tensor, Tensor | None]:
        context = Context(logits, index, self.distance.size(student))
        return self.reducer(self.distance(student, teacher), context)


def build_distillation(
    kind: Literal["sp", "kd", "mad"],
    *,
    layer: str = "features",
    variant: Literal["paper", "official"] = "paper",
    dense: bool = False,
    temperature: float = 4.0,
    teacher_temperature: float = 1.0,
    max_size: Sequence[int] = (30, 40),
    chunk: int = 1024,
    entropy_table: Tensor | None = None,
) -> DistillationLoss:
    """The distillation loss ``kind`` (see the module docstring).

    ``variant`` picks MAD's form: ``paper`` (row distances); ``official`` the public code's, which
    is per-column sums for classification and the half-column form for segmentation
    (:func:`~mmanet.losses.dense.dense_similarity_distances`); dense SP follows it too.
    ``dense``: pixels are the samples (segmentation).
    """
    if kind not in ("sp", "kd", "mad"):
        raise ValueError(f"unknown distillation {kind!r}; available: ['kd', 'mad', 'sp']")
    if kind == "kd":
        return DistillationLoss("kd", "logits", KDDistance(temperature), MeanReducer())
    axis: Axis = "row" if variant == "paper" else "column"
    size = (int(max_size[0]), int(max_size[1]))
    distance: Distance = (
        DenseSimilarityDistance(size, chunk, axis) if dense else SimilarityDistance(axis if kind == "mad" else "row")
    )
    if kind == "sp":
        return DistillationLoss("sp", layer, distance, MeanReducer())
    if entropy_table is not None:
        if dense:
            raise ValueError("cross-fitted uncertainty is per sample; dense MAD takes per-pixel teacher entropies")
        return DistillationLoss("mad", layer, distance, TableReducer(entropy_table))
    return DistillationLoss("mad", layer, distance, EntropyReducer(teacher_temperature))


def _maps(value: Any) -> list[Tensor]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _pixels(logits: Tensor) -> Tensor:
    """``(B, K, H, W)`` -> ``(B H W, K)``; ``(B, K)`` unchanged."""
    return logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]) if logits.ndim == 4 else logits
