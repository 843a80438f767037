"""Metrics per modality combination."""

from mmanet.metrics.classification import CombinationMetrics, MetricFactory, classification_metrics

__all__ = ["CombinationMetrics", "MetricFactory", "classification_metrics"]
