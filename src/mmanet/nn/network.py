"""The any-subset network: per-modality encoders, masked concat fusion, a decoder.

A missing modality is represented by zeroing its encoder output (``masking="feature"``, the
paper's choice; ``absent="learned"`` uses a learned vector instead of zeros) or by zeroing its
normalised input before the encoder (``masking="input"``). Encoding and fusion+decoding are
separate steps (:class:`~mmanet.nn.base.SubsetNetwork`), so evaluating all ``2^M - 1``
combinations runs every encoder once per batch and reuses its features.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from mmanet.config import ModelConfig, from_dict, to_dict
from mmanet.modality import check_modalities, code_count, code_sizes, combination_code, parse_combination
from mmanet.nn.adapters import attach_adapters
from mmanet.nn.base import SubsetNetwork
from mmanet.nn.decoders import Decoder, build_decoder
from mmanet.nn.encoders import Encoder, build_encoder
from mmanet.nn.layers import InputNorm
from mmanet.nn.own_decoders import CombinationDecoders
from mmanet.nn.patches import CombinationReadout, attach_patches, attach_slots, attach_statistics
from mmanet.nn.resnet import build_stage_encoder
from mmanet.nn.segmentation import SegDecoder, SegmentationNet

__all__ = [
    "AnySubsetNet",
    "NetworkSpec",
    "build_network",
    "build_regularization_decoder",
    "build_segmentation_network",
    "model_config",
]

Masking = Literal["feature", "input"]
Absent = Literal["zero", "learned"]
Prepared = tuple[dict[str, Tensor], dict[str, Tensor] | None, dict[str, Tensor] | None]  # features, absent, alone


def model_config(plain: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` from its plain (saved) form; the one place model files rebuild it."""
    if isinstance(plain, ModelConfig):
        return plain
    return from_dict(ModelConfig, dict(plain), prefix="model")


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild a network; saved in every model file in its plain form.

    ``model`` may be given as a plain mapping (a saved spec): it is checked and typed.
    """

    modalities: tuple[str, ...]
    input_shapes: dict[str, tuple[int, ...]]
    num_classes: int
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", model_config(self.model))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists, not tuples, so YAML/JSON round-trips)."""
        return {
            "modalities": list(self.modalities),
            "input_shapes": {m: list(s) for m, s in self.input_shapes.items()},
            "num_classes": self.num_classes,
            "model": to_dict(self.model),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            modalities=tuple(data["modalities"]),
            input_shapes={m: tuple(s) for m, s in data["input_shapes"].items()},
            num_classes=int(data["num_classes"]),
            model=model_config(data["model"]),
        )

    def restricted(self, modalities: Sequence[str]) -> NetworkSpec:
        """The same network over a subset of the modalities (a customized model)."""
        shapes = {m: self.input_shapes[m] for m in modalities}
        return dataclasses.replace(self, modalities=tuple(modalities), input_shapes=shapes)


class AnySubsetNet(SubsetNetwork):
    """Deployment network ``D``: serves every modality combination with one set of weights.

    Inputs are ``{modality: (B, *input_shape)}`` and a ``(B, M)`` boolean mask in
    ``modalities`` order; output is :class:`~mmanet.nn.decoders.NetOutput`.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        encoders: Mapping[str, Encoder],
        decoder: Decoder | CombinationReadout | CombinationDecoders,
        masking: Masking = "feature",
        absent: Absent = "zero",
    ) -> None:
        super().__init__()
        self.modalities = check_modalities(modalities)
        if set(encoders) != set(self.modalities):
            raise ValueError(f"encoders for {sorted(encoders)} do not match modalities {list(self.modalities)}")
        if masking not in ("feature", "input"):
            raise ValueError(f"masking must be 'feature' or 'input', got {masking!r}")
        if absent not in ("zero", "learned") or (absent == "learned" and masking != "feature"):
            raise ValueError(
                f"absent must be 'zero', or 'learned' with feature masking; got {absent!r} with {masking!r}"
            )
        self.masking = masking
        self.norms = nn.ModuleDict({m: InputNorm(encoders[m].input_shape) for m in self.modalities})
        self.encoders = nn.ModuleDict({m: encoders[m] for m in self.modalities})
        self.input_shapes = {m: encoders[m].input_shape for m in self.modalities}
        self.out_shapes = {m: encoders[m].out_shape for m in self.modalities}
        self.decoder = decoder
        self.absent_embeddings: nn.ParameterDict | None = None
        if absent == "learned":  # starts at zero: the paper's zero fill
            params = {m: nn.Parameter(torch.zeros(self.out_shapes[m])) for m in self.modalities}
            self.absent_embeddings = nn.ParameterDict(params)

    @property
    def fused_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the fused features."""
        return _fused_shape([self.out_shapes[m] for m in self.modalities])

    def _check_inputs(self, inputs: Mapping[str, Tensor]) -> None:
        for m in self.modalities:
            if m not in inputs:
                raise ValueError(f"input for modality {m!r} missing; got {sorted(inputs)}")
            expected = self.input_shapes[m]
            if tuple(inputs[m].shape[1:]) != expected:
                shape = ", ".join(map(str, expected))
                raise ValueError(f"modality {m!r}: expected (B, {shape}), got {tuple(inputs[m].shape)}")

    def _check_mask(self, mask: Tensor, batch: int) -> None:
        if mask.shape != (batch, len(self.modalities)) or mask.dtype != torch.bool:
            expected = f"bool ({batch}, {len(self.modalities)})"
            raise ValueError(f"presence mask: expected {expected}, got {mask.dtype} {tuple(mask.shape)}")

    def encode(
        self, inputs: Mapping[str, Tensor], mask: Tensor | None = None, alone: bool = False
    ) -> dict[str, Tensor]:
        """Normalise and encode each modality: ``{m: (B, *out_shape_m)}``.

        With input-level masking and a ``(B, M)`` mask, absent inputs are zeroed first. With
        alone patches (alone encoders), ``alone`` selects each encoder's slot (copy) for its
        modality alone.
        """
        self._check_inputs(inputs)
        features = {}
        for j, m in enumerate(self.modalities):
            x = self.norms[m](inputs[m])
            if mask is not None and self.masking == "input":
                x = torch.where(_expand(mask[:, j], x), x, torch.zeros_like(x))
            encoder = self.encoder_of(m, alone)
            with self.encoder_slot(encoder, x.shape[0], alone, x.device):
                features[m] = encoder(x)
        return features

    def encode_absent(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor] | None:
        """What an absent modality contributes: ``None`` (zeros) or the learned ``(1, *out_shape)``
        embeddings for feature masking, else the encoding of a zero input."""
        if self.masking == "feature":
            if self.absent_embeddings is None:
                return None
            return {m: e[None] for m, e in self.absent_embeddings.items()}
        return {m: self.encoders[m](torch.zeros_like(inputs[m])) for m in self.modalities}

    def fuse(self, features: Mapping[str, Tensor], mask: Tensor, absent: Mapping[str, Tensor] | None = None) -> Tensor:
        """Replace absent modalities' features (zeros, or ``absent``) and concatenate on dim 1.

        ``(B, M)`` mask -> ``(B, sum_m C_m, *spatial)``. Gradients never reach the features of
        an absent modality.
        """
        batch = next(iter(features.values())).shape[0]
        self._check_mask(mask, batch)
        parts = []
        for j, m in enumerate(self.modalities):
            f = features[m]
            fill = absent[m] if absent is not None else torch.zeros_like(f)
            parts.append(torch.where(_expand(mask[:, j], f), f, fill))
        return torch.cat(parts, dim=1)

    def fused_features(self, inputs: Mapping[str, Tensor], mask: Tensor) -> Tensor:
        """Encode under ``mask`` (``(B, M)`` bool) and fuse: ``(B, *fused_shape)``."""
        if self.masking == "input":
            return self.fuse(self.encode(inputs, mask), torch.ones_like(mask))
        return self.fused_from(self.prepare(inputs), mask)

    def prepare(self, inputs: Mapping[str, Tensor]) -> Prepared:
        """Every encoder's output, absent fills and, with alone patches or encoders, every
        modality's encoding alone: the mask-independent work."""
        alone = self.encode(inputs, alone=True) if self.encodes_alone else None
        return self.encode(inputs), self.encode_absent(inputs), alone

    def fused_from(self, prepared: Prepared, mask: Tensor) -> Tensor:
        """Fused features under ``mask`` ``(B, M)`` from :meth:`prepare`'s result (a row holding
        one modality takes its alone features, when the network has alone patches or encoders)."""
        features, absent, alone = prepared
        if alone is not None:
            rows = self.alone_rows(mask)
            features = {
                m: torch.where(_expand(rows[:, j], f), alone[m], f) for j, (m, f) in enumerate(features.items())
            }
        return self.fuse(features, mask, absent)

    def modality_feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of each modality's own features (:meth:`modality_features`)."""
        return dict(self.out_shapes)

    def modality_features(self, prepared: Prepared) -> dict[str, Tensor]:
        """Each modality's own encoder output ``{m: (B, *out_shape_m)}`` (the alone features, with
        alone patches or encoders)."""
        return dict(prepared[2] if prepared[2] is not None else prepared[0])


def _expand(column: Tensor, like: Tensor) -> Tensor:
    return column.reshape(-1, *([1] * (like.ndim - 1)))


def _fused_shape(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    spatial = {s[1:] for s in shapes}
    if len(spatial) != 1:
        raise ValueError(
            f"encoder outputs cannot be concatenated: shapes {list(shapes)} differ beyond the channel axis"
        )
    return (sum(s[0] for s in shapes), *spatial.pop())


def _encoder_spec(model: ModelConfig, modality: str) -> dict[str, Any]:
    specs = model.encoders or {}
    return dict(specs.get(modality, specs.get("default", {"name": "auto"})))


def build_network(spec: NetworkSpec) -> SubsetNetwork:
    """Build the deployment network from a :class:`NetworkSpec`.

    ``spec.model`` (:class:`mmanet.config.ModelConfig`): ``architecture`` (``concat`` or
    ``auto``: the any-subset classifier; ``esanet``: the dense segmentation network),
    ``encoders`` mapping a modality (or ``default``) to ``{"name": ..., **options}``, ``decoder``
    likewise, ``embed_dim``, ``masking``, ``absent``.
    """
    model = spec.model
    if model.architecture == "esanet":
        return build_segmentation_network(spec)
    for key in ("fusion_stream", "stream_se", "skip_absent_primary", "combination_statistics", "decoder_statistics"):
        if getattr(model, key) is True:
            raise ValueError(f"model.{key}: only the esanet (segmentation) architecture has stage-wise fusion")
    encoders = {
        m: build_encoder(_encoder_spec(model, m), spec.input_shapes[m], model.embed_dim) for m in spec.modalities
    }
    fused = _fused_shape([encoders[m].out_shape for m in spec.modalities])
    decoder: Decoder | CombinationReadout | CombinationDecoders = build_decoder(model.decoder, fused, spec.num_classes)
    if model.combination_readout != "none" and len(spec.modalities) > 1:
        active = _chosen_slots(model.combination_readout, spec.modalities, "model.combination_readout")
        slots = code_count(len(spec.modalities))
        decoder = CombinationReadout(decoder, math.prod(fused), spec.num_classes, slots, active)
    decoder = _with_own_decoders(decoder, spec, lambda: build_decoder(model.decoder, fused, spec.num_classes))
    net = AnySubsetNet(
        modalities=spec.modalities, encoders=encoders, decoder=decoder, masking=model.masking, absent=model.absent
    )
    return _patched(net, model)


def _chosen_slots(choice: str | bool | list[str], modalities: Sequence[str], key: str) -> list[bool] | None:
    """Which combination codes a per-combination part serves (``2^M`` bools; ``None``: all) under
    ``"all"``, ``"small"`` (single modalities, pairs, the complete combination), ``"complete"`` or
    a list of combination names (:attr:`ModelConfig.combination_readout`, ``combination_decoders``)."""
    count = len(modalities)
    if choice == "all":
        return None
    if choice == "small":
        return [size <= 2 or size == count for size in code_sizes(count)]
    if choice == "complete":
        return [size == count for size in code_sizes(count)]
    if not isinstance(choice, list):  # ModelConfig has turned true/false into names
        raise ValueError(f"{key}: expected none, all, small or a list, got {choice!r}")
    codes = set()
    for name in choice:
        try:
            combination = parse_combination(name, modalities)
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from None
        codes.add(combination_code(combination, modalities))
    return [code in codes for code in range(code_count(count))]


def _with_own_decoders(shared: Any, spec: NetworkSpec, build: Callable[[], nn.Module]) -> Any:
    """``shared`` wrapped in :class:`CombinationDecoders` with a fresh ``build()`` per chosen
    combination (:attr:`ModelConfig.combination_decoders`); ``shared`` itself when none."""
    choice = spec.model.combination_decoders
    if choice == "none" or len(spec.modalities) < 2:
        return shared
    chosen = _chosen_slots(choice, spec.modalities, "model.combination_decoders")
    assert chosen is not None  # 'all' is not a choice of combination_decoders
    own = {code: build() for code, on in enumerate(chosen) if on and code > 0}  # code 0: no modality
    return CombinationDecoders(shared, own, code_count(len(spec.modalities)))


def attach_alone_patches(net: SubsetNetwork) -> int:
    """Give every encoder's normalisation layers two slots (with others / alone), in place; the
    network then encodes each batch twice (:attr:`ModelConfig.alone_patches`). Returns the layers patched."""
    if net.masking != "feature":
        raise ValueError("alone patches need feature masking")
    count = attach_slots(net.encoders, 2)  # type: ignore[arg-type]
    net.alone_patches = True
    return count


def attach_alone_encoders(net: SubsetNetwork) -> int:
    """Give every modality a copy of its encoder (same weights), used on the rows in which it is
    alone, in place (:attr:`ModelConfig.alone_encoders`). Returns the parameters added."""
    if net.masking != "feature":
        raise ValueError("alone encoders need feature masking")
    copies: nn.ModuleDict = copy.deepcopy(net.encoders)  # type: ignore[assignment]
    net.alone_encoders = copies
    return sum(int(p.numel()) for p in copies.parameters())


def _patched(net: SubsetNetwork, model: ModelConfig) -> SubsetNetwork:
    """``net`` with combination patches and adapters where the model asks
    (:attr:`ModelConfig.combination_patches`, :attr:`ModelConfig.combination_adapters`); with own
    decoders only the shared decoder is patched (each own decoder serves one combination)."""
    scope, count = model.combination_patches, len(net.modalities)
    if model.alone_patches and count >= 2:
        attach_alone_patches(net)
    if model.alone_encoders and count >= 2:
        attach_alone_encoders(net)
    shared = net.decoder.shared if isinstance(net.decoder, CombinationDecoders) else net.decoder
    if model.combination_adapters > 0 and count >= 2:
        attach_adapters(shared, count, model.combination_adapters)
        if isinstance(net, SegmentationNet):
            attach_adapters(net.context, count, model.combination_adapters)
    if model.combination_statistics is True and isinstance(net, SegmentationNet) and count >= 2:
        for stage in net.primary_stages[1:]:  # they carry the fused maps, or the primary modality alone
            attach_statistics(stage, count)
    if scope not in ("auto", "none") and count >= 2:  # auto: resolved per method before training
        attach_patches(shared, count)
        if isinstance(net, SegmentationNet):
            attach_patches(net.context, count)
            if scope == "trunk":  # the primary stream carries the fused maps after its first stage
                for stage in net.primary_stages[1:]:
                    attach_patches(stage, count)
    if model.decoder_statistics is True and isinstance(net, SegmentationNet) and count >= 2:
        attach_statistics(shared, count)  # inside the patches, where the decoder has them
        attach_statistics(net.context, count)
    return net


def build_regularization_decoder(spec: NetworkSpec, net: SubsetNetwork) -> nn.Module:
    """A second decoder on the same fused features: the regularization network ``R`` (MAR)."""
    if isinstance(net, SegmentationNet):
        return _seg_decoder(spec, net.skip_channels)
    assert isinstance(net, AnySubsetNet)
    return build_decoder(spec.model.decoder, net.fused_shape, spec.num_classes)


def _seg_decoder(spec: NetworkSpec, skip_channels: tuple[int, int, int]) -> SegDecoder:
    options = dict(spec.model.decoder)
    if options.pop("name", "esanet") != "esanet":
        raise ValueError(f"architecture esanet needs decoder name 'esanet', got {spec.model.decoder}")
    unknown = sorted(set(options) - {"channels", "blocks"})
    if unknown:
        raise ValueError(f"esanet decoder: unknown options {unknown}; valid: ['blocks', 'channels']")
    channels = tuple(options.get("channels", (512, 256, 128)))
    return SegDecoder(
        spec.model.context_channels, skip_channels, spec.num_classes, channels, int(options.get("blocks", 1))
    )


def build_segmentation_network(spec: NetworkSpec) -> SegmentationNet:
    """ESANet-style network: a stage encoder per modality (``encoders``: ``{"name": "resnet", "depth": 34}``)."""
    encoders = {}
    for m in spec.modalities:
        entry = _encoder_spec(spec.model, m)
        if entry.get("name", "auto") == "auto":
            entry = {"name": "resnet", "depth": 34}
        encoders[m] = build_stage_encoder(entry, spec.input_shapes[m][0])
    widths = encoders[spec.modalities[0]].channels
    skips = (widths[3], widths[2], widths[1])
    decoder = _with_own_decoders(_seg_decoder(spec, skips), spec, lambda: _seg_decoder(spec, skips))
    net = SegmentationNet(
        modalities=spec.modalities,
        encoders=encoders,
        decoder=decoder,
        context_channels=spec.model.context_channels,
        absent=spec.model.absent,
        fusion_stream=spec.model.fusion_stream and len(spec.modalities) >= 2,
        stream_se=spec.model.stream_se,
        skip_absent_primary=spec.model.skip_absent_primary,
    )
    _patched(net, spec.model)
    return net
