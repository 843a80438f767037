"""Fuzzing the model-file loader: random bytes and mangled payloads give ModelFileError, nothing else."""

import contextlib
import copy
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmanet.modelfile import MODEL_FORMAT, ModelFileError, load_model_file, save_model_file
from mmanet.nn import NetworkSpec, build_network

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODEL = {"embed_dim": 4, "encoders": {"default": {"name": "tiny", "dim": 4}}, "decoder": {"name": "tiny", "hidden": 4}}
SPEC = NetworkSpec(("a", "b"), {"a": (3,), "b": (2,)}, 3, MODEL)


def _valid_payload(tmp: Path) -> dict:
    torch.manual_seed(0)
    path = tmp / "valid.pt"
    save_model_file(path, entries=[(build_network(SPEC), SPEC, ["a", "b", "a+b"])], meta={"data_modalities": ["a"]})
    return torch.load(path, weights_only=True)


with tempfile.TemporaryDirectory() as _tmp:
    VALID = _valid_payload(Path(_tmp))
values = st.one_of(st.none(), st.integers(-5, 10**13), st.text(max_size=5), st.lists(st.integers(-2, 5), max_size=3))
paths = st.sampled_from(
    [
        ("format",),
        ("meta",),
        ("entries",),
        ("entries", 0),
        ("entries", 0, "network"),
        ("entries", 0, "network", "num_classes"),
        ("entries", 0, "network", "modalities"),
        ("entries", 0, "network", "input_shapes"),
        ("entries", 0, "network", "model"),
        ("entries", 0, "network", "model", "embed_dim"),
        ("entries", 0, "serves"),
        ("entries", 0, "state_dict"),
    ]
)


def _mangled(path: tuple, value: object) -> dict:
    payload = copy.deepcopy(VALID)
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return payload


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(tmp_path, blob):
    path = tmp_path / "m.pt"
    path.write_bytes(blob)
    with contextlib.suppress(ModelFileError):  # the only exception allowed
        load_model_file(path)


@SETTINGS
@given(paths, values)
def test_mangled_payloads(tmp_path, where, value):
    path = tmp_path / "m.pt"
    torch.save(_mangled(where, value), path)
    try:
        model = load_model_file(path)
    except ModelFileError:
        return
    assert model.entries and model.meta is not None  # whatever loads is complete


def test_the_unmangled_payload_loads():
    assert VALID["format"] == MODEL_FORMAT
