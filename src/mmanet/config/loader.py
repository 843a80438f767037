"""Layering: defaults < ``base`` < YAML file (with ``extends``) < ``--set key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mmanet.config.schema import ConfigError, ExperimentConfig
from mmanet.config.typed import from_dict, to_dict

__all__ = ["apply_overrides", "load_config", "with_overrides"]


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) onto a nested dict, in order."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=0.01")
        _set_path(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else None)
    return tree


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        renamed = (
            isinstance(old, dict) and isinstance(value, dict) and value.get("name", old.get("name")) != old.get("name")
        )
        if isinstance(value, dict) and isinstance(old, dict) and not renamed:
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """A config file as a mapping, with ``extends: OTHER.yaml`` (relative to it) merged underneath."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'extends' loops back to itself")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    parent = loaded.pop("extends", None)
    if parent is None:
        return loaded
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must name a YAML file, got {parent!r}")
    return _merge(_read_yaml(path.parent / parent, (*seen, path.resolve())), loaded)


def with_overrides(cfg: ExperimentConfig, tree: dict[str, Any]) -> ExperimentConfig:
    """``cfg`` with a nested mapping of overrides merged in (checked like any config)."""
    return from_dict(ExperimentConfig, _merge(to_dict(cfg), tree))


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, base: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Resolve defaults < ``base`` < YAML file ``path`` < ``overrides`` into a checked config.

    Nested mappings merge key by key, except that a mapping whose ``name`` changes (an encoder
    or decoder spec) replaces the old one, so options of the old component do not leak in. A
    file may start from another with ``extends: base.yaml`` (path relative to the file).
    """
    tree: dict[str, Any] = to_dict(ExperimentConfig())
    if base:
        tree = _merge(tree, base)
    if path is not None:
        tree = _merge(tree, _read_yaml(Path(path), ()))
    update: dict[str, Any] = {}
    apply_overrides(update, overrides or [])
    tree = _merge(tree, update)
    return from_dict(ExperimentConfig, tree)
