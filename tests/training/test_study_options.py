"""Options the study explores: cross-fitted teacher entropies, re-mining, input noise, teacher overrides."""

import numpy as np
import torch
from tests.helpers.runs import run_method, seed_data

from mmanet.config import DataConfig, ExperimentConfig, MARConfig, ModelConfig, OptimConfig, TrainerConfig
from mmanet.data import MultimodalDataset, make_synthetic
from mmanet.nn import NetworkSpec, build_network
from mmanet.training import METHODS, build_module
from mmanet.training.crossfit import fold_assignment, held_out_entropy

MODEL = {"embed_dim": 4, "encoders": {"default": {"name": "tiny", "dim": 4}}, "decoder": {"name": "tiny", "hidden": 8}}


def test_fold_assignment_is_stratified_balanced_and_seeded():
    labels = torch.arange(100) % 4
    folds = fold_assignment(labels, 5, seed=3)
    assert (folds == fold_assignment(labels, 5, seed=3)).all()
    for cls in range(4):
        counts = np.bincount(folds[labels.numpy() == cls], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_held_out_entropy_never_uses_a_teacher_that_saw_the_sample():
    arrays = make_synthetic(num_samples=60, seed=2)
    seen: list[set[bytes]] = []

    def fit_teacher(fold, kept):
        train = arrays.subset(kept)
        seen.append({row.numpy().tobytes() for row in train.inputs["a"]})
        torch.manual_seed(fold)
        net = build_network(NetworkSpec(arrays.modalities, arrays.input_shapes, 4, MODEL))
        net.fit_input_statistics(train.inputs, train.present)
        return net

    table = held_out_entropy(
        MultimodalDataset(arrays),
        arrays.labels,
        arrays.modalities,
        folds=3,
        seed=0,
        temperature=1.0,
        fit_teacher=fit_teacher,
    )
    assert table.shape == (60,) and torch.isfinite(table).all() and (table > 0).all()
    assignment = fold_assignment(arrays.labels, 3, 0)
    for i in range(60):
        assert arrays.inputs["a"][i].numpy().tobytes() not in seen[assignment[i]]


def _ctx(out="/tmp/unused", epochs=5, input_noise=0.0, **mar):
    cfg = ExperimentConfig(
        out=str(out),
        data=DataConfig(dataset="synthetic", batch_size=32),
        model=ModelConfig(**MODEL),
        optim=OptimConfig(epochs=epochs, lr=0.01, input_noise=input_noise),
        mar=MARConfig(**{"mine_start": 0, "begin_epoch": 1, **mar}),
        trainer=TrainerConfig(progress=False),
    )
    return seed_data(cfg, make_synthetic(num_samples=200, seed=0))


def test_remining_reselects_during_training(tmp_path):
    ctx = _ctx(tmp_path, epochs=6, remine_every=2)
    run = run_method(ctx, "mar")
    selections = run.diagnostics["selections"]
    assert [s["epoch"] for s in selections] == [0, 2, 4]
    assert len(run.diagnostics["mining_scores"]) == 6  # mined after every epoch


def test_input_noise_only_in_training_and_scaled_by_feature_std():
    ctx = _ctx(input_noise=0.5)
    module = build_module(ctx, METHODS["dropout"])
    arrays = ctx.splits.datasets["train"].arrays
    inputs = {m: arrays.inputs[m][:64] for m in arrays.modalities}
    batch = {"inputs": inputs, "present": arrays.present[:64], "target": arrays.labels[:64], "index": torch.arange(64)}
    noisy = module.augment(batch)["inputs"]
    for m in arrays.modalities:
        ratio = (noisy[m] - inputs[m]).std(0) / module.net.norms[m].std.flatten()
        assert torch.allclose(ratio.mean(), torch.tensor(0.5), atol=0.1), m
    plain = build_module(_ctx(), METHODS["dropout"])
    assert plain.augment(batch)["inputs"] is inputs


def test_teacher_overrides_apply_to_the_teacher_only():
    ctx = _ctx()
    tctx = ctx.with_overrides({"optim": {"label_smoothing": 0.2}, "model": {"decoder": {"name": "tiny", "hidden": 32}}})
    assert tctx.cfg.optim.label_smoothing == 0.2 and ctx.cfg.optim.label_smoothing == 0.0
    assert tctx.spec.model.decoder["hidden"] == 32 and ctx.spec.model.decoder["hidden"] == 8
