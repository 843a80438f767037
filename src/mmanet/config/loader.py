"""Layering: defaults < ``base`` < YAML file (with ``extends``) < ``--set key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mmanet.config.schema import ConfigError, ExperimentConfig
from mmanet.config.typed import from_dict, to_dict

__all__ = ["apply_overrides", "load_config", "parse_yaml", "with_overrides"]


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


MAX_YAML_CHARS = 1_000_000
MAX_YAML_NODES = 100_000


def _expanded_nodes(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Number of nodes ``node`` has once every alias is expanded (counted without expanding)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ConfigError("a YAML alias refers to itself")
    active.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_nodes(child, memo, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_nodes(k, memo, active) + _expanded_nodes(v, memo, active) for k, v in node.value)
    else:
        size = 1
    active.discard(key)
    memo[key] = size
    return size


def parse_yaml(text: str, where: str) -> Any:
    """``text`` as YAML (safe types only), refusing more than ``MAX_YAML_CHARS`` characters or more
    than ``MAX_YAML_NODES`` nodes once aliases are expanded (an alias bomb); errors name ``where``
    (a file or ``--set key``)."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"{where}: {len(text)} characters of YAML, more than the limit of {MAX_YAML_CHARS}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_nodes(node, {}, set())
        if size > MAX_YAML_NODES:
            raise ConfigError(
                f"{size} YAML nodes once aliases are expanded, more than {MAX_YAML_NODES} (an alias bomb?)"
            )
        return loader.construct_document(node)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    except yaml.YAMLError as err:
        problem = " ".join(str(err).split())
        raise ConfigError(f"{where}: invalid YAML: {problem[:300]}") from err
    finally:
        loader.dispose()


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) onto a nested dict, in order."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=0.01")
        _set_path(tree, key.strip(), parse_yaml(raw, f"--set {key.strip()}") if raw.strip() else None)
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
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read config: {err}") from err
    loaded = parse_yaml(text, str(path)) or {}
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
