"""Per-modality encoders, built by name from :data:`ENCODERS`.

Every encoder maps ``(B, *input_shape)`` to ``(B, *out_shape)`` and exposes ``out_shape``.
Vector encoders give ``(dim,)``; the paper's ResNet-18-SE stem gives ``(128, H/8, W/8)``.
"""

from __future__ import annotations

import itertools
import math

from torch import Tensor, nn

from mmanet.nn.layers import SqueezeExcitation, resnet_layer
from mmanet.nn.registry import Registry

__all__ = ["ENCODERS", "Encoder", "build_encoder"]


class Encoder(nn.Module):
    """An ``nn.Module`` body with its per-sample input and output shapes."""

    def __init__(self, body: nn.Module, input_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.body = body
        self.input_shape = tuple(input_shape)
        self.out_shape = tuple(out_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


ENCODERS: Registry[Encoder] = Registry("encoder")


def _require_dims(name: str, input_shape: tuple[int, ...], ndim: int) -> None:
    if len(input_shape) != ndim:
        kind = "vectors (D,)" if ndim == 1 else "images (C, H, W)"
        raise ValueError(f"encoder {name!r} expects {kind}, got per-sample shape {input_shape}")


@ENCODERS.register("mlp")
def mlp(
    *, input_shape: tuple[int, ...], dim: int = 64, hidden: int = 128, depth: int = 2, dropout: float = 0.1
) -> Encoder:
    """``depth`` x (Linear, BatchNorm, ReLU, Dropout); the last layer has width ``dim``."""
    _require_dims("mlp", input_shape, 1)
    widths = [input_shape[0]] + [hidden] * (depth - 1) + [dim]
    layers: list[nn.Module] = []
    for w_in, w_out in itertools.pairwise(widths):
        layers += [nn.Linear(w_in, w_out), nn.BatchNorm1d(w_out), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return Encoder(nn.Sequential(*layers), input_shape, (dim,))


@ENCODERS.register("cnn")
def cnn(
    *, input_shape: tuple[int, ...], dim: int = 64, channels: tuple[int, ...] = (32, 64), dropout: float = 0.1
) -> Encoder:
    """Small CNN: 3x3 conv blocks (the second onwards with stride 2), global pooling, Linear to ``dim``."""
    _require_dims("cnn", input_shape, 3)
    layers: list[nn.Module] = []
    c_in = input_shape[0]
    for i, c_out in enumerate(channels):
        layers += [
            nn.Conv2d(c_in, c_out, 3, 1 if i == 0 else 2, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]
        c_in = c_out
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c_in, dim),
        nn.BatchNorm1d(dim),
        nn.ReLU(inplace=True),
    ]
    return Encoder(nn.Sequential(*layers), input_shape, (dim,))


@ENCODERS.register("resnet18_se")
def resnet18_se(*, input_shape: tuple[int, ...], dim: int = 128, reduction: int = 16) -> Encoder:
    """The paper's per-modality stem: conv3x3(s2), BN, ReLU, maxpool(3, s2), layer1 (64), layer2 (``dim``, s2), SE.

    ``(B, C, 112, 112) -> (B, 128, 14, 14)`` with the paper's settings.
    """
    _require_dims("resnet18_se", input_shape, 3)
    body = nn.Sequential(
        nn.Conv2d(input_shape[0], 64, 3, 2, 1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
        resnet_layer(64, 64, 2, 1),
        resnet_layer(64, dim, 2, 2),
        SqueezeExcitation(dim, reduction),
    )
    h, w = input_shape[1:]
    for _ in range(3):  # conv s2, maxpool s2, layer2 s2 (all with padding 1, kernel 3)
        h, w = math.floor((h - 1) / 2) + 1, math.floor((w - 1) / 2) + 1
    return Encoder(body, input_shape, (dim, h, w))


@ENCODERS.register("tiny")
def tiny(*, input_shape: tuple[int, ...], dim: int = 8) -> Encoder:
    """Flatten, Linear, ReLU: for tests."""
    return Encoder(nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), dim), nn.ReLU()), input_shape, (dim,))


def build_encoder(spec: dict, input_shape: tuple[int, ...], dim: int) -> Encoder:
    """Build from ``{"name": ..., **options}``; name ``auto`` picks ``mlp`` for vectors, ``cnn`` for images."""
    options = dict(spec)
    name = options.pop("name", "auto")
    if name == "auto":
        if len(input_shape) not in (1, 3):
            raise ValueError(f"no default encoder for per-sample shape {input_shape}; name one of {ENCODERS.names()}")
        name = "mlp" if len(input_shape) == 1 else "cnn"
    options.setdefault("dim", dim)
    if "channels" in options:
        options["channels"] = tuple(options["channels"])
    return ENCODERS.build(name, input_shape=tuple(input_shape), **options)
