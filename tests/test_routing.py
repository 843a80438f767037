"""Deployment-time routing (`mmanet route`): the selection rule on crafted scores, and a routed
file that serves every combination exactly as the file chosen for it on validation does."""

import json
import math

import numpy as np
import pytest
import torch
from tests.helpers.runs import tiny_run_args

import mmanet
from mmanet.cli import main
from mmanet.data import load_dataset
from mmanet.modality import all_combinations, combination_name
from mmanet.modelfile import ModelFileError, load_model_file
from mmanet.routing import check_routable, choose_routes
from mmanet.training import evaluate_model_file

TINY = tiny_run_args(samples=120, data_seed=3, epochs=2)
NAMES = [combination_name(c) for c in all_combinations(("a", "b", "c"))]


def test_a_candidate_serves_only_when_better_than_the_base_by_more_than_the_margin():
    scores = [{"a": 0.80, "b": 0.80, "a+b": 0.90}, {"a": 0.805, "b": 0.82}, {"a": 0.79, "b": 0.83}]
    assert choose_routes(scores, higher_is_better=True) == {"a": 1, "b": 2, "a+b": 0}
    assert choose_routes(scores, higher_is_better=True, margin=0.01) == {"a": 0, "b": 2, "a+b": 0}
    assert choose_routes(scores, higher_is_better=True, margin=0.05) == {"a": 0, "b": 0, "a+b": 0}


def test_routing_on_an_error_rate_prefers_the_lower_one_and_ties_go_to_the_earlier_file():
    scores = [{"a": 0.10, "b": 0.20}, {"a": 0.05, "b": 0.15}, {"a": 0.05, "b": 0.20}]
    assert choose_routes(scores, higher_is_better=False) == {"a": 1, "b": 1}
    assert choose_routes([{"a": 0.5}, {"a": 0.5}], higher_is_better=True) == {"a": 0}  # a tie keeps the base


def test_combinations_the_base_lacks_go_to_the_best_candidate_and_nan_never_wins():
    scores = [{"a": math.nan, "b": 0.5}, {"a": 0.1, "a+b": 0.6}, {"a+b": 0.7, "b": math.nan}]
    assert choose_routes(scores, higher_is_better=True, margin=0.5) == {"a": 1, "b": 0, "a+b": 2}
    assert choose_routes([{"a": math.nan}, {"a": math.nan}], higher_is_better=True) == {"a": 0}
    with pytest.raises(ValueError, match="margin must be >= 0"):
        choose_routes(scores, higher_is_better=True, margin=-0.1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("route")
    assert main(["run", "--methods", "dropout,customized,specialists", "--out", str(out), *TINY]) == 0
    return out / "seed_0"


def _val_scores(path):
    model = load_model_file(path)
    from mmanet.config import config_from_plain

    cfg = config_from_plain(model.meta["config"])
    source = load_dataset(cfg.data)
    val = source.splits(int(model.meta["seed"])).datasets["val"]
    return evaluate_model_file(model, val, cfg.trainer, source.modalities)


def _route(runs, tmp_path, *candidates, margin="0"):
    out = tmp_path / "routed.pt"
    args = ["route", str(runs / "dropout" / "model.pt"), *(str(runs / c / "model.pt") for c in candidates)]
    assert main([*args, "--out", str(out), "--margin", margin, "--json", str(tmp_path / "r.json")]) == 0
    return out, json.loads((tmp_path / "r.json").read_text())


def test_the_routed_file_serves_each_combination_as_the_file_chosen_on_validation(runs, tmp_path):
    out, routing = _route(runs, tmp_path, "customized")
    base, custom = _val_scores(runs / "dropout" / "model.pt"), _val_scores(runs / "customized" / "model.pt")
    expected = {n: 1 if custom[n]["accuracy"] > base[n]["accuracy"] else 0 for n in NAMES}
    assert routing["served_by"] == expected and set(expected.values()) == {0, 1}  # both files serve something
    routed = _val_scores(out)
    for name in NAMES:
        chosen = custom if expected[name] else base
        assert routed[name] == pytest.approx(chosen[name], abs=1e-6), name
    model = load_model_file(out)
    assert len(model.entries) == 1 + sum(expected.values())  # the base and one customized network per win
    assert model.meta["method"] == "dropout+routed" and model.meta["routing"]["metric"] == "accuracy"

    g = torch.Generator().manual_seed(0)
    inputs = {"a": torch.randn(14, 8, generator=g), "b": torch.randn(14, 12, generator=g)}
    inputs["c"] = torch.randn(14, 1, 6, 6, generator=g)
    present = torch.tensor([[int(x) for x in f"{i % 7 + 1:03b}"[::-1]] for i in range(14)], dtype=torch.bool)
    got = mmanet.load(out).predict({k: v.numpy() for k, v in inputs.items()}, present.numpy())
    for k, source in enumerate(["dropout", "customized"]):
        want = mmanet.load(runs / source / "model.pt").predict({k: v.numpy() for k, v in inputs.items()}, present)
        rows = [i for i, n in enumerate(got.combinations) if expected[n] == k]
        np.testing.assert_allclose(got.probabilities[rows], want.probabilities[rows], atol=1e-6)


def test_a_large_margin_keeps_the_base_alone_and_specialists_serve_only_single_modalities(runs, tmp_path):
    out, routing = _route(runs, tmp_path, "customized", margin="1")
    assert set(routing["served_by"].values()) == {0} and len(load_model_file(out).entries) == 1
    out, routing = _route(runs, tmp_path, "specialists")
    assert {n for n, k in routing["served_by"].items() if k} <= {"a", "b", "c"}
    assert routing["val"]["a+b"][1] is None  # a specialist file has no score where it serves nothing


def test_files_of_another_seed_or_task_are_refused_and_nothing_is_written(runs, tmp_path, capsys):
    payload = torch.load(runs / "customized" / "model.pt", weights_only=True)
    payload["meta"]["seed"] = 5
    other = tmp_path / "other_seed.pt"
    torch.save(payload, other)
    out = tmp_path / "routed.pt"
    assert main(["route", str(runs / "dropout" / "model.pt"), str(other), "--out", str(out)]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert "other_seed.pt" in said and "trained with seed 5" in said and "route files of one seed" in said
    assert not out.exists()
    payload["meta"]["seed"], payload["meta"]["task"] = 0, {"name": "anti_spoofing", "bona_fide": 1}
    torch.save(payload, other)
    with pytest.raises(ModelFileError, match="task"):
        check_routable([load_model_file(runs / "dropout" / "model.pt"), load_model_file(other)])
    assert main(["route", str(runs / "dropout" / "model.pt"), str(other), "--out", str(out), "--margin", "-1"]) == 2
    assert "--margin" in capsys.readouterr().out and not out.exists()
