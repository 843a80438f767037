"""Deployment-time routing: one model file in which every combination is served by whichever of
several trained model files did best on it on the validation split.

A *routed* file holds a base model (usually the unified network, e.g. ``mmanet-plus``) and the
few networks of other model files of the same seed (its per-modality ``specialists``, the
``customized`` models) that beat it on some combinations on validation. Every combination is
served by exactly one network, with that network's own calibration; :class:`mmanet.deploy.
DeployedModel` (predict, ONNX, TorchScript) needs nothing new. It ships several networks, so the
study reports it apart from the unified methods (``docs/results.md``).

Selection (:func:`choose_routes`), per combination, on one selection metric: a candidate replaces
the base only when it is better by more than ``margin``; among candidates the best wins, ties go
to the earlier file; a combination the base does not serve goes to the best candidate serving it.

>>> scores = [{"a": 0.90, "b": 0.80, "a+b": 0.95}, {"a": 0.92, "b": 0.80}]
>>> choose_routes(scores, higher_is_better=True, margin=0.01)
{'a': 1, 'b': 0, 'a+b': 0}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmanet.modality import combination_name
from mmanet.modelfile import ModelFile, ModelFileError, save_model_file

__all__ = ["check_routable", "choose_routes", "routed_entries", "routed_meta", "write_routed"]


def choose_routes(
    scores: Sequence[Mapping[str, float]], *, higher_is_better: bool, margin: float = 0.0
) -> dict[str, int]:
    """``{combination: index into scores}``: the file serving each combination.

    Args:
        scores: per file, ``{combination: selection metric on validation}`` for the combinations it
            serves; ``scores[0]`` is the base.
        higher_is_better: the metric's direction (an error rate: ``False``).
        margin: how much better than the base a candidate must be (the metric's units, >= 0).

    A NaN score (a metric undefined on that combination) never wins.
    """
    if margin < 0 or math.isnan(margin):
        raise ValueError(f"margin must be >= 0, got {margin}")
    sign = 1.0 if higher_is_better else -1.0
    names = list(dict.fromkeys(name for file_scores in scores for name in file_scores))
    routes = {}
    for name in names:
        served = [(k, sign * s[name]) for k, s in enumerate(scores) if name in s and not math.isnan(s[name])]
        if not served:
            routes[name] = next(k for k, s in enumerate(scores) if name in s)
            continue
        best, value = max(served, key=lambda item: (item[1], -item[0]))
        base = sign * scores[0][name] if name in scores[0] and not math.isnan(scores[0][name]) else None
        routes[name] = best if base is None or value > base + margin else 0
    return routes


def _label(model: ModelFile) -> str:
    return f"{model.path} (method {model.meta.get('method', '?')}, seed {model.meta.get('seed', '?')})"


def check_routable(files: Sequence[ModelFile]) -> None:
    """Raise :class:`ModelFileError` unless every file can serve the base's (``files[0]``) data:
    same task, classes and seed (so one validation split, never a file's training samples), same
    data when both files record its fingerprint, modalities and input shapes of the base's data."""
    base = files[0]
    shapes = {m: e.spec.input_shapes[m] for e in base.entries for m in e.spec.modalities}
    for model in files[1:]:
        where = _label(model)
        if model.meta.get("task") != base.meta.get("task") or model.num_classes != base.num_classes:
            raise ModelFileError(
                f"{where}: task {model.meta.get('task')} with {model.num_classes} classes, the base "
                f"{_label(base)} has {base.meta.get('task')} with {base.num_classes}"
            )
        if model.meta.get("seed") != base.meta.get("seed"):
            raise ModelFileError(
                f"{where}: trained with seed {model.meta.get('seed')}, the base {_label(base)} with seed "
                f"{base.meta.get('seed')}: their splits differ, so the validation samples that choose the "
                "routes may be training samples of one of them; route files of one seed"
            )
        ours, theirs = model.meta.get("data_fingerprint"), base.meta.get("data_fingerprint")
        if ours and theirs and ours != theirs:
            raise ModelFileError(f"{where}: trained on other data than the base {_label(base)} (data fingerprint)")
        for entry in model.entries:
            for m in entry.spec.modalities:
                if m not in base.modalities:
                    raise ModelFileError(f"{where}: modality {m!r} is not in the base's data {list(base.modalities)}")
                if m in shapes and tuple(entry.spec.input_shapes[m]) != tuple(shapes[m]):
                    raise ModelFileError(
                        f"{where}: modality {m!r} has per-sample shape {entry.spec.input_shapes[m]}, "
                        f"the base {shapes[m]}"
                    )


def routed_entries(files: Sequence[ModelFile], routes: Mapping[str, int]) -> list[tuple[Any, Any, list[str]]]:
    """``(network, spec, served names)`` of every network that serves a routed combination (base first)."""
    out = []
    for k, model in enumerate(files):
        for entry in model.entries:
            serves = [combination_name(c) for c in entry.serves if routes.get(combination_name(c)) == k]
            if serves:
                out.append((entry.net, entry.spec, serves))
    return out


def routed_meta(
    files: Sequence[ModelFile],
    routes: Mapping[str, int],
    scores: Sequence[Mapping[str, Mapping[str, float]]],
    *,
    select: str,
    margin: float,
    hashes: Sequence[str],
) -> dict[str, Any]:
    """The base's meta with each combination's calibration from the file serving it, the chosen
    files' validation results as ``results``, and a ``routing`` record (files, rule, choices)."""
    meta = dict(files[0].meta)
    calibration: dict[str, dict[str, float]] = {"temperature": {}, "threshold": {}}
    for name, k in routes.items():
        stored = files[k].meta.get("calibration") or {}
        for key in calibration:
            if name in (stored.get(key) or {}):
                calibration[key][name] = float(stored[key][name])
    meta["calibration"] = calibration
    meta["method"] = f"{files[0].meta.get('method', 'model')}+routed"
    meta["results"] = {"val": {name: dict(scores[k][name]) for name, k in routes.items()}}
    meta["routing"] = {
        "split": "val",
        "metric": select,
        "margin": margin,
        "files": [
            {"path": str(f.path), "sha256": h, "method": f.meta.get("method")}
            for f, h in zip(files, hashes, strict=True)
        ],
        "served_by": dict(routes),
        "val": {name: [s[name].get(select) if name in s else None for s in scores] for name in routes},
    }
    return meta


def write_routed(
    path: str | Path, files: Sequence[ModelFile], routes: Mapping[str, int], meta: Mapping[str, Any]
) -> Path:
    """Write the routed model file atomically (nothing half-written on failure)."""
    return save_model_file(path, entries=routed_entries(files, routes), meta=meta)
