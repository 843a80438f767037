"""The MMANet training system: teacher lifecycle, MAR gradients, resume without re-mining."""

import hashlib

import lightning as L
import pytest
import torch
from tests.helpers.runs import run_method, seed_data

from mmanet.config import (
    DataConfig,
    DistillConfig,
    ExperimentConfig,
    MARConfig,
    ModelConfig,
    OptimConfig,
    TrainerConfig,
)
from mmanet.data import make_synthetic
from mmanet.modelfile import ModelFileError, save_model_file
from mmanet.nn import NetworkSpec, build_network
from mmanet.training import (
    METHODS,
    MMANetModule,
    ModelRef,
    Prerequisites,
    SeedData,
    build_module,
    build_trainer,
    fit_module,
    train_part,
)

MODEL = {
    "embed_dim": 4,
    "encoders": {"default": {"name": "tiny", "dim": 4}},
    "decoder": {"name": "mlp", "hidden": 8, "depth": 1},
}


def _ctx(tmp_path, epochs=4, **mar) -> SeedData:
    cfg = ExperimentConfig(
        out=str(tmp_path),
        data=DataConfig(dataset="synthetic", batch_size=32),
        model=ModelConfig(**MODEL),
        optim=OptimConfig(epochs=epochs, lr=0.01),
        mar=MARConfig(**{"mine_start": 1, "begin_epoch": 2, **mar}),
        distill=DistillConfig(alpha=1.0),
        trainer=TrainerConfig(progress=False),
    )
    return seed_data(cfg, make_synthetic(num_samples=240, seed=0))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_teacher_is_frozen_and_unchanged_by_student_training(tmp_path):
    ctx = _ctx(tmp_path)
    teacher_run = train_part(ctx, METHODS["teacher"], Prerequisites())
    before = _sha(teacher_run.model_path)
    module = build_module(
        ctx, METHODS["mmanet"], prerequisites=Prerequisites(teacher=ModelRef.of(teacher_run.model_path))
    )
    teacher = module.teacher
    weights = {k: v.clone() for k, v in teacher.state_dict().items()}
    module.train()
    assert not teacher.training and not teacher.net.training
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith("_teacher") or ".teacher." in k for k in module.state_dict())
    fit_module(module, ctx, tmp_path / "student")
    for k, v in teacher.state_dict().items():
        assert torch.equal(v.cpu(), weights[k]), k
    assert _sha(teacher_run.model_path) == before
    diag = module.diagnostics()
    assert 0 < diag["ess_share"] <= 1
    assert diag["weak_combinations"] and len(diag["mining_scores"]) == 1  # mining epoch 1 only


def test_mismatched_teacher_is_an_error_before_training(tmp_path):
    ctx = _ctx(tmp_path)
    other = NetworkSpec(("a", "b"), {"a": (8,), "b": (12,)}, 4, MODEL)
    path = tmp_path / "other_teacher.pt"
    save_model_file(
        path, entries=[(build_network(other), other, ["a", "b", "a+b"])], meta={"data_modalities": ["a", "b"]}
    )
    given = Prerequisites(teacher=ModelRef.of(path))
    with pytest.raises(ModelFileError, match="modalities"):
        build_module(ctx, METHODS["mad"], prerequisites=given)
    wrong_classes = NetworkSpec(ctx.spec.modalities, ctx.spec.input_shapes, 7, MODEL)
    save_model_file(
        path,
        entries=[(build_network(wrong_classes), wrong_classes, ["a+b+c"])],
        meta={"data_modalities": list(ctx.modalities)},
    )
    with pytest.raises(ModelFileError, match="7 classes"):
        build_module(ctx, METHODS["mad"], prerequisites=Prerequisites(teacher=ModelRef.of(path)))


def _mar_module(ctx, variant="paper"):
    spec = ctx.spec
    module = MMANetModule(
        distill=DistillConfig(),
        mar=MARConfig(mine_start=0, begin_epoch=1, variant=variant),
        spec=spec,
        data_modalities=spec.modalities,
        optim=OptimConfig(),
        method=METHODS["mar"],
        seed=0,
        num_train=ctx.num_train,
    )
    module.regularization.miner.weak_combinations_ = ["a", "c", "a+c"]
    return module


@pytest.mark.parametrize("seed", [0, 1])
def test_only_weak_samples_send_gradient_through_the_regularization_network(tmp_path, seed):
    ctx = _ctx(tmp_path)
    module = _mar_module(ctx)
    reg = module.regularization
    g = torch.Generator().manual_seed(seed)
    fused = torch.randn(12, module.net.fused_shape[0], generator=g, requires_grad=True)
    mask = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1], [0, 1, 1]] * 2, dtype=torch.bool)
    target = torch.randint(0, 4, (12,), generator=g)
    loss, count = reg(fused, mask, target, epoch=5)
    assert count == 6
    loss.backward()
    weak = reg.miner.weak_mask(mask)
    row_has_grad = fused.grad.abs().sum(1) > 0
    assert torch.equal(row_has_grad, weak), (seed, row_has_grad.tolist())
    assert float(reg(fused, mask, target, epoch=0)[0].detach()) == 0.0  # before begin_epoch


def test_official_variant_trains_on_every_sample(tmp_path):
    ctx = _ctx(tmp_path)
    reg = _mar_module(ctx, variant="official").regularization
    fused = torch.randn(6, reg.decoder.in_shape[0], requires_grad=True)
    mask = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1], [0, 1, 1]], dtype=torch.bool)
    loss, _ = reg(fused, mask, torch.zeros(6, dtype=torch.long), epoch=5)
    loss.backward()
    assert (fused.grad.abs().sum(1) > 0).all()


def test_resumed_run_keeps_the_mined_set_and_does_not_mine_again(tmp_path):
    ctx = _ctx(tmp_path, epochs=4)
    module = build_module(ctx, METHODS["mar"])
    trainer = build_trainer(ctx.cfg.trainer, root=tmp_path / "first", epochs=3)
    trainer.fit(module, datamodule=ctx.datamodule())
    weak = module.regularization.miner.weak_combinations_
    history = list(module.regularization.miner.history_)
    assert weak and len(history) == 1
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)  # checkpoints load without unpickling code
    resumed = build_module(ctx, METHODS["mar"])
    assert resumed.regularization.miner.weak_combinations_ is None
    L.seed_everything(0)
    trainer = build_trainer(ctx.cfg.trainer, root=tmp_path / "second", epochs=5)
    trainer.fit(resumed, datamodule=ctx.datamodule(), ckpt_path=str(last))
    assert resumed.current_epoch == 5
    assert resumed.regularization.miner.weak_combinations_ == weak
    assert resumed.regularization.miner.history_ == history


@pytest.mark.parametrize("shapes", [{"a": (6,), "b": (5,)}, {"a": (6,), "b": (5,), "c": (4,), "d": (3,)}])
def test_mmanet_runs_for_two_and_four_modalities(tmp_path, shapes):
    ctx = _ctx(tmp_path)
    arrays = make_synthetic(num_samples=160, shapes=shapes, seed=1)
    ctx = seed_data(ctx.cfg, arrays)
    run = run_method(ctx, "mmanet")
    assert len(run.results) == 2 ** len(shapes) - 1
    weak = run.diagnostics["weak_combinations"]
    assert weak and all(name.count("+") < len(shapes) - 1 for name in weak)


def test_cached_teacher_outputs_equal_a_teacher_pass_on_any_batch(tmp_path):
    from mmanet.training.teacher import TeacherCache

    ctx = _ctx(tmp_path)
    teacher_run = train_part(ctx, METHODS["teacher"], Prerequisites())
    module = build_module(ctx, METHODS["mad"], prerequisites=Prerequisites(teacher=ModelRef.of(teacher_run.model_path)))
    assert module._teacher_cache is not None  # in-memory data, no input noise: cached
    cache = TeacherCache(module.teacher, ctx.num_train, ("features", "logits"))
    dataset = ctx.splits.datasets["train"]
    # the second batch holds one new row (7): computed alone, it used to round differently
    for rows in ([0, 5, 9, 3], [0, 5, 9, 7], [9, 1, 0, 100], list(range(20, 84))):
        batch = dataset.__getitems__(rows)
        direct = module.teacher.layers(batch["inputs"], batch["present"])
        cached = cache.layers(batch["inputs"], batch["present"], batch["index"])
        for key in ("features", "logits"):
            assert torch.equal(cached[key], direct[key]), (rows, key)
    assert int(cache.filled.sum()) == len({0, 5, 9, 3, 7, 1, 100, *range(20, 84)})
