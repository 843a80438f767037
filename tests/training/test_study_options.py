"""Options the study explores: cross-fitted teacher entropies, re-mining, input noise, teacher overrides."""

import numpy as np
import torch
from rich.console import Console

from mmanet.config import DataConfig, ExperimentConfig, MARConfig, ModelConfig, OptimConfig, TrainerConfig
from mmanet.data import ArraySource, MultimodalDataset, make_synthetic
from mmanet.nn import NetworkSpec, build_network
from mmanet.training.crossfit import fold_assignment, held_out_entropy
from mmanet.training.fitting import build_module, prepare_seed, teacher_context, train_method
from mmanet.training.methods import METHODS

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

    table = held_out_entropy(MultimodalDataset(arrays), arrays.labels, arrays.modalities, folds=3, seed=0, temperature=1.0, fit_teacher=fit_teacher)
    assert table.shape == (60,) and torch.isfinite(table).all() and (table > 0).all()
    assignment = fold_assignment(arrays.labels, 3, 0)
    for i in range(60):
        assert arrays.inputs["a"][i].numpy().tobytes() not in seen[assignment[i]]


def _ctx(epochs=5, **mar):
    cfg = ExperimentConfig(
        out="/tmp/unused",
        data=DataConfig(dataset="synthetic", batch_size=32),
        model=ModelConfig(**MODEL),
        optim=OptimConfig(epochs=epochs, lr=0.01),
        mar=MARConfig(**{"mine_start": 0, "begin_epoch": 1, **mar}),
        trainer=TrainerConfig(progress=False),
    )
    return prepare_seed(cfg, ArraySource(make_synthetic(num_samples=200, seed=0), cfg.data.split), seed=0, console=Console(quiet=True))


def test_remining_reselects_during_training(tmp_path):
    ctx = _ctx(epochs=6, remine_every=2)
    ctx.root = tmp_path
    ctx.cfg.out = str(tmp_path)
    run = train_method(ctx, METHODS["mar"])
    selections = run.diagnostics["selections"]
    assert [s["epoch"] for s in selections] == [0, 2, 4]
    assert len(run.diagnostics["mining_scores"]) == 6  # mined after every epoch


def test_input_noise_only_in_training_and_scaled_by_feature_std():
    ctx = _ctx()
    ctx.cfg.optim.input_noise = 0.5
    module = build_module(ctx, METHODS["dropout"], ctx.spec)
    batch = ctx.datamodule.datasets["train"].arrays
    inputs = {m: batch.inputs[m][:64] for m in batch.modalities}
    noisy = module.augment({"inputs": inputs})["inputs"]
    for m in batch.modalities:
        ratio = (noisy[m] - inputs[m]).std(0) / module.net.norms[m].std.flatten()
        assert torch.allclose(ratio.mean(), torch.tensor(0.5), atol=0.1), m
    ctx.cfg.optim.input_noise = 0.0
    plain = build_module(ctx, METHODS["dropout"], ctx.spec)
    assert plain.augment({"inputs": inputs})["inputs"] is inputs


def test_teacher_overrides_apply_to_the_teacher_only():
    ctx = _ctx()
    ctx.cfg.distill.teacher_overrides = {"optim": {"label_smoothing": 0.2}, "model": {"decoder": {"name": "tiny", "hidden": 32}}}
    tctx = teacher_context(ctx)
    assert tctx.cfg.optim.label_smoothing == 0.2 and ctx.cfg.optim.label_smoothing == 0.0
    assert tctx.spec.model["decoder"]["hidden"] == 32 and ctx.spec.model["decoder"]["hidden"] == 8
