"""OGM-GE in mmanet-plus (``plus.ogm``): per-row gradient coefficients against a loop over rows and
modalities, the gradient each encoder's features receive, GE noise at the gradient's scale, and a
run that modulates only its first epochs and refuses the segmentation network."""

import csv
import math

import pytest
import torch
from tests.helpers.runs import tiny_run_args

from mmanet.cli import main
from mmanet.config import ConfigError, PlusConfig
from mmanet.nn import NetworkSpec, build_network
from mmanet.training.plus import PlusComponents, add_gradient_noise, ogm_coefficients, scale_gradient

TINY = tiny_run_args(samples=160, data_seed=1, epochs=3)


def reference_coefficients(scores: list[float], mask: list[list[bool]], alpha: float) -> list[list[float]]:
    """Peng et al.'s Eq. 10 row by row: a present modality's score over the mean of the row's others."""
    out = []
    for row in mask:
        held = [j for j, on in enumerate(row) if on]
        coefficients = []
        for j in range(len(row)):
            others = [scores[i] for i in held if i != j]
            if not row[j] or not others:
                coefficients.append(1.0)
                continue
            ratio = scores[j] / (sum(others) / len(others))
            coefficients.append(1 - math.tanh(alpha * ratio) if ratio > 1 else 1.0)
        out.append(coefficients)
    return out


def test_ogm_coefficients_equal_the_loop_over_rows_and_modalities():
    scores = [0.9, 0.5, 0.65, 0.2]  # no row's ratio ties at exactly 1
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(40, 4, generator=g) > 0.4
    mask[0] = torch.tensor([True, False, False, False])  # one modality: nothing to compete with
    mask[1] = torch.tensor([False, False, False, False])
    mask[2] = torch.tensor([True, True, True, True])
    got = ogm_coefficients(torch.tensor(scores), mask, 0.8)
    want = torch.tensor(reference_coefficients(scores, mask.tolist(), 0.8))
    torch.testing.assert_close(got, want)
    # in the complete combination each modality above the mean of the others is held back: a and c
    assert got[2, 0].item() == pytest.approx(1 - math.tanh(0.8 * 0.9 / (1.35 / 3)), abs=1e-6)
    assert got[2, 2].item() == pytest.approx(1 - math.tanh(0.8 * 0.65 / (1.6 / 3)), abs=1e-6)
    assert got[2, 1] == 1 and got[2, 3] == 1
    assert (got[0] == 1).all() and (got[1] == 1).all()


def test_scale_gradient_keeps_the_values_and_scales_each_rows_gradient():
    x = torch.randn(5, 3, 2, requires_grad=True)
    factor = torch.tensor([1.0, 0.5, 0.0, 2.0, 0.25])
    y = scale_gradient(x, factor)
    assert torch.equal(y, x)
    weight = torch.randn(5, 3, 2)
    (y * weight).sum().backward()
    torch.testing.assert_close(x.grad, weight * factor[:, None, None])


def test_modulated_features_send_each_row_its_coefficient_times_the_gradient():
    torch.manual_seed(0)
    spec = NetworkSpec(
        ("a", "b", "c"), {"a": (5,), "b": (6,), "c": (3,)}, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}}
    )
    net = build_network(spec).eval()
    plus = PlusComponents(net.modalities, net.modality_feature_shapes(), 3, PlusConfig(ogm=0.5, specialists=0.0))
    g = torch.Generator().manual_seed(1)
    inputs = {m: torch.randn(12, s[0], generator=g) for m, s in spec.input_shapes.items()}
    mask = torch.rand(12, 3, generator=g) > 0.3
    mask[:, 0] = True
    scores = torch.tensor([0.8, 0.3, 0.6])
    grads = []
    for modulate in (False, True):
        prepared = net.prepare(inputs)
        features = prepared[0]
        for f in features.values():
            f.retain_grad()
        used, k = plus.modulated(prepared, mask, scores) if modulate else (prepared, None)
        net.decode(net.fused_from(used, mask), mask).logits.square().sum().backward()
        grads.append({m: f.grad.clone() for m, f in features.items()})
    assert k is not None and (k < 1).any()
    for j, m in enumerate(net.modalities):
        torch.testing.assert_close(grads[1][m], grads[0][m] * k[:, j : j + 1])


def test_gradient_noise_has_each_gradients_own_scale_and_leaves_vectors_alone():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.zeros(400, 250))
    bias = torch.nn.Parameter(torch.zeros(250))
    none = torch.nn.Parameter(torch.zeros(3, 3))
    weight.grad = torch.randn(400, 250) * 0.3 + 1.0
    bias.grad = torch.randn(250)
    before, bias_before = weight.grad.clone(), bias.grad.clone()
    add_gradient_noise([weight, bias, none], seed=7)
    noise = weight.grad - before
    assert noise.mean().abs() < 0.01 and noise.std() == pytest.approx(before.std().item(), rel=0.02)
    assert torch.equal(bias.grad, bias_before) and none.grad is None
    # the same seed draws the same noise (every data-parallel process agrees), another seed does not
    for seed, same in ((7, True), (8, False)):
        weight.grad = before.clone()
        add_gradient_noise([weight], seed=seed)
        assert torch.equal(weight.grad - before, noise) == same


def test_ogm_needs_the_unimodal_heads_and_a_non_negative_alpha():
    with pytest.raises(ConfigError, match=r"plus\.ogm: expected 0 without plus\.unimodal_heads"):
        PlusConfig(ogm=0.1, unimodal_heads=0.0)
    with pytest.raises(ConfigError, match=r"plus\.ogm\b"):
        PlusConfig(ogm=-0.1)
    with pytest.raises(ConfigError, match=r"plus\.ogm_until"):
        PlusConfig(ogm=0.1, ogm_until=0.0)


@pytest.mark.slow
def test_a_run_modulates_its_first_epochs_only_and_segmentation_is_refused(tmp_path, capsys):
    from tests.training.test_plus import SEG_CONFIG, SEG_TINY

    flags = ["--set", "plus.ogm=0.5", "--set", "plus.ogm_until=0.5"]  # ceil(0.5 * 3) = 2 epochs
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "c"), *TINY, *flags]) == 0
    rows = list(csv.DictReader((tmp_path / "c" / "seed_0" / "mmanet-plus" / "logs" / "metrics.csv").open()))
    logged = {int(r["epoch"]) for r in rows if r.get("train/ogm_a")}
    assert logged == {0, 1}
    values = [float(r[f"train/ogm_{m}"]) for r in rows if r.get("train/ogm_a") for m in "abc"]
    assert all(0 < v <= 1 for v in values) and min(values) < 1  # someone was held back
    capsys.readouterr()
    out = tmp_path / "s"
    assert main(["run", str(SEG_CONFIG), "--methods", "mmanet-plus", "--out", str(out), *SEG_TINY, *flags]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert "plus.ogm: gradient modulation needs a network whose encoders meet only at the fusion" in said
    assert not out.exists()
