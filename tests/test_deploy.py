"""Deployment: predict with any subset (Python and CLI), ONNX/TorchScript parity on every
combination, failure-rate expectations, calibration, the public API."""

import csv
import inspect
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tests.helpers.reference import reference_ece
from tests.helpers.runs import tiny_run_args

import mmanet
from mmanet.calibration import apcer_threshold, eer_threshold, fit_temperature
from mmanet.cli import main
from mmanet.deploy import DeployedModel
from mmanet.export import MatrixPool, export_onnx, export_torchscript
from mmanet.metrics import AntiSpoofingMetrics, classification_metrics
from mmanet.modality import all_combinations, combination_mask, combination_name
from mmanet.modelfile import load_model_file
from mmanet.robustness import expected_metric, robustness_curve

TINY = tiny_run_args(samples=120, data_seed=3, epochs=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy")
    assert main(["run", "--methods", "dropout,customized", "--out", str(out), *TINY]) == 0
    return out / "seed_0"


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(n, 8, generator=g),
        "b": torch.randn(n, 12, generator=g),
        "c": torch.randn(n, 1, 6, 6, generator=g),
    }


def _reference_probabilities(model_path, inputs, mask):
    """The stored network run directly with the mask, calibrated by hand."""
    model = load_model_file(model_path)
    temperature = model.meta["calibration"]["temperature"]
    rows = []
    for i in range(mask.shape[0]):
        combo = tuple(m for m, keep in zip(("a", "b", "c"), mask[i].tolist(), strict=True) if keep)
        entry = next(e for e in model.entries if combo in [tuple(c) for c in e.serves])
        x = {m: inputs[m][i : i + 1] for m in entry.spec.modalities}
        logits = entry.net(x, mask[i : i + 1, [("a", "b", "c").index(m) for m in entry.spec.modalities]]).logits
        rows.append(torch.softmax(logits / temperature.get(combination_name(combo), 1.0), 1))
    return torch.cat(rows).detach().numpy()


@pytest.mark.parametrize("method", ["dropout", "customized"])
def test_predict_with_any_subset_equals_the_network_under_that_mask(trained, method):
    path = trained / method / "model.pt"
    predictor = mmanet.load(path)
    assert predictor.modalities == ("a", "b", "c") and predictor.classes == 4
    assert predictor.combinations == [combination_name(c) for c in all_combinations(("a", "b", "c"))]
    inputs = _data()
    present = torch.rand(12, 3, generator=torch.Generator().manual_seed(1)) > 0.4
    present[:, 0] |= ~present.any(1)
    out = predictor.predict({"a": inputs["a"].numpy(), "b": inputs["b"], "c": inputs["c"]}, present=present.numpy())
    np.testing.assert_allclose(out.probabilities, _reference_probabilities(path, inputs, present), atol=1e-6)
    np.testing.assert_allclose(out.probabilities.sum(1), 1, atol=1e-5)
    assert out.combinations == [
        combination_name(c) for c in [tuple(m for m, k in zip("abc", r, strict=True) if k) for r in present.tolist()]
    ]
    partial = predictor.predict({"b": inputs["b"], "c": None})  # a and c missing for every sample
    assert set(partial.combinations) == {"b"}


def test_predict_refuses_bad_inputs_clearly(trained):
    predictor = mmanet.load(trained / "dropout" / "model.pt")
    with pytest.raises(ValueError, match=r"input 'a': expected shape \(3, 8\), got \(3, 5\)"):
        predictor.predict({"a": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="unknown modalities \\['z'\\]"):
        predictor.predict({"z": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="sample 1 has no modality present"):
        predictor.predict({"a": np.zeros((3, 8))}, present=np.array([[1, 0, 0], [0, 0, 0], [1, 1, 1]], bool))


def test_predict_command_writes_one_row_per_sample_from_a_partial_npz(trained, tmp_path):
    inputs = _data(9)
    present_b = np.array([True, False] * 4 + [True])
    path = tmp_path / "new.npz"
    np.savez(path, a=inputs["a"].numpy(), b=inputs["b"].numpy(), present_b=present_b)  # no c, no labels
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained / "dropout" / "model.pt"), "--data", str(path), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [int(r["index"]) for r in rows] == list(range(9))
    assert [r["combination"] for r in rows] == ["a+b" if keep else "a" for keep in present_b]
    probs = np.array([[float(r[f"prob_{k}"]) for k in range(4)] for r in rows])
    mask = torch.tensor([[1, int(k), 0] for k in present_b], dtype=torch.bool)
    expected = _reference_probabilities(
        trained / "dropout" / "model.pt", {**inputs, "c": torch.zeros(9, 1, 6, 6)}, mask
    )
    np.testing.assert_allclose(probs, expected, atol=2e-6)
    assert [int(r["prediction"]) for r in rows] == probs.argmax(1).tolist()


def test_predict_command_names_the_file_and_key_on_bad_data(trained, tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, a=np.zeros((4, 7)))
    assert (
        main(["predict", str(trained / "dropout" / "model.pt"), "--data", str(path), "--out", str(tmp_path / "p.csv")])
        == 2
    )
    assert "bad.npz: key 'a' must have shape (N, 8), got (4, 7)" in " ".join(capsys.readouterr().out.split())
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("method", ["dropout", "customized"])
def test_onnx_and_torchscript_match_pytorch_on_every_combination(trained, tmp_path, method):
    ort = pytest.importorskip("onnxruntime")
    model = load_model_file(trained / method / "model.pt")
    deployed = DeployedModel(model).eval()
    export_onnx(deployed, tmp_path / "m.onnx")
    export_torchscript(deployed, tmp_path / "m.ts")
    session, scripted = ort.InferenceSession(str(tmp_path / "m.onnx")), torch.jit.load(tmp_path / "m.ts")
    assert [i.name for i in session.get_inputs()] == ["a", "b", "c", "present"]
    inputs = _data(17, seed=2)
    for bits in itertools.product([False, True], repeat=3):
        if not any(bits):
            continue
        present = torch.tensor([bits] * 17)
        with torch.no_grad():
            reference = torch.softmax(deployed(*inputs.values(), present=present), 1).numpy()
        feed = {m: x.numpy() for m, x in inputs.items()} | {"present": present.numpy()}
        onnx = torch.softmax(torch.from_numpy(session.run(["logits"], feed)[0]), 1).numpy()
        traced = torch.softmax(scripted(*inputs.values(), present), 1).detach().numpy()
        assert np.abs(onnx - reference).max() <= 1e-4, bits
        assert np.abs(traced - reference).max() <= 1e-4, bits


def test_export_command(trained, tmp_path):
    pytest.importorskip("onnx")
    assert (
        main(["export", str(trained / "dropout" / "model.pt"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
        == 0
    )
    assert (tmp_path / "m.onnx").stat().st_size > 1000


def test_failure_rate_expectation_against_a_hand_computation():
    scores = {"a": 0.8, "b": 0.6, "c": 0.5, "a+b": 0.9, "a+c": 0.85, "b+c": 0.7, "a+b+c": 0.95}
    p = {"a": 0.1, "b": 0.2, "c": 0.5}
    weights = {
        "a": 0.9 * 0.2 * 0.5, "b": 0.1 * 0.8 * 0.5, "c": 0.1 * 0.2 * 0.5,
        "a+b": 0.9 * 0.8 * 0.5, "a+c": 0.9 * 0.2 * 0.5, "b+c": 0.1 * 0.8 * 0.5, "a+b+c": 0.9 * 0.8 * 0.5,
    }  # fmt: skip
    hand = sum(weights[c] * scores[c] for c in scores) / (1 - 0.1 * 0.2 * 0.5)
    assert expected_metric(scores, ("a", "b", "c"), p) == pytest.approx(hand, rel=1e-12)
    assert expected_metric(scores, ("a", "b", "c"), {}) == pytest.approx(0.95)  # nothing fails: the full set
    curve = robustness_curve(scores, ("a", "b", "c"), [0.0, 0.5, 0.9])
    assert curve[0] == pytest.approx(0.95) and curve[0] > curve[1] > curve[2]
    with pytest.raises(ValueError, match="unknown modalities"):
        expected_metric(scores, ("a", "b", "c"), {"z": 0.1})


def test_evaluate_reports_the_expected_metric_under_failure_rates(trained, tmp_path):
    out = tmp_path / "e.json"
    argv = ["evaluate", str(trained / "dropout" / "model.pt"), "--failure-rates", "a=0.1,b=0.2,c=0.5"]
    assert main([*argv, "--json", str(out), "--no-progress"]) == 0
    entry = json.loads(out.read_text())["methods"]["dropout"]
    accuracy = {c: v["accuracy"] for c, v in entry["combinations"].items()}
    assert entry["expected"]["accuracy"] == pytest.approx(
        expected_metric(accuracy, ("a", "b", "c"), entry["failure_rates"])
    )


def test_temperature_scaling_lowers_ece_on_an_overconfident_model():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (3000,), generator=g)
    logits = torch.randn(3000, 3, generator=g)
    logits[torch.arange(3000), target] += 1.2
    logits *= 5  # right two times in three, but sure of everything
    metric = classification_metrics(3)
    before = float(metric(logits, target)["ece"])
    assert before == pytest.approx(reference_ece(torch.softmax(logits, 1), target), abs=1e-5)
    temperature = fit_temperature(logits, target)
    metric.reset()
    after = float(metric(logits / temperature, target)["ece"])
    assert temperature > 2 and after < before / 3


def test_anti_spoofing_thresholds_and_hter_at_the_validation_threshold():
    scores = torch.tensor([0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9])
    bona = torch.tensor([False, False, False, True, False, True, True, True])
    threshold = eer_threshold(scores, bona)
    assert threshold == pytest.approx(0.6)  # accept >= 0.6: APCER 1/4 (0.6), BPCER 1/4 (0.35): equal
    assert apcer_threshold(scores, bona, 0.0) == pytest.approx(0.7)
    metric = AntiSpoofingMetrics(bona_fide_label=1, threshold=0.65)
    logits = torch.stack([torch.zeros(8), torch.logit(scores)], 1)
    metric.update(logits, bona.long())
    values = metric.compute()
    far, frr = 0 / 4, 1 / 4  # at 0.65 every attack is rejected; bona fide 0.35 is rejected too
    assert float(values["hter"]) == pytest.approx((far + frr) / 2)
    assert float(values["acer"]) == pytest.approx((1 / 4 + 1 / 4) / 2)  # at 0.5 as always


def test_importing_mmanet_for_inference_loads_no_training_code():
    code = "import sys, mmanet; print([m for m in sys.modules if m.startswith(('lightning', 'mmanet.training'))])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


API = {
    "Prediction": "(probabilities: 'np.ndarray', combinations: 'list[str]') -> None",
    "Predictor": "(model: 'ModelFile', device: 'str | torch.device' = 'cpu') -> 'None'",
    "load": "(path: 'str | Path', device: 'str | torch.device' = 'cpu') -> 'Predictor'",
    "load_config": "(path: 'str | None' = None, overrides: 'list[str] | None' = None) -> 'ExperimentConfig'",
    "run": "(config: 'ExperimentConfig', mode: 'str' = 'new') -> 'dict[str, Any]'",
}
PREDICTOR = ["classes", "logits", "predict", "predict_labels"]


def test_the_public_api_is_pinned():
    assert sorted(mmanet.__all__) == sorted([*API, "__version__"])
    for name, signature in API.items():
        assert str(inspect.signature(getattr(mmanet, name))) == signature, name
    assert [n for n in dir(mmanet.Predictor) if not n.startswith("_")] == PREDICTOR
    assert str(inspect.signature(mmanet.Predictor.predict)) == (
        "(self, inputs: 'Mapping[str, InputArray]', present: 'Any' = None, batch_size: 'int' = 256) -> 'Prediction'"
    )


def test_mask_of_every_combination_is_served_once_by_a_customized_file(trained):
    deployed = DeployedModel(load_model_file(trained / "customized" / "model.pt"))
    for combo in all_combinations(("a", "b", "c")):
        code = int((combination_mask(combo, ("a", "b", "c")).long() * torch.tensor([1, 2, 4])).sum())
        assert int(deployed.serves[:, code].sum()) == 1


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_matrix_pool_equals_adaptive_average_pooling(size, bins):
    x = torch.randn(2, 3, size, size + 3)
    torch.testing.assert_close(MatrixPool(bins)(x), torch.nn.AdaptiveAvgPool2d(bins)(x))


def test_segmentation_exports_to_onnx_at_its_size_and_torchscript_serves_other_sizes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from mmanet.modelfile import save_model_file
    from mmanet.nn import NetworkSpec, build_network

    model = {
        "architecture": "esanet",
        "encoders": {"default": {"name": "tiny", "width": 8}},
        "decoder": {"name": "esanet", "channels": [16, 8, 8]},
        "context_channels": 16,
        "combination_patches": "decoder",
    }
    spec = NetworkSpec(("rgb", "depth"), {"rgb": (3, 64, 64), "depth": (1, 64, 64)}, 3, model)
    torch.manual_seed(0)
    net = build_network(spec).eval()
    names = [combination_name(c) for c in all_combinations(spec.modalities)]
    meta = {"task": "segmentation", "data_modalities": ["rgb", "depth"]}
    save_model_file(tmp_path / "seg.pt", entries=[(net, spec, names)], meta=meta)
    deployed = DeployedModel(load_model_file(tmp_path / "seg.pt")).eval()
    # the pyramid pooling pools a 2x2 map to 3 and 6 bins here, which AdaptiveAvgPool2d cannot export
    export_onnx(deployed, tmp_path / "seg.onnx")
    session = ort.InferenceSession(str(tmp_path / "seg.onnx"))
    g = torch.Generator().manual_seed(3)
    x = {"rgb": torch.rand(3, 3, 64, 64, generator=g) * 255, "depth": torch.rand(3, 1, 64, 64, generator=g) * 1000}
    for bits in ([True, False], [False, True], [True, True]):
        present = torch.tensor([bits] * 3)
        with torch.no_grad():
            reference = deployed(*x.values(), present=present)
        feed = {m: v.numpy() for m, v in x.items()} | {"present": present.numpy()}
        got = torch.from_numpy(session.run(["logits"], feed)[0])
        assert got.shape == (3, 3, 64, 64)
        torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-4, msg=str(bits))
    wider = {"rgb": np.zeros((1, 3, 64, 96), np.float32), "depth": np.zeros((1, 1, 64, 96), np.float32)}
    with pytest.raises(Exception, match=r"(?s)rgb.*Expected: 64"):  # the graph holds the export size
        session.run(["logits"], wider | {"present": np.ones((1, 2), bool)})
    export_torchscript(deployed, tmp_path / "seg.ts")
    scripted = torch.jit.load(tmp_path / "seg.ts")
    x = {"rgb": torch.rand(2, 3, 64, 96) * 255, "depth": torch.rand(2, 1, 64, 96) * 1000}
    present = torch.tensor([[True, False], [True, True]])
    with torch.no_grad():
        torch.testing.assert_close(scripted(x["rgb"], x["depth"], present), deployed(*x.values(), present=present))


def test_a_network_with_the_decoders_linear_skip_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from mmanet.modelfile import save_model_file
    from mmanet.nn import NetworkSpec, build_network

    model = {"embed_dim": 4, "decoder": {"name": "mlp", "hidden": 8, "skip": True}, "combination_patches": "decoder"}
    spec = NetworkSpec(("a", "b", "c"), {"a": (8,), "b": (12,), "c": (1, 6, 6)}, 3, model)
    torch.manual_seed(1)
    net = build_network(spec).eval()
    with torch.no_grad():
        net.decoder.skip.weight.normal_()  # starts at zero: give it weights to carry
    names = [combination_name(c) for c in all_combinations(spec.modalities)]
    save_model_file(tmp_path / "m.pt", entries=[(net, spec, names)], meta={"data_modalities": ["a", "b", "c"]})
    deployed = DeployedModel(load_model_file(tmp_path / "m.pt")).eval()
    export_onnx(deployed, tmp_path / "m.onnx")
    session, inputs = ort.InferenceSession(str(tmp_path / "m.onnx")), _data(9, seed=4)
    for bits in itertools.product([False, True], repeat=3):
        if any(bits):
            present = torch.tensor([bits] * 9)
            with torch.no_grad():
                reference = deployed(*inputs.values(), present=present)
            feed = {m: x.numpy() for m, x in inputs.items()} | {"present": present.numpy()}
            torch.testing.assert_close(
                torch.from_numpy(session.run(["logits"], feed)[0]), reference, rtol=1e-4, atol=1e-4
            )
