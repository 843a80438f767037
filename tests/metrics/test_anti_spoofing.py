import numpy as np
import pytest
import torch

from mmanet.metrics import AntiSpoofingMetrics, UndefinedMetricError, task_metrics


def _logits(p_class1: list[float]) -> torch.Tensor:
    p = torch.tensor(p_class1, dtype=torch.float64)
    return torch.stack([torch.log(1 - p), torch.log(p)], 1).float()


def reference(p_bona: np.ndarray, is_bona: np.ndarray) -> dict[str, float]:
    accepted = p_bona >= 0.5
    attacks = ~is_bona
    apcer = (accepted & attacks).sum() / attacks.sum()
    bpcer = (~accepted & is_bona).sum() / is_bona.sum()
    pos, neg = p_bona[is_bona], p_bona[attacks]
    auc = np.mean([(1.0 if a > b else 0.5 if a == b else 0.0) for a in pos for b in neg])
    return {
        "apcer": apcer,
        "bpcer": bpcer,
        "acer": (apcer + bpcer) / 2,
        "accuracy": np.mean(accepted == is_bona),
        "auc": auc,
    }


def test_hand_computed_case_casia_convention():
    # bona fide = 1. Targets: 3 real, 5 attacks. One real rejected, two attacks accepted.
    target = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0])
    p1 = [0.9, 0.8, 0.3, 0.7, 0.6, 0.2, 0.1, 0.4]
    metric = AntiSpoofingMetrics(bona_fide_label=1)
    metric.update(_logits(p1), target)
    out = {k: float(v) for k, v in metric.compute().items()}
    assert out["apcer"] == pytest.approx(2 / 5)
    assert out["bpcer"] == pytest.approx(1 / 3)
    assert out["acer"] == pytest.approx((2 / 5 + 1 / 3) / 2)
    assert out["hter"] == pytest.approx(out["acer"])
    assert out["accuracy"] == pytest.approx(5 / 8)


def test_cefa_convention_swaps_the_roles():
    # bona fide = 0: class-0 probability is the bona fide score.
    target = torch.tensor([0, 0, 1, 1])
    p1 = [0.2, 0.7, 0.9, 0.4]  # p(bona) = 0.8, 0.3, 0.1, 0.6
    metric = AntiSpoofingMetrics(bona_fide_label=0)
    metric.update(_logits(p1), target)
    out = metric.compute()
    assert float(out["bpcer"]) == pytest.approx(1 / 2)  # the 0.3 real rejected
    assert float(out["apcer"]) == pytest.approx(1 / 2)  # the 0.6 attack accepted


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("bona", [0, 1])
def test_equals_numpy_reference_over_batches(seed, bona):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, 300)
    target[:2] = [0, 1]
    p1 = rng.uniform(0.01, 0.99, 300)
    metric = AntiSpoofingMetrics(bona_fide_label=bona)
    for start in range(0, 300, 64):
        metric.update(_logits(p1[start : start + 64].tolist()), torch.as_tensor(target[start : start + 64]))
    got = {k: float(v) for k, v in metric.compute().items()}
    p_bona = p1 if bona == 1 else 1 - p1
    expected = reference(p_bona, target == bona)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-5), (seed, bona, key)


def test_split_without_attacks_or_bona_fide_is_an_error_not_nan():
    metric = AntiSpoofingMetrics(bona_fide_label=1)
    metric.update(_logits([0.9, 0.2]), torch.tensor([1, 1]))
    with pytest.raises(UndefinedMetricError, match="no attack presentations"):
        metric.compute()
    metric = AntiSpoofingMetrics(bona_fide_label=1)
    metric.update(_logits([0.9, 0.2]), torch.tensor([0, 0]))
    with pytest.raises(UndefinedMetricError, match="no bona fide presentations"):
        metric.compute()


def test_task_spec_selection_and_directions():
    task = task_metrics("anti_spoofing", bona_fide=0)
    assert task.names[0] == "acer" and task.select == "acer"
    assert task.score({"acer": 0.1}) == pytest.approx(0.9)
    assert not task.higher_is_better["apcer"] and task.higher_is_better["auc"]
    with pytest.raises(ValueError, match="2 classes"):
        task.factory(3)
    with pytest.raises(ValueError, match="available"):
        task_metrics("detection")
