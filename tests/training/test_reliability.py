"""Crash safety and safe inputs: kill and resume, skip finished parts, NaN stop, refusing pickles."""

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmanet.cli import main
from mmanet.modelfile import ModelFileError, load_model_file
from mmanet.training.resume import AtomicCheckpointIO

TINY = [
    "--set",
    "model.encoders={default: {name: tiny, dim: 4}}",
    "--set",
    "model.decoder={name: tiny, hidden: 8}",
    "--no-progress",
]
MINING = ["--set", "mar.mine_start=1", "--set", "mar.begin_epoch=3", "--seeds", "0"]


def _epoch_of(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["epoch"])
    except Exception:
        return -1


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_mined_set_and_a_report(tmp_path):
    reference = tmp_path / "reference"
    assert main(["run", "--methods", "mar", "--epochs", "14", "--out", str(reference), *TINY, *MINING]) == 0
    expected = json.loads((reference / "report.json").read_text())["methods"]["mar"]
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "mmanet",
        "run",
        "--methods",
        "mar",
        "--epochs",
        "14",
        "--out",
        str(out),
        *TINY,
        *MINING,
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = out / "seed_0" / "mar" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and _epoch_of(last) < 4:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "report.json").exists()
    assert main(["run", "--methods", "mar", "--epochs", "14", "--out", str(out), "--resume", *TINY, *MINING]) == 0
    resumed = json.loads((out / "report.json").read_text())["methods"]["mar"]
    assert resumed["weak_combinations"] == expected["weak_combinations"]
    scores = resumed["diagnostics"]["0"]["mining_scores"]
    assert [s["epoch"] for s in scores] == [1, 2]  # mined once, not again after the restart
    for name, values in expected["combinations"].items():
        assert resumed["combinations"][name]["accuracy"] == pytest.approx(values["accuracy"], abs=0.02), name
    with open(out / "seed_0" / "mar" / "logs" / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss")]
    assert sorted(int(float(r["epoch"])) for r in rows) == list(range(14))  # every epoch once, none lost


@pytest.mark.slow
def test_rerun_with_resume_skips_finished_parts(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--methods", "teacher,dropout", "--epochs", "2", "--out", str(out), *TINY]
    assert main(args) == 0
    stamp = (out / "seed_0" / "dropout" / "result.json").stat().st_mtime_ns
    checkpoint = (out / "seed_0" / "dropout" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0
    assert (out / "seed_0" / "dropout" / "result.json").stat().st_mtime_ns == stamp
    assert (out / "seed_0" / "dropout" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == checkpoint
    assert main(args) == 2  # an earlier run without --resume/--overwrite is refused


def test_nan_loss_stops_naming_step_and_term_and_keeps_the_last_checkpoint(tmp_path):
    import lightning as L
    from tests.helpers.runs import seed_data

    from mmanet.config import DataConfig, ExperimentConfig, ModelConfig, OptimConfig, TrainerConfig
    from mmanet.data import make_synthetic
    from mmanet.training import METHODS, NonFiniteLossError, build_module, build_trainer

    cfg = ExperimentConfig(
        out=str(tmp_path),
        data=DataConfig(dataset="synthetic", batch_size=32),
        model=ModelConfig(encoders={"default": {"name": "tiny"}}, decoder={"name": "tiny"}),
        optim=OptimConfig(epochs=3),
        trainer=TrainerConfig(progress=False),
    )
    ctx = seed_data(cfg, make_synthetic(num_samples=120))
    module = build_module(ctx, METHODS["dropout"])
    original = module.loss_terms

    def poisoned(batch, mask):
        terms = original(batch, mask)
        if module.current_epoch == 1:
            terms["task"] = terms["task"] * float("nan")
        return terms

    module.loss_terms = poisoned  # type: ignore[method-assign]
    trainer = build_trainer(cfg.trainer, root=tmp_path / "part", epochs=3)
    L.seed_everything(0)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch 0, global step \d+: terms \['task'\]"):
        trainer.fit(module, datamodule=ctx.datamodule())
    last = torch.load(tmp_path / "part" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "model.pt"
    with open(evil, "wb") as handle:
        pickle.dump({"format": "mmanet-model/1", "meta": _Payload(), "entries": []}, handle)
    with pytest.raises(ModelFileError, match="not a loadable"):
        load_model_file(evil)
    torch.save({"state_dict": {}, "payload": _Payload()}, tmp_path / "last.ckpt")
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "last.ckpt")
    assert not (tmp_path / "PWNED").exists()


def test_atomic_checkpoint_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    io_plugin = AtomicCheckpointIO()
    target = tmp_path / "ckpt" / "last.ckpt"
    io_plugin.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, target)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        io_plugin.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, target)
    assert io_plugin.load_checkpoint(target)["epoch"] == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]


def test_last_checkpoint_is_the_latest_epoch_not_the_best(tmp_path):
    import lightning as L

    from mmanet.config import TrainerConfig
    from mmanet.training.trainer import build_trainer

    class Falling(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return (self.weight - 1.0).pow(2).sum()

        def validation_step(self, batch, batch_idx):
            pass

        def on_validation_epoch_end(self):
            self.log("val/select", 1.0 / (self.current_epoch + 1))  # best at epoch 0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)
    cfg = TrainerConfig(accelerator="cpu", devices=1, precision="32-true")
    trainer = build_trainer(cfg, root=tmp_path, epochs=3)
    trainer.fit(Falling(), train_dataloaders=loader, val_dataloaders=loader)
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert best["epoch"] == 0 and best["global_step"] == 2
    assert last["epoch"] == 2 and last["global_step"] == 6  # a resume continues after epoch 2
    assert not list((tmp_path / "checkpoints").glob("last-v*.ckpt"))
    assert trainer.checkpoint_callback.best_model_path.endswith("best.ckpt")
