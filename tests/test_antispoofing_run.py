"""End to end on a miniature CASIA-SURF tree: every combination reported with ACER."""

import json
from pathlib import Path

import pytest

from mmanet.cli import main
from mmanet.data.trees import make_casia_surf, make_cefa
from mmanet.modality import all_combinations, combination_name

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = [
    "--set", "data.options={image_size: 16, resize: 20, rotation: 30, channels: {rgb: 3, depth: 1, ir: 1}}",
    "--set", "model.embed_dim=8",
    "--set", "model.encoders={default: {name: cnn, channels: [4, 8]}}",
    "--set", "model.decoder={name: mlp, hidden: 8, depth: 1}",
    "--set", "data.batch_size=8",
    "--set", "data.num_workers=0",
    "--set", "mar.mine_start=0",
    "--set", "mar.begin_epoch=1",
    "--set", "optim.warmup_epochs=0",
    "--set", "optim.lr=0.01",
    "--set", "trainer.accelerator=cpu",
    "--seeds", "0", "--epochs", "2", "--no-progress",
]  # fmt: skip


@pytest.mark.slow
def test_casia_surf_run_reports_acer_for_all_seven_combinations(tmp_path):
    root = make_casia_surf(tmp_path / "surf")
    out = tmp_path / "run"
    args = [
        "run",
        str(CONFIGS / "casia_surf_mmanet.yaml"),
        "--data-root",
        str(root),
        "--out",
        str(out),
        "--methods",
        "dropout,mmanet",
        *TINY,
    ]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "anti_spoofing"
    assert report["metrics"][:4] == ["acer", "apcer", "bpcer", "hter"]
    names = [combination_name(c) for c in all_combinations(("rgb", "depth", "ir"))]
    for method in ("dropout", "mmanet"):
        combos = report["methods"][method]["combinations"]
        assert list(combos) == names
        for name in names:
            assert 0.0 <= combos[name]["acer"] <= 1.0
            assert combos[name]["acer"] == pytest.approx((combos[name]["apcer"] + combos[name]["bpcer"]) / 2)
        worst = report["methods"][method]["worst"]["acer"]
        assert worst == pytest.approx(max(v["acer"] for v in combos.values()))  # worst ACER is the highest
    assert report["data"]["samples"] == {"train": 24, "val": 12, "test": 12}
    assert report["methods"]["mmanet"]["weak_combinations"]["0"]
    evaluated = tmp_path / "eval.json"
    model = out / "seed_0" / "mmanet" / "model.pt"
    assert main(["evaluate", str(model), "--data-root", str(root), "--json", str(evaluated), "--no-progress"]) == 0
    again = json.loads(evaluated.read_text())["methods"]["mmanet"]["per_seed"]["0"]
    for name in names:
        assert again[name]["acer"] == pytest.approx(
            report["methods"]["mmanet"]["per_seed"]["0"][name]["acer"], abs=1e-9
        )


@pytest.mark.slow
def test_cefa_protocol_run(tmp_path):
    root = make_cefa(tmp_path / "cefa", frames=2)
    out = tmp_path / "run"
    args = [
        "run",
        str(CONFIGS / "cefa_dropout.yaml"),
        "--data-root",
        str(root),
        "--protocol",
        "4@5",
        "--out",
        str(out),
        *TINY,
    ]
    args[args.index("data.options={image_size: 16, resize: 20, rotation: 30, channels: {rgb: 3, depth: 1, ir: 1}}")] = (
        "data.options={image_size: 16, resize: 20, protocol: '4@5'}"
    )
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"].startswith("cefa 4@5")
    assert report["config"]["data"]["options"]["protocol"] == "4@5"
    assert len(report["methods"]["dropout"]["combinations"]) == 7
