"""Combination patches: values against a per-row loop, zero patches change nothing, each row reads
only its own combination's slot, gradients reach only the slots trained, export parity."""

import itertools

import numpy as np
import pytest
import torch
from tests.helpers.nets import (
    SEG_MODEL,
    SEG_SHAPES,
    SHAPES,
    assert_each_row_reads_only_its_slot,
    inputs,
    mixed_mask,
    saved_and_loaded,
)
from torch import nn

from mmanet.config import ConfigError, ModelConfig, to_dict
from mmanet.deploy import DeployedModel
from mmanet.export import export_onnx, export_torchscript
from mmanet.modality import all_combinations, code_sizes, combination_code, combination_codes, combination_mask
from mmanet.nn import (
    CombinationAffine,
    CombinationReadout,
    NetworkSpec,
    attach_patches,
    build_network,
    conditioned,
)


def _spec(patches: bool | str, seg: bool = False) -> NetworkSpec:
    if seg:
        return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "combination_patches": patches})
    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, "combination_patches": patches}
    return NetworkSpec(("v", "w", "img"), SHAPES, 3, model)


def _randomise_patches(net: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for patch in (m for m in net.modules() if isinstance(m, CombinationAffine)):
            patch.scale.copy_(torch.randn(patch.scale.shape, generator=g) * 0.5)
            patch.shift.copy_(torch.randn(patch.shift.shape, generator=g) * 0.5)


def test_codes_are_the_binary_number_of_the_mask():
    mask = torch.tensor(list(itertools.product([False, True], repeat=3)))
    expected = [sum(int(bit) << j for j, bit in enumerate(row)) for row in mask.tolist()]
    assert combination_codes(mask).tolist() == expected
    names = ("a", "b", "c")
    assert [
        combination_code([n for n, bit in zip(names, row, strict=True) if bit], names) for row in mask.tolist()
    ] == expected
    with pytest.raises(ValueError, match=r"expected bool \(B, M\)"):
        combination_codes(mask.long())


@pytest.mark.parametrize("norm", [nn.BatchNorm1d(4), nn.BatchNorm2d(4), nn.LayerNorm(4)])
def test_patch_equals_a_per_row_affine_after_the_shared_norm(norm):
    torch.manual_seed(0)
    x = torch.randn(6, 4, 3, 3) if isinstance(norm, nn.BatchNorm2d) else torch.randn(6, 4)
    patch = CombinationAffine(norm, 4, 8)
    _randomise_patches(patch)
    codes = torch.tensor([0, 3, 3, 7, 1, 5])
    patch.codes = codes
    got = patch(x)
    normed = norm(x)  # the same batch statistics: the norm sees the whole batch either way
    for i, c in enumerate(codes.tolist()):
        scale = (1 + patch.scale[c]).view(4, *([1] * (x.ndim - 2)))
        torch.testing.assert_close(got[i], normed[i] * scale + patch.shift[c].view_as(scale))


def test_a_patch_without_its_combination_refuses():
    patch = CombinationAffine(nn.BatchNorm1d(4), 4, 8)
    with pytest.raises(RuntimeError, match=r"net.decode\(fused, mask\)"):
        patch(torch.randn(3, 4))
    patch.codes = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="2 codes for a batch of 3 rows"):
        patch(torch.randn(3, 4))


SCOPES = [(False, True), (True, "decoder"), (True, "trunk")]


@pytest.mark.parametrize(("seg", "scope"), SCOPES)
def test_zero_patches_leave_the_network_unchanged(seg, scope):
    torch.manual_seed(0)
    plain = build_network(_spec(False, seg))
    torch.manual_seed(0)
    patched = build_network(_spec(scope, seg))
    assert sum(isinstance(m, CombinationAffine) for m in patched.modules()) > 0
    x, mask = inputs(seg), mixed_mask(8, len(plain.modalities))
    for mode in (True, False):
        plain.train(mode), patched.train(mode)
        torch.manual_seed(1)  # the same dropout draws
        expected = plain(x, mask).logits
        torch.manual_seed(1)
        torch.testing.assert_close(patched(x, mask).logits, expected)


@pytest.mark.parametrize(("seg", "scope"), SCOPES)
def test_each_row_reads_only_its_own_combinations_slot(seg, scope):
    torch.manual_seed(0)
    net = build_network(_spec(scope, seg)).eval()
    _randomise_patches(net)
    x, mask = inputs(seg), mixed_mask(8, len(net.modalities))

    def bump(code: int) -> None:
        for patch in (m for m in net.modules() if isinstance(m, CombinationAffine)):
            patch.shift[code] += 1.0

    assert_each_row_reads_only_its_slot(net, x, mask, bump)


def test_training_one_combination_moves_only_its_slot():
    torch.manual_seed(0)
    net = build_network(_spec(True)).train()
    x = inputs(False)
    mask = torch.tensor([[True, False, True]]).expand(8, -1)
    net(x, mask).logits.square().sum().backward()
    for patch in (m for m in net.modules() if isinstance(m, CombinationAffine)):
        moved = (patch.scale.grad.abs().sum(1) + patch.shift.grad.abs().sum(1)) > 0
        assert moved.nonzero().flatten().tolist() == [0b101]


def test_the_scopes_patch_what_they_name():
    count = {
        s: sum(isinstance(m, CombinationAffine) for m in build_network(_spec(s, True)).modules()) for s in SCOPE_NAMES
    }
    assert count["none"] == 0 < count["decoder"] < count["trunk"]
    net = build_network(_spec("trunk", True))
    stages = [sum(isinstance(m, CombinationAffine) for m in stage.modules()) for stage in net.primary_stages]
    assert stages[0] == 0 and all(n > 0 for n in stages[1:])  # stage 1 sees the first modality alone
    other = net.encoders["depth"]
    assert not any(isinstance(m, CombinationAffine) for m in other.modules())
    assert _spec(True).model.combination_patches == "decoder" and _spec(False).model.combination_patches == "none"
    classification = {
        s: sum(isinstance(m, CombinationAffine) for m in build_network(_spec(s)).modules()) for s in SCOPE_NAMES
    }
    assert classification["trunk"] == classification["decoder"] == 2  # the MLP's two BatchNorms


SCOPE_NAMES = ("none", "decoder", "trunk")


def test_networks_of_one_modality_have_no_patches_and_the_count_is_checked():
    net = build_network(NetworkSpec(("v",), {"v": (5,)}, 3, {"combination_patches": True}))
    assert not any(isinstance(m, CombinationAffine) for m in net.modules())
    with pytest.raises(ValueError, match="1 to 12 modalities"):
        attach_patches(nn.Sequential(nn.BatchNorm1d(3)), 13)
    block = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Sequential(nn.BatchNorm1d(3)))
    assert attach_patches(block, 2) == 2 and attach_patches(block, 2) == 0  # never patched twice
    with conditioned(block, torch.ones(4, 2, dtype=torch.bool)):
        assert block(torch.randn(4, 3)).shape == (4, 3)
    assert all(m.codes is None for m in block.modules() if isinstance(m, CombinationAffine))


def test_a_patched_model_file_with_a_readout_round_trips_and_exports_with_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    plain = _spec(True)
    spec = NetworkSpec(plain.modalities, plain.input_shapes, 3, {**to_dict(plain.model), "combination_readout": True})
    net = build_network(spec).eval()
    _randomise_patches(net)
    with torch.no_grad():
        net.decoder.weight.normal_(0, 0.3)
        net.decoder.bias.normal_()
    model = saved_and_loaded(net, spec, tmp_path / "model.pt")
    x = inputs(False, n=5, seed=3)
    deployed = DeployedModel(model).eval()
    export_onnx(deployed, tmp_path / "m.onnx")
    export_torchscript(deployed, tmp_path / "m.ts")
    session, scripted = ort.InferenceSession(str(tmp_path / "m.onnx")), torch.jit.load(tmp_path / "m.ts")
    for combination in all_combinations(spec.modalities):
        mask = combination_mask(combination, spec.modalities).expand(5, -1)
        with torch.no_grad():
            reference = net(x, mask).logits
            torch.testing.assert_close(model.entries[0].net(x, mask).logits, reference)
        feed = {m: v.numpy() for m, v in x.items()} | {"present": mask.numpy()}
        onnx = session.run(["logits"], feed)[0]
        ts = scripted(*x.values(), mask).detach()
        with torch.no_grad():
            deployed_out = deployed(*x.values(), present=mask)
        np.testing.assert_allclose(onnx, deployed_out.numpy(), atol=1e-4)
        torch.testing.assert_close(ts, deployed_out, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.softmax(deployed_out, 1), torch.softmax(reference, 1), atol=1e-5, rtol=1e-5)


def test_readout_adds_each_rows_own_linear_map_to_the_decoder():
    torch.manual_seed(0)
    spec = NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "combination_readout": True})
    net = build_network(spec).eval()
    readout = net.decoder
    assert isinstance(readout, CombinationReadout) and readout.weight.shape == (8, net.fused_shape[0], 3)
    x, mask = inputs(False), mixed_mask(8, 3)
    plain = net.decode(net.fused_features(x, mask), mask).logits
    with torch.no_grad():
        readout.weight.normal_()
        readout.bias.normal_()
    fused = net.fused_features(x, mask)
    got = net.decode(fused, mask).logits
    codes = combination_codes(mask)
    for i in range(8):  # the reference: one row at a time
        expected = plain[i] + fused[i] @ readout.weight[codes[i]] + readout.bias[codes[i]]
        torch.testing.assert_close(got[i], expected)
    with pytest.raises(ValueError, match="combination_readout"):
        NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "combination_readout": True})


def test_small_readout_serves_singles_pairs_and_the_complete_combination_only():
    shapes = {"a": (3,), "b": (3,), "c": (3,), "d": (3,)}
    net = build_network(NetworkSpec(tuple(shapes), shapes, 3, {"embed_dim": 4, "combination_readout": "small"})).eval()
    sizes = code_sizes(4)
    assert sizes == [bin(code).count("1") for code in range(16)]
    names = tuple(shapes)
    assert all(sizes[combination_code(c, names)] == len(c) for c in all_combinations(names))
    assert net.decoder.active.tolist() == [n <= 2 or n == 4 for n in sizes]
    with torch.no_grad():
        net.decoder.weight.normal_()
        net.decoder.bias.normal_()
    x = {m: torch.randn(6, 3, generator=torch.Generator().manual_seed(i)) for i, m in enumerate(shapes)}
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 0, 0], [1, 0, 1, 1]]).bool()
    fused = net.fused_features(x, mask)
    with torch.no_grad():
        got = net.decode(fused, mask).logits
        shared = net.decoder.decoder(fused).logits
    moved = (got - shared).abs().amax(1) > 1e-6
    assert moved.tolist() == [False, True, True, False, True, False]  # triples have no readout
    assert build_network(_spec(False)).decoder.__class__.__name__ == "Decoder"
    assert ModelConfig(combination_readout=True).combination_readout == "all"


def test_listed_readouts_serve_exactly_the_named_combinations():
    shapes = {"a": (3,), "b": (3,), "c": (3,)}
    listed = ["c+a", "b"]  # any order of the names; stored in the data's modality order
    net = build_network(NetworkSpec(tuple(shapes), shapes, 3, {"embed_dim": 4, "combination_readout": listed})).eval()
    # codes: sum of 2^j over present modalities (a=1, b=2, c=4): 'b' = 2, 'a+c' = 5
    assert net.decoder.active.nonzero().flatten().tolist() == [2, 5]
    with torch.no_grad():
        net.decoder.weight.normal_()
        net.decoder.bias.normal_()
    x = {m: torch.randn(7, 3, generator=torch.Generator().manual_seed(i)) for i, m in enumerate(shapes)}
    mask = torch.tensor(list(itertools.product([0, 1], repeat=3))[1:]).bool()  # every combination once
    fused = net.fused_features(x, mask)
    with torch.no_grad():
        moved = (net.decode(fused, mask).logits - net.decoder.decoder(fused).logits).abs().amax(1) > 1e-6
    names = ["+".join(m for m, on in zip(shapes, row, strict=True) if on) for row in mask.tolist()]
    assert {n for n, m in zip(names, moved.tolist(), strict=True) if m} == {"b", "a+c"}
    with pytest.raises(ValueError, match=r"model.combination_readout: combination 'a\+z': unknown modality \['z'\]"):
        build_network(NetworkSpec(tuple(shapes), shapes, 3, {"combination_readout": ["a+z"]}))
    with pytest.raises(ConfigError, match=r"model\.combination_readout: expected 'none' instead of an empty list"):
        ModelConfig(combination_readout=[])
