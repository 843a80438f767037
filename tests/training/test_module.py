import pytest
import torch

from mmanet.config import OptimConfig
from mmanet.data import make_synthetic
from mmanet.nn import NetworkSpec
from mmanet.training import DeploymentModule, ModalityDropout, get_method
from mmanet.training.optim import lr_factor


def _module(method="dropout", seed=0, modalities=None):
    arrays = make_synthetic(num_samples=40, seed=0)
    spec = NetworkSpec(
        arrays.modalities, arrays.input_shapes, arrays.num_classes, {"embed_dim": 4, "decoder": {"name": "tiny"}}
    )
    if modalities:
        spec = spec.restricted(modalities)
    module = DeploymentModule(
        spec=spec,
        data_modalities=arrays.modalities,
        optim=OptimConfig(),
        method=get_method(method),
        seed=seed,
        num_train=40,
    )
    return module, arrays


def _batch(arrays, idx):
    idx = torch.as_tensor(idx)
    return {
        "inputs": {m: t[idx] for m, t in arrays.inputs.items()},
        "present": arrays.present[idx],
        "target": arrays.labels[idx],
        "index": idx,
    }


def test_dropout_draws_depend_only_on_seed_epoch_and_index():
    present = torch.ones(6, 3, dtype=torch.bool)
    a, b = ModalityDropout(100, seed=5), ModalityDropout(100, seed=5)
    idx = torch.tensor([3, 50, 7, 99, 0, 1])
    b.uniforms(4)  # other epochs drawn in between must not matter
    assert torch.equal(a.masks(2, idx, present), b.masks(2, idx, present))
    assert torch.equal(a.masks(2, idx[[1]], present[:1]), a.masks(2, idx, present)[[1]])  # batch composition irrelevant
    assert not torch.equal(a.uniforms(2), a.uniforms(3))
    assert not torch.equal(ModalityDropout(100, seed=6).uniforms(2), a.uniforms(2))
    with pytest.raises(ValueError, match="outside"):
        a.masks(0, torch.tensor([100]), present[:1])


def test_paired_methods_see_identical_masks():
    dropout, arrays = _module("dropout")
    other, _ = _module("dropout")
    batch = _batch(arrays, list(range(0, 40, 3)))
    assert torch.equal(dropout.training_mask(batch), other.training_mask(batch))


def test_teacher_always_sees_every_present_modality():
    teacher, arrays = _module("teacher")
    batch = _batch(arrays, list(range(10)))
    assert torch.equal(teacher.training_mask(batch), arrays.present[:10])


def test_customized_model_uses_only_its_modalities():
    module, arrays = _module("customized", modalities=("a", "c"))
    assert module.net.modalities == ("a", "c")
    assert [m for m in module.net.encoders] == ["a", "c"]
    batch = _batch(arrays, list(range(8)))
    assert module.present(batch).shape == (8, 2)
    loss = module.loss_terms(batch, module.training_mask(batch))["task"]
    assert torch.isfinite(loss)


def test_a_malformed_presence_mask_is_refused_with_its_shape():
    module, arrays = _module("dropout")
    batch = _batch(arrays, list(range(8)))
    with pytest.raises(ValueError, match=r"batch\['present'\]: expected bool \(8, 3\), got torch.int64"):
        module.present({**batch, "present": batch["present"].long()})
    with pytest.raises(ValueError, match=r"expected bool \(8, 3\), got torch.bool \(8, 2\)"):
        module.present({**batch, "present": batch["present"][:, :2]})


def test_loss_terms_are_named_and_finite():
    module, arrays = _module("dropout")
    terms = module.loss_terms(_batch(arrays, list(range(16))), module.training_mask(_batch(arrays, list(range(16)))))
    assert set(terms) == {"task"} and torch.isfinite(terms["task"])


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match="available"):
        _module("magic")


def test_lr_schedule_warmup_step_and_cosine():
    step = lr_factor(OptimConfig(epochs=12, warmup_epochs=2, scheduler="step", milestones=[0.5, 0.75], gamma=0.1))
    assert step(0) == pytest.approx(1 / 3) and step(1) == pytest.approx(2 / 3)
    assert step(2) == 1.0 and step(5) == 1.0 and step(6) == pytest.approx(0.1) and step(9) == pytest.approx(0.01)
    cosine = lr_factor(OptimConfig(epochs=10, scheduler="cosine"))
    assert cosine(0) == 1.0 and cosine(5) == pytest.approx(0.5) and cosine(9) > 0
