"""ESANet-style multimodal segmentation network (Seichter et al. 2021), any number of dense modalities.

Encoder: one five-stage ResNet per modality. After every stage the modalities are fused by
squeeze-excitation and addition, ``F_k = sum_m SE_{m,k}(mask_m * X_{m,k})`` - the mask applied
before every fusion - and the fused map continues in the first (primary) modality's stream,
while the other streams continue on their own features. A pyramid-pooling context module
follows the last stage.

With a *fusion stream* (``model.fusion_stream``) every modality's stream continues on its own
features, and the fused maps travel in a stream of their own whose stages are copies of the first
encoder's: ``F_k = sum_m SE_{m,k}(mask_m * X_{m,k}) + [two or more present] * fuse_k(F_{k-1})``,
so a modality alone reads only its own stream and the fusion has stages of its own.

With *stream squeeze-excitation* (``model.stream_se``) every stream that continues on its own
features feeds ``SE_{m,k}(X_{m,k})`` to its next stage instead of ``X_{m,k}``, as the primary
stream feeds the fused map and as the only stream of a single-modality network (a specialist)
feeds ``SE_k(X_k)``: an encoder and squeeze-excitations copied from a specialist then give, for
that modality alone, the specialist's fused maps.

With ``model.skip_absent_primary`` the primary stream's stages run in training only on the rows
that hold the primary modality: on the others their outputs are masked out before every fusion
anyway, but their activations would enter the stages' batch and running normalisation
statistics (a pass under the second modality alone runs the primary stages on maps of that
modality only). In evaluation every row runs and the outputs are the same as without the option.

Decoder: three decoder modules (conv, residual blocks, a side output for deep supervision,
learned x2 upsampling) with additive skips from the fused 1/16, 1/8 and 1/4 maps, then a
classifier and learned x4 upsampling to the input size. The regularization network of MAR is
a second decoder on the same encoder, fusion, context module and skips.

Distilled features (dense MAD): the context output (1/32) and the fused skips at 1/16 and 1/8.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmanet.modality import check_modalities
from mmanet.nn.base import SubsetNetwork
from mmanet.nn.decoders import NetOutput
from mmanet.nn.layers import BasicBlock, InputNorm, SqueezeExcitation
from mmanet.nn.patches import coded, conditioned
from mmanet.nn.resnet import StageEncoder

__all__ = ["LearnedUpsample", "PyramidPooling", "SegDecoder", "SegFeatures", "SegmentationNet"]


class SegFeatures(NamedTuple):
    """Shared encoder outputs: ``context`` (B, C, H/32, W/32) and fused ``skips`` at 1/16, 1/8, 1/4."""

    context: Tensor
    skips: tuple[Tensor, Tensor, Tensor]

    def select(self, index: Tensor) -> SegFeatures:
        """The samples at ``index`` (a boolean mask or indices over the batch)."""
        return SegFeatures(self.context[index], tuple(s[index] for s in self.skips))  # type: ignore[arg-type]


class LearnedUpsample(nn.Module):
    """x``factor`` nearest upsampling followed by a depthwise 3x3 conv (initialised to a blur)."""

    def __init__(self, channels: int, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(
                torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).div(16).expand_as(self.conv.weight)
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=float(self.factor), mode="nearest"))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class PyramidPooling(nn.Module):
    """PSPNet context module: pooled bins (1, 2, 3, 6) projected, upsampled, concatenated, fused."""

    def __init__(self, in_channels: int, out_channels: int, bins: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        branch = max(1, in_channels // len(bins))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), _conv_bn_relu(in_channels, branch, 1)) for b in bins
        )
        self.fuse = _conv_bn_relu(in_channels + branch * len(bins), out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(b(x), size=size, mode="bilinear", align_corners=False) for b in self.branches]
        return self.fuse(torch.cat([x, *pooled], dim=1))


class _DecoderModule(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_classes: int, blocks: int) -> None:
        super().__init__()
        self.conv = _conv_bn_relu(in_channels, out_channels, 3)
        self.blocks = nn.Sequential(*[BasicBlock(out_channels, out_channels) for _ in range(blocks)])
        self.side = nn.Conv2d(out_channels, num_classes, 1)
        self.up = LearnedUpsample(out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.blocks(self.conv(x))
        return self.up(x), self.side(x)


class SegDecoder(nn.Module):
    """Three decoder modules with additive skips, a classifier, learned x4 upsampling -> :class:`NetOutput`.

    ``NetOutput.logits`` is ``(B, K, H, W)`` at the input size; ``features`` the distilled maps
    (context, fused 1/16 skip, fused 1/8 skip); ``side`` the three deep-supervision logits.
    """

    def __init__(
        self,
        context_channels: int,
        skip_channels: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (512, 256, 128),
        blocks: int = 1,
    ) -> None:
        super().__init__()
        ins = [context_channels, *channels[:-1]]
        self.modules_ = nn.ModuleList(
            _DecoderModule(i, o, num_classes, blocks) for i, o in zip(ins, channels, strict=True)
        )
        self.skips = nn.ModuleList(_conv_bn_relu(s, o, 1) for s, o in zip(skip_channels, channels, strict=True))
        self.classifier = nn.Conv2d(channels[-1], num_classes, 3, padding=1)
        self.up = nn.Sequential(LearnedUpsample(num_classes), LearnedUpsample(num_classes))

    def forward(self, features: SegFeatures) -> NetOutput:
        x = features.context
        sides = []
        for module, project, skip in zip(self.modules_, self.skips, features.skips, strict=True):
            x, side = module(x)
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = x + project(skip)
            sides.append(side)
        logits = self.up(self.classifier(x))
        return NetOutput(logits, (features.context, features.skips[0], features.skips[1]), tuple(sides))


def _split_rows(
    shared: Callable[[Tensor], Tensor], own: Callable[[Tensor], Tensor], x: Tensor, rows: Tensor, training: bool
) -> Tensor:
    """``own(x)`` on the rows flagged ``rows`` ``(B,)``, ``shared(x)`` on the others.

    In training each module runs on its rows only, so its batch statistics are its own rows'
    (a module without rows is not called); in evaluation both run on every row and each row
    takes its own output: the same values, and without data-dependent branches (traceable).
    """
    if not training:
        keep = rows[:, None, None, None]
        return torch.where(keep, own(x), shared(x))
    if bool(rows.all()):
        return own(x)  # type: ignore[no-any-return]
    if not bool(rows.any()):
        return shared(x)  # type: ignore[no-any-return]
    first, second = own(x[rows]), shared(x[~rows])
    out = first.new_empty((x.shape[0], *first.shape[1:]))
    out[rows] = first
    out[~rows] = second
    return out


def _zeros_like_rows(like: Tensor) -> Callable[[Tensor], Tensor]:
    """A function of ``(n, ...)`` rows giving ``n`` rows of zeros shaped as ``like``'s rows."""
    return lambda rows: like.new_zeros((rows.shape[0], *like.shape[1:]))


class SegmentationNet(SubsetNetwork):
    """Deployment network for dense prediction (the :class:`~mmanet.nn.base.SubsetNetwork` contract)."""

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        encoders: Mapping[str, StageEncoder],
        decoder: nn.Module,
        context_channels: int,
        reduction: int = 16,
        absent: str = "zero",
        fusion_stream: bool = False,
        stream_se: bool = False,
        skip_absent_primary: bool = False,
    ) -> None:
        super().__init__()
        self.modalities = check_modalities(modalities)
        channels = {tuple(encoders[m].channels) for m in self.modalities}
        if len(channels) != 1:
            raise ValueError(f"every modality's encoder needs the same stage widths for fusion, got {sorted(channels)}")
        widths = list(channels.pop())
        self.widths = widths
        self.masking = "feature"
        self.input_shapes = {m: (encoders[m].in_channels, 0, 0) for m in self.modalities}
        self.norms = nn.ModuleDict({m: InputNorm((encoders[m].in_channels, 1, 1)) for m in self.modalities})
        self.encoders = nn.ModuleDict({m: encoders[m] for m in self.modalities})
        self.se = nn.ModuleList(
            nn.ModuleDict({m: SqueezeExcitation(w, reduction) for m in self.modalities}) for w in widths
        )
        self.context = PyramidPooling(widths[-1], context_channels)
        self.decoder = decoder
        self.skip_channels = (widths[3], widths[2], widths[1])
        self.stream_se = stream_se
        self.skip_absent_primary = skip_absent_primary and len(self.modalities) >= 2
        # fused maps in a stream of their own (copies of the first encoder's stages 2-5, made after
        # the network is built, so no random draw changes): every modality's stream stays its own
        self.fuse_stages: nn.ModuleList | None = None
        if fusion_stream:
            self.fuse_stages = copy.deepcopy(cast(StageEncoder, self.encoders[self.modalities[0]]).stages[1:])
        if absent not in ("zero", "learned"):
            raise ValueError(f"absent must be 'zero' or 'learned', got {absent!r}")
        self.absent_embeddings: nn.ModuleList | None = None
        if absent == "learned":  # one (C,) vector per stage and modality, broadcast over space; starts at zero
            self.absent_embeddings = nn.ModuleList(
                nn.ParameterDict({m: nn.Parameter(torch.zeros(w, 1, 1)) for m in self.modalities}) for w in widths
            )

    def _check(self, inputs: Mapping[str, Tensor], mask: Tensor | None) -> None:
        for m in self.modalities:
            x = inputs.get(m)
            if x is None or x.ndim != 4 or x.shape[1] != self.encoders[m].in_channels:  # type: ignore[union-attr]
                got = None if x is None else tuple(x.shape)
                channels = self.encoders[m].in_channels  # type: ignore[union-attr]
                raise ValueError(f"modality {m!r}: expected (B, {channels}, H, W), got {got}")
            if x.shape[-1] % 32 or x.shape[-2] % 32:
                raise ValueError(f"modality {m!r}: height and width must be multiples of 32, got {tuple(x.shape[-2:])}")
        if mask is not None and (
            mask.dtype != torch.bool or mask.shape != (next(iter(inputs.values())).shape[0], len(self.modalities))
        ):
            raise ValueError(
                f"presence mask: expected bool (B, {len(self.modalities)}), got {mask.dtype} {tuple(mask.shape)}"
            )

    @property
    def primary_stages(self) -> nn.ModuleList:
        """The first modality's encoder stages: after stage 1 they carry the fused maps."""
        return cast(StageEncoder, self.encoders[self.modalities[0]]).stages  # type: ignore[return-value]

    def prepare(self, inputs: Mapping[str, Tensor]) -> dict[str, list[Tensor]]:
        """Stage outputs of every non-primary stream (they do not depend on the mask) plus the
        primary stem input (with a fusion stream: every stream's stage outputs, the primary's
        included); with alone patches or encoders also each such stream's stage outputs for its
        modality alone (under ``"<modality>:alone"``)."""
        self._check(inputs, None)
        prepared = {}
        own_streams = self.modalities if self.fuse_stages is not None else self.modalities[1:]
        for m in own_streams:
            x = self.norms[m](inputs[m])
            for alone in (False, True) if self.encodes_alone else (False,):
                encoder = self.encoder_of(m, alone)
                with self.encoder_slot(encoder, x.shape[0], alone, x.device):
                    prepared[f"{m}:alone" if alone else m] = self._own_stream(m, encoder, x)
        if self.fuse_stages is None:
            prepared[self.modalities[0]] = [self.norms[self.modalities[0]](inputs[self.modalities[0]])]
        return prepared

    def _own_stream(self, m: str, encoder: nn.Module, x: Tensor) -> list[Tensor]:
        """The five stage outputs of modality ``m``'s own stream on ``x`` ``(B, C, H, W)``: the
        encoder's, or with stream squeeze-excitation each stage fed ``SE_{m,k-1}`` of the last."""
        if not self.stream_se:
            return encoder(x)  # type: ignore[no-any-return]
        out: list[Tensor] = []
        for k, stage in enumerate(cast(StageEncoder, encoder).stages):
            x = stage(x if k == 0 else cast(nn.ModuleDict, self.se[k - 1])[m](x))
            out.append(x)
        return out

    def _masked(self, k: int, j: int, part: Tensor, mask: Tensor) -> Tensor:
        keep = mask[:, j, None, None, None]
        if self.absent_embeddings is None:
            return part * keep.to(part.dtype)
        fill = cast(nn.ParameterDict, self.absent_embeddings[k])[self.modalities[j]]
        return torch.where(keep, part, fill.to(part.dtype).expand_as(part))

    def _fuse_stage(self, k: int, parts: list[Tensor], mask: Tensor) -> Tensor:
        se = cast(nn.ModuleDict, self.se[k])
        weighted = [
            se[m](self._masked(k, j, p, mask)) for j, (m, p) in enumerate(zip(self.modalities, parts, strict=True))
        ]
        return torch.stack(weighted).sum(0)

    def _stream(self, prepared: dict[str, list[Tensor]], j: int, k: int, alone: Tensor | None) -> Tensor:
        """Stage ``k`` of stream ``j`` (a non-primary one, or any with a fusion stream): its alone
        output on the rows flagged ``alone[:, j]``."""
        m = self.modalities[j]
        if alone is None:
            return prepared[m][k]
        keep = alone[:, j, None, None, None]
        return torch.where(keep, prepared[f"{m}:alone"][k], prepared[m][k])

    def _primary_stage(
        self, k: int, x: Tensor, mask: Tensor, alone: Tensor | None, like: Tensor | None = None
    ) -> Tensor:
        """Stage ``k`` of the primary stream on ``x``: with alone encoders the rows flagged
        ``alone[:, 0]`` run the primary modality's own copy of the stage; given ``like`` (a map of
        the stage's output shape: ``skip_absent_primary``), the rows without the primary modality
        get zeros in training instead of running it."""
        stage = self.primary_stages[k]
        if alone is None and like is not None:  # skip_absent_primary: rows without the primary get zeros
            return _split_rows(_zeros_like_rows(like), stage, x, mask[:, 0], self.training)
        if alone is None:
            with conditioned(stage, mask):
                return stage(x)  # type: ignore[no-any-return]
        if self.alone_encoders is None:
            with coded(stage, alone[:, 0].long()):  # the first modality alone, or with others
                return stage(x)  # type: ignore[no-any-return]
        own = cast(StageEncoder, self.alone_encoders[self.modalities[0]]).stages[k]
        return _split_rows(stage, own, x, alone[:, 0], self.training)

    def _stream_fused_maps(self, prepared: dict[str, list[Tensor]], mask: Tensor) -> list[Tensor]:
        """Fused maps with a fusion stream: ``F_k = sum_m SE_{m,k}(mask_m X_{m,k}) + [>= 2 present]
        fuse_k(F_{k-1})`` (no fuse term at the first stage), each ``X_m`` its modality's own stream."""
        assert self.fuse_stages is not None
        alone = self.alone_rows(mask) if self.encodes_alone else None
        several = mask.sum(dim=1) >= 2
        fused_maps: list[Tensor] = []
        for k in range(len(self.widths)):
            parts = [self._stream(prepared, j, k, alone) for j in range(len(self.modalities))]
            x = self._fuse_stage(k, parts, mask)
            if fused_maps:
                none = _zeros_like_rows(x)  # rows of one modality: no fusion term (the stage not run on them)
                x = x + _split_rows(none, self.fuse_stages[k - 1], fused_maps[-1], several, self.training)
            fused_maps.append(x)
        return fused_maps

    def _fused_maps(self, prepared: dict[str, list[Tensor]], mask: Tensor) -> list[Tensor]:
        if self.fuse_stages is not None:
            return self._stream_fused_maps(prepared, mask)
        primary = self.modalities[0]
        x = prepared[primary][0]
        alone = self.alone_rows(mask) if self.encodes_alone else None
        fused_maps = []
        for k in range(len(self.primary_stages)):
            like = prepared[self.modalities[1]][k] if self.skip_absent_primary else None
            x = self._primary_stage(k, x, mask, alone, like)
            parts = [x if j == 0 else self._stream(prepared, j, k, alone) for j in range(len(self.modalities))]
            x = self._fuse_stage(k, parts, mask)
            fused_maps.append(x)
        return fused_maps

    def _fused(self, prepared: dict[str, list[Tensor]], mask: Tensor) -> SegFeatures:
        fused_maps = self._fused_maps(prepared, mask)
        with conditioned(self.context, mask):
            context = self.context(fused_maps[4])
        return SegFeatures(context, (fused_maps[3], fused_maps[2], fused_maps[1]))

    def fused_from(self, prepared: dict[str, list[Tensor]], mask: Tensor) -> SegFeatures:
        """Fused features under ``mask`` ``(B, M)`` from :meth:`prepare`'s result."""
        return self._fused(prepared, mask)

    def modality_feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """Channels of each modality's own last-stage map (:meth:`modality_features`)."""
        return {m: (self.widths[4],) for m in self.modalities}

    def modality_features(self, prepared: dict[str, list[Tensor]]) -> dict[str, Tensor]:
        """Each modality's own last-stage map ``{m: (B, C, H/32, W/32)}``: the other streams' stage 5,
        and for the primary stream its stage 5 under the primary-only mask (one extra primary pass)."""
        suffix = ":alone" if self.encodes_alone else ""
        if self.fuse_stages is not None:  # every stream is its modality's own
            return {m: prepared[m + suffix][4] for m in self.modalities}
        batch = prepared[self.modalities[0]][0].shape[0]
        only_primary = torch.zeros(
            batch, len(self.modalities), dtype=torch.bool, device=prepared[self.modalities[0]][0].device
        )
        only_primary[:, 0] = True
        out = {self.modalities[0]: self._fused_maps(prepared, only_primary)[4]}
        return out | {m: prepared[m + suffix][4] for m in self.modalities[1:]}

    def fused_features(self, inputs: Mapping[str, Tensor], mask: Tensor) -> SegFeatures:
        """Encode and fuse under ``mask`` ``(B, M)``: the shared features every decoder reads."""
        self._check(inputs, mask)
        return self._fused(self.prepare(inputs), mask)
