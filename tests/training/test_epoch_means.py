"""EpochMeans gives Lightning's on-epoch means (batch-size weighted) without a per-step log call."""

import pytest
import torch

from mmanet.training.deployment import EpochMeans


def test_weighted_means_over_steps_with_changing_terms():
    means = EpochMeans()
    means.add({"loss": torch.tensor(2.0), "task": torch.tensor(1.0)}, 64)
    means.add({"loss": torch.tensor(4.0), "task": torch.tensor(3.0), "mad": torch.tensor(0.5)}, 32)
    means.add({"loss": torch.tensor(1.0), "task": torch.tensor(1.0), "mad": torch.tensor(0.1)}, 16)
    result = {k: float(v) for k, v in means.means().items()}
    assert result["loss"] == pytest.approx((2 * 64 + 4 * 32 + 1 * 16) / 112)
    assert result["task"] == pytest.approx((1 * 64 + 3 * 32 + 1 * 16) / 112)
    assert result["mad"] == pytest.approx((0.5 * 32 + 0.1 * 16) / 48)  # only the steps that had it
    assert means.means() == {}  # emptied for the next epoch


def test_values_are_detached():
    weight = torch.tensor(3.0, requires_grad=True)
    means = EpochMeans()
    means.add({"loss": weight * 2}, 8)
    assert not means.means()["loss"].requires_grad
