"""Trunk + head on fused features, built by name from :data:`DECODERS`.

A decoder maps the fused features ``(B, *in_shape)`` to :class:`NetOutput`: class logits
``(B, K)`` and the *distilled* features (the trunk's last stage before pooling, which MAD and
SP compare with the teacher's). The deployment network and the regularization network each
own one; they share the encoders.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from mmanet.nn.layers import resnet_layer
from mmanet.nn.registry import Registry

__all__ = ["DECODERS", "Decoder", "NetOutput", "build_decoder", "linear_skip"]


class NetOutput(NamedTuple):
    """``logits``: ``(B, K)`` (or ``(B, K, H, W)`` for dense tasks); ``features``: the distilled
    layer, ``(B, D)`` or ``(B, C, H, W)``, or a tuple of maps for dense MAD; ``side``: deep
    supervision logits (dense tasks)."""

    logits: Tensor
    features: Any
    side: tuple[Tensor, ...] = ()


class Decoder(nn.Module):
    """``trunk`` then ``head``; the trunk output is returned as the distilled features. ``skip``:
    an optional linear map of the fused features ``(B, D)`` straight to the logits, added to the
    head's."""

    def __init__(
        self, trunk: nn.Module, head: nn.Module, in_shape: tuple[int, ...], skip: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.in_shape = tuple(in_shape)
        self.skip = skip

    def forward(self, fused: Tensor) -> NetOutput:
        if tuple(fused.shape[1:]) != self.in_shape:
            raise ValueError(f"decoder expects fused features (B, {self.in_shape}), got {tuple(fused.shape)}")
        features = self.trunk(fused)
        logits = self.head(features)
        if self.skip is not None:
            logits = logits + self.skip(fused)
        return NetOutput(logits, features)


def linear_skip(width: int, num_classes: int) -> nn.Linear:
    """A bias-free linear map from fused vectors ``(B, width)`` to logits ``(B, K)``, starting at zero.

    On the masked concatenation with zero fill (``model.absent: zero``) an absent modality's block is
    zero, so the map adds one linear vote per present modality, shared by every combination
    (additive late fusion beside the trunk); with learned absent features it also reads those."""
    skip = nn.Linear(width, num_classes, bias=False)
    nn.init.zeros_(skip.weight)
    return skip


DECODERS: Registry[Decoder] = Registry("decoder")


@DECODERS.register("mlp")
def mlp(
    *,
    in_shape: tuple[int, ...],
    num_classes: int,
    hidden: int = 128,
    depth: int = 2,
    dropout: float = 0.2,
    norm: str = "batch",
    skip: bool = False,
) -> Decoder:
    """``depth`` x (Linear, norm, ReLU, Dropout) then Linear to the classes; for vector features.

    ``norm``: ``batch`` (BatchNorm: statistics over the batch, i.e. over the mixture of
    combinations) or ``layer`` (LayerNorm: each sample normalised on its own, whatever
    modalities it holds). ``skip``: add :func:`linear_skip` of the fused vector to the logits.
    """
    if len(in_shape) != 1:
        raise ValueError(f"decoder 'mlp' expects fused vectors (D,), got {in_shape}; use 'resnet' for feature maps")
    norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
    if norm not in norms:
        raise ValueError(f"decoder 'mlp': norm must be one of {sorted(norms)}, got {norm!r}")
    layers: list[nn.Module] = []
    width = in_shape[0]
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), norms[norm](hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = hidden
    extra = linear_skip(in_shape[0], num_classes) if skip else None
    return Decoder(nn.Sequential(*layers), nn.Linear(hidden, num_classes), in_shape, extra)


@DECODERS.register("resnet")
def resnet(
    *, in_shape: tuple[int, ...], num_classes: int, channels: tuple[int, int] = (256, 512), blocks: int = 2
) -> Decoder:
    """The paper's shared trunk: layer3 (s2), layer4 (s2) on fused maps; global pooling and fc."""
    if len(in_shape) != 3:
        raise ValueError(f"decoder 'resnet' expects fused maps (C, H, W), got {in_shape}")
    trunk = nn.Sequential(
        resnet_layer(in_shape[0], channels[0], blocks, 2), resnet_layer(channels[0], channels[1], blocks, 2)
    )
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[1], num_classes))
    return Decoder(trunk, head, in_shape)


@DECODERS.register("tiny")
def tiny(*, in_shape: tuple[int, ...], num_classes: int, hidden: int = 16) -> Decoder:
    """Flatten, Linear, ReLU, Linear: for tests."""
    width = 1
    for size in in_shape:
        width *= size
    return Decoder(
        nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU()), nn.Linear(hidden, num_classes), in_shape
    )


def build_decoder(spec: dict, in_shape: tuple[int, ...], num_classes: int) -> Decoder:
    """Build from ``{"name": ..., **options}`` for fused features of per-sample shape ``in_shape``."""
    options = dict(spec)
    name = options.pop("name", "mlp")
    if "channels" in options:
        options["channels"] = tuple(options["channels"])
    return DECODERS.build(name, in_shape=tuple(in_shape), num_classes=num_classes, **options)
