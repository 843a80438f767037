import pytest
import torch

from mmanet.nn import AnySubsetNet, NetworkSpec, build_network, build_regularization_decoder
from mmanet.nn.encoders import ENCODERS, build_encoder

SHAPES = {"v": (5,), "w": (3,), "img": (1, 6, 6)}


def tiny_net(masking="feature", encoders=None) -> AnySubsetNet:
    model = {"embed_dim": 4, "encoders": encoders or {}, "decoder": {"name": "mlp", "hidden": 8}, "masking": masking}
    torch.manual_seed(0)
    return build_network(NetworkSpec(("v", "w", "img"), SHAPES, 3, model))


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, *s, generator=g) for m, s in SHAPES.items()}


def test_fuse_zeroes_exactly_the_absent_modalities():
    net = tiny_net().eval()
    x = batch()
    features = net.encode(x)
    mask = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=torch.bool)
    fused = net.fuse(features, mask)
    start = 0
    for j, m in enumerate(net.modalities):
        width = features[m].shape[1]
        block = fused[:, start : start + width]
        for i in range(6):
            if mask[i, j]:
                assert torch.equal(block[i], features[m][i])
            else:
                assert torch.count_nonzero(block[i]) == 0
        start += width
    assert start == fused.shape[1] == net.fused_shape[0]


def test_no_gradient_reaches_absent_encoders():
    net = tiny_net().train()
    x = batch()
    mask = torch.zeros(6, 3, dtype=torch.bool)
    mask[:, 0] = True  # only 'v' present in every sample
    out = net(x, mask)
    out.logits.sum().backward()
    for m in ("w", "img"):
        for name, p in net.encoders[m].named_parameters():
            assert p.grad is None or torch.count_nonzero(p.grad) == 0, f"{m}.{name} got gradient"
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in net.encoders["v"].parameters())


def test_absent_sample_gets_no_gradient_through_its_input():
    net = tiny_net().eval()
    x = {m: t.clone().requires_grad_(True) for m, t in batch().items()}
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[2, 1] = False
    net(x, mask).logits.sum().backward()
    assert torch.count_nonzero(x["w"].grad[2]) == 0
    assert torch.count_nonzero(x["w"].grad[1]) > 0


def test_input_masking_equals_encoding_zeroed_normalised_inputs():
    net = tiny_net(masking="input").eval()
    x = batch()
    mask = torch.tensor([[1, 0, 1]] * 6, dtype=torch.bool)
    manual = dict(x)
    manual["w"] = net.norms["w"].mean.expand_as(x["w"]).clone()  # normalises to exactly zero
    expected = net(manual, torch.ones_like(mask)).logits
    assert torch.allclose(net(x, mask).logits, expected, atol=1e-6)


def test_shape_and_mask_errors_name_the_problem():
    net = tiny_net()
    x = batch()
    with pytest.raises(ValueError, match="modality 'v': expected \\(B, 5\\)"):
        net({**x, "v": torch.randn(6, 4)}, torch.ones(6, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="input for modality 'img' missing"):
        net({"v": x["v"], "w": x["w"]}, torch.ones(6, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="presence mask"):
        net(x, torch.ones(6, 2, dtype=torch.bool))


def test_registry_lists_valid_names_and_options():
    with pytest.raises(ValueError, match="available: \\['cnn', 'mlp'"):
        build_encoder({"name": "transformer"}, (4,), 8)
    with pytest.raises(ValueError, match="unknown options \\['widht'\\]"):
        build_encoder({"name": "mlp", "widht": 3}, (4,), 8)
    with pytest.raises(ValueError, match="expects vectors"):
        build_encoder({"name": "mlp"}, (1, 4, 4), 8)
    assert "resnet18_se" in ENCODERS.names()


def test_paper_classifier_shapes():
    shapes = {m: (3, 112, 112) for m in ("rgb", "depth", "ir")}
    model = {"embed_dim": 128, "encoders": {"default": {"name": "resnet18_se"}}, "decoder": {"name": "resnet"}}
    spec = NetworkSpec(("rgb", "depth", "ir"), shapes, 2, model)
    net = build_network(spec).eval()
    assert net.fused_shape == (384, 14, 14)
    x = {m: torch.randn(2, 3, 112, 112) for m in spec.modalities}
    out = net(x, torch.tensor([[1, 0, 1], [0, 1, 0]], dtype=torch.bool))
    assert out.logits.shape == (2, 2)
    assert out.features.shape == (2, 512, 4, 4)
    reg = build_regularization_decoder(spec, net)
    assert reg.in_shape == net.fused_shape and reg is not net.decoder


def test_input_statistics_fit_on_present_samples_only():
    net = tiny_net()
    x = batch(n=8)
    x["v"][4:] = 1e6  # absent rows must not count
    present = torch.ones(8, 3, dtype=torch.bool)
    present[4:, 0] = False
    net.fit_input_statistics(x, present)
    assert torch.allclose(net.norms["v"].mean, x["v"][:4].mean(0))
