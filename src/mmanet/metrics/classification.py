"""Classification metrics, and a metric set per modality combination.

Metric states are summed across DDP ranks by torchmetrics, so a sharded evaluation gives the
same numbers as one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from torch import Tensor, nn
from torchmetrics import MetricCollection, SumMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError, MulticlassF1Score

__all__ = ["CombinationMetrics", "MetricFactory", "classification_metrics"]

MetricFactory = Callable[..., nn.Module]


def classification_metrics(num_classes: int) -> MetricCollection:
    """``accuracy`` (micro: share of samples right), ``macro_f1`` (F1 averaged over classes) and
    ``ece`` (top-label expected calibration error, 15 equal-width bins)."""
    return MetricCollection(
        {
            "accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro"),
            "macro_f1": MulticlassF1Score(num_classes=num_classes, average="macro"),
            "ece": MulticlassCalibrationError(num_classes=num_classes, n_bins=15, norm="l1"),
        }
    )


def _plain(value: Tensor) -> Any:
    """A scalar as float; a vector as a list with ``None`` for NaN (JSON-safe)."""
    if value.numel() == 1:
        return float(value)
    return [None if v != v else float(v) for v in value.tolist()]


class CombinationMetrics(nn.Module):
    """A metric set per combination name (``"pix+fou"``); each returns ``{metric: value}`` and the
    number of ``samples`` it was computed on (metrics are ``None`` for a combination no sample served).

    ``options``: per-combination keyword arguments of the factory (e.g. the anti-spoofing decision
    threshold chosen on validation for that combination).
    """

    def __init__(
        self,
        names: Sequence[str],
        num_classes: int,
        factory: MetricFactory = classification_metrics,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.names = list(names)
        options = options or {}
        self.collections = nn.ModuleDict({n: factory(num_classes, **options.get(n, {})) for n in self.names})
        self.samples = nn.ModuleDict({n: SumMetric() for n in self.names})

    def update(self, name: str, logits: Tensor, target: Tensor) -> None:
        """Add one batch of ``(B, K)`` logits and ``(B,)`` targets for combination ``name``."""
        self._get(name).update(logits.float(), target)
        cast(Any, self.samples[name]).update(target.shape[0])

    def compute(self) -> dict[str, dict[str, Any]]:
        """``{combination: {metric: value, "samples": n}}`` over everything seen (synced across ranks)."""
        out = {}
        for name in self.names:
            count = int(cast(Any, self.samples[name]).compute())
            values = {k: _plain(v) for k, v in self._get(name).compute().items()} if count else self._empty(name)
            out[name] = values | {"samples": count}
        return out

    def _empty(self, name: str) -> dict[str, Any]:
        keys = list(self._get(name).keys()) if isinstance(self._get(name), MetricCollection) else []
        return dict.fromkeys(keys)

    def reset(self) -> None:
        """Forget all batches."""
        for name in self.names:
            self._get(name).reset()
            cast(Any, self.samples[name]).reset()

    def _get(self, name: str) -> Any:
        return cast(Any, self.collections[name])
