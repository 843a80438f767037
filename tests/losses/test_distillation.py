import pytest
import torch
from tests.helpers.reference import reference_entropy, reference_kd, reference_mad, reference_sp

from mmanet.losses import (
    KDLoss,
    MADLoss,
    SPLoss,
    effective_sample_share,
    entropy_weights,
    kd_loss,
    mad_loss,
    mar_loss,
    mar_loss_official,
    prediction_entropy,
    sp_loss,
)


def _inputs(seed, b=7, shape=(3, 2, 2), k=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, *shape, generator=g, dtype=dtype),
        torch.randn(b, *shape, generator=g, dtype=dtype),
        torch.randn(b, k, generator=g, dtype=dtype) * 2,
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("variant", ["paper", "official"])
def test_mad_equals_loop_reference(seed, variant):
    s, t, logits = _inputs(seed)
    got = float(mad_loss(s, t, logits, variant=variant))
    assert got == pytest.approx(reference_mad(s, t, logits, variant), rel=1e-5), f"seed {seed} {variant}"
    assert float(MADLoss(variant)(s, t, logits)) == got


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_mad_teacher_temperature_and_entropy(temperature):
    s, t, logits = _inputs(11)
    assert prediction_entropy(logits, temperature).tolist() == pytest.approx(
        reference_entropy(logits, temperature), rel=1e-5
    )
    got = float(mad_loss(s, t, logits, temperature=temperature))
    assert got == pytest.approx(reference_mad(s, t, logits, "paper", temperature), rel=1e-5)


def test_official_variant_is_about_batch_size_times_paper_scale():
    s, t, _ = _inputs(3, b=32)
    uniform = torch.zeros(32, 2)
    ratio = float(mad_loss(s, t, uniform, variant="official")) / float(mad_loss(s, t, uniform, variant="paper"))
    assert ratio == pytest.approx(32, rel=1e-5)  # with uniform weights both sum all of E, scaled 1/B vs 1/B^2


def test_uniform_teacher_entropy_gives_sp():
    s, t, _ = _inputs(5)
    uniform_logits = torch.zeros(7, 4)
    assert float(mad_loss(s, t, uniform_logits)) == pytest.approx(float(sp_loss(s, t)), rel=1e-6)
    assert float(sp_loss(s, t)) == pytest.approx(reference_sp(s, t), rel=1e-5)
    assert float(SPLoss()(s, t)) == float(sp_loss(s, t))


def test_weights_sum_to_one_and_survive_saturation():
    _, _, logits = _inputs(2)
    assert float(entropy_weights(logits).sum()) == pytest.approx(1.0)
    saturated = torch.tensor([[1000.0, -1000.0], [-1000.0, 1000.0], [500.0, 0.0]])
    w = entropy_weights(saturated)
    assert torch.isfinite(w).all() and float(w.sum()) == pytest.approx(1.0)
    assert torch.allclose(w, torch.full((3,), 1 / 3))  # all entropies vanish: uniform
    assert torch.isfinite(prediction_entropy(torch.tensor([[1e4, -1e4]]))).all()


def test_effective_sample_share_bounds():
    assert float(effective_sample_share(torch.full((8,), 1 / 8))) == pytest.approx(1.0)
    one_hot = torch.zeros(8)
    one_hot[3] = 1
    assert float(effective_sample_share(one_hot)) == pytest.approx(1 / 8)


def test_mad_gradcheck_float64():
    s, t, logits = _inputs(7, b=5, shape=(3,), dtype=torch.float64)
    s.requires_grad_(True)
    for variant in ("paper", "official"):
        assert torch.autograd.gradcheck(lambda x, v=variant: mad_loss(x, t, logits, variant=v), (s,))
    assert torch.autograd.gradcheck(lambda x: sp_loss(x, t), (s,))


def test_teacher_side_gets_no_gradient():
    s, t, logits = _inputs(1)
    t.requires_grad_(True)
    logits.requires_grad_(True)
    s.requires_grad_(True)
    mad_loss(s, t, logits).backward()
    assert t.grad is None and logits.grad is None and s.grad is not None


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_equals_reference(temperature):
    _, _, student = _inputs(3)
    _, _, teacher = _inputs(4)
    assert float(kd_loss(student, teacher, temperature)) == pytest.approx(
        reference_kd(student, teacher, temperature), rel=1e-5
    )
    assert float(KDLoss(temperature)(student, teacher)) == float(kd_loss(student, teacher, temperature))
    assert float(kd_loss(teacher, teacher, temperature)) == pytest.approx(0.0, abs=1e-6)


def test_mar_loss_divides_by_whole_batch_and_official_broadcast():
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    weak = torch.tensor([True, False, True, False, False, False])
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert float(mar_loss(logits[weak], target[weak], batch_size=6)) == pytest.approx(float(ce[weak].sum() / 6))
    assert float(mar_loss_official(logits, target, weak)) == pytest.approx(float(2 * ce.mean()))
