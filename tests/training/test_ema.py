"""``optim.ema``: the network validated, selected, saved and tested is the exponential moving average
of the weights after each optimizer step, checked against a loop over the recorded steps; and
``optim.restore``: the network kept is the chosen epoch's or the last epoch's."""

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from tests.helpers.runs import seed_data

from mmanet.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    OptimConfig,
    TrainerConfig,
    load_config,
)
from mmanet.data import make_synthetic
from mmanet.training import METHODS, build_module, fit_module

MODEL = {"embed_dim": 4, "encoders": {"default": {"name": "tiny", "dim": 4}}, "decoder": {"name": "mlp", "hidden": 8}}


class StepWeights(Callback):
    """The deployment network's floating-point state after every optimizer step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        state = pl_module.net.state_dict()
        self.steps.append({k: v.detach().clone() for k, v in state.items() if v.is_floating_point()})


def reference_average(steps: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """``avg <- decay * avg + (1 - decay) * weights`` step by step, the first step copied."""
    average = {k: v.clone() for k, v in steps[0].items()}
    for step in steps[1:]:
        for k, v in step.items():
            average[k] = decay * average[k] + (1 - decay) * v
    return average


class StopAfterFirstEpoch(Callback):
    """Ends the fit after epoch 0 (its checkpoint written), as an interrupted run would."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        trainer.should_stop = True


def _fit(
    tmp_path, ema: float, epochs: int = 1, resume: bool = False, stop: bool = False
) -> tuple[torch.nn.Module, StepWeights]:
    cfg = ExperimentConfig(
        out=str(tmp_path),
        data=DataConfig(dataset="synthetic", batch_size=32),
        model=ModelConfig(**MODEL),
        optim=OptimConfig(epochs=epochs, lr=0.05, ema=ema),
        trainer=TrainerConfig(progress=False),
    )
    data = seed_data(cfg, make_synthetic(num_samples=240, seed=0))
    module = build_module(data, METHODS["dropout"])
    recorder = StepWeights()
    callbacks: list[Callback] = [recorder, StopAfterFirstEpoch()] if stop else [recorder]
    fit_module(module, data, tmp_path / "dropout", resume=resume, callbacks=callbacks)
    return module.net, recorder


def _assert_average(net: torch.nn.Module, steps: list[dict[str, torch.Tensor]], decay: float) -> None:
    want = reference_average(steps, decay)
    got = {k: v for k, v in net.state_dict().items() if v.is_floating_point()}
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    moved = [k for k in want if not torch.allclose(want[k], steps[-1][k], atol=1e-4)]
    assert moved, "the average should differ from the last step's weights"


@pytest.mark.parametrize("decay", [0.5, 0.9])
def test_the_restored_network_is_the_moving_average_of_the_steps(tmp_path, decay):
    net, recorder = _fit(tmp_path, decay)
    assert len(recorder.steps) > 3
    _assert_average(net, recorder.steps, decay)


def test_a_resumed_run_continues_the_average_it_had(tmp_path):
    _, first = _fit(tmp_path, 0.9, epochs=2, stop=True)
    assert (tmp_path / "dropout" / "checkpoints" / "last.ckpt").exists()
    net, rest = _fit(tmp_path, 0.9, epochs=2, resume=True)
    assert first.steps and rest.steps
    _assert_average(net, first.steps + rest.steps, 0.9)


def test_without_ema_the_restored_network_is_the_last_step(tmp_path):
    net, recorder = _fit(tmp_path, 0.0)
    for key, value in recorder.steps[-1].items():
        torch.testing.assert_close(net.state_dict()[key], value, msg=key)


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_ema_outside_zero_to_one_is_refused(value):
    with pytest.raises(ConfigError, match=r"optim\.ema"):
        OptimConfig(ema=value)


def test_restore_keeps_the_best_epochs_or_the_last_epochs_network(tmp_path):
    nets = {}
    for restore in ("best", "last"):
        cfg = ExperimentConfig(
            out=str(tmp_path),
            data=DataConfig(dataset="synthetic", batch_size=32),
            model=ModelConfig(**MODEL),
            optim=OptimConfig(epochs=4, lr=0.3, restore=restore),
            trainer=TrainerConfig(progress=False),
        )
        data = seed_data(cfg, make_synthetic(num_samples=240, seed=0))
        module = build_module(data, METHODS["dropout"])
        recorder = StepWeights()
        fit = fit_module(module, data, tmp_path / restore, callbacks=[recorder])
        per_epoch = len(recorder.steps) // 4
        kept = module.best_validation() if restore == "best" else module.val_history[-1]
        assert kept is not None and fit.val == kept["combinations"] and fit.val_select == pytest.approx(kept["select"])
        step = recorder.steps[per_epoch * (kept["epoch"] + 1) - 1]  # the kept epoch's last step
        for key, value in step.items():
            torch.testing.assert_close(module.net.state_dict()[key], value, msg=key)
        nets[restore] = (kept["epoch"], module.net.state_dict())
    assert nets["best"][0] != nets["last"][0] == 3  # the runs (same seed) differ only in the kept epoch
    with pytest.raises(ConfigError, match=r"optim\.restore"):
        load_config(None, ["optim.restore=middle"])
