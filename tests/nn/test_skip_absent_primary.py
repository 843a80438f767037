"""Rows without the primary modality skip the primary stream's stages in training (segmentation):
evaluation is unchanged; in training the stages' statistics and outputs are those of the rows
that hold the primary modality, run alone through the plain network; a pass under the second
modality alone leaves the primary stages' statistics untouched; clear configuration errors."""

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, every_combination, inputs, mixed_mask, traced_logits
from torch import nn

from mmanet.config import ConfigError, ModelConfig
from mmanet.nn import NetworkSpec, build_network


def _pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """The plain network and one with the option, same weights."""
    spec = NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, SEG_MODEL)
    torch.manual_seed(seed)
    plain = build_network(spec)
    skip = build_network(NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "skip_absent_primary": True}))
    skip.load_state_dict(plain.state_dict())
    return plain, skip


def _primary_norms(net) -> list[nn.BatchNorm2d]:
    return [m for m in net.primary_stages.modules() if isinstance(m, nn.BatchNorm2d)]


def test_evaluation_is_unchanged_for_every_combination():
    plain, skip = _pair()
    mask = every_combination(plain.modalities, repeat=3)
    x = inputs(True, mask.shape[0])
    with torch.no_grad():
        torch.testing.assert_close(skip.eval()(x, mask).logits, plain.eval()(x, mask).logits)
    traced = traced_logits(skip, x, check=False)
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), plain(x, mask).logits)


def test_training_statistics_and_outputs_are_those_of_the_rows_holding_the_primary():
    plain, skip = _pair()
    mask = mixed_mask(12, 2)
    mask[0] = torch.tensor([False, True])  # at least one row without the primary, one with it
    mask[1] = torch.tensor([True, True])
    holds = mask[:, 0]
    x = inputs(True, 12)
    for net in (plain, skip):  # the primary stages train; what else normalises by batch is row-wise here
        net.train(), net.encoders["depth"].eval(), net.context.eval()
    with torch.no_grad():
        mine = skip.fused_features(x, mask)
        theirs = plain.fused_features({m: v[holds] for m, v in x.items()}, mask[holds])
    for a, b in zip(_primary_norms(skip), _primary_norms(plain), strict=True):
        torch.testing.assert_close(a.running_mean, b.running_mean)
        torch.testing.assert_close(a.running_var, b.running_var)
    torch.testing.assert_close(mine.context[holds], theirs.context, atol=1e-5, rtol=1e-5)
    for got, want in zip(mine.skips, theirs.skips, strict=True):
        torch.testing.assert_close(got[holds], want, atol=1e-5, rtol=1e-5)
    plain2, _ = _pair()
    plain2.train(), plain2.encoders["depth"].eval(), plain2.context.eval()
    with torch.no_grad():
        plain2.fused_features(x, mask)  # without the option every row enters the statistics
    assert not torch.allclose(_primary_norms(plain2)[-1].running_mean, _primary_norms(plain)[-1].running_mean)


def test_a_pass_without_the_primary_leaves_its_statistics_untouched():
    _, skip = _pair()
    before = {k: v.clone() for k, v in skip.primary_stages.state_dict().items()}
    depth_only = torch.tensor([[False, True]] * 6)
    with torch.no_grad():
        skip.train().fused_features(inputs(True, 6), depth_only)
    after = skip.primary_stages.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(
    "other",
    [{"combination_patches": "trunk"}, {"alone_patches": True}, {"alone_encoders": True}, {"fusion_stream": True}],
)
def test_configuration_errors_name_the_key(other):
    with pytest.raises(ConfigError, match=r"model\.skip_absent_primary"):
        ModelConfig(skip_absent_primary=True, **other)
    vector = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4, "skip_absent_primary": True})
    with pytest.raises(ValueError, match=r"model\.skip_absent_primary: only the esanet"):
        build_network(vector)
