"""A tiny segmentation run end to end: report with mIoU per combination and the prediction grid."""

import json
from pathlib import Path

import pytest

from mmanet.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synthetic_rgbd.yaml"
TINY = [
    "--set", "data.options={num_samples: 40, height: 64, width: 64, objects: 3, workers: false}",
    "--set", "model.encoders={default: {name: tiny, width: 8}}",
    "--set", "model.decoder={name: esanet, channels: [16, 8, 8]}",
    "--set", "model.context_channels=16",
    "--set", "mar.mine_start=0", "--set", "mar.begin_epoch=1",
    "--set", "distill.max_size=[4, 4]", "--set", "distill.chunk=16",
    "--epochs", "2", "--seeds", "0", "--no-progress",
]  # fmt: skip


@pytest.mark.slow
def test_tiny_segmentation_run_reports_miou_and_draws_predictions(tmp_path):
    out = tmp_path / "seg"
    assert main(["run", str(CONFIG), "--methods", "dropout,mmanet", "--out", str(out), *TINY]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "segmentation" and report["metrics"] == ["miou", "pixel_accuracy"]
    for method in ("dropout", "mmanet"):
        combos = report["methods"][method]["combinations"]
        assert list(combos) == ["rgb", "depth", "rgb+depth"]
        for values in combos.values():
            assert 0 <= values["miou"] <= 1 and 0 <= values["pixel_accuracy"] <= 1
            assert len(values["iou_per_class"]) == 5
    assert report["methods"]["mmanet"]["weak_combinations"]["0"][0] in ("rgb", "depth")
    assert (out / "seed_0" / "mmanet" / "predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.png").exists()
