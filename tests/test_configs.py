"""Every shipped config resolves without error."""

import pathlib

import pytest

from mmanet.config import load_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "src" / "mmanet" / "presets").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_resolves(path):
    cfg = load_config(path)
    assert cfg.methods and cfg.seeds
