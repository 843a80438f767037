"""Evaluate a model under every modality combination, reusing each encoder's features.

:func:`combination_outputs` encodes a batch once and decodes it once per combination;
:func:`update_combination_metrics` feeds them to a metric set (every evaluation path uses it);
:func:`evaluate_combinations` runs it over a whole loader (every sample, in order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor

from mmanet.data import Batch
from mmanet.metrics import CombinationMetrics, MetricFactory, classification_metrics
from mmanet.modality import Combination, combination_mask, combination_name
from mmanet.nn import NetOutput, SubsetNetwork

__all__ = ["combination_outputs", "data_columns", "evaluate_combinations", "update_combination_metrics"]


def data_columns(net: SubsetNetwork, data_modalities: Sequence[str]) -> list[int]:
    """Column of each of ``net``'s modalities in a presence mask ordered like ``data_modalities``."""
    missing = [m for m in net.modalities if m not in data_modalities]
    if missing:
        raise ValueError(f"the data lacks modalities {missing} that the network needs")
    return [list(data_modalities).index(m) for m in net.modalities]


def combination_outputs(
    net: SubsetNetwork,
    inputs: Mapping[str, Tensor],
    present: Tensor,
    combinations: Iterable[Combination],
) -> dict[str, NetOutput]:
    """Outputs of ``net`` for each combination, doing the mask-independent work once.

    Args:
        inputs: ``{modality: (B, *shape)}``.
        present: ``(B, M)`` bool in ``net.modalities`` order (what the data holds).
        combinations: subsets of ``net.modalities``.

    Returns:
        ``{combination name: NetOutput}``; each combination's mask is ANDed with ``present``.
    """
    prepared = net.prepare(inputs)
    outputs = {}
    for combination in combinations:
        mask = combination_mask(combination, net.modalities).to(present.device) & present
        outputs[combination_name(combination)] = net.predict(prepared, mask)
    return outputs


def update_combination_metrics(
    net: SubsetNetwork,
    batch: Batch,
    columns: Sequence[int],
    combinations: Iterable[Combination],
    metrics: CombinationMetrics,
    temperature: Mapping[str, float] | None = None,
) -> dict[str, NetOutput]:
    """Add one batch's predictions under every combination to ``metrics``; returns the outputs.

    A sample whose data lacks a modality of a combination is left out of that combination's
    metrics (it is never scored under a larger combination than it holds); the metric sets
    count the samples each combination was scored on.

    ``columns``: the network's modalities in the batch's presence mask (:func:`data_columns`);
    ``temperature``: per-combination divisors of the logits (calibration), 1 when absent.
    """
    present = batch["present"][:, list(columns)]
    combinations = list(combinations)
    outputs = combination_outputs(net, batch["inputs"], present, combinations)
    complete = bool(present.all())
    for combination, (name, out) in zip(combinations, outputs.items(), strict=True):
        scale = (temperature or {}).get(name, 1.0)
        logits, target = (out.logits / scale if scale != 1.0 else out.logits), batch["target"]
        if not complete:  # a sample counts only under combinations it holds every modality of
            holds = (present | ~combination_mask(combination, net.modalities).to(present.device)).all(1)
            logits, target = logits[holds], target[holds]
        if target.shape[0]:
            metrics.update(name, logits, target)
    return outputs


@torch.no_grad()
def evaluate_combinations(
    net: SubsetNetwork,
    batches: Iterable[Batch],
    combinations: Sequence[Combination],
    num_classes: int,
    data_modalities: Sequence[str],
    factory: MetricFactory = classification_metrics,
) -> dict[str, dict[str, float]]:
    """``{combination: {metric: value}}`` of ``net`` (in eval mode) over all ``batches``."""
    was_training = net.training
    net.eval()
    metrics = CombinationMetrics([combination_name(c) for c in combinations], num_classes, factory)
    columns = data_columns(net, data_modalities)
    for batch in batches:
        update_combination_metrics(net, batch, columns, combinations, metrics)
    net.train(was_training)
    return metrics.compute()
