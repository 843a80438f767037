"""docs/results.md is regenerated from the committed per-seed records: every generated table matches."""

import subprocess
import sys
from pathlib import Path

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
    line_end = page.index("\n", page.index("| mmanet-plus |", start))
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
