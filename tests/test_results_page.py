"""docs/results.md is regenerated from the committed per-seed records: every generated table matches."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_table_of_the_results_page_matches_the_records():
    command = [sys.executable, "benchmarks/study.py", "report", "--check"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    page = (ROOT / "docs" / "results.md").read_text()
    assert page.count("<!-- study ") == page.count("<!-- /study -->") > 20


def test_the_check_fails_when_a_table_is_edited(tmp_path):
    page = (ROOT / "docs" / "results.md").read_text()
    start = page.index("<!-- study summary")
    line_end = page.index("\n", page.index("| plus-r3-complete |", start))
    edited = page[:line_end] + " tampered" + page[line_end:]
    (tmp_path / "results.md").write_text(edited)
    command = [
        sys.executable,
        "benchmarks/study.py",
        "--root",
        "docs/records",
        "page",
        str(tmp_path / "results.md"),
        "--check",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "differ" in done.stderr


def test_adjacent_empty_blocks_are_each_filled(tmp_path):
    """A fresh page has empty blocks; each must get its own table (none may swallow the next)."""
    blocks = [
        "<!-- study mining phase=final setting=trio arms=mar,mmanet -->\n<!-- /study -->",
        "<!-- study diagnostics phase=final setting=trio arms=mad,mmanet -->\n<!-- /study -->",
    ]
    (tmp_path / "page.md").write_text("# page\n\n" + "\n".join(blocks) + "\n")
    command = [sys.executable, "benchmarks/study.py", "report", str(tmp_path / "page.md")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "page.md").read_text()
    assert page.count("<!-- study ") == page.count("<!-- /study -->") == 2
    assert "final weak set per seed" in page and "MAD effective sample share" in page


def test_trained_share_counts_the_sampled_draws_and_adds_one_per_pass():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from diagnostics import trained_share
    from mmanet.modality import all_combinations, combination_name
    from mmanet.training.sampling import ModalityDropout

    modalities, samples, epochs = ("a", "b", "c"), 50, 3
    plain = trained_share(modalities, 7, samples, epochs)
    counts = dict.fromkeys(plain, 0)
    dropout = ModalityDropout(samples, 7)
    for epoch in range(epochs):  # the draws, counted one sample at a time
        for i in range(samples):
            row = dropout.masks(epoch, torch.tensor([i]), torch.ones(1, 3, dtype=torch.bool))[0].tolist()
            counts[combination_name([m for m, keep in zip(modalities, row, strict=True) if keep])] += 1
    assert plain == {c: n / (samples * epochs) for c, n in counts.items()}
    every = trained_share(modalities, 7, samples, epochs, passes=True, complete=True, pairs=True)
    for combination in all_combinations(modalities):
        name = combination_name(combination)
        assert every[name] - plain[name] == pytest.approx(1.0)  # singles, pairs and the complete one: one pass each
    two = trained_share(("a", "b"), 7, samples, epochs, pairs=True)
    assert two == trained_share(("a", "b"), 7, samples, epochs)  # M = 2: the one pair is the complete combination


def test_round_9s_readout_list_is_what_its_rule_derives_from_the_committed_probes():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_arms import R9_READOUTS
    from study_tables import probed_readouts

    for setting, listed in R9_READOUTS.items():
        assert probed_readouts(ROOT / "docs" / "records", setting) == listed, setting


def test_a_routed_record_takes_each_combination_from_the_file_better_on_validation():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from study_tables import routed_record

    def rec(val, test, seconds, peak):
        cells = {
            split: {n: {"accuracy": v} for n, v in values.items()} for split, values in (("val", val), ("test", test))
        }
        return {"seed": 3, "setting": "trio", "seconds": seconds, "peak_rss_bytes": peak, **cells}

    base = rec({"a": 0.80, "b": 0.90, "a+b": 0.95}, {"a": 0.70, "b": 0.91, "a+b": 0.96}, 10.0, 100)
    specialists = rec({"a": 0.85, "b": 0.90}, {"a": 0.60, "b": 0.99}, 5.0, 300)  # b ties: the base keeps it
    routed = routed_record("routed-x", [base, specialists], "accuracy")
    assert routed["served_by"] == {"a": 1, "b": 0, "a+b": 0}
    assert {n: v["accuracy"] for n, v in routed["test"].items()} == {"a": 0.60, "b": 0.91, "a+b": 0.96}
    assert {n: v["accuracy"] for n, v in routed["val"].items()} == {"a": 0.85, "b": 0.90, "a+b": 0.95}
    assert (routed["seconds"], routed["peak_rss_bytes"], routed["seed"]) == (15.0, 300, 3)
