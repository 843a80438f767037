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


def _report(methods, names, seeds=(0,)):
    values = {"accuracy": 0.9, "accuracy_std": 0.0}
    entry = {
        "combinations": {n: values for n in names},
        "mean": values,
        "worst": values,
        "worst_combination": {"0": names[0]},
    }
    return {
        "dataset": "d",
        "split": "test",
        "seeds": list(seeds),
        "metrics": ["accuracy"],
        "methods": dict.fromkeys(methods, entry),
    }


@pytest.mark.parametrize("count", [1, 9])
def test_the_terminal_table_fits_80_columns(count):
    import io

    from rich.console import Console

    from mmanet.console import print_report

    methods = [f"method-{i}" for i in range(count)]
    buffer = io.StringIO()
    print_report(
        _report(methods, ["rgb", "depth", "ir", "rgb+depth", "rgb+ir", "depth+ir", "rgb+depth+ir"]),
        Console(file=buffer, width=80),
    )
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert all(m in text for m in methods) and "mean of all" in text and "worst of all" in text
    assert "One seed" in text


def test_many_combinations_give_the_summary_table():
    import io

    from rich.console import Console

    from mmanet.console import print_report
    from mmanet.modality import all_combinations, combination_name

    names = [combination_name(c) for c in all_combinations(["a", "b", "c", "d", "e", "f"])]
    buffer = io.StringIO()
    print_report(_report(["dropout", "customized"], names, seeds=(0, 1)), Console(file=buffer, width=80))
    text = buffer.getvalue()
    assert "every combination is in report.md" in text and "a+b+c+d+e+f (all)" in text and "One seed" not in text


@pytest.mark.parametrize("count", [3, 63])
def test_report_png_is_drawn_for_any_number_of_combinations(count):
    from mmanet.modality import all_combinations, combination_name
    from mmanet.report_plots import render_report_png

    mods = ["a", "b", "c", "d", "e", "f"][: {3: 2, 63: 6}[count]]
    names = [combination_name(c) for c in all_combinations(mods)]
    report = _report(["dropout", "customized"], names) | {"modalities": mods}
    assert render_report_png(report, "accuracy")[:4] == b"\x89PNG"


def test_report_png_of_methods_serving_only_single_modalities():
    from mmanet.report_plots import render_report_png

    report = _report(["specialists"], ["a", "b", "c"]) | {"modalities": ["a", "b", "c"]}
    assert render_report_png(report, "accuracy")[:4] == b"\x89PNG"
