"""Alone patches: every encoder's normalisation gets a second slot, used exactly for the rows in
which its modality is alone; zero slots change nothing; export parity; clear configuration errors."""

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, SHAPES, every_combination, inputs, traced_logits
from torch import nn

from mmanet.config import ConfigError, ModelConfig, to_dict
from mmanet.nn import CombinationAffine, NetworkSpec, build_network


def _spec(alone: bool, seg: bool = False) -> NetworkSpec:
    if seg:
        return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "alone_patches": alone})
    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, "alone_patches": alone}
    model["encoders"] = {"default": {"name": "mlp", "depth": 2}, "img": {"name": "cnn"}}
    return NetworkSpec(("v", "w", "img"), SHAPES, 3, model)


def _set_alone_slot(net: nn.Module, seed: int = 0) -> int:
    """Random scale and shift in every encoder patch's alone slot (1); the other slot stays zero."""
    g = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, CombinationAffine) and name.startswith("encoders"):
                module.scale[1].copy_(torch.randn(module.scale.shape[1], generator=g) * 0.5)
                module.shift[1].copy_(torch.randn(module.shift.shape[1], generator=g) * 0.5)
                count += 1
    return count


@pytest.mark.parametrize("seg", [False, True])
def test_the_alone_slot_serves_exactly_the_rows_holding_one_modality(seg):
    torch.manual_seed(0)
    plain = build_network(_spec(False, seg)).eval()
    torch.manual_seed(0)
    net = build_network(_spec(True, seg)).eval()  # the same weights: the slots start at zero, drawing nothing
    mask = every_combination(net.modalities, repeat=2)
    x = inputs(seg, mask.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(net(x, mask).logits, plain(x, mask).logits)  # zero slots: the plain network
        assert _set_alone_slot(net) > 0
        out, reference = net(x, mask).logits, plain(x, mask).logits
    single = mask.sum(1) == 1
    changed = (out - reference).flatten(1).abs().amax(1) > 1e-6
    assert torch.equal(changed, single)
    # each single row equals the network whose encoders use the alone slot for every row
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, CombinationAffine) and name.startswith("encoders"):
                module.scale[0].copy_(module.scale[1])
                module.shift[0].copy_(module.shift[1])
        torch.testing.assert_close(net(x, mask).logits[single], out[single])


def test_heads_read_the_alone_features_and_prepare_encodes_twice():
    net = build_network(_spec(True)).eval()
    _set_alone_slot(net)
    x = inputs(False, 4)
    prepared = net.prepare(x)
    features, _, alone = prepared
    assert alone is not None and not torch.allclose(alone["v"], features["v"])
    assert all(torch.equal(net.modality_features(prepared)[m], alone[m]) for m in net.modalities)


@pytest.mark.parametrize("seg", [False, True])
def test_a_traced_network_with_alone_patches_keeps_them_for_any_mask(seg):
    torch.manual_seed(0)
    net = build_network(_spec(True, seg)).eval()
    _set_alone_slot(net)
    modalities = net.modalities

    x = inputs(seg, 3)
    traced = traced_logits(net, x)
    mask = every_combination(modalities)[:3]
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_alone_patches_train_and_configuration_errors_name_the_key():
    net = build_network(_spec(True)).train()
    mask = every_combination(net.modalities, repeat=2)
    net(inputs(False, mask.shape[0]), mask).logits.sum().backward()
    slots = [m.scale.grad for n, m in net.named_modules() if isinstance(m, CombinationAffine) and "encoders" in n]
    assert slots and all(g[:2].abs().sum() > 0 for g in slots)  # both slots train
    assert "alone_patches" in to_dict(_spec(True).model)
    with pytest.raises(ConfigError, match=r"model\.alone_patches.*input masking"):
        ModelConfig(alone_patches=True, masking="input")
    with pytest.raises(ConfigError, match=r"model\.alone_patches.*trunk"):
        ModelConfig(alone_patches=True, combination_patches="trunk")
    one = NetworkSpec(("v",), {"v": (5,)}, 3, {"embed_dim": 4, "alone_patches": True})
    assert not any(isinstance(m, CombinationAffine) for m in build_network(one).modules())  # one modality: none
