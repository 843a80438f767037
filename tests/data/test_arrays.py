import numpy as np
import pytest
import torch

from mmanet.config import DataConfig
from mmanet.data import DataError, load_dataset, load_npz, mfeat_path, split_arrays, stratified_split


def _write(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def _good(n=12):
    rng = np.random.default_rng(0)
    return {
        "a": rng.normal(size=(n, 3)).astype(np.float32),
        "b": rng.normal(size=(n, 1, 4, 4)),
        "labels": np.arange(n) % 3,
    }


def test_good_file_loads_with_presence_and_split(tmp_path):
    raw = _good()
    raw["present_b"] = np.array([True] * 10 + [False] * 2)
    raw["b"][-1] = np.nan  # absent, so allowed
    raw["split"] = np.array(["train"] * 6 + ["val"] * 3 + ["test"] * 3)
    arrays = load_npz(_write(tmp_path, **raw))
    assert arrays.modalities == ("a", "b")
    assert arrays.input_shapes == {"a": (3,), "b": (1, 4, 4)}
    assert arrays.present[:, 1].tolist() == [True] * 10 + [False] * 2
    assert torch.all(arrays.inputs["b"][-2:] == 0)
    assert arrays.num_classes == 3
    parts = split_arrays(arrays, [0.6, 0.2, 0.2], seed=0)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [6, 3, 3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(a=r["a"][:5]), "'a' must have shape"),
        (lambda r: r.update(labels=r["labels"].astype(float)), "'labels' must hold integers"),
        (lambda r: r.update(labels=r["labels"][:4]), "'labels' must have shape|'a' must have shape"),
        (lambda r: r.update(split=np.array(["train", "dev", "test"] * 4)), "unknown names \\['dev'\\]"),
        (lambda r: r.update(present_c=np.ones(12, bool)), "'present_c' has no modality array 'c'"),
        (
            lambda r: r.update(present_a=np.zeros(12, bool), present_b=np.r_[np.ones(11, bool), False]),
            "sample 11 has no modality present",
        ),
        (lambda r: r["a"].__setitem__((3, 1), np.inf), "'a' has NaN/inf in present sample 3"),
        (lambda r: r.update(present_a=np.ones(12)), "'present_a' must be \\(12,\\) booleans"),
        (lambda r: r.pop("labels"), "missing key 'labels'"),
        (lambda r: r.update(labels=-(r["labels"] + 1)), "negative class"),
    ],
)
def test_bad_files_name_the_key(tmp_path, change, message):
    raw = _good()
    change(raw)
    path = _write(tmp_path, **raw)
    with pytest.raises(DataError, match=message) as info:
        load_npz(path)
    assert str(path) in str(info.value)


def test_pickled_objects_are_refused(tmp_path):
    raw = _good()
    raw["a"] = np.array([object()] * 12, dtype=object)
    path = tmp_path / "obj.npz"
    np.savez(path, **raw)
    with pytest.raises(DataError, match="pickled objects"):
        load_npz(path)


def test_missing_file_and_garbage_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=r"garbage\.npz"):
        load_npz(garbage)


def test_unknown_modality_selection_lists_available(tmp_path):
    with pytest.raises(DataError, match="available: \\['a', 'b'\\]"):
        load_npz(_write(tmp_path, **_good()), ["a", "z"])


def test_stratified_split_is_seeded_and_stratified():
    labels = torch.arange(1000) % 10
    first = stratified_split(labels, [0.6, 0.2, 0.2], seed=3)
    assert (first == stratified_split(labels, [0.6, 0.2, 0.2], seed=3)).all()
    assert (first != stratified_split(labels, [0.6, 0.2, 0.2], seed=4)).any()
    for cls in range(10):
        names = first[labels.numpy() == cls]
        assert [(names == s).sum() for s in ("train", "val", "test")] == [60, 20, 20]


def test_bundled_mfeat_has_six_views_of_2000_digits():
    arrays = load_npz(mfeat_path())
    assert set(arrays.modalities) == {"fou", "fac", "kar", "pix", "zer", "mor"}
    assert len(arrays) == 2000 and arrays.num_classes == 10
    assert torch.bincount(arrays.labels).tolist() == [200] * 10
    assert arrays.input_shapes["pix"] == (1, 16, 15)
    assert arrays.inputs["pix"].min() == 0 and arrays.inputs["pix"].max() == 6
    default = load_dataset(DataConfig())
    assert default.modalities == ("pix", "fou", "mor")


def test_load_dataset_errors():
    with pytest.raises(DataError, match="available"):
        load_dataset(DataConfig(dataset="imagenet"))
    with pytest.raises(DataError, match=r"data\.path"):
        load_dataset(DataConfig(dataset="npz"))
    with pytest.raises(DataError, match="at least two modalities"):
        load_dataset(DataConfig(modalities=["pix"]))
