"""Joint image augmentation on the device (GPU), for a whole batch at once.

The CPU path (:meth:`mmanet.data.images.ImageAugment.apply`) resizes each image to ``resize``,
rotates it by ``angle`` degrees about its centre (bilinear, black corners), crops a ``size``
square at ``(left, top)`` and flips it. Here workers only decode and resize (uint8) and draw the
same per-sample parameters (keyed on seed, epoch and index); rotation, crop and flip of every
modality of every sample are one ``grid_sample`` on the device. Both paths apply the same
transform with the same parameters; pixels differ only by interpolation rounding (the CPU path
rotates in uint8).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mmanet.data.datasets import Batch

__all__ = ["DeviceAugment", "augment_on_device", "normalise_uint8"]


def normalise_uint8(images: Tensor) -> Tensor:
    """``(x - 127.5) / 128`` in float32, the normalisation of the CPU path."""
    return (images.float() - 127.5) / 128.0


def _grid(params: Tensor, resize: int, size: int) -> Tensor:
    """``(B, size, size, 2)`` sampling grid (``grid_sample`` coordinates) of rotation + crop + flip.

    ``params``: ``(B, 4)`` rows ``(angle, left, top, flip)``. An output pixel ``(u, v)`` of the
    crop reads the rotated image at ``(left + u', top + v)`` (``u' = size - 1 - u`` when flipped);
    the rotated image at continuous ``(x, y)`` reads the resized input at
    ``(c + cos t (x - c) + sin t (y - c), c - sin t (x - c) + cos t (y - c))`` with ``t = -angle``
    (counter-clockwise in degrees, as Pillow) and ``c = resize / 2``, pixel centres at ``i + 0.5``.
    """
    device = params.device
    angle, left, top, flip = params.float().unbind(1)
    steps = torch.arange(size, device=device, dtype=torch.float32)
    u = torch.where(flip[:, None] > 0.5, size - 1 - steps[None, :], steps[None, :])  # (B, S)
    x = (left[:, None] + u + 0.5)[:, None, :]  # (B, 1, S): columns
    y = (top[:, None] + steps[None, :] + 0.5)[:, :, None]  # (B, S, 1): rows
    theta = -angle * math.pi / 180.0
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    c = resize / 2.0
    x_in = c + cos * (x - c) + sin * (y - c)
    y_in = c - sin * (x - c) + cos * (y - c)
    return torch.stack([2 * x_in / resize - 1, 2 * y_in / resize - 1], dim=-1)


def augment_on_device(images: Tensor, params: Tensor, size: int) -> Tensor:
    """Rotate, crop and flip ``(B, C, R, R)`` uint8 images by ``(B, 4)`` parameters; normalised float output."""
    resize = images.shape[-1]
    grid = _grid(params, resize, size)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out - 127.5) / 128.0


class DeviceAugment:
    """Batch transform after the transfer to the device: augment a training batch that carries
    ``augment`` parameters (every modality with the same ones); leave other batches alone."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, batch: Batch) -> Batch:
        params = batch.get("augment")
        if params is None:
            return batch
        inputs = {m: augment_on_device(x, params, self.size) for m, x in batch["inputs"].items()}
        return Batch(inputs=inputs, present=batch["present"], target=batch["target"], index=batch["index"])
