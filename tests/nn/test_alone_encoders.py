"""Alone encoders: every modality gets a whole encoder of its own, used exactly for the rows in
which it is alone (a row holding one modality is the network whose encoders are those copies);
row splitting in training against per-group calls; export parity; clear configuration errors."""

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, SHAPES, every_combination, inputs, traced_logits
from torch import nn

from mmanet.config import ConfigError, ModelConfig, to_dict
from mmanet.nn import NetworkSpec, build_network
from mmanet.nn.segmentation import _split_rows


def _spec(alone: bool, seg: bool = False) -> NetworkSpec:
    if seg:
        return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "alone_encoders": alone})
    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, "alone_encoders": alone}
    model["encoders"] = {"default": {"name": "mlp", "depth": 2}, "img": {"name": "cnn"}}
    return NetworkSpec(("v", "w", "img"), SHAPES, 3, model)


def _perturb(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("seg", [False, True])
def test_the_own_encoder_serves_exactly_the_rows_holding_one_modality(seg):
    torch.manual_seed(0)
    plain = build_network(_spec(False, seg)).eval()
    torch.manual_seed(0)
    net = build_network(_spec(True, seg)).eval()  # copies drawn after nothing: the same weights as plain
    assert net.alone_encoders is not None and set(net.alone_encoders) == set(net.modalities)
    mask = every_combination(net.modalities, repeat=2)
    x = inputs(seg, mask.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(net(x, mask).logits, plain(x, mask).logits)  # equal copies: the plain network
        _perturb(net.alone_encoders)
        out = net(x, mask).logits
        single = mask.sum(1) == 1
        torch.testing.assert_close(out[~single], plain(x, mask).logits[~single])  # others never touch the copies
        assert ((out[single] - plain(x, mask).logits[single]).flatten(1).abs().amax(1) > 1e-5).all()
        # the reference: the plain network with its encoders replaced by the copies, on the single rows
        plain.encoders.load_state_dict(net.alone_encoders.state_dict())
        torch.testing.assert_close(out[single], plain(x, mask).logits[single])


def test_heads_read_the_own_encoders():
    torch.manual_seed(0)
    net = build_network(_spec(True))
    _perturb(net.alone_encoders)
    x = inputs(False, 4)
    prepared = net.eval().prepare(x)
    features, _, alone = prepared
    assert alone is not None and not torch.allclose(alone["v"], features["v"])
    assert all(torch.equal(net.modality_features(prepared)[m], alone[m]) for m in net.modalities)


@pytest.mark.parametrize("seg", [False, True])
def test_only_rows_holding_one_modality_train_the_own_encoders(seg):
    torch.manual_seed(0)
    net = build_network(_spec(True, seg)).train()
    for with_single in (False, True):
        net.zero_grad(set_to_none=True)
        mask = every_combination(net.modalities, repeat=2)
        mask = mask if with_single else mask[mask.sum(1) >= 2]
        net(inputs(seg, mask.shape[0]), mask).logits.sum().backward()
        grads = [p.grad for p in net.alone_encoders.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads) == with_single
        assert all(p.grad is not None for p in net.encoders.parameters())


class _Counting(nn.Module):
    """BatchNorm that records how many rows each call saw; refuses an empty call."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.rows: list[int] = []

    def forward(self, x):
        assert x.shape[0] > 0, "called on no rows"
        self.rows.append(x.shape[0])
        return self.norm(x)


def test_split_rows_in_training_equals_one_call_per_group_and_keeps_statistics_apart():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 3, 3) * 2 + 1
    rows = torch.tensor([True, False, False, True, False, True])
    own, shared = _Counting(2).train(), _Counting(2).train()
    ref_own, ref_shared = nn.BatchNorm2d(2).train(), nn.BatchNorm2d(2).train()
    out = _split_rows(shared, own, x, rows, training=True)
    torch.testing.assert_close(out[rows], ref_own(x[rows]))
    torch.testing.assert_close(out[~rows], ref_shared(x[~rows]))
    torch.testing.assert_close(own.norm.running_mean, ref_own.running_mean)  # statistics of its own rows only
    torch.testing.assert_close(shared.norm.running_var, ref_shared.running_var)
    assert own.rows == [3] and shared.rows == [3]
    _split_rows(shared, own, x, torch.ones(6, dtype=torch.bool), training=True)  # one group: one call, none empty
    _split_rows(shared, own, x, torch.zeros(6, dtype=torch.bool), training=True)
    assert own.rows == [3, 6] and shared.rows == [3, 6]
    own.eval(), shared.eval()
    torch.testing.assert_close(
        _split_rows(shared, own, x, rows, training=False),
        torch.where(rows[:, None, None, None], own.norm(x), shared.norm(x)),
    )


@pytest.mark.parametrize("seg", [False, True])
def test_a_traced_network_with_alone_encoders_keeps_them_for_any_mask(seg):
    torch.manual_seed(0)
    net = build_network(_spec(True, seg)).eval()
    _perturb(net.alone_encoders)
    modalities = net.modalities

    x = inputs(seg, 7)
    traced = traced_logits(net, x, check=False)
    mask = every_combination(modalities, repeat=3)[:7]  # every combination, singles included
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_alone_encoders_configuration_errors_name_the_key():
    assert to_dict(_spec(True).model)["alone_encoders"] is True
    with pytest.raises(ConfigError, match=r"model\.alone_encoders.*input masking"):
        ModelConfig(alone_encoders=True, masking="input")
    with pytest.raises(ConfigError, match=r"model\.alone_encoders.*trunk"):
        ModelConfig(alone_encoders=True, combination_patches="trunk")
    with pytest.raises(ConfigError, match=r"model\.alone_encoders.*alone_patches"):
        ModelConfig(alone_encoders=True, alone_patches=True)
    one = NetworkSpec(("v",), {"v": (5,)}, 3, {"embed_dim": 4, "alone_encoders": True})
    assert build_network(one).alone_encoders is None  # one modality: it is always alone, no copy
