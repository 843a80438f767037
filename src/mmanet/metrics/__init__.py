"""Metrics per modality combination, by task."""

from mmanet.metrics.anti_spoofing import AntiSpoofingMetrics, UndefinedMetricError
from mmanet.metrics.classification import CombinationMetrics, MetricFactory, classification_metrics
from mmanet.metrics.tasks import TASKS, TaskMetrics, task_metrics

__all__ = [
    "TASKS",
    "AntiSpoofingMetrics",
    "CombinationMetrics",
    "MetricFactory",
    "TaskMetrics",
    "UndefinedMetricError",
    "classification_metrics",
    "task_metrics",
]
