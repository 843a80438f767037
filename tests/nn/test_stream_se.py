"""Stream squeeze-excitation (segmentation): every own stream feeds its next stage through its
modality's squeeze-excitation; a per-row loop over the formula is the reference; with the
encoders and squeeze-excitations copied from specialists, each modality alone gives exactly its
specialist's fused maps (without the option the non-primary one does not); export parity; clear
configuration errors."""

import pytest
import torch
from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, assert_fused_maps, every_combination, inputs, traced_logits

from mmanet.config import ConfigError
from mmanet.nn import NetworkSpec, build_network
from mmanet.training.plus import FrozenSpecialists, encoders_from, se_from


def _spec(stream_se: bool = True) -> NetworkSpec:
    return NetworkSpec(("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "stream_se": stream_se})


def _reference_maps(net, x: dict[str, torch.Tensor], mask: torch.Tensor) -> list[torch.Tensor]:
    """Row by row: ``X_{d,k} = stage_k(SE_{d,k-1}(X_{d,k-1}))`` for the second stream, the primary
    stream on the fused maps, ``F_k = sum_m SE_{m,k}(mask_m X_{m,k})``."""
    rows = []
    for i in range(mask.shape[0]):
        d = net.norms["depth"](x["depth"][i : i + 1])
        f = net.norms["rgb"](x["rgb"][i : i + 1])
        maps = []
        for k in range(5):
            d = net.encoders["depth"].stages[k](d if k == 0 else net.se[k - 1]["depth"](d))
            r = net.encoders["rgb"].stages[k](f)
            f = net.se[k]["rgb"](r * float(mask[i, 0])) + net.se[k]["depth"](d * float(mask[i, 1]))
            maps.append(f)
        rows.append(maps)
    return [torch.cat([r[k] for r in rows]) for k in range(5)]


def test_fused_maps_follow_the_formula_row_by_row():
    torch.manual_seed(0)
    assert_fused_maps(build_network(_spec()).eval(), _reference_maps)


def test_off_by_default_and_adds_no_parameters():
    torch.manual_seed(0)
    plain = build_network(_spec(False)).eval()
    torch.manual_seed(0)
    net = build_network(_spec()).eval()
    assert plain.state_dict().keys() == net.state_dict().keys()
    mask = every_combination(net.modalities)
    x = inputs(True, mask.shape[0])
    with torch.no_grad():
        rgb_alone = mask[:, 1].logical_not()  # the primary stream alone reads no second stream
        same = plain(x, mask).logits[rgb_alone], net(x, mask).logits[rgb_alone]
        torch.testing.assert_close(*same)
        assert not torch.allclose(plain(x, mask).logits[~rgb_alone], net(x, mask).logits[~rgb_alone])


def _specialist_maps(specialist, x: torch.Tensor) -> list[torch.Tensor]:
    m = specialist.modalities[0]
    return specialist._fused_maps({m: [specialist.norms[m](x)]}, torch.ones(x.shape[0], 1, dtype=torch.bool))


@pytest.mark.parametrize("stream_se", [True, False])
def test_copied_specialists_give_each_modality_alone_its_specialists_fused_maps(stream_se):
    torch.manual_seed(0)
    singles = {m: build_network(_spec().restricted([m])).eval() for m in ("rgb", "depth")}
    for single in singles.values():  # trained-looking squeeze-excitations and statistics, not the init
        with torch.no_grad():
            for p in single.parameters():
                p.add_(0.3 * torch.randn_like(p))
    net = build_network(_spec(stream_se)).eval()
    frozen = FrozenSpecialists(singles)
    encoders_from(net, frozen)
    se_from(net, frozen)
    x = inputs(True, 4)
    for j, m in enumerate(net.modalities):
        mask = torch.zeros(4, 2, dtype=torch.bool)
        mask[:, j] = True
        with torch.no_grad():
            mine = net._fused_maps(net.prepare(x), mask)
            theirs = _specialist_maps(singles[m], x[m])
        same = all(torch.allclose(a, b, atol=1e-5, rtol=1e-5) for a, b in zip(mine, theirs, strict=True))
        # the primary stream is its specialist's either way; the second stream only with stream_se
        assert same == (stream_se or j == 0), (m, stream_se)


def test_a_traced_network_with_stream_se_keeps_it_for_any_mask():
    torch.manual_seed(0)
    net = build_network(_spec()).eval()
    x = inputs(True, 6)
    traced = traced_logits(net, x, check=False)
    mask = every_combination(net.modalities, repeat=2)
    with torch.no_grad():
        torch.testing.assert_close(traced(*x.values(), mask), net(x, mask).logits)


def test_configuration_errors_name_the_key():
    vector = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4, "stream_se": True})
    with pytest.raises(ValueError, match=r"model\.stream_se: only the esanet"):
        build_network(vector)
    plain = NetworkSpec(("v", "w"), {"v": (5,), "w": (3,)}, 3, {"embed_dim": 4})
    net = build_network(plain)
    singles = FrozenSpecialists({m: build_network(plain.restricted([m])) for m in ("v", "w")})
    with pytest.raises(ConfigError, match=r"plus\.se_from_specialists: only the segmentation network"):
        se_from(net, singles)
    seg = build_network(_spec())
    wider = NetworkSpec(
        ("rgb", "depth"), SEG_SHAPES, 3, {**SEG_MODEL, "encoders": {"default": {"name": "tiny", "width": 16}}}
    )
    wide = FrozenSpecialists({m: build_network(wider.restricted([m])) for m in ("rgb", "depth")})
    with pytest.raises(ConfigError, match=r"plus\.se_from_specialists: the 'rgb' specialist's squeeze-excitations"):
        se_from(seg, wide)
