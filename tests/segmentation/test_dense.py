"""Dense MAD, segmentation metrics and loss, masked fusion of the ESANet-style network."""

import numpy as np
import pytest
import torch
from tests.helpers.reference import reference_dense_mad, reference_miou

from mmanet.losses import dense_mad_loss, dense_similarity_distances, pool_rows, segmentation_loss
from mmanet.losses.segmentation import downsample_labels
from mmanet.metrics import SegmentationMetrics
from mmanet.nn import NetworkSpec, build_network


def _maps(seed, shape=(2, 3, 6, 8)):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*shape, generator=g),
        torch.randn(*shape, generator=g),
        torch.randn(shape[0], 4, 12, 16, generator=g),
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("weighted", [True, False])
def test_dense_mad_equals_loop_reference(seed, weighted):
    s, t, logits = _maps(seed)
    size = (3, 4)  # pooled from 6 x 8
    got = float(dense_mad_loss([s], [t], logits if weighted else None, max_size=size, chunk=5))
    assert got == pytest.approx(reference_dense_mad(s, t, logits if weighted else None, size), rel=1e-4), seed


@pytest.mark.parametrize("axis", ["row", "column"])
def test_chunked_equals_unchunked_values_and_gradients(axis):
    s, t, _ = _maps(7, (2, 5, 6, 8))
    rows_s, rows_t = pool_rows(s, (6, 8)), pool_rows(t, (6, 8))
    a = rows_s.clone().requires_grad_(True)
    b = rows_s.clone().requires_grad_(True)
    small = dense_similarity_distances(a, rows_t, chunk=7, axis=axis)
    whole = dense_similarity_distances(b, rows_t, chunk=10_000, axis=axis)
    assert torch.allclose(small, whole, atol=1e-6)
    (small * torch.arange(len(small))).sum().backward()
    (whole * torch.arange(len(whole))).sum().backward()
    assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-4)


def test_chunking_never_splits_a_row_norm():
    rows = torch.randn(20, 3)
    other = torch.randn(20, 3)
    per_row = dense_similarity_distances(rows, other, chunk=1)
    gs = torch.nn.functional.normalize(rows @ rows.T, dim=1)
    gt = torch.nn.functional.normalize(other @ other.T, dim=1)
    assert torch.allclose(per_row, (gs - gt).pow(2).mean(1), atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_miou_equals_numpy_reference_with_absent_classes_and_ignore(seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 4, (2, 12, 10))  # classes 4 and 5 never in the labels
    target[:, :2] = 255
    logits = torch.randn(2, 6, 6, 5, generator=torch.Generator().manual_seed(seed))
    logits[:, 5] -= 100  # class 5 never predicted either: absent from both
    metric = SegmentationMetrics(6, ignore_index=255)
    metric.update(logits[:1], torch.as_tensor(target[:1]))
    metric.update(logits[1:], torch.as_tensor(target[1:]))
    out = metric.compute()
    up = torch.nn.functional.interpolate(logits, size=(12, 10), mode="bilinear", align_corners=False).argmax(1).numpy()
    miou, accuracy, ious = reference_miou(up, target, 6, 255)
    assert float(out["miou"]) == pytest.approx(miou, abs=1e-6)
    assert float(out["pixel_accuracy"]) == pytest.approx(accuracy, abs=1e-6)
    assert ious[5] is None and torch.isnan(out["iou_per_class"][5])
    for c in range(5):
        if ious[c] is not None:
            assert float(out["iou_per_class"][c]) == pytest.approx(ious[c], abs=1e-6)


def test_segmentation_loss_with_side_outputs_and_ignore():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g)
    side = (torch.randn(2, 3, 4, 4, generator=g),)
    target = torch.randint(0, 3, (2, 8, 8), generator=g)
    target[0, 0] = 255
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    expected = expected + torch.nn.functional.cross_entropy(
        side[0], downsample_labels(target, (4, 4)), ignore_index=255
    )
    assert float(segmentation_loss(logits, side, target, ignore_index=255)) == pytest.approx(float(expected), rel=1e-6)


def _seg_net():
    model = {
        "architecture": "esanet",
        "encoders": {"default": {"name": "tiny"}},
        "decoder": {"name": "esanet", "channels": [16, 8, 8]},
        "context_channels": 16,
    }
    torch.manual_seed(0)
    return build_network(
        NetworkSpec(("rgb", "depth", "ir"), {"rgb": (3, 64, 64), "depth": (1, 64, 64), "ir": (1, 64, 64)}, 5, model)
    )


def test_masked_fusion_ignores_absent_modalities():
    net = _seg_net().eval()
    g = torch.Generator().manual_seed(1)
    x = {
        "rgb": torch.randn(2, 3, 64, 64, generator=g),
        "depth": torch.randn(2, 1, 64, 64, generator=g),
        "ir": torch.randn(2, 1, 64, 64, generator=g),
    }
    mask = torch.tensor([[True, False, True], [True, False, True]])
    changed = dict(x, depth=torch.randn(2, 1, 64, 64, generator=g) * 10)
    assert torch.allclose(net(x, mask).logits, net(changed, mask).logits, atol=1e-6)
    assert not torch.allclose(
        net(x, torch.ones(2, 3, dtype=torch.bool)).logits, net(changed, torch.ones(2, 3, dtype=torch.bool)).logits
    )
    net.train()
    net(x, mask).logits.sum().backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in net.encoders["depth"].parameters())


def test_sizes_must_be_multiples_of_32():
    net = _seg_net()
    x = {"rgb": torch.randn(1, 3, 60, 64), "depth": torch.randn(1, 1, 60, 64), "ir": torch.randn(1, 1, 60, 64)}
    with pytest.raises(ValueError, match="multiples of 32"):
        net(x, torch.ones(1, 3, dtype=torch.bool))


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_official_is_the_public_half_column_formula(seed):
    from tests.helpers.reference import reference_dense_official

    g = torch.Generator().manual_seed(seed)
    student, teacher = torch.randn(2, 6, 5, 3, generator=g), torch.randn(2, 6, 5, 3, generator=g)  # N = 30 rows
    logits = torch.randn(2, 4, 10, 6, generator=g)
    got = float(dense_mad_loss([student], [teacher], logits, max_size=(5, 3), chunk=7, variant="official"))
    assert got == pytest.approx(reference_dense_official(student, teacher, logits, (5, 3)), rel=1e-5)


def test_dense_mad_value_and_gradient_hold_under_bf16_autocast():
    torch.manual_seed(0)
    teacher = [torch.randn(2, 16, 8, 8) for _ in range(3)]
    student = [
        (t * (1 + 0.01 * torch.randn_like(t))).requires_grad_() for t in teacher
    ]  # a student close to its teacher
    logits = torch.randn(2, 5, 32, 32)
    reference = dense_mad_loss(student, teacher, logits, max_size=(8, 8), chunk=32)
    grad = torch.autograd.grad(reference, student[0])[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = dense_mad_loss(student, teacher, logits, max_size=(8, 8), chunk=32)
    mixed_grad = torch.autograd.grad(mixed, student[0])[0]
    assert mixed.dtype == torch.float32
    assert float(mixed) == pytest.approx(float(reference), rel=1e-5)
    assert float((mixed_grad - grad).norm() / grad.norm()) < 1e-5


def test_segmentation_mar_with_the_task_loss_uses_class_weights_and_side_outputs_on_weak_samples():
    from mmanet.config import MARConfig
    from mmanet.training.regularization import ModalityRegularization

    net = _seg_net()
    spec = NetworkSpec(("rgb", "depth", "ir"), {"rgb": (3, 64, 64), "depth": (1, 64, 64), "ir": (1, 64, 64)}, 5,
                       {"architecture": "esanet", "encoders": {"default": {"name": "tiny"}},
                        "decoder": {"name": "esanet", "channels": [16, 8, 8]}, "context_channels": 16})  # fmt: skip
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
    reg = ModalityRegularization(spec, net, MARConfig(mine_start=0, begin_epoch=1, task_loss=True), 255, weights)
    reg.miner.weak_combinations_ = ["depth"]
    g = torch.Generator().manual_seed(0)
    inputs = {"rgb": torch.randn(4, 3, 64, 64, generator=g), "depth": torch.randn(4, 1, 64, 64, generator=g),
              "ir": torch.randn(4, 1, 64, 64, generator=g)}  # fmt: skip
    mask = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.bool)
    target = torch.randint(0, 5, (4, 64, 64), generator=g)
    fused = net.fused_features(inputs, mask)
    loss, count = reg(fused, mask, target, epoch=2)
    weak = torch.tensor([True, False, True, False])
    out = reg.decoder(fused.select(weak))
    expected = segmentation_loss(out.logits, out.side, target[weak], ignore_index=255, class_weights=weights) * 2 / 4
    assert count == 2 and float(loss) == pytest.approx(float(expected), rel=1e-5)
