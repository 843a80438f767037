"""Seeded synthetic RGB-D scenes in which each modality alone is incomplete.

Objects on a tilted floor, viewed from above. Classes:

====  ===========  ======  ============  =============================================
id    name         colour  shape         height above the floor
====  ===========  ======  ============  =============================================
0     floor        grey    -             0
1     red block    red     square        0.5 m
2     blue block   blue    square        0.5 m   (differs from 1 only in colour: RGB needed)
3     red mat      red     square        0.04 m  (differs from 1 only in height: depth needed)
4     green ball   green   disc          0.3 m   (differs in both)
====  ===========  ======  ============  =============================================

Depth is the camera distance (about 3 m to the floor) in millimetres with Gaussian sensor noise
and holes (value 0, as real sensors give); a one-pixel ring around every object is void (255).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCENE_CLASSES", "make_scenes"]

SCENE_CLASSES = ("floor", "red block", "blue block", "red mat", "green ball")
_COLOURS = {1: (200, 40, 40), 2: (40, 60, 200), 3: (200, 40, 40), 4: (40, 180, 60)}
_HEIGHTS = {1: 500.0, 2: 500.0, 3: 40.0, 4: 300.0}
VOID = 255


def _scene(
    rng: np.random.Generator, height: int, width: int, objects: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    floor = 3000.0 + rng.uniform(-300, 300) * (yy / height - 0.5) + rng.uniform(-300, 300) * (xx / width - 0.5)
    label = np.zeros((height, width), np.int64)
    lift = np.zeros((height, width), np.float32)
    rgb = np.full((height, width, 3), 128.0, np.float32) + rng.uniform(-20, 20)
    boundary = np.zeros((height, width), bool)
    for _ in range(objects):
        cls = int(rng.integers(1, 5))
        size = rng.uniform(0.12, 0.25) * min(height, width)
        cy, cx = rng.uniform(size, height - size), rng.uniform(size, width - size)
        if cls == 4:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= size**2
            ring = np.abs(np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - size) < 1.0
        else:
            inside = (np.abs(yy - cy) <= size) & (np.abs(xx - cx) <= size)
            ring = inside & ~((np.abs(yy - cy) <= size - 1) & (np.abs(xx - cx) <= size - 1))
        label[inside] = cls
        lift[inside] = _HEIGHTS[cls]
        rgb[inside] = np.asarray(_COLOURS[cls], np.float32)
        boundary |= ring
    light = rng.uniform(0.7, 1.2)
    rgb = np.clip(rgb * light + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    depth = floor - lift + rng.normal(0, 20, floor.shape)
    holes = rng.random((height // 4 + 1, width // 4 + 1)) < 0.05
    depth[np.kron(holes, np.ones((4, 4), bool))[:height, :width]] = 0.0
    label[boundary] = VOID
    return rgb, depth.astype(np.float32), label


def make_scenes(
    num_samples: int, height: int = 64, width: int = 96, objects: int = 4, seed: int = 0
) -> dict[str, np.ndarray]:
    """``{"rgb": (N, H, W, 3) uint8, "depth": (N, H, W) float32 mm (0 = hole), "label": (N, H, W) int64}``."""
    rng = np.random.default_rng(seed)
    scenes = [_scene(rng, height, width, objects) for _ in range(num_samples)]
    return {
        "rgb": np.stack([s[0] for s in scenes]),
        "depth": np.stack([s[1] for s in scenes]),
        "label": np.stack([s[2] for s in scenes]),
    }
