"""Own decoders per combination: each row is decoded by its combination's decoder alone (a
per-row loop is the reference), normalisation statistics and gradients stay with each decoder's
own rows, the traced (export) path equals the grouped one, clear errors."""

import copy

import numpy as np
import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, SHAPES, every_combination, inputs, saved_and_loaded, traced_logits
from torch import nn

from mmanet.config import ConfigError, ModelConfig, PlusConfig, to_dict
from mmanet.deploy import DeployedModel
from mmanet.export import export_onnx, export_torchscript
from mmanet.modality import all_combinations, combination_code, combination_codes, combination_mask
from mmanet.nn import CombinationAffine, CombinationDecoders, NetworkSpec, build_network, coded, through_shared
from mmanet.training.plus import check_own_decoders


def _spec(decoders: bool | str | list[str], seg: bool = False, patches: bool = True) -> NetworkSpec:
    if seg:
        model = {**SEG_MODEL, "combination_decoders": decoders, "combination_patches": patches}
        return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, model)
    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, "combination_decoders": decoders}
    return NetworkSpec(("v", "w", "img"), SHAPES, 3, {**model, "combination_patches": patches})


def _perturb(net: nn.Module, seed: int = 0) -> None:
    """Random affine patches and running statistics, so each decoder and slot gives other values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, CombinationAffine):
                module.scale.copy_(torch.randn(module.scale.shape, generator=g) * 0.5)
                module.shift.copy_(torch.randn(module.shift.shape, generator=g) * 0.5)
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=g) * 0.3)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) + 0.5)


def _row_reference(net, fused_row, mask_row: torch.Tensor) -> torch.Tensor:
    """One row decoded alone by its combination's decoder (the shared one with its patches)."""
    decoders = net.decoder
    code = int(combination_codes(mask_row)[0])
    decoder = decoders.own[str(code)] if code in decoders.codes_with_own else decoders.shared
    with coded(decoder, combination_codes(mask_row)):
        return decoder(fused_row).logits


@pytest.mark.parametrize("seg", [False, True])
def test_each_row_is_decoded_by_its_own_combinations_decoder(seg):
    torch.manual_seed(0)
    spec = _spec(["v", "v+w"] if not seg else ["rgb+depth"], seg)
    net = build_network(spec).eval()
    _perturb(net)
    x = inputs(seg, n=len(all_combinations(spec.modalities)) * 2)
    mask = every_combination(spec.modalities, repeat=2)
    with torch.no_grad():
        out = net(x, mask).logits
        fused = net.fused_features(x, mask)
        for i in range(mask.shape[0]):
            row = fused.select(torch.tensor([i])) if seg else fused[i : i + 1]
            torch.testing.assert_close(out[i : i + 1], _row_reference(net, row, mask[i : i + 1]))
    # the own decoders are different networks: the same row through the shared decoder differs
    with torch.no_grad(), coded(net.decoder.shared, combination_codes(mask)):
        shared = net.decoder.shared(fused).logits
    own_rows = torch.isin(combination_codes(mask), torch.tensor(net.decoder.codes_with_own))
    assert own_rows.any() and not torch.allclose(shared[own_rows], out[own_rows])
    torch.testing.assert_close(shared[~own_rows], out[~own_rows])


def test_small_gives_singles_pairs_and_the_complete_combination_their_own_decoders():
    shapes = {m: (2,) for m in "abcd"}
    net = build_network(NetworkSpec(tuple(shapes), shapes, 3, {"embed_dim": 4, "combination_decoders": True}))
    decoders = net.decoder
    assert isinstance(decoders, CombinationDecoders)
    expected = sorted(
        combination_code(c, tuple(shapes)) for c in all_combinations(tuple(shapes)) if len(c) <= 2 or len(c) == 4
    )
    assert decoders.codes_with_own == expected and len(expected) == 4 + 6 + 1
    # only the shared decoder carries patches (mmanet-plus's default patches the decoder)
    model = {"embed_dim": 4, "combination_decoders": "small", "combination_patches": True}
    patched_net = build_network(NetworkSpec(tuple(shapes), shapes, 3, model))
    assert any(isinstance(m, CombinationAffine) for m in patched_net.decoder.shared.modules())
    assert not any(isinstance(m, CombinationAffine) for m in patched_net.decoder.own.modules())


def test_complete_gives_the_complete_combination_alone_its_own_decoder():
    for modalities in (("a", "b"), ("a", "b", "c", "d")):
        shapes = {m: (2,) for m in modalities}
        net = build_network(NetworkSpec(modalities, shapes, 3, {"embed_dim": 4, "combination_decoders": "complete"}))
        assert net.decoder.codes_with_own == [2 ** len(modalities) - 1]
    check_own_decoders(net, PlusConfig())  # the default recipe's complete pass covers it


def test_training_statistics_and_gradients_stay_with_each_decoders_rows():
    torch.manual_seed(0)
    plain = _spec(["v", "v+w"], patches=False)
    spec = NetworkSpec(
        plain.modalities, plain.input_shapes, 3, {**to_dict(plain.model), "decoder": {"hidden": 8, "dropout": 0}}
    )
    net = build_network(spec).train()
    reference = copy.deepcopy(net)
    modalities = spec.modalities
    mask = torch.stack(
        [combination_mask(["v"], modalities)] * 3
        + [combination_mask(["v", "w"], modalities)] * 4
        + [combination_mask(["w", "img"], modalities)] * 5
    )
    x = inputs(False, n=mask.shape[0])
    fused = net.fused_features(x, mask).detach().requires_grad_(False)
    out = net.decode(fused, mask)
    codes = combination_codes(mask)
    v, vw = combination_code(["v"], modalities), combination_code(["v", "w"], modalities)
    # batch statistics: each decoder normalised over its own rows only (reference: the copy run on them alone)
    for code, rows in ((v, codes == v), (vw, codes == vw)):
        own = reference.decoder.own[str(code)]
        expected = own(fused[rows]).logits
        torch.testing.assert_close(out.logits[rows], expected)
        torch.testing.assert_close(own.trunk[1].running_mean, net.decoder.own[str(code)].trunk[1].running_mean)
    expected_shared = reference.decoder.shared(fused[codes == 6]).logits
    torch.testing.assert_close(out.logits[codes == 6], expected_shared)
    # gradients: a loss on the v rows reaches v's decoder only
    out.logits[codes == v].sum().backward()
    assert net.decoder.own[str(v)].head.weight.grad.abs().sum() > 0
    for other in (net.decoder.own[str(vw)], net.decoder.shared):
        assert all(p.grad is None or not p.grad.any() for p in other.parameters())


def test_flagged_rows_go_to_the_shared_decoder_whatever_their_combination():
    torch.manual_seed(0)
    spec = _spec("complete")
    net = build_network(spec).eval()
    _perturb(net)
    mask = every_combination(spec.modalities, repeat=2)
    x = inputs(False, n=mask.shape[0])
    flags = torch.arange(mask.shape[0]) % 2 == 0
    with torch.no_grad():
        fused = net.fused_features(x, mask)
        plain = net.decode(fused, mask).logits
        with through_shared(net.decoder, flags):
            routed = net.decode(fused, mask).logits
        with coded(net.decoder.shared, combination_codes(mask)):
            shared = net.decoder.shared(fused).logits
    torch.testing.assert_close(routed[flags], shared[flags])
    torch.testing.assert_close(routed[~flags], plain[~flags])
    complete = combination_codes(mask) == 7
    assert not torch.allclose(routed[flags & complete], plain[flags & complete])
    assert net.decoder.to_shared is None
    with pytest.raises(ValueError, match="shared-row flags"), through_shared(net.decoder, flags[:3]):
        net.decode(fused, mask)


def test_detached_own_decoders_train_themselves_and_not_the_encoders():
    torch.manual_seed(0)
    spec = _spec("complete", patches=False)
    modalities = spec.modalities
    mask = torch.stack([combination_mask(modalities, modalities)] * 4 + [combination_mask(["v"], modalities)] * 4)
    x = inputs(False, n=8)
    complete = combination_codes(mask) == 7
    for detach in (False, True):
        net = build_network(spec).train()
        with through_shared(net.decoder, torch.zeros(8, dtype=torch.bool), detach_own=detach):
            out = net(x, mask)
        assert net.decoder.detach_own is False  # reset after the block
        out.logits[complete].sum().backward()  # the complete rows: its own decoder
        encoder = [p.grad for p in net.encoders["v"].parameters()]
        reached = any(g is not None and g.any() for g in encoder)
        assert reached != detach
        assert net.decoder.own["7"].head.weight.grad.any()  # the own decoder trains either way


def test_a_one_row_training_group_is_refused_with_a_clear_error():
    spec = _spec(["v"], patches=False)
    net = build_network(spec).train()
    v, w = combination_mask(["v"], spec.modalities), combination_mask(["w"], spec.modalities)
    mask = torch.stack([v, w, w])  # one 'v' row, two 'w' rows
    with pytest.raises(ValueError, match="one row for decoder 1 in a training batch"):
        net(inputs(False, n=3), mask)
    net.eval()
    assert net(inputs(False, n=3), mask).logits.shape == (3, 3)  # evaluation normalises by running statistics


@pytest.mark.parametrize("seg", [False, True])
def test_the_traced_path_equals_the_grouped_path(seg):
    torch.manual_seed(0)
    spec = _spec("small", seg)
    net = build_network(spec).eval()
    _perturb(net)
    x = inputs(seg, n=6, seed=2)

    traced = traced_logits(net, x, every_combination(spec.modalities)[:2])
    mask = every_combination(spec.modalities, repeat=3)[:6].flip(0)
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_a_model_file_with_own_decoders_round_trips_and_exports_with_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    spec = _spec(["v", "w+img", "v+w+img"])
    net = build_network(spec).eval()
    _perturb(net)
    model = saved_and_loaded(net, spec, tmp_path / "model.pt")
    deployed = DeployedModel(model).eval()
    export_onnx(deployed, tmp_path / "m.onnx")
    export_torchscript(deployed, tmp_path / "m.ts")
    session, scripted = ort.InferenceSession(str(tmp_path / "m.onnx")), torch.jit.load(tmp_path / "m.ts")
    x = inputs(False, n=5, seed=3)
    for combination in all_combinations(spec.modalities):
        mask = combination_mask(combination, spec.modalities).expand(5, -1)
        with torch.no_grad():
            reference = net(x, mask).logits
            torch.testing.assert_close(model.entries[0].net(x, mask).logits, reference)
            deployed_out = deployed(*x.values(), present=mask)
        onnx = session.run(["logits"], {m: v.numpy() for m, v in x.items()} | {"present": mask.numpy()})[0]
        np.testing.assert_allclose(onnx, deployed_out.numpy(), atol=1e-4)
        torch.testing.assert_close(scripted(*x.values(), mask).detach(), deployed_out, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.softmax(deployed_out, 1), torch.softmax(reference, 1), atol=1e-5, rtol=1e-5)


def test_configuration_errors_name_the_key():
    assert ModelConfig(combination_decoders=True).combination_decoders == "small"
    assert ModelConfig(combination_decoders=False).combination_decoders == "none"
    with pytest.raises(ConfigError, match=r"model\.combination_decoders"):
        ModelConfig(combination_decoders=[])
    with pytest.raises(ConfigError, match=r"model\.combination_decoders.*readout"):
        ModelConfig(combination_decoders="small", combination_readout="small")
    with pytest.raises(ValueError, match=r"model.combination_decoders: combination 'v\+z': unknown modality"):
        build_network(_spec(["v+z"]))
    assert "combination_decoders" in to_dict(_spec(["v"]).model)


def test_mmanet_plus_refuses_own_decoders_that_no_pass_decodes_every_step():
    net = build_network(_spec("small"))  # singles, pairs and the complete combination
    check_own_decoders(net, PlusConfig(pair_passes=1.0))  # every one covered
    with pytest.raises(ValueError, match=r"\['v\+w', 'v\+img', 'w\+img'\] have own decoders"):
        check_own_decoders(net, PlusConfig())  # no pair passes
    with pytest.raises(ValueError, match=r"\['v\+w\+img'\]"):
        check_own_decoders(build_network(_spec(["v+w+img"])), PlusConfig(complete_pass=0.0))
    check_own_decoders(build_network(_spec("none")), PlusConfig(single_passes=0.0, specialists=0.0))


@pytest.mark.parametrize(("seg", "patches"), [(False, True), (True, True), (True, False)])
def test_copy_shared_makes_each_own_decoder_serve_its_combination_as_the_shared_one_does(seg, patches):
    from mmanet.nn import copy_shared

    torch.manual_seed(0)
    spec = _spec(["v", "v+w+img"] if not seg else ["rgb", "rgb+depth"], seg, patches)
    net = build_network(spec).eval()
    _perturb(net)  # random patches (folded into the copies) and statistics (copied)
    mask = every_combination(spec.modalities, repeat=2)
    x = inputs(seg, n=mask.shape[0])
    everything_shared = torch.ones(mask.shape[0], dtype=torch.bool)
    with torch.no_grad():
        with through_shared(net.decoder, everything_shared):
            reference = net(x, mask).logits
        assert not torch.allclose(net(x, mask).logits, reference)  # own decoders: other weights
        copy_shared(net.decoder)
        torch.testing.assert_close(net(x, mask).logits, reference, atol=1e-5, rtol=1e-5)
    shared = dict(net.decoder.shared.named_parameters())
    own = next(iter(net.decoder.own.values()))
    assert all(p.data_ptr() != shared[n].data_ptr() for n, p in own.named_parameters() if n in shared)  # copies


def test_copy_shared_refuses_an_own_decoder_of_another_architecture():
    from mmanet.nn import copy_shared

    net = build_network(_spec(["v"]))
    net.decoder.own["1"] = build_network(NetworkSpec(("v",), {"v": (5,)}, 3, {"embed_dim": 4})).decoder
    with pytest.raises(ValueError, match="own decoder 1: not the shared decoder's architecture"):
        copy_shared(net.decoder)
