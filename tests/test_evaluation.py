import numpy as np
import pytest
import torch
from tests.helpers.reference import reference_accuracy, reference_combination_predictions, reference_macro_f1

from mmanet.data import MultimodalDataset, make_synthetic
from mmanet.evaluation import combination_outputs, evaluate_combinations
from mmanet.modality import all_combinations, combination_mask, combination_name
from mmanet.nn import NetworkSpec, build_network


def _setup(masking, seed=0):
    arrays = make_synthetic(num_samples=48, num_classes=4, seed=seed)
    model = {"embed_dim": 6, "decoder": {"name": "mlp", "hidden": 8}, "masking": masking}
    torch.manual_seed(seed)
    net = build_network(NetworkSpec(arrays.modalities, arrays.input_shapes, 4, model))
    net.fit_input_statistics(arrays.inputs, arrays.present)
    # a few steps so BatchNorm running statistics are not trivial
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(net(arrays.inputs, arrays.present).logits, arrays.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return arrays, net.eval()


@pytest.mark.parametrize("masking", ["feature", "input"])
def test_encoder_reuse_equals_rerunning_the_whole_network(masking):
    arrays, net = _setup(masking)
    combos = all_combinations(arrays.modalities)
    with torch.no_grad():
        reused = combination_outputs(net, arrays.inputs, arrays.present, combos)
        for combo in combos:
            mask = combination_mask(combo, arrays.modalities).expand(len(arrays), -1)
            direct = net(arrays.inputs, mask).logits
            assert torch.allclose(reused[combination_name(combo)].logits, direct, atol=1e-5), (masking, combo)


@pytest.mark.parametrize("seed", [0, 1])
def test_evaluation_covers_every_combination_and_equals_slow_reference(seed):
    arrays, net = _setup("feature", seed)
    dataset = MultimodalDataset(arrays)
    batches = [dataset.__getitems__(list(range(i, min(i + 32, len(arrays))))) for i in range(0, len(arrays), 32)]
    results = evaluate_combinations(net, batches, all_combinations(arrays.modalities), 4, arrays.modalities)
    assert len(results) == 2 ** len(arrays.modalities) - 1
    target = arrays.labels.numpy()
    for combo in all_combinations(arrays.modalities):
        mask_row = combination_mask(combo, arrays.modalities).tolist()
        pred = reference_combination_predictions(net, arrays.inputs, mask_row)
        got = results[combination_name(combo)]
        assert got["accuracy"] == pytest.approx(reference_accuracy(pred, target), abs=1e-6), (seed, combo)
        assert got["macro_f1"] == pytest.approx(reference_macro_f1(pred, target, 4), abs=1e-6), (seed, combo)


def test_data_presence_is_respected_during_evaluation():
    arrays, net = _setup("feature")
    present = arrays.present.clone()
    present[:10, 0] = False
    full = all_combinations(arrays.modalities)[-1]
    with torch.no_grad():
        out = combination_outputs(net, arrays.inputs, present, [full])[combination_name(full)].logits
        expected = net(arrays.inputs, present).logits
    assert torch.allclose(out, expected, atol=1e-6)
    assert not np.allclose(out[:10].numpy(), net(arrays.inputs, arrays.present).logits[:10].detach().numpy())


def test_samples_are_scored_only_under_combinations_they_hold(tmp_path):
    import json

    import numpy as np

    from mmanet.cli import main

    rng = np.random.default_rng(0)
    labels = np.arange(90) % 3
    present_b = np.ones(90, bool)
    present_b[::4] = False  # b really missing for a quarter of the samples
    path = tmp_path / "gaps.npz"
    np.savez(
        path,
        labels=labels,
        a=rng.normal(size=(90, 4)) + labels[:, None],
        b=rng.normal(size=(90, 3)),
        present_b=present_b,
    )
    tiny = ["--set", "model.encoders={default: {name: tiny, dim: 4}}", "--set", "model.decoder={name: tiny, hidden: 8}"]
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--data",
                str(path),
                "--methods",
                "dropout",
                "--out",
                str(out),
                "--epochs",
                "2",
                *tiny,
                "--no-progress",
            ]
        )
        == 0
    )
    entry = json.loads((out / "report.json").read_text())["methods"]["dropout"]
    split = np.load(out / "seed_0" / "split.npz")["split"]
    test = split == "test"
    assert entry["samples"] == {
        "a": int(test.sum()),
        "b": int((test & present_b).sum()),
        "a+b": int((test & present_b).sum()),
    }
