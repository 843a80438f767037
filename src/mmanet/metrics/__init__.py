"""Metrics per modality combination, by task."""

from mmanet.metrics.anti_spoofing import AntiSpoofingMetrics, UndefinedMetricError
from mmanet.metrics.classification import CombinationMetrics, MetricFactory, classification_metrics
from mmanet.metrics.segmentation import IGNORE_INDEX, SegmentationMetrics, upsample_logits
from mmanet.metrics.tasks import TASKS, TaskMetrics, TaskSpec, task_metrics

__all__ = [
    "IGNORE_INDEX",
    "TASKS",
    "AntiSpoofingMetrics",
    "CombinationMetrics",
    "MetricFactory",
    "SegmentationMetrics",
    "TaskMetrics",
    "TaskSpec",
    "UndefinedMetricError",
    "classification_metrics",
    "task_metrics",
    "upsample_logits",
]
