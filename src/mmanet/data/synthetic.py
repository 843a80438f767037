"""Seeded synthetic multimodal classification data for tests and smoke runs.

Each modality sees the classes through prototypes; modality ``i`` cannot tell class ``c``
from class ``c XOR 2^(i mod b)`` (``b`` = bits of the class count), so every single modality
is incomplete and combinations win, as in the paper's setting.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmanet.data.arrays import MultimodalArrays, arrays_from_mapping

__all__ = ["DEFAULT_SYNTHETIC_SHAPES", "make_synthetic"]

DEFAULT_SYNTHETIC_SHAPES: dict[str, tuple[int, ...]] = {"a": (8,), "b": (12,), "c": (1, 6, 6)}


def _prototype_index(num_classes: int, modality_index: int) -> np.ndarray:
    bits = max(1, int(np.ceil(np.log2(max(num_classes, 2)))))
    flip = 1 << (modality_index % bits)
    classes = np.arange(num_classes)
    partner = classes ^ flip
    return np.where(partner < num_classes, np.minimum(classes, partner), classes)


def make_synthetic(
    *,
    num_samples: int = 600,
    num_classes: int = 4,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    noise: float = 1.0,
    missing_rate: float = 0.0,
    seed: int = 0,
) -> MultimodalArrays:
    """Class-balanced Gaussian data: ``x_m = prototype_m[group_m(y)] + noise * N(0, 1)``.

    ``missing_rate`` marks that share of (sample, modality) pairs absent in the data (never
    all of a sample's modalities).
    """
    shapes = dict(shapes or DEFAULT_SYNTHETIC_SHAPES)
    rng = np.random.default_rng(seed)
    labels = np.arange(num_samples) % num_classes
    rng.shuffle(labels)
    raw: dict[str, np.ndarray] = {"labels": labels.astype(np.int64)}
    for i, (name, shape) in enumerate(shapes.items()):
        prototypes = rng.normal(size=(num_classes, *shape)) * 1.5
        group = _prototype_index(num_classes, i)[labels]
        raw[name] = (prototypes[group] + noise * rng.normal(size=(num_samples, *shape))).astype(np.float32)
    if missing_rate > 0:
        absent = rng.random((num_samples, len(shapes))) < missing_rate
        absent[absent.all(1), 0] = False
        for j, name in enumerate(shapes):
            raw[f"present_{name}"] = ~absent[:, j]
    arrays = arrays_from_mapping(raw, f"synthetic(seed={seed})")
    arrays.num_classes = num_classes
    return arrays
