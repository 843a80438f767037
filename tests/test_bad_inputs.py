"""Every bad input an adversarial user tried (issue 13) is refused before anything is written:
exit code 2, a message naming the file, key or line, no traceback, ``--out`` untouched."""

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mmanet.cli import main

TINY = [
    "--set", "model.encoders={default: {name: tiny, dim: 4}}",
    "--set", "model.decoder={name: tiny, hidden: 8}",
    "--epochs", "1", "--seeds", "0", "--no-progress",
]  # fmt: skip
BOMB = "\n".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["x"] * 9) + "]" for i in range(9)) + "\n"


def _npz(path: Path, labels=None, **arrays) -> Path:
    labels = np.arange(30) % 3 if labels is None else labels
    base = {"a": np.random.default_rng(0).normal(size=(len(labels), 4)), "b": np.ones((len(labels), 2))}
    np.savez(path, labels=labels, **{**base, **arrays})
    return path


def _header_bomb(path: Path) -> Path:
    """A valid zip whose member header claims a (10^12, 5) float64 array."""
    good = io.BytesIO()
    np.save(good, np.zeros((3, 5)))
    header = good.getvalue().replace(b"(3, 5)", b"(1000000000000, 5)")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", header)
        archive.writestr("labels.npy", _npy(np.array([0, 1, 0])))
    return path


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (command line, regular expression the message must match)."""
    (tmp / "bomb.yaml").write_text(BOMB + "name: *l8\n")
    (tmp / "fake.npz").write_bytes(_npy(np.zeros(3)))  # a .npy renamed .npz
    with zipfile.ZipFile(tmp / "empty.npz", "w"):
        pass
    (tmp / "file_out").write_text("I am a file")
    (tmp / "notarun").mkdir()
    (tmp / "notarun" / "precious.txt").write_text("keep me")
    data = ["run", "--out", str(tmp / "out"), *TINY]
    return {
        "unknown method in a list": (
            [*data, "--methods", "dropout,bogus"],
            r"methods: unknown method 'bogus'; available",
        ),
        "unknown accelerator": ([*data, "--accelerator", "foo"], r"trainer: .*foo"),
        "bad devices": ([*data, "--devices", "abc"], r"trainer: .*abc"),
        "bad precision": ([*data, "--precision", "7-bit"], r"trainer: .*7-bit"),
        "dropout probability 5": (
            [*data, "--set", "model.decoder={name: mlp, dropout: 5}"],
            r"model: cannot build the network",
        ),
        "negative hidden size": (
            [*data, "--set", "model.decoder={name: tiny, hidden: -3}"],
            r"model: cannot build the network",
        ),
        "unknown encoder": ([*data, "--set", "model.encoders={default: {name: nope}}"], r"unknown encoder 'nope'"),
        "negative seed": ([*data, "--seeds=-1"], r"seeds: expected integers in \[0, 2\^31\)"),
        "bad YAML in --set": ([*data, "--set", "optim.lr=[1"], r"--set optim.lr: invalid YAML"),
        "infinite learning rate": ([*data, "--set", "optim.lr=.inf"], r"optim.lr: expected a finite number"),
        "YAML alias bomb": (["run", str(tmp / "bomb.yaml"), "--out", str(tmp / "out")], r"bomb.yaml: \d+ YAML nodes"),
        "empty npz": ([*data, "--data", str(tmp / "empty.npz")], r"empty.npz: the archive holds no arrays"),
        "npy renamed npz": ([*data, "--data", str(tmp / "fake.npz")], r"fake.npz: not an .npz archive"),
        "header claims 10^12 rows": ([*data, "--data", str(_header_bomb(tmp / "hb.npz"))], r"member 'a' claims shape"),
        "one class": ([*data, "--data", str(_npz(tmp / "one.npz", np.zeros(30, int)))], r"at least 2 are needed"),
        "labels 0, 1, 5": (
            [*data, "--data", str(_npz(tmp / "gap.npz", np.arange(30) % 2 * 5))],
            r"classes \[1, 2, 3, 4\]",
        ),
        "complex values": (
            [*data, "--data", str(_npz(tmp / "c.npz", a=np.ones((30, 2)) * 1j))],
            r"key 'a' holds complex",
        ),
        "zero-width modality": (
            [*data, "--data", str(_npz(tmp / "w.npz", b=np.ones((30, 0))))],
            r"key 'b' has no features",
        ),
        "beyond float32": (
            [*data, "--data", str(_npz(tmp / "big.npz", a=np.full((30, 4), 1e39)))],
            r"beyond the float32 range",
        ),
        "over data.max_bytes": (
            [*data, "--data", str(_npz(tmp / "m.npz")), "--set", "data.max_bytes=100"],
            r"data.max_bytes",
        ),
        "--out is a file": (["run", "--out", str(tmp / "file_out"), *TINY], r"file_out is a file"),
        "--out is not a run": (["run", "--out", str(tmp / "notarun"), *TINY, "--overwrite"], r"not an mmanet run"),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, _cases(tmp)


NAMES = [
    "unknown method in a list", "unknown accelerator", "bad devices", "bad precision", "dropout probability 5",
    "negative hidden size", "unknown encoder", "negative seed", "bad YAML in --set", "infinite learning rate",
    "YAML alias bomb", "empty npz", "npy renamed npz", "header claims 10^12 rows", "one class", "labels 0, 1, 5",
    "complex values", "zero-width modality", "beyond float32", "over data.max_bytes", "--out is a file",
    "--out is not a run",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_refused_before_anything_is_written(cases, name, capsys):
    tmp, table = cases
    argv, pattern = table[name]
    before = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    assert main(argv) == 2, name
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert re.search(pattern, " ".join(out.split())), (name, out)
    assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == before, f"{name}: something was written"


def test_every_case_is_in_the_table(cases):
    assert sorted(cases[1]) == sorted(NAMES)


def test_a_class_missing_from_the_test_split_is_a_warning(tmp_path, capsys):
    labels = np.arange(60) % 3
    split = np.array(["train"] * 36 + ["val"] * 12 + ["test"] * 12)
    split[(labels == 2) & (split == "test")] = "train"  # class 2 never in test
    path = tmp_path / "d.npz"
    np.savez(path, labels=labels, split=split, a=np.random.default_rng(0).normal(size=(60, 4)), b=np.ones((60, 2)))
    assert main(["run", "--data", str(path), "--methods", "dropout", "--out", str(tmp_path / "o"), *TINY]) == 0
    warnings = json.loads((tmp_path / "o" / "report.json").read_text())["warnings"]
    assert any("test split of seed 0 has no samples of class [2]" in w for w in warnings)
    assert "no samples of class [2]" in " ".join(capsys.readouterr().out.split())


def test_the_runs_own_config_file_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--methods", "dropout", "--out", str(out), *TINY]) == 0
    config = out / "config.yaml"
    config.write_text(config.read_text() + "# my notes\n")
    assert main(["run", str(config), "--methods", "dropout", "--out", str(out), "--overwrite", *TINY]) == 2
    assert "copy it elsewhere" in " ".join(capsys.readouterr().out.split())
    assert config.read_text().endswith("# my notes\n")


def test_overwrite_removes_only_what_the_run_created(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--methods", "dropout", "--out", str(out), *TINY]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "seed_important").mkdir()
    (out / "seed_important" / "precious.txt").write_text("mine too")
    assert main(["run", "--methods", "dropout", "--out", str(out), "--overwrite", *TINY, "--seeds", "1"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "seed_important" / "precious.txt").exists()
    assert not (out / "seed_0").exists() and (out / "seed_1" / "dropout" / "model.pt").exists()
    assert json.loads((out / "report.json").read_text())["seeds"] == [1]


def test_resume_under_another_configuration_names_the_changed_keys(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--methods", "dropout", "--out", str(out), *TINY]) == 0
    before = (out / "report.json").read_bytes()
    assert main(["run", "--methods", "dropout", "--out", str(out), "--resume", *TINY, "--set", "optim.lr=0.1"]) == 2
    assert "differs in ['optim.lr']" in " ".join(capsys.readouterr().out.split())
    assert (out / "report.json").read_bytes() == before


@pytest.mark.slow
def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mmanet", "run", "--methods", "dropout", "--out", str(out), *TINY[:-5]]
    first = subprocess.Popen([*cmd, "--epochs", "40", "--seeds", "0", "--no-progress"], stdout=subprocess.DEVNULL)
    lock = out / ".mmanet-run.lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    env = {**os.environ, "COLUMNS": "200"}
    second = subprocess.run(
        [*cmd, "--epochs", "1", "--seeds", "0", "--no-progress", "--overwrite"], capture_output=True, text=True, env=env
    )
    first.wait(timeout=300)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"is being written by another mmanet run (pid {first.pid}" in second.stdout
    assert first.returncode == 0 and (out / "report.json").exists()


def test_a_pickled_model_file_is_refused_naming_the_global(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch PWNED",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "mmanet-model/1", "meta": Payload(), "entries": []}, path)
    assert main(["evaluate", str(path), "--no-progress"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "refused, not loaded" in out and "posix.system" in out and "weights_only=False" not in out


def test_a_model_file_whose_spec_claims_huge_sizes_is_refused_before_allocation(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--methods", "dropout", "--out", str(out), *TINY]) == 0
    payload = torch.load(out / "seed_0" / "dropout" / "model.pt", weights_only=True)
    payload["entries"][0]["network"]["num_classes"] = 10**12
    torch.save(payload, tmp_path / "huge.pt")
    assert main(["evaluate", str(tmp_path / "huge.pt"), "--no-progress"]) == 2
    assert "the spec says" in " ".join(capsys.readouterr().out.split())


def test_evaluate_refuses_an_unwritable_json_before_evaluating(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.pt"), "--json", str(tmp_path), "--no-progress"]) == 2
    assert "is a directory" in " ".join(capsys.readouterr().out.split())


def test_evaluate_warns_when_the_training_data_changed(tmp_path, capsys):
    data = _npz(tmp_path / "d.npz")
    out = tmp_path / "run"
    assert main(["run", "--data", str(data), "--methods", "dropout", "--out", str(out), *TINY]) == 0
    _npz(data, np.arange(33) % 3)  # the file grew
    model = out / "seed_0" / "dropout" / "model.pt"
    assert main(["evaluate", str(model), "--no-progress", "--json", str(tmp_path / "e.json")]) == 0
    assert "changed since" in " ".join(capsys.readouterr().out.split())
    assert json.loads((tmp_path / "e.json").read_text())["warnings"]


def test_a_given_teacher_trained_otherwise_than_the_overrides_is_refused(tmp_path, capsys):
    noisy = "distill.teacher_overrides={optim: {input_noise: 0.3}}"
    assert main(["run", "--methods", "teacher", "--out", str(tmp_path / "t"), "--set", noisy, *TINY]) == 0
    teacher = tmp_path / "t" / "seed_0" / "teacher" / "model.pt"
    given = ["--methods", "mad", "--set", f"distill.teacher={teacher}", *TINY]
    smoothed = "distill.teacher_overrides={optim: {label_smoothing: 0.1}}"
    capsys.readouterr()
    assert main(["run", "--out", str(tmp_path / "s"), *given, "--set", smoothed]) == 2
    message = " ".join(capsys.readouterr().out.split())
    assert f"distill.teacher_overrides: optim.label_smoothing=0.1, but the teacher {teacher} was trained with 0.0" in (
        message
    )
    assert not (tmp_path / "s").exists()
    assert main(["run", "--out", str(tmp_path / "s"), *given, "--set", noisy]) == 0  # the overrides it was trained with
