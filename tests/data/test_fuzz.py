"""Fuzzing the loaders: malformed .npz files, list files and images give a clear error type,
never a crash, and nothing is written."""

import contextlib
import io
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmanet.data import CasiaSurfSource, DataError, load_npz
from mmanet.data.images import ImageAugment, ImageSample, ImageSampleDataset

ALLOWED = (DataError,)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

keys = st.sampled_from(["a", "b", "labels", "split", "present_a", "present_b", "present_z", "c.d", "x+y"])
dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, np.uint8])


def _array(shape: tuple[int, ...], dtype: type, fill: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.full(shape, fill).astype(dtype)


arrays = st.builds(
    _array,
    st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple),
    dtypes,
    st.sampled_from([0, 1, -1, 2.5, np.nan, np.inf]),
)


def _snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@SETTINGS
@given(st.dictionaries(keys, arrays, max_size=6))
def test_random_npz_contents(tmp_path, content):
    path = tmp_path / "fuzz.npz"
    np.savez(path, **content)
    before = _snapshot(tmp_path)
    try:
        data = load_npz(path)
    except ALLOWED:
        pass
    else:  # a file that loads is a valid dataset
        assert data.modalities and len(data) == len(data.labels)
        assert data.present.any(1).all()
    assert _snapshot(tmp_path) == before


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_as_npz(tmp_path, blob):
    path = tmp_path / "blob.npz"
    path.write_bytes(blob)
    with contextlib.suppress(*ALLOWED):
        load_npz(path)


@SETTINGS
@given(st.lists(st.text(alphabet="abc./ 01\t-_é", max_size=40), max_size=6))
def test_random_list_files(tmp_path, lines):
    for name in ("train_list.txt", "val_private_list.txt", "test_private_list.txt"):
        (tmp_path / name).write_text("\n".join(lines))
    before = _snapshot(tmp_path)
    with contextlib.suppress(*ALLOWED):
        CasiaSurfSource(tmp_path)
    assert _snapshot(tmp_path) == before


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["error", "absent"]))
def test_random_image_bytes(tmp_path, blob, policy):
    path = tmp_path / "x.png"
    path.write_bytes(blob)
    dataset = ImageSampleDataset(
        [ImageSample({"rgb": path}, 1, "list:1")],
        ["rgb"],
        {"rgb": 3},
        ImageAugment(8, 10),
        train=True,
        on_missing=policy,
    )
    try:
        item = dataset[(0, 0)]
    except ALLOWED as err:
        assert policy == "error" or "no image of it could be read" in str(err)  # its only image: named, not dropped
    else:
        assert item["inputs"]["rgb"].shape == (3, 8, 8)


def test_zip_with_a_pickled_member_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    path = tmp_path / "pickled.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("labels.npy", buffer.getvalue())
    try:
        load_npz(path)
    except DataError as err:
        assert "pickled" in str(err)
    else:
        raise AssertionError("a pickled member was loaded")
