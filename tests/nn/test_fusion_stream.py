"""Fusion stream (segmentation): every modality's stream stays its own and the fused maps travel in
stages of their own; a per-row loop over the formula is the reference; a modality alone never
touches the fusion stages; export parity; clear configuration errors."""

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, assert_fused_maps, every_combination, inputs, traced_logits

from mmanet.config import ConfigError, ModelConfig
from mmanet.nn import NetworkSpec, build_network


def _spec(stream: bool = True) -> NetworkSpec:
    return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "fusion_stream": stream})


def _reference_maps(net, x: dict[str, torch.Tensor], mask: torch.Tensor) -> list[torch.Tensor]:
    """``F_k = sum_m SE_{m,k}(mask_m X_{m,k}) + [>= 2 present] fuse_k(F_{k-1})``, one row at a time."""
    streams = {m: net.encoders[m](net.norms[m](x[m])) for m in net.modalities}
    rows = []
    for i in range(mask.shape[0]):
        maps: list[torch.Tensor] = []
        for k in range(5):
            f = sum(net.se[k][m](streams[m][k][i : i + 1] * float(mask[i, j])) for j, m in enumerate(net.modalities))
            if k and int(mask[i].sum()) >= 2:
                f = f + net.fuse_stages[k - 1](maps[-1])
            maps.append(f)
        rows.append(maps)
    return [torch.cat([r[k] for r in rows]) for k in range(5)]


def test_fused_maps_follow_the_formula_row_by_row():
    torch.manual_seed(0)
    net = build_network(_spec()).eval()
    assert net.fuse_stages is not None and len(net.fuse_stages) == 4
    x = assert_fused_maps(net, _reference_maps)
    own = net.modality_features(net.prepare(x))
    assert all(torch.equal(own[m], net.encoders[m](net.norms[m](x[m]))[4]) for m in net.modalities)


def test_a_modality_alone_never_trains_the_fusion_stages_and_the_plain_network_is_untouched():
    torch.manual_seed(0)
    plain = build_network(_spec(False))
    torch.manual_seed(0)
    net = build_network(_spec()).train()  # the copies draw nothing: every other weight is the plain network's
    shared = {k: v for k, v in net.state_dict().items() if not k.startswith("fuse_stages.")}
    assert shared.keys() == plain.state_dict().keys()
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in shared.items())
    mask = every_combination(net.modalities, repeat=2)
    single = mask[mask.sum(1) == 1]
    net(inputs(True, single.shape[0]), single).logits.sum().backward()
    assert all(p.grad is None for p in net.fuse_stages.parameters())
    net.zero_grad(set_to_none=True)
    net(inputs(True, mask.shape[0]), mask).logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.fuse_stages.parameters() if p.ndim > 1)


def test_a_traced_network_with_a_fusion_stream_keeps_it_for_any_mask():
    torch.manual_seed(0)
    net = build_network(_spec()).eval()
    modalities = net.modalities

    x = inputs(True, 6)
    traced = traced_logits(net, x, check=False)
    mask = every_combination(modalities, repeat=2)
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_encoders_from_specialists_starts_the_fusion_stream_from_the_first_encoders_stages():
    from mmanet.training.plus import FrozenSpecialists, encoders_from

    net = build_network(_spec())
    singles = {m: build_network(_spec().restricted([m])) for m in ("rgb", "depth")}
    assert singles["rgb"].fuse_stages is None  # one modality: no fusion
    encoders_from(net, FrozenSpecialists(singles))
    theirs = singles["rgb"].encoders["rgb"].stages[1:].state_dict()
    mine = net.fuse_stages.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_fusion_stream_configuration_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model\.fusion_stream.*trunk"):
        ModelConfig(fusion_stream=True, combination_patches="trunk")
    vector = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4, "fusion_stream": True})
    with pytest.raises(ValueError, match=r"model\.fusion_stream: only the esanet"):
        build_network(vector)
