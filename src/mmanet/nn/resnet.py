"""ResNet encoders for dense prediction, as five stages (strides 2, 4, 8, 16, 32).

Depths 18 and 34 use basic blocks (stage widths 64, 64, 128, 256, 512); 50 uses bottleneck
blocks (64, 256, 512, 1024, 2048). ``tiny`` is a five-stage stack of single convolutions for
tests. No pretrained weights are loaded (nothing is downloaded).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmanet.nn.layers import resnet_layer
from mmanet.nn.registry import Registry

__all__ = ["STAGE_ENCODERS", "Bottleneck", "StageEncoder", "build_stage_encoder"]


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1x1, 3x3 (stride), 1x1 (x4 channels), projection shortcut when needed."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class StageEncoder(nn.Module):
    """Five stages; ``stages[k]`` maps stage ``k-1``'s output (or the input) to stride ``2^(k+1)``."""

    def __init__(self, stages: list[nn.Module], channels: list[int], in_channels: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels = list(channels)
        self.in_channels = in_channels

    def forward(self, x: Tensor) -> list[Tensor]:
        """``(B, C, H, W)`` -> the five stage outputs."""
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


STAGE_ENCODERS: Registry[StageEncoder] = Registry("dense encoder")


def _stem(in_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))


def _bottleneck_layer(in_channels: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(in_channels, width, stride)]
    layers += [Bottleneck(width * Bottleneck.expansion, width) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


@STAGE_ENCODERS.register("resnet")
def resnet(*, in_channels: int, depth: int = 34) -> StageEncoder:
    """ResNet-18/34 (basic blocks) or ResNet-50 (bottlenecks), without pretrained weights."""
    layouts = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}
    if depth not in layouts:
        raise ValueError(f"ResNet depth must be one of {sorted(layouts)}, got {depth}")
    blocks = layouts[depth]
    if depth == 50:
        widths = [64, 128, 256, 512]
        outs = [w * Bottleneck.expansion for w in widths]
        ins = [64, *outs[:-1]]
        layers = [
            _bottleneck_layer(i, w, b, 1 if k == 0 else 2)
            for k, (i, w, b) in enumerate(zip(ins, widths, blocks, strict=True))
        ]
    else:
        outs = [64, 128, 256, 512]
        ins = [64, *outs[:-1]]
        layers = [
            resnet_layer(i, o, b, 1 if k == 0 else 2) for k, (i, o, b) in enumerate(zip(ins, outs, blocks, strict=True))
        ]
    layers[0] = nn.Sequential(nn.MaxPool2d(3, 2, 1), layers[0])
    return StageEncoder([_stem(in_channels), *layers], [64, *outs], in_channels)


@STAGE_ENCODERS.register("tiny")
def tiny(*, in_channels: int, width: int = 8) -> StageEncoder:
    """Five strided 3x3 conv stages (widths w, w, 2w, 2w, 4w): for tests."""
    channels = [width, width, 2 * width, 2 * width, 4 * width]
    stages: list[nn.Module] = []
    previous = in_channels
    for c in channels:
        stages.append(
            nn.Sequential(nn.Conv2d(previous, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        )
        previous = c
    return StageEncoder(stages, channels, in_channels)


def build_stage_encoder(spec: dict, in_channels: int) -> StageEncoder:
    """Build from ``{"name": "resnet", "depth": 34}`` or ``{"name": "tiny"}``."""
    options = dict(spec)
    name = options.pop("name", "resnet")
    return STAGE_ENCODERS.build(name, in_channels=in_channels, **options)
