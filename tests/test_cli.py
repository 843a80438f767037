"""End to end: `mmanet run` on the bundled data with tiny models, then `mmanet evaluate` (1 and 2 processes)."""

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from mmanet.cli import main
from mmanet.modality import all_combinations, combination_name

TINY = [
    "--set",
    "model.encoders={default: {name: tiny, dim: 4}}",
    "--set",
    "model.decoder={name: tiny, hidden: 8}",
    "--no-progress",
]
NAMES = [combination_name(c) for c in all_combinations(("pix", "fou", "mor"))]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        ["run", "--methods", "teacher,dropout,customized", "--epochs", "2", "--seeds", "0,1", "--out", str(out), *TINY]
    )
    assert code == 0
    return out


@pytest.mark.slow
def test_run_writes_a_valid_report(tiny_run):
    report = json.loads((tiny_run / "report.json").read_text())
    assert report["dataset"] == "mfeat"
    assert report["modalities"] == ["pix", "fou", "mor"]
    assert report["split"] == "test" and report["seeds"] == [0, 1]
    assert set(report["methods"]) == {"teacher", "dropout", "customized"}
    for method, entry in report["methods"].items():
        assert list(entry["combinations"]) == NAMES, method
        for name in NAMES:
            values = entry["combinations"][name]
            per_seed = [entry["per_seed"][s][name]["accuracy"] for s in ("0", "1")]
            assert values["accuracy"] == pytest.approx(np.mean(per_seed))
            assert values["accuracy_std"] == pytest.approx(np.std(per_seed, ddof=1))
            assert 0 <= values["macro_f1"] <= 1
        means = [np.mean([entry["per_seed"][s][n]["accuracy"] for n in NAMES]) for s in ("0", "1")]
        assert entry["mean"]["accuracy"] == pytest.approx(np.mean(means))
    for suffix in ("md", "csv", "png"):
        assert (tiny_run / f"report.{suffix}").stat().st_size > 0
    assert (tiny_run / "config.yaml").exists()
    split = np.load(tiny_run / "seed_0" / "split.npz")["split"]
    assert len(split) == 2000 and (split == "test").sum() == 400
    assert (tiny_run / "seed_1" / "customized" / "model.pt").exists()
    assert (tiny_run / "seed_0" / "dropout" / "logs" / "metrics.csv").exists()


@pytest.mark.slow
def test_evaluate_reproduces_the_run(tiny_run, tmp_path):
    report = json.loads((tiny_run / "report.json").read_text())
    for method in ("dropout", "customized"):
        out = tmp_path / f"{method}.json"
        assert (
            main(["evaluate", str(tiny_run / "seed_1" / method / "model.pt"), "--json", str(out), "--no-progress"]) == 0
        )
        evaluated = json.loads(out.read_text())["methods"][method]["per_seed"]["1"]
        for name in NAMES:
            assert evaluated[name]["accuracy"] == pytest.approx(
                report["methods"][method]["per_seed"]["1"][name]["accuracy"], abs=1e-9
            )


@pytest.mark.slow
def test_two_process_ddp_evaluation_equals_one_process(tiny_run, tmp_path):
    model = tiny_run / "seed_0" / "dropout" / "model.pt"
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert main(["evaluate", str(model), "--split", "all", "--json", str(one), "--no-progress"]) == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "mmanet",
        "evaluate",
        str(model),
        "--split",
        "all",
        "--json",
        str(two),
        "--devices",
        "2",
        "--strategy",
        "ddp",
    ]
    done = subprocess.run(
        [*cmd, "--accelerator", "cpu", "--no-progress"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a = json.loads(one.read_text())["methods"]["dropout"]["per_seed"]["0"]
    b = json.loads(two.read_text())["methods"]["dropout"]["per_seed"]["0"]
    assert list(a) == list(b) == NAMES
    for name in NAMES:
        for metric in ("accuracy", "macro_f1"):
            assert a[name][metric] == pytest.approx(b[name][metric], abs=1e-9), (name, metric)


@pytest.mark.slow
def test_evaluate_refuses_mismatched_data(tiny_run, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    np.savez(
        bad,
        pix=rng.normal(size=(10, 1, 8, 8)),
        fou=rng.normal(size=(10, 76)),
        mor=rng.normal(size=(10, 6)),
        labels=np.arange(10),
    )
    code = main(["evaluate", str(tiny_run / "seed_0" / "dropout" / "model.pt"), "--data", str(bad), "--split", "all"])
    assert code == 2
    assert "modality 'pix' expects per-sample shape (1, 16, 15)" in capsys.readouterr().out.replace("\n", "")


def test_bad_config_value_is_reported_not_raised(capsys):
    assert main(["run", "--set", "optim.lr=fast"]) == 2
    assert "optim.lr" in capsys.readouterr().out


def test_version_and_list(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "customized" in out and "plus.pair_passes" in out and "model.combination_patches" in out
    words = " ".join(out.split())  # rich wraps long lines when not on a terminal
    assert "what it does [default])" in words and "small, complete, [names] [none]" in words  # not eaten as markup
    assert "model.combination_decoders an own decoder" in words


def test_list_names_every_plus_component_with_its_default():
    from mmanet.cli import plus_components
    from mmanet.config import PlusConfig

    listed = plus_components()
    model = {"model.combination_patches", "model.combination_readout", "model.combination_decoders"}
    model |= {
        "model.alone_patches",
        "model.alone_encoders",
        "model.fusion_stream",
        "model.stream_se",
        "model.skip_absent_primary",
        "model.combination_statistics",
        "model.decoder_statistics",
        "model.combination_adapters",
    }
    assert {f"plus.{f.name}" for f in dataclasses.fields(PlusConfig)} | model == set(listed)
    assert listed["plus.complete_pass"].endswith(f"[{PlusConfig().complete_pass}]")


@pytest.mark.slow
def test_two_process_ddp_training_mines_one_weak_set(tmp_path):
    """Each rank mines on its shard; the synced statistics must give every rank the same set
    (the module raises if ranks disagree), and the report records it. MAD runs on the gathered
    global batch (its gradient through the gather)."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "mmanet", "run", "--methods", "mmanet", "--epochs", "3", "--out", str(out), *TINY]
    cmd += [
        "--set",
        "mar.mine_start=0",
        "--set",
        "mar.begin_epoch=2",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--accelerator",
        "cpu",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    weak = report["methods"]["mmanet"]["weak_combinations"]["0"]
    assert weak and set(weak) <= set(NAMES)
    with open(out / "seed_0" / "mmanet" / "logs" / "metrics.csv", newline="") as handle:
        mad = [r["train/mad"] for r in csv.DictReader(handle) if r.get("train/mad")]
    assert mad and all(math.isfinite(float(v)) for v in mad)


@pytest.mark.slow
def test_two_process_ddp_trains_own_decoders_waiting_for_their_fork(tmp_path):
    """Before the fork the complete combination's own decoder gets no row (DDP without
    find_unused_parameters needs every parameter used each step: a zero-valued use, its gradient
    dropped); after it, its own rows. Both phases run on two processes."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "mmanet", "run", "--methods", "mmanet-plus", "--epochs", "4", "--out", str(out), *TINY]
    cmd += ["--set", "model.combination_decoders=complete", "--set", "plus.fork_own_decoders=0.5"]
    cmd += ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["methods"]["mmanet-plus"]["diagnostics"]["0"]["fork_epochs"] == 2


def _epoch_losses(path):
    import csv

    with open(path) as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss")]
    return [float(r["train/loss"]) for r in rows]


@pytest.mark.slow
def test_ddp_training_loss_curve_matches_one_process_at_the_same_global_batch(tmp_path):
    common = ["run", "--methods", "dropout", "--epochs", "4", "--seeds", "0", *TINY]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*common, "--out", str(one), "--set", "data.batch_size=64"]) == 0
    cmd = [
        sys.executable,
        "-m",
        "mmanet",
        *common,
        "--out",
        str(two),
        "--set",
        "data.batch_size=32",
        "--devices",
        "2",
        "--strategy",
        "ddp",
    ]
    done = subprocess.run(
        [*cmd, "--accelerator", "cpu"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    single = _epoch_losses(one / "seed_0" / "dropout" / "logs" / "metrics.csv")
    double = _epoch_losses(two / "seed_0" / "dropout" / "logs" / "metrics.csv")
    assert len(single) == len(double) == 4
    for epoch, (a, b) in enumerate(zip(single, double, strict=True)):
        assert abs(a - b) / a < 0.05, (epoch, single, double)  # same global batches; BatchNorm sees halves


@pytest.mark.slow
def test_bf16_mixed_precision_on_cpu(tmp_path):
    out = tmp_path / "bf16"
    assert main(["run", "--methods", "mmanet", "--epochs", "3", "--out", str(out), "--precision", "bf16-mixed", *TINY,
                 "--set", "mar.mine_start=0", "--set", "mar.begin_epoch=1"]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert all(0 <= v["accuracy"] <= 1 for v in report["methods"]["mmanet"]["combinations"].values())
    assert report["config"]["trainer"]["precision"] == "bf16-mixed"
