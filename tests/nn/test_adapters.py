"""Per-combination low-rank adapters (mmanet.nn.adapters) against per-row references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.helpers.nets import (
    SEG_MODEL,
    SEG_SHAPES,
    SHAPES,
    assert_each_row_reads_only_its_slot,
    inputs,
    mixed_mask,
    saved_and_loaded,
    traced_logits,
)
from torch import nn

from mmanet.config import ConfigError, ModelConfig, to_dict
from mmanet.deploy import DeployedModel
from mmanet.export import export_onnx
from mmanet.modality import all_combinations, combination_mask
from mmanet.nn import NetworkSpec, build_network
from mmanet.nn.adapters import CombinationLowRank, attach_adapters


def _spec(rank: int, seg: bool = False, patches: bool = False) -> NetworkSpec:
    extra = {"combination_adapters": rank, "combination_patches": patches}
    if seg:
        return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, **extra})
    return NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, **extra})


def _randomise_up(net: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for adapter in (m for m in net.modules() if isinstance(m, CombinationLowRank)):
            adapter.up.copy_(torch.randn(adapter.up.shape, generator=g) * 0.3)


LAYERS = [
    (nn.Linear(5, 4), (6, 5)),
    (nn.Conv2d(3, 4, 3, padding=1), (6, 3, 7, 7)),
    (nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False), (6, 3, 8, 8)),
    (nn.Conv2d(3, 2, 1), (6, 3, 5, 4)),
]


@pytest.mark.parametrize(("base", "shape"), LAYERS)
def test_adapter_equals_each_rows_merged_weight(base, shape):
    """Each row's output is the base layer with ``W + U[c] D[c]`` as its weight (a loop over rows)."""
    torch.manual_seed(0)
    adapter = CombinationLowRank(base, rank=2, slots=8)
    _randomise_up(adapter)
    x = torch.randn(shape)
    codes = torch.tensor([0, 3, 3, 7, 1, 5])
    adapter.codes = codes
    got = adapter(x)
    for i, c in enumerate(codes.tolist()):
        update = adapter.up[c].detach() @ adapter.down[c].detach().flatten(1)  # (C_out, C_in k k)
        weight = base.weight.detach() + update.view_as(base.weight)
        if isinstance(base, nn.Linear):
            expected = F.linear(x[i : i + 1], weight, base.bias)
        else:
            expected = F.conv2d(x[i : i + 1], weight, base.bias, base.stride, base.padding, base.dilation)
        torch.testing.assert_close(got[i : i + 1], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(adapter.merged_weight(c), weight)


def test_adapter_refusals():
    with pytest.raises(ValueError, match="rank must be >= 1"):
        CombinationLowRank(nn.Linear(3, 3), rank=0, slots=4)
    with pytest.raises(ValueError, match="ungrouped convolution"):
        CombinationLowRank(nn.Conv2d(4, 4, 3, groups=4), rank=1, slots=4)
    adapter = CombinationLowRank(nn.Linear(3, 3), rank=1, slots=4)
    with pytest.raises(RuntimeError, match=r"net.decode\(fused, mask\)"):
        adapter(torch.randn(2, 3))
    with pytest.raises(ValueError, match="combination adapters support 1 to 12"):
        attach_adapters(nn.Sequential(nn.Linear(2, 2)), 13, 1)
    with pytest.raises(ConfigError, match=r"model\.combination_adapters"):
        ModelConfig(combination_adapters=-1)


def test_attach_adapts_linear_and_ungrouped_convolutions_only():
    module = nn.Sequential(nn.Linear(2, 3), nn.Conv2d(3, 3, 3, groups=3), nn.Sequential(nn.Conv2d(3, 2, 1)))
    assert attach_adapters(module, 2, 2) == 2
    assert isinstance(module[0], CombinationLowRank) and isinstance(module[2][0], CombinationLowRank)
    assert isinstance(module[1], nn.Conv2d)
    assert attach_adapters(module, 2, 2) == 0  # already adapted: not wrapped twice


@pytest.mark.parametrize(("seg", "patches"), [(False, False), (False, True), (True, False), (True, True)])
def test_adapters_start_as_the_shared_network(seg, patches):
    torch.manual_seed(0)
    plain = build_network(_spec(0, seg, patches))
    torch.manual_seed(0)
    adapted = build_network(_spec(2, seg, patches))
    count = sum(isinstance(m, CombinationLowRank) for m in adapted.modules())
    parts = [plain.decoder, *([plain.context] if seg else [])]
    layers = [m for part in parts for m in part.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert count == sum(not isinstance(m, nn.Conv2d) or m.groups == 1 for m in layers) > 0
    x, mask = inputs(seg), mixed_mask(8, len(plain.modalities))
    for mode in (True, False):
        plain.train(mode), adapted.train(mode)
        torch.manual_seed(1)  # the same dropout draws
        expected = plain(x, mask).logits
        torch.manual_seed(1)
        torch.testing.assert_close(adapted(x, mask).logits, expected)


def test_segmentation_adapts_the_decoder_and_context_not_the_encoders():
    net = build_network(_spec(2, seg=True))
    adapted = {name.split(".")[0] for name, m in net.named_modules() if isinstance(m, CombinationLowRank)}
    assert adapted == {"decoder", "context"}


@pytest.mark.parametrize("seg", [False, True])
def test_each_row_reads_only_its_own_combinations_adapter(seg):
    torch.manual_seed(0)
    net = build_network(_spec(2, seg)).eval()
    _randomise_up(net)
    x, mask = inputs(seg), mixed_mask(8, len(net.modalities))

    def bump(code: int) -> None:
        for adapter in (m for m in net.modules() if isinstance(m, CombinationLowRank)):
            adapter.up[code] += 0.5

    assert_each_row_reads_only_its_slot(net, x, mask, bump)


def test_training_one_combination_moves_its_adapter_and_the_shared_weights():
    torch.manual_seed(0)
    net = build_network(_spec(2)).train()
    _randomise_up(net)
    mask = torch.tensor([[True, False, True]]).expand(8, -1)
    net(inputs(False), mask).logits.square().sum().backward()
    for adapter in (m for m in net.modules() if isinstance(m, CombinationLowRank)):
        moved = (adapter.up.grad.flatten(1).abs().sum(1) + adapter.down.grad.flatten(1).abs().sum(1)) > 0
        assert moved.nonzero().flatten().tolist() == [0b101]
        assert adapter.base.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("seg", [False, True])
def test_a_traced_adapted_network_serves_any_batch_size(seg):
    torch.manual_seed(0)
    net = build_network(_spec(2, seg)).eval()
    _randomise_up(net)
    x, mask = inputs(seg, n=6), mixed_mask(6, len(net.modalities), seed=4)
    traced = traced_logits(net, x)
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits, atol=1e-5, rtol=1e-5)


def test_an_adapted_model_file_round_trips_and_exports_to_onnx_with_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    spec = _spec(2, patches=True)
    net = build_network(spec).eval()
    _randomise_up(net)
    model = saved_and_loaded(net, spec, tmp_path / "model.pt")
    assert to_dict(model.entries[0].spec.model)["combination_adapters"] == 2
    deployed = DeployedModel(model).eval()
    export_onnx(deployed, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = inputs(False, n=5, seed=3)
    for combination in all_combinations(spec.modalities):
        mask = combination_mask(combination, spec.modalities).expand(5, -1)
        with torch.no_grad():
            torch.testing.assert_close(model.entries[0].net(x, mask).logits, net(x, mask).logits)
            expected = deployed(*x.values(), present=mask).numpy()
        onnx = session.run(["logits"], {m: v.numpy() for m, v in x.items()} | {"present": mask.numpy()})[0]
        np.testing.assert_allclose(onnx, expected, atol=1e-4)
