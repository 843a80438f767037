"""Per-combination batch-norm statistics: against one plain batch norm per combination (training
outputs and running statistics, evaluation outputs); a plain batch norm's state loads into every
combination; in the segmentation network the primary stream's stages get them, the specialists'
encoders still copy in, the model file round-trips, tracing keeps them; clear configuration errors."""

import copy

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, every_combination, inputs, saved_and_loaded, traced_logits
from torch import nn

from mmanet.config import ConfigError, ModelConfig
from mmanet.nn import NetworkSpec, build_network
from mmanet.nn.patches import CombinationAffine, CombinationStatistics, coded
from mmanet.training.plus import FrozenSpecialists, encoders_from


def _layer_and_reference(slots: int = 4) -> tuple[CombinationStatistics, list[nn.BatchNorm2d]]:
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(5)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5), plain.bias.uniform_(-0.5, 0.5)
        plain.running_mean.uniform_(-1, 1), plain.running_var.uniform_(0.5, 2)
    return CombinationStatistics(copy.deepcopy(plain), slots), [copy.deepcopy(plain) for _ in range(slots)]


def test_each_combination_trains_and_evaluates_as_its_own_batch_norm():
    layer, reference = _layer_and_reference()
    codes = torch.tensor([1, 3, 1, 2, 3, 3, 1, 2])
    for step in range(3):  # a few training steps, then evaluation
        x = torch.randn(8, 5, 4, 4, generator=torch.Generator().manual_seed(step)) * 2 + step
        with coded(layer, codes):
            got = layer.train()(x)
        for code in codes.unique().tolist():
            rows = codes == code
            torch.testing.assert_close(got[rows], reference[code].train()(x[rows]))
    for code in range(4):
        torch.testing.assert_close(layer.running_mean[code], reference[code].running_mean)
        torch.testing.assert_close(layer.running_var[code], reference[code].running_var)
    assert torch.equal(layer.running_mean[0], reference[0].running_mean)  # an unused combination keeps its start
    x = torch.randn(8, 5, 4, 4)
    with coded(layer, codes), torch.no_grad():
        got = layer.eval()(x)
    for i, code in enumerate(codes.tolist()):
        torch.testing.assert_close(got[i : i + 1], reference[code].eval()(x[i : i + 1]), atol=1e-5, rtol=1e-5)


def test_a_batch_norm_without_a_momentum_is_refused():
    with pytest.raises(ValueError, match="momentum=None"):
        CombinationStatistics(nn.BatchNorm2d(3, momentum=None), 4)


def test_a_plain_batch_norm_state_loads_into_every_combination():
    layer, _ = _layer_and_reference()
    source = nn.BatchNorm2d(5)
    with torch.no_grad():
        source.running_mean.fill_(0.25), source.running_var.fill_(3.0), source.weight.fill_(2.0)
    layer.load_state_dict(source.state_dict())
    assert torch.equal(layer.running_mean, torch.full((4, 5), 0.25)) and torch.equal(layer.weight, source.weight)
    assert torch.equal(layer.running_var, torch.full((4, 5), 3.0))


def _spec(on: bool = True) -> NetworkSpec:
    return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "combination_statistics": on})


def test_the_segmentation_network_starts_as_the_plain_one_and_round_trips(tmp_path):
    torch.manual_seed(0)
    plain = build_network(_spec(False)).eval()
    torch.manual_seed(0)
    net = build_network(_spec()).eval()
    layers = [m for m in net.modules() if isinstance(m, CombinationStatistics)]
    assert layers and all(any(m is s for s in net.primary_stages[1:].modules()) for m in layers)
    net.load_state_dict(plain.state_dict())  # plain statistics into every combination
    mask = every_combination(net.modalities, repeat=2)
    x = inputs(True, mask.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(net(x, mask).logits, plain(x, mask).logits, atol=1e-5, rtol=1e-5)
    net.train()
    with torch.no_grad():  # a pass of rgb alone moves only that combination's statistics
        net.fused_features(x, torch.tensor([[True, False]] * mask.shape[0]))
    first = layers[0]
    moved = [not torch.equal(first.running_mean[c], layers[0].running_mean[0]) for c in range(4)]
    assert moved == [False, True, False, False]
    net.eval()
    loaded = saved_and_loaded(net, _spec(), tmp_path / "model.pt").entries[0].net
    traced = traced_logits(net, x, check=False)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mask).logits, net(x, mask).logits)
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_the_specialists_encoders_copy_in():
    net = build_network(_spec())
    singles = {m: build_network(_spec(False).restricted([m])) for m in ("rgb", "depth")}
    with torch.no_grad():
        for single in singles.values():
            for module in single.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.uniform_(-1, 1)
    encoders_from(net, FrozenSpecialists(singles))
    theirs = [m for m in singles["rgb"].primary_stages[1:].modules() if isinstance(m, nn.BatchNorm2d)]
    mine = [m for m in net.primary_stages[1:].modules() if isinstance(m, CombinationStatistics)]
    assert len(mine) == len(theirs)
    assert all(
        torch.equal(a.running_mean, b.running_mean[None].expand(4, -1)) for a, b in zip(mine, theirs, strict=True)
    )


@pytest.mark.parametrize(
    "other",
    [
        {"combination_patches": "trunk"},
        {"alone_patches": True},
        {"alone_encoders": True},
        {"fusion_stream": True},
        {"skip_absent_primary": True},
    ],
)
def test_configuration_errors_name_the_key(other):
    with pytest.raises(ConfigError, match=r"model\.combination_statistics"):
        ModelConfig(combination_statistics=True, **other)
    vector = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4, "combination_statistics": True})
    with pytest.raises(ValueError, match=r"model\.combination_statistics: only the esanet"):
        build_network(vector)


def test_a_combination_with_one_value_per_channel_uses_its_running_statistics():
    layer, reference = _layer_and_reference()
    codes = torch.tensor([1, 1, 2])
    x = torch.randn(3, 5, 1, 1)
    with coded(layer, codes):
        got = layer.train()(x)
    torch.testing.assert_close(got[2:], reference[2].eval()(x[2:]))  # one row of 1x1: no batch statistics
    torch.testing.assert_close(layer.running_mean[2], reference[2].running_mean)  # and nothing to average in
    torch.testing.assert_close(got[:2], reference[1].train()(x[:2]))


def test_decoder_statistics_sit_inside_the_decoders_patches_and_round_trip(tmp_path):
    spec = NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "combination_patches": "decoder"})
    torch.manual_seed(0)
    plain = build_network(spec).eval()
    on = NetworkSpec(
        ("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "combination_patches": "decoder", "decoder_statistics": True}
    )
    torch.manual_seed(0)
    net = build_network(on).eval()
    inside = [m.norm for m in net.decoder.modules() if isinstance(m, CombinationAffine)]
    assert inside and all(isinstance(n, CombinationStatistics) for n in inside)
    assert any(isinstance(m, CombinationStatistics) for m in net.context.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in [*net.decoder.modules(), *net.context.modules()])
    net.load_state_dict(plain.state_dict())
    mask = every_combination(net.modalities, repeat=2)
    x = inputs(True, mask.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(net(x, mask).logits, plain(x, mask).logits, atol=1e-5, rtol=1e-5)
    net.train()
    with torch.no_grad():
        net(x, torch.tensor([[False, True]] * mask.shape[0]))  # depth alone: only its statistics move
    first = next(m for m in net.decoder.modules() if isinstance(m, CombinationStatistics))
    assert [not torch.equal(first.running_mean[c], first.running_mean[0]) for c in range(4)] == [
        False,
        False,
        True,
        False,
    ]
    net.eval()
    loaded = saved_and_loaded(net, on, tmp_path / "model.pt").entries[0].net
    traced = traced_logits(net, x, check=False)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mask).logits, net(x, mask).logits)
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)
    with pytest.raises(ConfigError, match=r"model\.decoder_statistics"):
        ModelConfig(decoder_statistics=True, combination_decoders="complete")
    vector = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4, "decoder_statistics": True})
    with pytest.raises(ValueError, match=r"model\.decoder_statistics: only the esanet"):
        build_network(vector)
