import json

import numpy as np
import pytest

from mmanet.reporting import aggregate_method, render_csv, render_markdown, write_reports


def _per_seed():
    return {
        0: {
            "a": {"accuracy": 0.5, "macro_f1": 0.4},
            "b": {"accuracy": 0.7, "macro_f1": 0.6},
            "a+b": {"accuracy": 0.9, "macro_f1": 0.9},
        },
        1: {
            "a": {"accuracy": 0.6, "macro_f1": 0.5},
            "b": {"accuracy": 0.5, "macro_f1": 0.5},
            "a+b": {"accuracy": 1.0, "macro_f1": 1.0},
        },
    }


def test_aggregate_mean_std_worst_by_hand():
    summary = aggregate_method(_per_seed(), ["a", "b", "a+b"], ["accuracy", "macro_f1"])
    assert summary["combinations"]["a"]["accuracy"] == pytest.approx(0.55)
    assert summary["combinations"]["a"]["accuracy_std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    # mean over combinations per seed: 0.7 and 0.7
    assert summary["mean"]["accuracy"] == pytest.approx(0.7)
    assert summary["mean"]["accuracy_std"] == pytest.approx(0.0, abs=1e-12)
    # worst per seed: 0.5 (a) and 0.5 (b)
    assert summary["worst"]["accuracy"] == pytest.approx(0.5)
    assert summary["worst_combination"] == {"0": "a", "1": "b"}


def test_missing_combination_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        aggregate_method(_per_seed(), ["a", "b", "a+b", "c"], ["accuracy"])


def test_writers_produce_all_files(tmp_path):
    report = {
        "dataset": "toy",
        "modalities": ["a", "b"],
        "split": "test",
        "seeds": [0, 1],
        "metrics": ["accuracy", "macro_f1"],
        "methods": {"x": aggregate_method(_per_seed(), ["a", "b", "a+b"], ["accuracy", "macro_f1"])},
    }
    paths = write_reports(report, tmp_path)
    assert json.loads(paths["json"].read_text())["methods"]["x"]["mean"]["accuracy"] == pytest.approx(0.7)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = render_markdown(report)
    assert "| a+b | 95.00 ± 7.07 |" in md  # two seeds: std shown
    rows = render_csv(report).splitlines()
    assert rows[0] == "method,combination,metric,mean,std,n_seeds"
    assert "x,worst,accuracy,0.500000,0.000000,2" in rows
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind
