"""Joint RGB-D(+label) transforms for segmentation, keyed on (seed, epoch, index).

Training: random scale in ``scale`` (bilinear for images, nearest for depth and labels, so
depth holes and void labels never blend), random crop to ``crop`` (padding with 0 for images
and the ignore label for labels), horizontal flip - identical for every modality and the label
- and HSV jitter on RGB only. Every modality and the label keep their alignment.

Normalisation: RGB ``(x / 255 - mean) / std``; depth ``(d - mean) / std`` with the dataset's
statistics, and depth holes (value 0 in the raw map) set to exactly 0 after normalisation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

__all__ = ["SegAugment", "hsv_jitter", "normalise_depth", "normalise_rgb"]

RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)


def normalise_rgb(rgb: Tensor) -> Tensor:
    """``(3, H, W)`` uint8-range floats -> ImageNet-normalised floats."""
    mean = torch.tensor(RGB_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(RGB_STD, dtype=torch.float32)[:, None, None]
    return (rgb.float() / 255.0 - mean) / std


def normalise_depth(depth: Tensor, mean: float, std: float) -> Tensor:
    """``(1, H, W)`` raw depth -> ``(d - mean) / std``, holes (0) kept at exactly 0."""
    hole = depth <= 0
    out = (depth.float() - mean) / std
    return torch.where(hole, torch.zeros_like(out), out)


def hsv_jitter(rgb: np.ndarray, shifts: tuple[float, float, float]) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB with hue shifted by ``shifts[0]`` (fraction of the circle) and
    saturation and value scaled by ``1 + shifts[1]``, ``1 + shifts[2]``."""
    hsv = np.asarray(Image.fromarray(rgb, "RGB").convert("HSV")).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + shifts[0] * 255.0) % 256.0
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + shifts[1]), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * (1 + shifts[2]), 0, 255)
    return np.asarray(Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB"))


@dataclasses.dataclass(frozen=True)
class SegAugment:
    """Training geometry and colour jitter; ``crop`` is (height, width), multiples of 32."""

    crop: tuple[int, int]
    scale: tuple[float, float] = (1.0, 1.4)
    flip: bool = True
    hsv: tuple[float, float, float] = (0.05, 0.2, 0.2)
    ignore_index: int = 255

    def draw(self, generator: torch.Generator) -> dict[str, Any]:
        """One sample's random parameters (shared by all modalities and the label)."""
        u = torch.rand(8, generator=generator).tolist()
        return {
            "scale": self.scale[0] + u[0] * (self.scale[1] - self.scale[0]),
            "top": u[1],
            "left": u[2],
            "flip": self.flip and u[3] < 0.5,
            "hsv": tuple((2 * v - 1) * a for v, a in zip(u[4:7], self.hsv, strict=True)),
        }

    def geometry(
        self, images: Mapping[str, Tensor], label: Tensor, params: Mapping[str, Any], interpolation: Mapping[str, str]
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Scale, crop (with padding) and flip ``(C, H, W)`` images and the ``(H, W)`` label alike."""
        h, w = label.shape
        size = (max(1, round(h * params["scale"])), max(1, round(w * params["scale"])))
        scaled = {m: _resize(x, size, interpolation.get(m, "bilinear")) for m, x in images.items()}
        lab = _resize(label[None].float(), size, "nearest")[0].long()
        ch, cw = self.crop
        pad_h, pad_w = max(0, ch - size[0]), max(0, cw - size[1])
        if pad_h or pad_w:
            scaled = {m: F.pad(x, (0, pad_w, 0, pad_h), value=0.0) for m, x in scaled.items()}
            lab = F.pad(lab, (0, pad_w, 0, pad_h), value=self.ignore_index)
        top = int(params["top"] * (lab.shape[0] - ch + 1))
        left = int(params["left"] * (lab.shape[1] - cw + 1))
        out = {m: x[:, top : top + ch, left : left + cw] for m, x in scaled.items()}
        lab = lab[top : top + ch, left : left + cw]
        if params["flip"]:
            out = {m: x.flip(-1) for m, x in out.items()}
            lab = lab.flip(-1)
        return out, lab


def _resize(x: Tensor, size: Sequence[int], mode: str) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x[None].float(), size=tuple(size), mode=mode, **kwargs)[0]
