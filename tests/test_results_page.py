"""docs/results.md is regenerated from the committed per-seed records: every generated table matches."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_table_of_the_results_page_matches_the_records():
    command = [sys.executable, "benchmarks/study.py", "report", "--check"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    page = (ROOT / "docs" / "results.md").read_text()
    assert page.count("<!-- study ") == page.count("<!-- /study -->") > 20


def test_the_check_fails_when_a_table_is_edited(tmp_path):
    page = (ROOT / "docs" / "results.md").read_text()
    start = page.index("<!-- study summary")
    line_end = page.index("\n", page.index("| plus-r3-complete |", start))
    edited = page[:line_end] + " tampered" + page[line_end:]
    (tmp_path / "results.md").write_text(edited)
    command = [
        sys.executable,
        "benchmarks/study.py",
        "--root",
        "docs/records",
        "page",
        str(tmp_path / "results.md"),
        "--check",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "differ" in done.stderr


def test_adjacent_empty_blocks_are_each_filled(tmp_path):
    """A fresh page has empty blocks; each must get its own table (none may swallow the next)."""
    blocks = [
        "<!-- study mining phase=final setting=trio arms=mar,mmanet -->\n<!-- /study -->",
        "<!-- study diagnostics phase=final setting=trio arms=mad,mmanet -->\n<!-- /study -->",
    ]
    (tmp_path / "page.md").write_text("# page\n\n" + "\n".join(blocks) + "\n")
    command = [sys.executable, "benchmarks/study.py", "report", str(tmp_path / "page.md")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "page.md").read_text()
    assert page.count("<!-- study ") == page.count("<!-- /study -->") == 2
    assert "final weak set per seed" in page and "MAD effective sample share" in page


def test_trained_share_counts_the_sampled_draws_and_adds_one_per_pass():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from diagnostics import trained_share
    from mmanet.modality import all_combinations, combination_name
    from mmanet.training.sampling import ModalityDropout

    modalities, samples, epochs = ("a", "b", "c"), 50, 3
    plain = trained_share(modalities, 7, samples, epochs)
    counts = dict.fromkeys(plain, 0)
    dropout = ModalityDropout(samples, 7)
    for epoch in range(epochs):  # the draws, counted one sample at a time
        for i in range(samples):
            row = dropout.masks(epoch, torch.tensor([i]), torch.ones(1, 3, dtype=torch.bool))[0].tolist()
            counts[combination_name([m for m, keep in zip(modalities, row, strict=True) if keep])] += 1
    assert plain == {c: n / (samples * epochs) for c, n in counts.items()}
    every = trained_share(modalities, 7, samples, epochs, passes=True, complete=True, pairs=True)
    for combination in all_combinations(modalities):
        name = combination_name(combination)
        assert every[name] - plain[name] == pytest.approx(1.0)  # singles, pairs and the complete one: one pass each
    two = trained_share(("a", "b"), 7, samples, epochs, pairs=True)
    assert two == trained_share(("a", "b"), 7, samples, epochs)  # M = 2: the one pair is the complete combination


def test_round_9s_readout_list_is_what_its_rule_derives_from_the_committed_probes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_arms import R9_READOUTS
    from study_tables import probed_readouts

    for setting, listed in R9_READOUTS.items():
        assert probed_readouts(ROOT / "docs" / "records", setting) == listed, setting


def test_a_routed_record_takes_each_combination_from_the_file_better_on_validation():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import routed_record

    def rec(val, test, seconds, peak):
        cells = {
            split: {n: {"accuracy": v} for n, v in values.items()} for split, values in (("val", val), ("test", test))
        }
        return {"seed": 3, "setting": "trio", "seconds": seconds, "peak_rss_bytes": peak, **cells}

    base = rec({"a": 0.80, "b": 0.90, "a+b": 0.95}, {"a": 0.70, "b": 0.91, "a+b": 0.96}, 10.0, 100)
    specialists = rec({"a": 0.85, "b": 0.90}, {"a": 0.60, "b": 0.99}, 5.0, 300)  # b ties: the base keeps it
    routed = routed_record("routed-x", [base, specialists], "accuracy")
    assert routed["served_by"] == {"a": 1, "b": 0, "a+b": 0}
    assert {n: v["accuracy"] for n, v in routed["test"].items()} == {"a": 0.60, "b": 0.91, "a+b": 0.96}
    assert {n: v["accuracy"] for n, v in routed["val"].items()} == {"a": 0.85, "b": 0.90, "a+b": 0.95}
    assert (routed["seconds"], routed["peak_rss_bytes"], routed["seed"]) == (15.0, 300, 3)


def test_curves_read_each_runs_log_and_the_block_averages_the_seeds(tmp_path):
    import json

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from curves import main as curves_main
    from curves import read_curve
    from study_tables import block_curves

    def log(path: Path, values: dict[str, list[float]]) -> None:
        path.parent.mkdir(parents=True)
        keys = [f"val/{c}/miou" for c in values]
        lines = ["epoch,step,train/loss," + ",".join(keys)]
        for e in range(2):  # a training row and a validation row per epoch, as Lightning's CSV logger writes
            lines += [
                f"{e},{e},0.5," + "," * (len(keys) - 1),
                f"{e},{e},," + ",".join(str(values[c][e]) for c in values),
            ]
        path.write_text("\n".join(lines) + "\n")

    root = tmp_path / "study"
    for seed, shift in ((1, 0.0), (2, 0.1)):
        log(root / f"tune/seg/u/seed_{seed}/seed_{seed}/mmanet-plus/logs/metrics.csv",
            {"rgb": [0.2 + shift, 0.4 + shift], "depth": [0.1, 0.3 + shift]})  # fmt: skip
        for c, v in (("rgb", [0.3, 0.5]), ("depth", [0.2, 0.2 + shift])):
            log(root / f"tune/seg/customized/seed_{seed}.chunk0of1/seed_{seed}/customized/{c}/logs/metrics.csv", {c: v})
    assert read_curve(root / "tune/seg/u/seed_1/seed_1/mmanet-plus/logs/metrics.csv", "depth", "miou") == pytest.approx(
        [10.0, 30.0]
    )
    with pytest.raises(ValueError, match="no column 'val/ir/miou'"):
        read_curve(root / "tune/seg/u/seed_1/seed_1/mmanet-plus/logs/metrics.csv", "ir", "miou")
    out = tmp_path / "records" / "curves.json"
    argv = ["--root", str(root), "--setting", "seg", "--seeds", "1,2", "--arms", "u,customized", "--json", str(out)]
    assert curves_main(argv) == 0
    data = json.loads(out.read_text())
    assert data["arms"]["customized"]["2"]["depth"] == pytest.approx([20.0, 30.0])
    table = block_curves(out.parent, "curves.json", "depth", ["u", "customized"])
    assert table[2] == "| `u` | 10.0 | 35.0 |"
    assert table[3] == "| `customized` | 20.0 | 25.0 |"


def test_blend_divergence_is_the_gaussian_kl_to_the_pooled_mixture():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from statistics_gap import blend_divergence

    mean = torch.tensor([[1.0, 0.0], [-1.0, 2.0], [0.0, 4.0]])
    var = torch.tensor([[1.0, 0.5], [2.0, 1.0], [0.5, 3.0]])
    # reference: pool the mixture's moments by sampling it, then the closed-form KL per channel
    draws = torch.Generator().manual_seed(0)
    samples = mean[:, None, :] + var.sqrt()[:, None, :] * torch.randn(3, 200_000, 2, generator=draws)
    pooled = torch.distributions.Normal(samples.flatten(0, 1).mean(0), samples.flatten(0, 1).std(0))
    own = torch.distributions.Normal(mean, var.sqrt())
    reference = torch.distributions.kl_divergence(own, pooled).mean(1)
    assert torch.allclose(blend_divergence(mean, var), reference, atol=5e-3)
    same = blend_divergence(mean[:1].repeat(3, 1), var[:1].repeat(3, 1))
    assert torch.allclose(same, torch.zeros(3), atol=1e-6)


def test_chance_of_shortfall_against_the_normal_distribution_of_each_cells_mean():
    from statistics import NormalDist

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import chance_of_shortfall

    draws = np.random.default_rng(0)
    gaps = np.stack([draws.normal(0.3, 0.5, 10), draws.normal(-0.8, 2.0, 10), draws.normal(1.0, 0.1, 10)], axis=1)
    out = chance_of_shortfall(gaps)
    se = gaps.std(axis=0, ddof=1) / np.sqrt(10)
    for name, level in (("level", 0.0), ("mean", gaps.mean())):
        p = [NormalDist(level, s).cdf(-0.5) for s in se]
        assert out[f"{name}_expected"] == pytest.approx(sum(p))
        assert out[f"{name}_any"] == pytest.approx(1 - np.prod([1 - q for q in p]))
    means = gaps.mean(axis=0)
    assert out["observed"] == sum(m < -0.5 for m in means)
    assert out["surely_below"] == sum(m + 2.262 * s < -0.5 for m, s in zip(means, se, strict=True))
    assert out["se_max"] == pytest.approx(se.max())


def test_weak_readouts_own_statistics_are_the_decoders_inputs_under_that_combination_alone():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tests.helpers.nets import SHAPES, inputs

    from mmanet.nn.network import NetworkSpec, build_network
    from weak_readouts import _own_statistics, encoded

    spec = NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}})
    net = build_network(spec).eval()
    batches = [{"inputs": inputs(False, n=6, seed=s), "target": torch.zeros(6, dtype=torch.long)} for s in range(3)]
    row = torch.tensor([True, False, True])
    own = _own_statistics(net, encoded(net, batches), row)
    norm = next(m for m in net.decoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    with torch.no_grad():
        for b in batches:  # reference: the first batch norm's inputs, every batch under v + img
            mask = row.expand(6, -1)
            net.decode(net.fused_from(net.prepare(b["inputs"]), mask), mask)
    hook.remove()
    rows = torch.cat(seen)
    copied = next(m for m in own.decoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
    # cumulative average of the three batches' statistics (unbiased variance per batch)
    batch_means = torch.stack([x.mean(0) for x in seen])
    batch_vars = torch.stack([x.var(0, unbiased=True) for x in seen])
    assert torch.allclose(copied.running_mean, batch_means.mean(0), atol=1e-5)
    assert torch.allclose(copied.running_var, batch_vars.mean(0), atol=1e-5)
    assert not torch.allclose(copied.running_mean, rows.new_zeros(rows.shape[1]))
    assert not copied.training and torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))


def test_a_gap_of_exactly_half_a_point_in_float32_scores_is_not_short():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import shortfalls

    def record(values: dict[str, float]) -> dict:  # scores as the records hold them: float32 fractions
        scores = {n: {"accuracy": float(np.float32(v))} for n, v in values.items()}
        return {"val": scores, "test": scores}

    customized = {s: record({"a": 0.90175, "b": 0.90175}) for s in (0, 1)}
    arm = {s: record({"a": 0.89675, "b": 0.89625}) for s in (0, 1)}  # a: exactly -0.50, b: -0.55
    gap_a = 100 * (float(np.float32(0.89675)) - float(np.float32(0.90175)))
    assert gap_a < -0.5  # the float32 storage puts an exact -0.50 just below -0.5
    short = shortfalls({"arm": arm, "customized": customized}, "arm")
    assert [n for n, _ in short] == ["b"]


def test_specialist_ensembles_count_a_loop_over_samples_of_the_product_and_the_average():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from specialist_ensembles import ensembles

    gen = torch.Generator().manual_seed(0)
    names = ["a", "b", "c"]
    log_probs = {m: torch.log_softmax(torch.randn(40, 4, generator=gen), 1) for m in names}
    target = torch.randint(0, 4, (40,), generator=gen)
    out = ensembles(log_probs, target, names)
    assert len(out) == 7 and out["a"]["product"] == out["a"]["average"]  # one modality: its specialist
    for combo in ("a+b", "b+c", "a+b+c"):
        right = {"product": 0, "average": 0}
        for i in range(40):  # slow reference: per sample, the product and the mean of the posteriors
            probs = [log_probs[m][i].exp() for m in combo.split("+")]
            right["product"] += int(int(torch.stack(probs).prod(0).argmax()) == int(target[i]))
            right["average"] += int(int(torch.stack(probs).mean(0).argmax()) == int(target[i]))
        assert out[combo] == {k: round(100 * v / 40, 2) for k, v in right.items()}


def test_weak_readouts_singles_add_the_networks_own_single_modality_decodes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tests.helpers.nets import SHAPES, inputs

    from mmanet.modality import combination_mask
    from mmanet.nn.network import NetworkSpec, build_network
    from weak_readouts import readouts

    spec = NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}})
    torch.manual_seed(1)
    net = build_network(spec).eval()
    heads = {m: torch.nn.Linear(4, 3) for m in net.modalities}
    batches = [{"inputs": inputs(False, n=6, seed=s), "target": torch.arange(6) % 3} for s in range(2)]
    out = readouts(net, heads, batches, batches, statistics=False)
    assert "statistics" not in out["v"] and out["v"]["singles_sum"] == out["v"]["trained"]

    def logp(b, combo):
        mask = combination_mask(combo, net.modalities).expand(6, -1)
        return torch.log_softmax(net(b["inputs"], mask).logits, 1)

    right = 0
    for b in batches:  # reference: the whole network run under v + img, v alone and img alone
        score = logp(b, ("v", "img")) + logp(b, ("v",)) + logp(b, ("img",))
        right += int((score.argmax(1) == b["target"]).sum())
    assert out["v+img"]["singles_sum"] == round(100 * right / 12, 2)


def test_pooled_phases_join_each_arms_seeds_and_refuse_a_seed_held_twice(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import json

    from study_tables import load_records, paired_diffs

    def write(phase, arm, seed, value):
        path = tmp_path / phase / "trio" / arm / f"seed_{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        cells = {"val": {"a": {"accuracy": value}}, "test": {"a": {"accuracy": value}}}
        path.write_text(json.dumps({"arm": arm, "seed": seed, **cells}))

    for seed, (x, ref) in enumerate([(0.90, 0.80), (0.85, 0.85)]):
        write("one", "x", seed, x)
        write("one", "ref", seed, ref)
    write("two", "x", 7, 0.70)
    write("two", "ref", 7, 0.75)
    write("two", "only-two", 7, 0.5)  # not in phase one: left out of the pooled records
    pooled = load_records(tmp_path, "one+two", "trio")
    assert sorted(pooled) == ["ref", "x"] and sorted(pooled["x"]) == [0, 1, 7]
    assert paired_diffs(pooled["x"], pooled["ref"], "test", "a") == pytest.approx([10.0, 0.0, -5.0])
    write("two", "x", 1, 0.5)
    with pytest.raises(ValueError, match=r"arm x has seeds \[1\] twice"):
        load_records(tmp_path, "one+two", "trio")


def test_pair_readout_draws_every_combination_alike_and_scores_as_the_network_does():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tests.helpers.nets import SHAPES, inputs

    from mmanet.modality import combination_mask
    from mmanet.nn.network import NetworkSpec, build_network
    from pair_readout import PairDecoder, _scores, pair_features, tune_network, uniform_masks

    masks = uniform_masks(7000, 3, torch.Generator().manual_seed(0))
    codes = (masks.long() * torch.tensor([1, 2, 4])).sum(1)
    counts = torch.bincount(codes, minlength=8)
    assert counts[0] == 0 and counts[1:].min() > 900 and counts[1:].max() < 1100  # 1000 expected each

    spec = NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}})
    torch.manual_seed(2)
    net = build_network(spec).eval()
    batches = [{"inputs": inputs(False, n=6, seed=s), "target": torch.arange(6) % 3} for s in range(2)]
    features, target = pair_features(net, batches, ("v", "img"))
    with torch.no_grad():
        own = [net.modality_features(net.prepare(b["inputs"])) for b in batches]
    assert torch.equal(features, torch.cat([torch.cat([o["v"], o["img"]], 1) for o in own]))
    assert torch.equal(target, torch.cat([b["target"] for b in batches]))
    every = {m: torch.cat([b["inputs"][m] for b in batches]) for m in net.modalities}
    with torch.no_grad():
        scores = _scores(net, net.decoder, net.prepare(every), target, ["w", "v+img"])
    for name, combo in (("w", ("w",)), ("v+img", ("v", "img"))):  # reference: the network's own forward
        right = 0
        for b in batches:
            mask = combination_mask(combo, net.modalities).expand(6, -1)
            right += int((net(b["inputs"], mask).logits.argmax(1) == b["target"]).sum())
        assert scores[name] == pytest.approx(100 * right / 12)

    patched = NetworkSpec(("v", "w", "img"), SHAPES, 3, {**spec.model.__dict__, "combination_patches": True})
    net = build_network(patched).eval()  # per-combination patches in the decoder, made non-trivial
    with torch.no_grad():
        for name, parameter in net.decoder.named_parameters():
            if "scale" in name or "shift" in name:
                parameter.normal_()
    features, _ = pair_features(net, batches, ("v", "img"))
    pair = PairDecoder(net, ("v", "img")).eval()
    with torch.no_grad():
        logits = pair(features).logits
        mask = combination_mask(("v", "img"), net.modalities).expand(12, -1)
        reference = net(every, mask).logits  # the whole network under v + img
    assert torch.allclose(logits, reference, atol=1e-6)
    assert pair.decoder is not net.decoder  # a copy: training it leaves the network as it was

    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = SimpleNamespace(
        optim=SimpleNamespace(lr=0.01, weight_decay=0.0, epochs=3), data=SimpleNamespace(batch_size=4)
    )
    curve = tune_network(net, ("v", "img"), batches, batches, cfg)
    assert len(curve) == 3 and all(0 <= c <= 100 for c in curve)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # the network is left as it was


def test_pair_readout_tune_network_matches_a_step_by_step_reference():
    import copy
    import math

    import torch.nn.functional as F

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tests.helpers.nets import SHAPES, inputs

    from mmanet.modality import combination_mask
    from mmanet.nn.network import NetworkSpec, build_network
    from pair_readout import READOUT_SEED, tune_network

    spec = NetworkSpec(("v", "w", "img"), SHAPES, 3, {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8}})
    torch.manual_seed(5)
    net = build_network(spec).eval()
    train = [{"inputs": inputs(False, n=10, seed=s), "target": (torch.arange(10) + s) % 3} for s in range(3)]
    val = [{"inputs": inputs(False, n=7, seed=9), "target": torch.arange(7) % 3}]
    lr, epochs, size = 0.05, 4, 8
    cfg = SimpleNamespace(
        optim=SimpleNamespace(lr=lr, weight_decay=0.0, epochs=epochs), data=SimpleNamespace(batch_size=size)
    )
    curve = tune_network(net, ("v", "img"), train, val, cfg)

    # reference: a copy trained by hand, one step at a time, under the pair's mask; the cosine
    # learning rate written out; accuracy counted sample by sample
    ref = copy.deepcopy(net)
    for parameter in ref.parameters():
        parameter.requires_grad_(True)
    every = {m: torch.cat([b["inputs"][m] for b in train]) for m in net.modalities}
    target = torch.cat([b["target"] for b in train])
    torch.manual_seed(READOUT_SEED)
    adam = torch.optim.Adam(ref.parameters(), lr=lr)
    total, step = epochs * math.ceil(30 / size), 0
    order = torch.Generator().manual_seed(READOUT_SEED)
    pair = combination_mask(("v", "img"), net.modalities)
    expected = []
    for _ in range(epochs):
        ref.train()
        for rows in torch.randperm(30, generator=order).split(size):
            if len(rows) < 2:
                continue
            for group in adam.param_groups:
                group["lr"] = lr * (1 + math.cos(math.pi * step / total)) / 2
            loss = F.cross_entropy(
                ref({m: x[rows] for m, x in every.items()}, pair.expand(len(rows), -1)).logits, target[rows]
            )
            adam.zero_grad()
            loss.backward()
            adam.step()
            step += 1
        ref.eval()
        right = 0
        with torch.no_grad():
            for i in range(7):
                one = {m: x[i : i + 1] for m, x in val[0]["inputs"].items()}
                right += int(ref(one, pair[None]).logits.argmax(1).item() == int(val[0]["target"][i]))
        expected.append(100 * right / 7)
    assert curve == pytest.approx(expected)
    assert len(set(expected)) > 1  # the tuning moves the pair's accuracy: the comparison can fail


def test_pair_readout_block_averages_seeds_and_pairs_the_refits(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import block_pair_readout

    def seed(u: float, shift: float) -> dict:
        pair = {"unified": u, "customized": u + 1, "readout_unified": {"best": u + 0.5, "last10": u - 0.5}}
        return {"a+b": pair, "unified_mean": 90.0, "refit_fresh": {"a+b": u + shift, "mean": 90.0 - shift}}

    record = {"per_seed": {"0": seed(80.0, 1.0), "1": seed(82.0, 3.0)}, "pairs": ["a+b"], "arm": "x"}
    (tmp_path / "r.json").write_text(json.dumps(record | {"command": "cmd", "machine": "m"}))
    lines = block_pair_readout(tmp_path, "r.json")
    assert lines[2] == "| `a+b` | 81.00 | 82.00 | 81.50 / 80.50 |"
    refit = next(line for line in lines if line.startswith("| `refit_fresh`"))
    assert refit.startswith("| `refit_fresh` | -2.00 [") and "| +2.00 [" in refit  # paired means over the two seeds


def test_the_study_trains_first_only_the_shared_teachers_its_arms_read():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study import teacher_arms

    assert teacher_arms("six", ["dropout", "customized", "mmanet-plus", "plus-r34-decoder-statistics"], []) == []
    assert teacher_arms("trio", ["sp-a100", "dropout"], []) == ["teacher"]  # no teacher overrides
    assert teacher_arms("trio", ["mad", "kd"], []) == ["teacher-noisy"]
    assert teacher_arms("trio", ["mad-a100-ls"], []) == []  # trains its own (label-smoothed) teacher
    assert teacher_arms("seg", ["specialists", "mmanet"], []) == ["specialists", "teacher"]  # seg: plain teacher
    assert teacher_arms("trio", ["teacher", "mmanet-plus"], ["plus.mad=true"]) == ["teacher"]  # extra turns MAD on


def test_heldout_digits_views_are_the_four_quadrants_and_load_as_a_dataset(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from heldout_digits import quadrant_views, write_npz
    from mmanet.data import load_npz

    images = np.arange(3 * 64, dtype=np.float64).reshape(3, 8, 8)  # each pixel's value names its place
    path = tmp_path / "quad.npz"
    write_npz(path, quadrant_views(images, np.array([2, 0, 1])))
    arrays = load_npz(path, ["tl", "tr", "bl", "br"])
    for view, (r, c) in {"tl": (0, 0), "tr": (0, 4), "bl": (4, 0), "br": (4, 4)}.items():
        for n in range(3):
            expected = [64 * n + 8 * (r + i) + c + j for i in range(4) for j in range(4)]
            assert arrays.inputs[view][n].tolist() == expected
    assert arrays.labels.tolist() == [2, 0, 1] and arrays.num_classes == 3 and bool(arrays.present.all())
    assert not list(tmp_path.glob("*.tmp*"))
    with pytest.raises(ValueError, match=r"images: expected shape \(N, 8, 8\)"):
        quadrant_views(np.zeros((3, 8, 7)), np.zeros(3))


def test_epoch_choice_restores_the_last_epochs_network_and_refuses_an_earlier_one(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from epoch_choice import restore_last

    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    other = {"0.weight": torch.randn(2, 3), "0.bias": torch.randn(2)}
    state = {f"net.{k}": v for k, v in other.items()} | {"teacher.w": torch.zeros(1)}
    torch.save({"epoch": 4, "state_dict": state}, tmp_path / "last.ckpt")
    last, epoch = restore_last(net, tmp_path / "last.ckpt", epochs=5)
    assert epoch == 4 and all(torch.equal(last.state_dict()[k], v) for k, v in other.items())
    assert not torch.equal(net[0].weight, other["0.weight"])  # the chosen network is left as it was
    with pytest.raises(SystemExit, match=r"holds epoch 4, not the run's last \(9\)"):
        restore_last(net, tmp_path / "last.ckpt", epochs=10)


def test_epoch_choice_block_pairs_each_side_at_each_epoch(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import block_epoch_choice

    def side(a_chosen, a_last, b_chosen, b_last, epoch):
        scores = {"a": {"chosen": a_chosen, "last": a_last}, "a+b": {"chosen": b_chosen, "last": b_last}}
        return {"scores": scores, "epochs": {"a": [epoch, 29], "a+b": [epoch + 2, 29]}}

    per_seed = {
        "0": {"customized": side(80.0, 81.0, 90.0, 90.0, 4), "u": side(80.0, 80.0, 89.0, 89.0, 20)},
        "1": {"customized": side(82.0, 84.0, 91.0, 91.0, 6), "u": side(82.0, 83.0, 90.0, 91.0, 24)},
    }
    record = {"per_seed": per_seed, "command": "c", "phase": "final", "split": "test", "machine": "m"}
    (tmp_path / "r.json").write_text(json.dumps(record))
    lines = block_epoch_choice(tmp_path, "r.json", "u")
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in lines if line.startswith("| `")}
    # a: chosen gaps 0, 0; last gaps -1, -1; customized chosen - last -1, -2; u chosen - last 0, -1
    assert rows["`a`"][0].startswith("+0.00") and rows["`a`"][1].startswith("-1.00 [-1.00, -1.00]")
    assert rows["`a`"][2].startswith("-1.50") and rows["`a`"][3].startswith("-0.50")
    # a+b: chosen gaps -1, -1; last gaps -1, 0
    assert rows["`a+b`"][0].startswith("-1.00 [-1.00, -1.00]") and rows["`a+b`"][1].startswith("-0.50")
    mean = next(line for line in lines if line.startswith("| mean over combinations"))
    assert mean.split(" | ")[1].startswith("-0.50") and mean.split(" | ")[2].startswith("-0.75")
    summary = next(line for line in lines if line.startswith("Cells more than"))
    assert "1 at the chosen epochs (a+b), 1 at the last epochs (a)" in summary  # a+b at -0.50 is not short
    assert "mean 7.0 of 30" in summary and "by `u`: mean 23.0" in summary


def test_sampling_block_is_each_cells_share_times_the_combinations_averaged_over_epochs_then_seeds():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import block_sampling

    def record(history):
        return {"diagnostics": {"sampling": history}}

    seeds = {
        0: record([{"a": 0.5, "b": 0.2, "a+b": 0.3}, {"a": 0.7, "b": 0.2, "a+b": 0.1}]),  # a: 0.6 -> 1.8
        1: record([{"a": 0.2, "b": 0.4, "a+b": 0.4}]),  # a: 0.2 -> 0.6
    }
    rows = block_sampling({"x": seeds, "y": {0: {"diagnostics": {}}}}, "trio", ["x", "y"], ["a", "a+b"])
    assert rows[2] == "| `x` | 1.20 (0.60-1.80) | 0.90 (0.60-1.20) |"
    assert len(rows) == 3  # y drew uniformly: no row
