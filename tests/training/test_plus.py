"""mmanet-plus components: size-balanced sampling, unimodal heads, single-modality passes,
specialist KD, learned absent features; with every component off it must be exactly dropout."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tests.helpers.reference import reference_kd
from tests.helpers.runs import tiny_run_args

from mmanet.cli import main
from mmanet.config import PlusConfig
from mmanet.modality import combination_codes, sample_masks_by_size
from mmanet.modelfile import load_model_file
from mmanet.nn import (
    CombinationAffine,
    CombinationDecoders,
    NetworkSpec,
    build_network,
    conditioned,
    select_rows,
    through_shared,
)
from mmanet.training.plus import FrozenSpecialists, PlusComponents, concat_fused, split_output, teacher_right

TINY = tiny_run_args(samples=160, data_seed=1, epochs=3)
SEG_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synthetic_rgbd.yaml"
SEG_TINY = [
    "--set", "data.options={num_samples: 24, height: 64, width: 64, objects: 3, workers: false}",
    "--set", "model.encoders={default: {name: tiny, width: 8}}",
    "--set", "model.decoder={name: esanet, channels: [8, 8, 8]}",
    "--set", "model.context_channels=8", "--epochs", "2", "--seeds", "0", "--no-progress",
]  # fmt: skip
OFF = [
    "--set", "plus.unimodal_heads=0", "--set", "plus.single_passes=0", "--set", "plus.specialists=0",
    "--set", "plus.complete_pass=0", "--set", "model.combination_patches=none",
    "--set", "plus.encoders_from_specialists=false", "--set", "model.combination_statistics=false",
    "--set", "model.decoder_statistics=false",
]  # fmt: skip


def _per_seed(out: Path, method: str) -> dict:
    return json.loads((out / "report.json").read_text())["methods"][method]["per_seed"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_every_component_off_is_exactly_dropout(tmp_path, task):
    config, extra = ([str(SEG_CONFIG)], SEG_TINY) if task == "segmentation" else ([], TINY)
    assert main(["run", *config, "--methods", "dropout", "--out", str(tmp_path / "d"), *extra]) == 0
    assert main(["run", *config, "--methods", "mmanet-plus", "--out", str(tmp_path / "p"), *extra, *OFF]) == 0
    assert _per_seed(tmp_path / "p", "mmanet-plus") == _per_seed(tmp_path / "d", "dropout")


@pytest.mark.slow
def test_every_component_on_trains_and_records_its_specialists(tmp_path):
    on = ["--set", "plus.mad=true", "--set", "plus.mar=true", "--set", "plus.pair_passes=1"]  # the rest: defaults
    on += ["--set", "plus.sampling=size_uniform", "--set", "model.absent=learned", "--set", "mar.mine_start=0"]
    assert (
        main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *on, "--set", "mar.begin_epoch=1"]) == 0
    )
    model = torch.load(tmp_path / "seed_0" / "mmanet-plus" / "model.pt", weights_only=True)
    assert model["meta"]["specialists"]["path"].endswith("specialists/model.pt")
    assert not any(k.startswith(("heads", "plus")) for k in model["entries"][0]["state_dict"])  # dropped at export
    log = (tmp_path / "seed_0" / "mmanet-plus" / "logs" / "metrics.csv").read_text().splitlines()[0]
    terms = ("unimodal", "single", "specialist", "pair", "complete", "mad", "mar")
    assert all(f"train/{term}" in log for term in terms)
    assert model["entries"][0]["network"]["model"]["combination_patches"] == "decoder"  # auto, resolved for mmanet-plus
    assert any(".scale" in k for k in model["entries"][0]["state_dict"])
    teacher = torch.load(tmp_path / "seed_0" / "teacher" / "model.pt", weights_only=True)
    assert teacher["entries"][0]["network"]["model"]["combination_patches"] == "none"
    reloaded = load_model_file(tmp_path / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
    assert any(isinstance(m, CombinationAffine) for m in reloaded.modules())


@pytest.mark.slow
def test_own_decoders_train_through_the_passes_and_reload(tmp_path, capsys):
    own = ["--set", "model.combination_decoders=small", "--set", "plus.pair_passes=1"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *own]) == 0
    path = tmp_path / "seed_0" / "mmanet-plus" / "model.pt"
    net = load_model_file(path).entries[0].net
    assert isinstance(net.decoder, CombinationDecoders)
    count = len(net.modalities)
    assert len(net.decoder.codes_with_own) == count + count * (count - 1) // 2 * (count >= 3) + 1
    assert any(isinstance(m, CombinationAffine) for m in net.decoder.shared.modules())  # auto patches: shared only
    state = torch.load(path, weights_only=True)["entries"][0]["state_dict"]
    assert any(k.startswith("decoder.own.") for k in state)
    # every own decoder trained: its running statistics left their initial values
    for decoder in net.decoder.own.values():
        norms = [m for m in decoder.modules() if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)]
        assert norms and all(int(m.num_batches_tracked) > 0 for m in norms)
    capsys.readouterr()
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, own[0], own[1]]) == 2
    assert "have own decoders but no mmanet-plus pass" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()  # refused before anything was trained or written


@pytest.mark.slow
def test_shared_passes_train_the_shared_decoder_on_the_rows_of_own_decoders(tmp_path):
    """The complete combination's own decoder takes its rows from the shared decoder, whose patch
    slot for that combination then never trains; the shared passes train it again."""
    complete = ["--set", "model.combination_decoders=complete"]
    slots = {}
    for name, extra in (("own", []), ("both", ["--set", "plus.shared_passes=1"])):
        assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / name), *TINY, *complete, *extra]) == 0
        run = tmp_path / name / "seed_0" / "mmanet-plus"
        state = torch.load(run / "model.pt", weights_only=True)["entries"][0]["state_dict"]
        slots[name] = state["decoder.shared.trunk.1.scale"][-1]  # the complete combination's slot
        assert ("train/shared" in (run / "logs" / "metrics.csv").read_text().splitlines()[0]) == (name == "both")
    assert not slots["own"].any() and slots["both"].abs().sum() > 0


@pytest.mark.parametrize("m", [2, 3, 4])
def test_size_uniform_sampling_gives_each_size_one_share(m):
    n = 12_000
    uniform = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # an exact grid: frequencies are exact
    masks = sample_masks_by_size(torch.ones(n, m, dtype=torch.bool), uniform.float())
    counts = Counter(tuple(row) for row in masks.int().tolist())
    assert len(counts) == 2**m - 1
    for subset, count in counts.items():
        expected = n / m / math.comb(m, sum(subset))  # size uniform, then subsets of that size uniform
        assert abs(count - expected) <= 2, (subset, count, expected)


def test_size_uniform_sampling_stays_within_present_modalities():
    present = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]], dtype=torch.bool).repeat(200, 1)
    masks = sample_masks_by_size(present, torch.rand(600, generator=torch.Generator().manual_seed(0)))
    assert (masks & ~present).sum() == 0 and masks.any(1).all()
    assert (masks[1::3] == present[1::3]).all()  # one modality present: it is the only choice


def _net(absent="zero", hidden=8, patches="none"):
    model = {
        "embed_dim": 4,
        "encoders": {"default": {"name": "tiny", "dim": 4}},
        "decoder": {"name": "mlp", "hidden": hidden},
        "combination_patches": patches,
    }
    spec = NetworkSpec(("a", "b", "c"), {"a": (5,), "b": (6,), "c": (3,)}, 3, {**model, "absent": absent})
    return build_network(spec)


def _inputs(batch=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(batch, 5, generator=g),
        "b": torch.randn(batch, 6, generator=g),
        "c": torch.randn(batch, 3, generator=g),
    }


def test_unimodal_heads_send_each_gradient_to_its_own_encoder_only():
    torch.manual_seed(0)
    net = _net()
    plus = PlusComponents(
        net.modalities,
        net.modality_feature_shapes(),
        3,
        PlusConfig(unimodal_heads=1.0, single_passes=0.0, specialists=0.0),
    )
    inputs, target = _inputs(), torch.randint(0, 3, (10,))
    features = net.modality_features(net.prepare(inputs))
    present = torch.ones(10, 3, dtype=torch.bool)
    for j, m in enumerate(net.modalities):
        only = present.clone()
        only[:, [k for k in range(3) if k != j]] = False  # the loss of head m alone
        net.zero_grad()
        plus.head_loss(features, target, only).backward(retain_graph=True)
        for other in net.modalities:
            grads = [p.grad for p in net.encoders[other].parameters()]
            has = any(g is not None and g.abs().sum() > 0 for g in grads)
            assert has == (other == m), (m, other)


@pytest.mark.parametrize("patches", ["none", "decoder"])
def test_extra_passes_in_one_decoder_call_equal_separate_calls_in_eval(patches):
    torch.manual_seed(1)
    net = _net(patches=patches).eval()
    with torch.no_grad():  # patches far from zero, so a row decoded with another row's slot would show
        for name, parameter in net.named_parameters():
            if name.endswith(("scale", "shift")):
                parameter.normal_(0, 0.5)
    plus = PlusComponents(
        net.modalities,
        net.modality_feature_shapes(),
        3,
        PlusConfig(unimodal_heads=0.0, single_passes=1.0, specialists=0.0, pair_passes=1.0),
    )
    inputs = _inputs()
    present = torch.ones(10, 3, dtype=torch.bool)
    prepared = net.prepare(inputs)
    masks = plus.extra_masks(present)
    assert [int(m[0].sum()) for m in masks] == [1, 1, 1, 2, 2, 2, 3]
    decoded = net.decode(concat_fused([net.fused_from(prepared, m) for m in masks]), torch.cat(masks))
    together = split_output(decoded, [10] * len(masks))
    for mask, out in zip(masks, together, strict=True):
        torch.testing.assert_close(out.logits, net(inputs, mask).logits)


def test_shared_passes_repeat_the_passes_with_own_decoders_through_the_shared_decoder():
    torch.manual_seed(4)
    spec = NetworkSpec(
        ("a", "b", "c"),
        {"a": (5,), "b": (6,), "c": (3,)},
        3,
        {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}, "combination_decoders": ["a", "a+b+c"]},
    )
    net = build_network(spec).eval()
    cfg = PlusConfig(unimodal_heads=0.0, specialists=0.0, pair_passes=1.0, shared_passes=3.0)
    plus = PlusComponents(net.modalities, net.modality_feature_shapes(), 3, cfg)
    assert plus.nominal_codes() == [1, 2, 4, 3, 5, 6, 7]  # singles, pairs (a+b, a+c, b+c), complete
    present = torch.ones(10, 3, dtype=torch.bool)
    extra = plus.extra_masks(present)
    again = plus.shared_masks(extra, net.decoder.codes_with_own)
    assert [combination_codes(m)[0].item() for m in again] == [1, 7]
    assert plus.shared_masks(extra, []) == []
    off = PlusComponents(net.modalities, {}, 3, PlusConfig(unimodal_heads=0.0, specialists=0.0, pair_passes=1.0))
    assert off.shared_masks(extra, [1, 7]) == []  # shared_passes 0: none
    inputs, target = _inputs(), torch.randint(0, 3, (10,))
    prepared = net.prepare(inputs)
    # through the shared decoder, each row with its own combination's patches: a reference by hand
    outputs = []
    for mask in again:
        fused = net.fused_from(prepared, mask)
        with through_shared(net.decoder, torch.ones(10, dtype=torch.bool)):
            outputs.append(net.decode(fused, mask))
        with conditioned(net.decoder.shared, mask):
            torch.testing.assert_close(outputs[-1].logits, net.decoder.shared(fused).logits)
        assert not torch.allclose(outputs[-1].logits, net.decode(fused, mask).logits)  # its own decoder differs
    assert net.decoder.to_shared is None  # reset after the block
    expected = 3.0 * torch.stack([F.cross_entropy(o.logits, target) for o in outputs]).mean()
    torch.testing.assert_close(plus.shared_term(outputs, again, target)["shared"], expected)


def test_complete_pass_is_the_cross_entropy_under_everything_each_sample_holds():
    torch.manual_seed(3)
    net = _net().eval()
    cfg = PlusConfig(unimodal_heads=0.0, single_passes=1.0, specialists=0.0, complete_pass=2.0)
    plus = PlusComponents(net.modalities, net.modality_feature_shapes(), 3, cfg)
    inputs = _inputs()
    present = torch.ones(10, 3, dtype=torch.bool)
    present[0] = torch.tensor([True, False, False])  # holds one modality: its complete pass is that one
    present[1, 2] = False
    target = torch.randint(0, 3, (10,))
    masks = plus.extra_masks(present)
    assert len(masks) == 4 and torch.equal(masks[-1], present)
    outputs = [net(inputs, m) for m in masks]
    terms = plus.pass_terms(outputs, inputs, target, present)
    expected = 2.0 * F.cross_entropy(net(inputs, present).logits, target)
    torch.testing.assert_close(terms["complete"], expected)
    singles = [
        F.cross_entropy(net(inputs, m).logits[present[:, j]], target[present[:, j]]) for j, m in enumerate(masks[:3])
    ]
    torch.testing.assert_close(terms["single"], torch.stack(singles).mean())
    off = PlusComponents(
        net.modalities, net.modality_feature_shapes(), 3, PlusConfig(specialists=0.0, complete_pass=0.0)
    )
    assert len(off.extra_masks(present)) == 3  # off: no extra pass


def test_pair_passes_are_the_mean_cross_entropy_over_pairs_each_sample_holds():
    torch.manual_seed(4)
    net = _net().eval()
    cfg = PlusConfig(unimodal_heads=0.0, single_passes=0.0, specialists=0.0, complete_pass=1.0, pair_passes=3.0)
    plus = PlusComponents(net.modalities, net.modality_feature_shapes(), 3, cfg)
    assert plus.pairs == [(0, 1), (0, 2), (1, 2)]
    inputs = _inputs()
    present = torch.ones(10, 3, dtype=torch.bool)
    present[0, 1] = False  # holds a and c: only the pair (a, c)
    present[1, 2] = False
    target = torch.randint(0, 3, (10,))
    masks = plus.extra_masks(present)
    assert len(masks) == 4 and torch.equal(masks[-1], present)
    terms = plus.pass_terms([net(inputs, m) for m in masks], inputs, target, present)
    expected = []
    for i, j in plus.pairs:
        rows = [r for r in range(10) if present[r, i] and present[r, j]]
        mask = torch.zeros(1, 3, dtype=torch.bool)
        mask[0, [i, j]] = True
        logits = torch.cat([net({m: x[r : r + 1] for m, x in inputs.items()}, mask).logits for r in rows])
        expected.append(F.cross_entropy(logits, target[rows]))
    torch.testing.assert_close(terms["pair"], 3.0 * torch.stack(expected).mean())
    assert set(terms) == {"pair", "complete"}
    two = PlusComponents(("a", "b"), {"a": (4,), "b": (4,)}, 3, cfg)
    assert two.pairs == [] and len(two.extra_masks(present[:, :2])) == 1  # the one pair is the complete pass


def test_pair_rows_decode_one_random_subset_of_rows_under_every_pair():
    torch.manual_seed(5)
    net = _net().eval()
    cfg = PlusConfig(unimodal_heads=0.0, specialists=0.0, complete_pass=1.0, pair_passes=2.0, pair_rows=0.25)
    plus = PlusComponents(net.modalities, net.modality_feature_shapes(), 3, cfg)
    assert list(plus.pair_positions()) == [3, 4, 5]  # after the three single passes
    index = plus.pair_index(10, torch.device("cpu"))
    assert index is not None and len(index) == 3 and torch.equal(index, index.sort().values)  # ceil(2.5)
    assert len(index.unique()) == 3 and len(plus.pair_index(4, torch.device("cpu"))) == 2  # at least two
    assert len(plus.pair_index(1, torch.device("cpu"))) == 1  # never more than the batch
    every = PlusComponents(net.modalities, {}, 3, PlusConfig(unimodal_heads=0.0, specialists=0.0, pair_passes=1.0))
    assert every.pair_index(10, torch.device("cpu")) is None  # pair_rows 1: every row
    inputs, target = _inputs(), torch.randint(0, 3, (10,))
    present = torch.ones(10, 3, dtype=torch.bool)
    present[index[0], 1] = False  # a chosen row without b: left out of the pairs with b
    masks = plus.extra_masks(present)
    prepared = net.prepare(inputs)
    parts = [net.fused_from(prepared, m) for m in masks]
    for k in plus.pair_positions():
        parts[k], masks[k] = select_rows(parts[k], index), masks[k][index]
    sizes = [int(m.shape[0]) for m in masks]
    assert sizes == [10, 10, 10, 3, 3, 3, 10]
    outputs = split_output(net.decode(concat_fused(parts), torch.cat(masks)), sizes)
    terms = plus.pass_terms(outputs, inputs, target, present, index)
    expected = []
    for i, j in plus.pairs:  # by hand: each chosen row that holds the pair, decoded alone under it
        rows = [r for r in index.tolist() if present[r, i] and present[r, j]]
        mask = torch.zeros(1, 3, dtype=torch.bool)
        mask[0, [i, j]] = True
        logits = torch.cat([net({m: x[r : r + 1] for m, x in inputs.items()}, mask).logits for r in rows])
        expected.append(F.cross_entropy(logits, target[rows]))
    torch.testing.assert_close(terms["pair"], 2.0 * torch.stack(expected).mean())
    with pytest.raises(ValueError, match=r"plus.pair_rows"):
        PlusConfig(pair_rows=0.0)


@pytest.mark.slow
def test_own_pair_decoders_train_on_a_share_of_the_rows(tmp_path):
    own = ["--set", "model.combination_decoders=[a+b, a+c, b+c]", "--set", "plus.pair_passes=1"]
    own += ["--set", "plus.pair_rows=0.25"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *own]) == 0
    net = load_model_file(tmp_path / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
    assert net.decoder.codes_with_own == [3, 5, 6]
    for decoder in net.decoder.own.values():  # every pair decoder trained on every step's subset
        norms = [m for m in decoder.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        assert norms and all(int(m.num_batches_tracked) > 0 for m in norms)
    log = (tmp_path / "seed_0" / "mmanet-plus" / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "train/pair" in log


@pytest.mark.parametrize("seg", [False, True])
def test_encoders_from_specialists_copies_each_encoder_and_refuses_one_that_does_not_fit(seg):
    from tests.helpers.nets import SEG_MODEL, SEG_SHAPES, SHAPES

    from mmanet.config import ConfigError
    from mmanet.training.plus import encoders_from

    shapes, model = (SEG_SHAPES, SEG_MODEL) if seg else (SHAPES, {"embed_dim": 4, "decoder": {"name": "mlp"}})
    spec = NetworkSpec(tuple(shapes), dict(shapes), 3, model)
    torch.manual_seed(0)
    net = build_network(spec)
    singles = {m: build_network(spec.restricted([m])) for m in shapes}  # other random weights
    untouched = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("encoders.")}
    encoders_from(net, FrozenSpecialists(singles))
    for m in shapes:
        mine, theirs = net.encoders[m].state_dict(), singles[m].encoders[m].state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), m
        first = next(net.encoders[m].parameters())
        assert first.requires_grad and first.data_ptr() != next(singles[m].encoders[m].parameters()).data_ptr()
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in untouched.items())  # decoder, norms, heads: as built
    other = dict(model, encoders={"default": {"name": "tiny", "width": 4}}) if seg else dict(model, embed_dim=6)
    wrong = {m: build_network(NetworkSpec((m,), {m: shapes[m]}, 3, other)) for m in shapes}
    with pytest.raises(ConfigError, match=r"plus.encoders_from_specialists: the '\w+' specialist's encoder in x.pt"):
        encoders_from(net, FrozenSpecialists(wrong), "x.pt")


def test_encoders_from_specialists_fills_both_copies_of_alone_encoders():
    from tests.helpers.nets import SEG_MODEL, SEG_SHAPES

    from mmanet.training.plus import encoders_from

    spec = NetworkSpec(tuple(SEG_SHAPES), dict(SEG_SHAPES), 3, {**SEG_MODEL, "alone_encoders": True})
    torch.manual_seed(0)
    net = build_network(spec)
    singles = {m: build_network(spec.restricted([m])) for m in SEG_SHAPES}  # one modality: no copies of their own
    encoders_from(net, FrozenSpecialists(singles))
    for m in SEG_SHAPES:
        theirs = singles[m].encoders[m].state_dict()
        for copy in (net.encoders[m], net.alone_encoders[m]):
            mine = copy.state_dict()
            assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), m
    assert next(net.encoders["rgb"].parameters()).data_ptr() != next(net.alone_encoders["rgb"].parameters()).data_ptr()


@pytest.mark.slow
def test_a_run_with_encoders_from_specialists_starts_from_them(tmp_path, capsys):
    flag = ["--set", "plus.encoders_from_specialists=true", "--set", "plus.specialists=0"]  # the copy alone
    still = ["--set", "optim.lr=0.000000001", "--set", "optim.scheduler=none"]  # Adam moves each weight by ~1e-9 a step
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *flag, *still]) == 0
    run = tmp_path / "seed_0"
    unified = load_model_file(run / "mmanet-plus" / "model.pt").entries[0].net
    for entry in load_model_file(run / "specialists" / "model.pt").entries:
        (m,) = entry.spec.modalities
        pairs = zip(unified.encoders[m].named_parameters(), entry.net.encoders[m].parameters(), strict=True)
        for (name, mine), theirs in pairs:
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0, msg=f"{m} {name}")
    capsys.readouterr()
    alone = ["--set", "model.alone_patches=true"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, *flag, *alone]) == 2
    assert "not with model.alone_patches" in capsys.readouterr().out and not (tmp_path / "x").exists()
    given = ["--set", f"plus.specialists_path={run / 'specialists' / 'model.pt'}"]
    wider = ["--set", "model.encoders={default: {name: tiny, dim: 6}}"]  # the specialists' encoders are 4 wide
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "y"), *TINY, *flag, *given, *wider]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert "plus.encoders_from_specialists: the 'a' specialist's encoder in" in said and "does not fit" in said
    assert not (tmp_path / "y").exists()  # refused when planned, before anything was trained


@pytest.mark.slow
def test_a_segmentation_run_with_se_from_specialists_starts_from_them_and_classification_is_refused(tmp_path, capsys):
    flags = ["--set", "plus.se_from_specialists=true", "--set", "model.stream_se=true", "--set", "plus.specialists=0"]
    still = ["--set", "optim.lr=0.000000001", "--set", "optim.scheduler=none"]
    out = tmp_path / "seg"
    assert main(["run", str(SEG_CONFIG), "--methods", "mmanet-plus", "--out", str(out), *SEG_TINY, *flags, *still]) == 0
    unified = load_model_file(out / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
    assert unified.stream_se
    for entry in load_model_file(out / "seed_0" / "specialists" / "model.pt").entries:
        (m,) = entry.spec.modalities
        for k in range(5):
            pairs = zip(unified.se[k][m].parameters(), entry.net.se[k][m].parameters(), strict=True)
            assert all(torch.allclose(mine, theirs, atol=1e-6, rtol=0) for mine, theirs in pairs), (m, k)
    capsys.readouterr()
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, flags[0], flags[1]]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert "plus.se_from_specialists: only the segmentation network" in said and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_segmentation_run_keeps_primary_statistics_per_combination(tmp_path):
    from mmanet.nn.patches import CombinationStatistics

    flags = ["--set", "model.combination_statistics=true"]
    assert main(["run", str(SEG_CONFIG), "--methods", "mmanet-plus", "--out", str(tmp_path), *SEG_TINY, *flags]) == 0
    net = load_model_file(tmp_path / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
    layer = next(m for m in net.modules() if isinstance(m, CombinationStatistics))
    means = layer.running_mean[1:]  # rgb alone, depth alone, both: each trained on its own rows
    assert not torch.allclose(means[0], means[1]) and not torch.allclose(means[0], means[2])


@pytest.mark.slow
def test_encoder_warmup_holds_the_copied_encoders_for_its_epochs_only(tmp_path, capsys):
    def encoders_moved(share: float, out: Path, given: list[str]) -> dict[str, bool]:
        flag = ["--set", f"plus.encoder_warmup={share}", *given]
        assert main(["run", "--methods", "mmanet-plus", "--out", str(out), *TINY, *flag]) == 0
        unified = load_model_file(out / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
        moved = {}
        for entry in load_model_file(specialists).entries:
            (m,) = entry.spec.modalities
            pairs = zip(unified.encoders[m].parameters(), entry.net.encoders[m].parameters(), strict=True)
            moved[m] = any(not torch.equal(mine, theirs) for mine, theirs in pairs)
        return moved

    assert main(["run", "--methods", "specialists", "--out", str(tmp_path / "s"), *TINY]) == 0
    specialists = tmp_path / "s" / "seed_0" / "specialists" / "model.pt"
    given = ["--set", f"plus.specialists_path={specialists}"]
    assert not any(encoders_moved(0.9, tmp_path / "held", given).values())  # ceil(0.9 * 3) = 3: every epoch
    report = json.loads((tmp_path / "held" / "report.json").read_text())
    assert report["methods"]["mmanet-plus"]["diagnostics"]["0"]["encoder_warmup_epochs"] == 3
    assert all(encoders_moved(0.3, tmp_path / "one", given).values())  # held for one epoch, then trained
    capsys.readouterr()
    off = ["--set", "plus.encoders_from_specialists=false", "--set", "plus.encoder_warmup=0.5"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, *off]) == 2
    assert "plus.encoder_warmup: expected 0 without plus.encoders_from_specialists" in capsys.readouterr().out


@pytest.mark.slow
def test_own_decoders_stay_copies_of_the_shared_one_until_the_fork(tmp_path, capsys):
    from mmanet.nn import through_shared

    def own_differs(share: float, out: Path) -> bool:
        flags = ["--set", "model.combination_decoders=complete", "--set", f"plus.fork_own_decoders={share}"]
        assert main(["run", "--methods", "mmanet-plus", "--out", str(out), *TINY, *flags, *given]) == 0
        net = load_model_file(out / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net.eval()
        x = {m: torch.randn(6, *shape) for m, shape in net.input_shapes.items()}
        mask = torch.ones(6, len(net.modalities), dtype=torch.bool)  # the complete combination: its own decoder
        with torch.no_grad():
            own = net(x, mask).logits
            with through_shared(net.decoder, torch.ones(6, dtype=torch.bool)):
                shared = net(x, mask).logits
        return not torch.allclose(own, shared, atol=1e-5, rtol=1e-5)

    assert main(["run", "--methods", "specialists", "--out", str(tmp_path / "s"), *TINY]) == 0
    given = ["--set", f"plus.specialists_path={tmp_path / 's' / 'seed_0' / 'specialists' / 'model.pt'}"]
    assert not own_differs(0.9, tmp_path / "copies")  # ceil(0.9 * 3) = 3: never forked, a copy in the file
    report = json.loads((tmp_path / "copies" / "report.json").read_text())
    assert report["methods"]["mmanet-plus"]["diagnostics"]["0"]["fork_epochs"] == 3
    assert own_differs(0.3, tmp_path / "forked")  # forked after one epoch, then trained on its own rows
    capsys.readouterr()
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, *given,
                 "--set", "plus.fork_own_decoders=0.5"]) == 2  # fmt: skip
    assert "plus.fork_own_decoders: expected 0 without model.combination_decoders" in capsys.readouterr().out


def test_specialist_kd_equals_the_reference_and_vanishes_when_the_student_copies():
    torch.manual_seed(2)
    nets = {m: _net().eval() for m in ("a", "b", "c")}
    specialists = FrozenSpecialists({m: _single(m) for m in nets})
    plus = PlusComponents(
        ("a", "b", "c"),
        _net().modality_feature_shapes(),
        3,
        PlusConfig(unimodal_heads=0.0, single_passes=0.0, specialists=2.0, complete_pass=0.0),
        specialists=specialists,
    )
    inputs, present = _inputs(6), torch.ones(6, 3, dtype=torch.bool)
    target = torch.zeros(6, dtype=torch.long)
    student = [torch.randn(6, 3) for _ in range(3)]
    from mmanet.nn import NetOutput

    terms = plus.pass_terms([NetOutput(s, None) for s in student], inputs, target, present)
    teacher = [specialists.logits(m, inputs) for m in ("a", "b", "c")]
    expected = 2.0 * sum(reference_kd(s, t, 4.0) for s, t in zip(student, teacher, strict=True)) / 3
    assert float(terms["specialist"]) == pytest.approx(expected, rel=1e-5)
    outputs = [NetOutput(s, None) for s in student]
    decayed = plus.pass_terms(outputs, inputs, target, present, specialist_weight=0.5)  # plus.specialists_decay
    assert float(decayed["specialist"]) == pytest.approx(expected / 4, rel=1e-5)
    copied = plus.pass_terms([NetOutput(t.clone(), None) for t in teacher], inputs, target, present)
    assert float(copied["specialist"]) == pytest.approx(0.0, abs=1e-6)
    specialists.logits = None  # before plus.specialists_start the specialists do not run at all
    assert float(plus.pass_terms(outputs, inputs, target, present, specialist_weight=0.0)["specialist"]) == 0.0


def test_specialists_product_kd_equals_a_loop_over_rows_and_skips_single_modality_rows():
    torch.manual_seed(5)
    names = ("a", "b", "c")
    specialists = FrozenSpecialists({m: _single(m) for m in names})
    cfg = PlusConfig(unimodal_heads=0.0, single_passes=0.0, specialists=0.0, complete_pass=0.0, specialists_product=1)
    plus = PlusComponents(names, _net().modality_feature_shapes(), 3, cfg, specialists=specialists)
    inputs = _inputs(6)
    mask = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.bool)
    student = torch.randn(6, 3)
    teachers = plus.specialist_logits(inputs)
    value = float(plus.product_term(student, mask, teachers, 0.5)["product"])
    expected = []  # slow reference: each row with two or more modalities, its present specialists' logits summed
    for i in range(6):
        present = [m for j, m in enumerate(names) if mask[i, j]]
        if len(present) >= 2:
            teacher = sum(specialists.logits(m, {m: inputs[m][i : i + 1]}) for m in present)
            expected.append(reference_kd(student[i : i + 1], teacher, 4.0))
    assert value == pytest.approx(0.5 * sum(expected) / len(expected), rel=1e-5)
    # the student that computes the product exactly has nothing to learn; single-modality rows never count
    product = torch.stack([(torch.stack([teachers[m][i] for j, m in enumerate(names) if mask[i, j]])).sum(0)
                           for i in range(6)])  # fmt: skip
    wrong_singles = torch.where((mask.sum(1) == 1)[:, None], torch.randn(6, 3), product)
    assert float(plus.product_term(wrong_singles, mask, teachers, 1.0)["product"]) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="specialists_product"):
        PlusComponents(names, _net().modality_feature_shapes(), 3, cfg)
    assert PlusConfig(specialists=0, encoders_from_specialists=False, specialists_product=1).needs_specialists


def test_dense_specialists_product_kd_averages_each_rows_pixels_then_the_rows():
    torch.manual_seed(6)
    names = ("rgb", "depth", "ir")
    cfg = PlusConfig(unimodal_heads=0.0, single_passes=0.0, specialists=0.0, complete_pass=0.0, specialists_product=1)
    specialists = FrozenSpecialists({m: torch.nn.Identity() for m in names})  # the teachers' logits are given
    plus = PlusComponents(names, {m: (4, 3, 5) for m in names}, 4, cfg, dense=True, specialists=specialists)
    teachers = {m: torch.randn(5, 4, 3, 5) for m in names}
    student = torch.randn(5, 4, 3, 5)
    mask = torch.tensor([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=torch.bool)
    per_row = []
    for i in range(5):  # slow reference: a row's KD is the mean over its pixels; single-modality rows left out
        present = [m for j, m in enumerate(names) if mask[i, j]]
        if len(present) < 2:
            continue
        teacher = sum(teachers[m][i] for m in present)
        per_row.append(reference_kd(student[i].reshape(4, -1).T, teacher.reshape(4, -1).T, 4.0))
    value = float(plus.product_term(student, mask, teachers, 2.0)["product"])
    assert value == pytest.approx(2.0 * sum(per_row) / len(per_row), rel=1e-5)


@pytest.mark.slow
def test_a_run_with_the_specialists_product_logs_it_from_the_specialists_start(tmp_path, monkeypatch):
    original = PlusComponents.product_term
    seen: list[tuple[int, int]] = []  # (rows, rows holding two or more modalities) of each call

    def spy(self, logits, mask, teachers, weight):
        assert all(t.shape[0] == logits.shape[0] for t in teachers.values())  # the pass's own rows
        seen.append((int(mask.shape[0]), int((mask.sum(1) >= 2).sum())))
        return original(self, logits, mask, teachers, weight)

    monkeypatch.setattr(PlusComponents, "product_term", spy)
    flags = ["--set", "plus.specialists_product=1", "--set", "plus.specialists_start=0.5"]
    flags += ["--set", "plus.pair_passes=1", "--set", "plus.pair_rows=0.5"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *flags]) == 0
    import csv

    rows = list(csv.DictReader((tmp_path / "seed_0" / "mmanet-plus" / "logs" / "metrics.csv").open()))
    for term in ("product", "pair_product"):
        values = {int(r["epoch"]): float(r[f"train/{term}"]) for r in rows if r.get(f"train/{term}")}
        assert sorted(values) == [0, 1, 2]
        assert values[0] == 0.0 and values[1] == 0.0 and values[2] > 0  # ceil(0.5 * 3) = 2 epochs without it
    assert seen and len(seen) % 4 == 0  # each step: the sampled pass, then the three pairs of the three modalities
    for step in range(0, len(seen), 4):
        (batch, _), pairs = seen[step], seen[step + 1 : step + 4]
        assert all(
            n == k == math.ceil(batch / 2) for n, k in pairs
        )  # half the rows (plus.pair_rows), each holding both


def _single(m):
    shapes = {"a": (5,), "b": (6,), "c": (3,)}
    model = {
        "embed_dim": 4,
        "encoders": {"default": {"name": "tiny", "dim": 4}},
        "decoder": {"name": "tiny", "hidden": 4},
    }
    return build_network(NetworkSpec((m,), {m: shapes[m]}, 3, model)).eval()


def test_learned_absent_features_start_at_zero_and_learn_only_from_absent_samples():
    torch.manual_seed(3)
    zero, learned = _net("zero").eval(), _net("learned").eval()
    learned.load_state_dict(zero.state_dict(), strict=False)
    inputs = _inputs()
    mask = torch.tensor([[1, 0, 1]] * 5 + [[1, 1, 1]] * 5, dtype=torch.bool)
    torch.testing.assert_close(learned(inputs, mask).logits, zero(inputs, mask).logits)
    F.cross_entropy(learned(inputs, mask).logits, torch.zeros(10, dtype=torch.long)).backward()
    grads = {m: learned.absent_embeddings[m].grad for m in ("a", "b", "c")}
    assert grads["a"] is None or grads["a"].abs().sum() == 0  # never absent here
    assert grads["b"].abs().sum() > 0  # absent in the first five samples
    learned.zero_grad()
    F.cross_entropy(
        learned(inputs, torch.ones(10, 3, dtype=torch.bool)).logits, torch.zeros(10, dtype=torch.long)
    ).backward()
    assert all(
        learned.absent_embeddings[m].grad is None or learned.absent_embeddings[m].grad.abs().sum() == 0 for m in "abc"
    )


def test_layer_norm_decoder_normalises_each_sample_alone():
    torch.manual_seed(4)
    from mmanet.nn.decoders import build_decoder

    decoder = build_decoder({"name": "mlp", "hidden": 16, "norm": "layer", "dropout": 0.0}, (12,), 3).eval()
    x = torch.randn(8, 12)
    alone = torch.cat([decoder(x[i : i + 1]).logits for i in range(8)])
    torch.testing.assert_close(decoder(x).logits, alone)  # no statistic is shared across the batch
    with pytest.raises(ValueError, match="norm must be one of"):
        build_decoder({"name": "mlp", "norm": "group"}, (12,), 3)


@pytest.mark.slow
def test_combination_adapters_train_reload_and_refuse_a_fork(tmp_path, capsys):
    from mmanet.nn.adapters import CombinationLowRank

    flags = ["--set", "model.combination_adapters=2", "--set", "plus.encoders_from_specialists=false"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "a"), *TINY, *flags]) == 0
    net = load_model_file(tmp_path / "a" / "seed_0" / "mmanet-plus" / "model.pt").entries[0].net
    adapters = [m for m in net.decoder.modules() if isinstance(m, CombinationLowRank)]
    linear = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert adapters and [a.base for a in adapters] == linear  # every linear layer of the decoder, once
    served = combination_codes(torch.ones(1, len(net.modalities), dtype=torch.bool)).item()
    for adapter in adapters:  # started at zero, trained: the complete combination's update moved
        assert adapter.up[served].abs().sum() > 0
        assert adapter.up[0].abs().sum() == 0  # the empty combination is never served
    capsys.readouterr()
    fork = ["--set", "model.combination_decoders=complete", "--set", "plus.fork_own_decoders=0.5"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "x"), *TINY, *flags, *fork]) == 2
    assert "plus.fork_own_decoders: expected 0 with model.combination_adapters" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


def test_specialist_weight_starts_late_or_decays_over_the_epochs():
    linear = PlusConfig(specialists=2.0, specialists_decay="linear", specialists_start=0)
    constant = PlusConfig(specialists=2.0, specialists_start=0)
    default = PlusConfig()  # the KD from the middle of training on (round 30)
    assert [default.specialist_weight(e, 4) for e in range(4)] == [0.0, 0.0, 1.0, 1.0]
    assert [linear.specialist_weight(e, 5) for e in range(5)] == pytest.approx([2.0, 1.6, 1.2, 0.8, 0.4])
    assert [constant.specialist_weight(e, 5) for e in range(5)] == [2.0] * 5
    late = PlusConfig(specialists=2.0, specialists_start=0.4)  # ceil(0.4 * 5) = 2 epochs without KD
    assert [late.specialist_weight(e, 5) for e in range(5)] == [0.0, 0.0, 2.0, 2.0, 2.0]
    both = PlusConfig(specialists_start=0.4, specialists_decay="linear")
    assert [both.specialist_weight(e, 5) for e in range(5)] == pytest.approx([0.0, 0.0, 0.6, 0.4, 0.2])
    from mmanet.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"plus\.specialists_decay"):
        load_config(None, ["plus.specialists_decay=cosine"])


@pytest.mark.slow
def test_a_run_passes_each_epochs_decayed_kd_weight(tmp_path, monkeypatch):
    original = PlusComponents.pass_terms
    weights: list[float] = []

    def spy(self, outputs, inputs, target, present, pair_index=None, specialist_weight=None, teachers=None):
        weights.append(specialist_weight)
        return original(self, outputs, inputs, target, present, pair_index, specialist_weight, teachers)

    monkeypatch.setattr(PlusComponents, "pass_terms", spy)
    flags = ["--set", "plus.specialists_decay=linear", "--set", "plus.encoders_from_specialists=false"]
    flags += ["--set", "plus.specialists_start=0"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path), *TINY, *flags]) == 0
    assert sorted(set(weights), reverse=True) == pytest.approx([1.0, 2 / 3, 1 / 3])  # three epochs
    assert weights == sorted(weights, reverse=True)  # in epoch order


def test_kd_filtered_to_what_the_specialist_gets_right_equals_the_loop_over_those_samples():
    from mmanet.nn import NetOutput
    from mmanet.training.plus import _weighted_kd

    torch.manual_seed(3)
    nets = {m: _net().eval() for m in ("a", "b", "c")}
    specialists = FrozenSpecialists({m: _single(m) for m in nets})
    cfg = PlusConfig(unimodal_heads=0.0, single_passes=0.0, complete_pass=0.0, specialists_filter="correct")
    plus = PlusComponents(("a", "b", "c"), _net().modality_feature_shapes(), 3, cfg, specialists=specialists)
    inputs, present = _inputs(8), torch.ones(8, 3, dtype=torch.bool)
    present[0, 1] = False  # a sample without b: out of b's KD whatever its specialist says
    target = torch.randint(0, 3, (8,))
    student = [torch.randn(8, 3) for _ in range(3)]
    terms = plus.pass_terms([NetOutput(s, None) for s in student], inputs, target, present)
    expected = 0.0
    for j, (m, s) in enumerate(zip(("a", "b", "c"), student, strict=True)):
        teacher = specialists.logits(m, inputs)
        rows = [i for i in range(8) if present[i, j] and int(teacher[i].argmax()) == int(target[i])]
        expected += reference_kd(s[rows], teacher[rows], 4.0) if rows else 0.0
    assert 0 < float(terms["specialist"]) == pytest.approx(expected / 3, rel=1e-5)
    # dense: pixels, void never kept, labels taken at the logits' size
    logits_t = torch.randn(2, 3, 2, 2)
    label = logits_t.argmax(1).repeat_interleave(2, 1).repeat_interleave(2, 2)  # (2, 4, 4), right everywhere
    label[0, 0:2, 0:2] = (logits_t[0, :, 0, 0].argmax() + 1) % 3  # pixel (0, 0) of sample 0 now wrong
    label[1, 2:4, 2:4] = 255  # pixel (1, 1) of sample 1 void
    keep = teacher_right(logits_t, label, 255)
    assert keep.tolist() == [[[False, True], [True, True]], [[True, True], [True, False]]]
    logits_s = torch.randn(2, 3, 2, 2)
    weight = torch.tensor([1.0, 1.0])
    rows_s = [logits_s[b, :, y, x] for b in range(2) for y in range(2) for x in range(2) if keep[b, y, x]]
    rows_t = [logits_t[b, :, y, x] for b in range(2) for y in range(2) for x in range(2) if keep[b, y, x]]
    got = _weighted_kd(logits_s, logits_t, weight, 2.0, keep)
    assert float(got) == pytest.approx(reference_kd(torch.stack(rows_s), torch.stack(rows_t), 2.0), rel=1e-5)
    everything = torch.ones_like(keep)
    torch.testing.assert_close(_weighted_kd(logits_s, logits_t, weight, 2.0, everything),
                               _weighted_kd(logits_s, logits_t, weight, 2.0))  # fmt: skip


def test_error_weights_share_the_mix_by_validation_error():
    from mmanet.training.sampling import error_weights

    w = error_weights({1: 0.9, 2: 0.6, 3: 1.0, 4: 0.8, 5: 0.95, 6: 0.75}, 3, 0.4)  # code 7 has no score
    errors = torch.tensor([0.0, 0.1, 0.4, 0.0, 0.2, 0.05, 0.25, 1 / 6], dtype=torch.float64)  # 7: the mean error
    expected = 0.6 / 7 + 0.4 * errors / errors.sum()
    expected[0] = 0
    assert torch.allclose(w, expected) and abs(float(w.sum()) - 1) < 1e-12
    assert torch.allclose(
        error_weights({1: 1.0, 2: 1.0, 3: 1.0}, 2, 1.0)[1:], torch.full((3,), 1 / 3, dtype=torch.float64)
    )
    with pytest.raises(ValueError, match=r"codes \[4\] outside 1..3"):
        error_weights({4: 0.5}, 2, 0.5)
    with pytest.raises(ValueError, match="mix"):
        error_weights({1: 0.5}, 2, 1.5)


@pytest.mark.slow
def test_adaptive_sampling_follows_each_epochs_validation_errors(tmp_path):
    """Each epoch after the first draws by the previous epoch's validation accuracies (the run's
    log); with no error-proportional share it is dropout's uniform draw, step for step."""
    import csv

    from mmanet.modality import all_combinations, combination_code, combination_name
    from mmanet.training.sampling import error_weights

    adaptive = ["--set", "plus.sampling=adaptive", "--set", "plus.sampling_mix=0.7"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "a"), *TINY, *OFF, *adaptive]) == 0
    history = json.loads((tmp_path / "a" / "report.json").read_text())["methods"]["mmanet-plus"]["diagnostics"]["0"]
    history = history["sampling"]
    rows = list(csv.DictReader((tmp_path / "a" / "seed_0" / "mmanet-plus" / "logs" / "metrics.csv").open()))
    modalities = ("a", "b", "c")
    combos = all_combinations(modalities)
    assert len(history) == 2  # epochs 1 and 2 (3 epochs; the first draws uniformly)
    for epoch, probabilities in enumerate(history):
        val = next(r for r in rows if r.get(f"val/{combination_name(combos[0])}/accuracy") and int(r["epoch"]) == epoch)
        scores = {combination_code(c, modalities): float(val[f"val/{combination_name(c)}/accuracy"]) for c in combos}
        expected = error_weights(scores, 3, 0.7)
        for c in combos:
            assert abs(probabilities[combination_name(c)] - float(expected[combination_code(c, modalities)])) < 1e-5
    assert len({round(p, 5) for p in history[-1].values()}) > 1  # not uniform: the errors differ
    none = ["--set", "plus.sampling=adaptive", "--set", "plus.sampling_mix=0"]
    assert main(["run", "--methods", "mmanet-plus", "--out", str(tmp_path / "u"), *TINY, *OFF, *none]) == 0
    assert main(["run", "--methods", "dropout", "--out", str(tmp_path / "d"), *TINY]) == 0
    assert _per_seed(tmp_path / "u", "mmanet-plus") == _per_seed(tmp_path / "d", "dropout")


def test_adaptive_modality_dropout_draws_by_its_weights_once_set():
    from mmanet.modality import sample_masks, sample_masks_weighted
    from mmanet.training.sampling import ModalityDropout

    drop = ModalityDropout(500, seed=3, policy="adaptive")
    index, present = torch.arange(500), torch.ones(500, 3, dtype=torch.bool)
    uniform = drop.uniforms(1)
    assert torch.equal(drop.masks(1, index, present), sample_masks(present, uniform))  # unset: uniform
    drop.weights = torch.tensor([0.0, 6.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    masks = drop.masks(1, index, present)
    assert torch.equal(masks, sample_masks_weighted(present, uniform, drop.weights))
    assert int((combination_codes(masks) == 1).sum()) > 150  # code 1 holds half the weight
