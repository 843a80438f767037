"""Building blocks: ResNet basic blocks, squeeze-excitation, per-modality input normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BasicBlock", "InputNorm", "SqueezeExcitation", "resnet_layer"]


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): two 3x3 convs with an identity/projection shortcut.

    Shapes: ``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet_layer(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """A ResNet stage of ``blocks`` basic blocks; the first one carries the stride."""
    layers = [BasicBlock(in_channels, out_channels, stride)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al. 2018): ``x * sigmoid(W2 relu(W1 avgpool(x))))``, shape-preserving."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class InputNorm(nn.Module):
    """``(x - mean) / std`` with statistics stored as buffers (saved with the model).

    Vectors ``(B, D)`` are normalised per feature, images ``(B, C, H, W)`` per channel.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        stat_shape = (shape[0],) + (1,) * (len(shape) - 1) if len(shape) > 1 else shape
        self.register_buffer("mean", torch.zeros(stat_shape))
        self.register_buffer("std", torch.ones(stat_shape))

    @torch.no_grad()
    def fit(self, x: Tensor, eps: float = 1e-6) -> None:
        """Set the statistics from ``(N, *shape)`` training samples (constant features keep std 1)."""
        if x.shape[0] < 2:
            raise ValueError(f"need at least 2 samples to fit input statistics, got {x.shape[0]}")
        dims = [0, *range(2, x.ndim)]
        std = x.std(dim=dims)
        self.mean.copy_(x.mean(dim=dims).reshape(self.mean.shape))
        self.std.copy_(torch.where(std > eps, std, torch.ones_like(std)).reshape(self.std.shape))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
