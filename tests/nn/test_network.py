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


def test_the_mlp_decoders_linear_skip_adds_one_vote_per_present_modality_and_starts_at_zero():
    from tests.helpers.nets import SHAPES, every_combination, inputs

    from mmanet.nn.network import NetworkSpec, build_network

    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8, "dropout": 0.0, "skip": True}}
    torch.manual_seed(3)
    net = build_network(NetworkSpec(("v", "w", "img"), SHAPES, 3, model)).eval()
    plain = build_network(
        NetworkSpec(("v", "w", "img"), SHAPES, 3, {**model, "decoder": {**model["decoder"], "skip": False}})
    )
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if "skip" not in k})
    x, mask = inputs(False, n=7), every_combination(("v", "w", "img"))
    with torch.no_grad():
        torch.testing.assert_close(net(x, mask).logits, plain.eval()(x, mask).logits)  # zero at the start
        net.decoder.skip.weight.normal_()
        features = net.encode(x)
        votes = torch.zeros(7, 3)
        for i in range(7):  # reference: each present modality's block of the map times its features
            start = 0
            for j, m in enumerate(("v", "w", "img")):
                block = net.decoder.skip.weight[:, start : start + 4]
                if mask[i, j]:
                    votes[i] += block @ features[m][i]
                start += 4
        torch.testing.assert_close(net(x, mask).logits, plain(x, mask).logits + votes)
