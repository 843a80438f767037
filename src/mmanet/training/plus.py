"""Training-only components of ``mmanet-plus`` (issue 10): what a single modality needs to be as good
alone in the unified network as in its own specialist network.

- **Unimodal heads**: one linear head per modality on that modality's own encoder features,
  trained with cross-entropy (dropped at export). Under modality dropout a strong modality lets
  the others stay lazy; a head of its own makes every encoder discriminative by itself.
- **Single-modality passes**: every step, the deployment network also decodes each sample under
  each single modality (encoder outputs reused). The passes share ONE decoder call with the
  sampled batch, so BatchNorm normalises every row with the same mixture statistics in training
  and keeps running statistics of that mixture for evaluation.
- **Specialist distillation**: Hinton KD from a frozen per-modality specialist (a model trained
  on that modality alone) into the single-modality passes.
- **Specialists' product** (``plus.specialists_product``): Hinton KD into the sampled pass's rows
  holding two or more modalities from the product of the present modalities' specialists.
- **Pair and complete passes**: the deployment network also decodes each sample under every
  pair of modalities (M >= 3) and under everything it holds, in the same decoder call.
- **Gradient modulation** (OGM-GE, Peng et al., CVPR 2022; ``plus.ogm``): within each row's
  combination a modality whose unimodal head out-scores the others' mean sends its encoder less
  gradient, so the others are not left lazy; optional Gaussian noise on the encoders' gradients (GE).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmanet.config import ConfigError, PlusConfig
from mmanet.losses import kd_distances
from mmanet.metrics import upsample_logits
from mmanet.modality import combination_name
from mmanet.nn import AnySubsetNet, CombinationDecoders, NetOutput, SegFeatures, SubsetNetwork

__all__ = [
    "FrozenSpecialists",
    "PlusComponents",
    "add_gradient_noise",
    "check_ogm",
    "check_own_decoders",
    "concat_fused",
    "encoders_from",
    "ogm_coefficients",
    "scale_gradient",
    "split_output",
]


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the backward multiplies each row's gradient by its factor."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, factor: Tensor) -> Tensor:
        ctx.save_for_backward(factor)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor, None]:
        (factor,) = ctx.saved_tensors
        grad = grads[0]
        return grad * factor.to(grad.dtype).reshape(-1, *([1] * (grad.ndim - 1))), None


def scale_gradient(x: Tensor, factor: Tensor) -> Tensor:
    """``x`` ``(B, ...)`` unchanged; the gradient flowing back through it is scaled by ``factor`` ``(B,)`` per row."""
    return cast(Tensor, _ScaleGradient.apply(x, factor))


def ogm_coefficients(scores: Tensor, mask: Tensor, alpha: float) -> Tensor:
    """OGM's gradient coefficients ``(B, M)`` for rows of combinations ``mask`` ``(B, M)`` bool.

    ``scores`` ``(M,)``: each modality's score (its unimodal head's mean probability of the true
    class). In a row of combination ``c`` the ratio of a present modality ``m`` is ``scores[m]``
    over the mean score of the other modalities of ``c``; where it is above 1 the coefficient is
    ``1 - tanh(alpha * ratio)`` (Peng et al., CVPR 2022, Eq. 10), else 1; a row holding one
    modality, and an absent modality, get 1.
    """
    present = mask.to(scores.dtype)
    others = present.sum(1, keepdim=True) - present  # (B, M): how many other modalities the row holds
    other_sum = (present * scores).sum(1, keepdim=True) - present * scores
    ratio = torch.where(
        others > 0, scores / (other_sum / others.clamp(min=1)).clamp(min=1e-12), torch.zeros_like(present)
    )
    dominant = mask & (others > 0) & (ratio > 1)
    return torch.where(dominant, 1 - torch.tanh(alpha * ratio), torch.ones_like(ratio))


@torch.no_grad()
def add_gradient_noise(parameters: Sequence[nn.Parameter], seed: int) -> None:
    """GE of OGM-GE: add Gaussian noise with the standard deviation of each parameter's gradient to it
    (parameters of two or more dimensions with a gradient). The noise is drawn from ``seed`` alone, so
    every data-parallel process, holding the same averaged gradients, adds the same noise."""
    generators: dict[torch.device, torch.Generator] = {}
    for p in parameters:
        if p.grad is None or p.ndim < 2 or p.grad.numel() < 2:
            continue
        device = p.grad.device
        if device not in generators:
            generators[device] = torch.Generator(device=device).manual_seed(seed)
        noise = torch.randn(p.grad.shape, generator=generators[device], device=device, dtype=p.grad.dtype)
        p.grad.add_(noise * (p.grad.std() + 1e-8))


def concat_fused(parts: Sequence[Any]) -> Any:
    """Concatenate fused features along the batch: tensors, or :class:`SegFeatures`."""
    if isinstance(parts[0], SegFeatures):
        skips = tuple(torch.cat([p.skips[i] for p in parts]) for i in range(len(parts[0].skips)))
        return SegFeatures(torch.cat([p.context for p in parts]), skips)  # type: ignore[arg-type]
    return torch.cat(list(parts))


def _rows(value: Any, start: int, stop: int) -> Any:
    if isinstance(value, tuple | list):
        return type(value)(v[start:stop] for v in value)
    return value[start:stop]


def split_output(out: NetOutput, sizes: Sequence[int]) -> list[NetOutput]:
    """Split a decoder output over ``sum(sizes)`` rows into consecutive outputs of ``sizes`` rows."""
    bounds = [0, *itertools.accumulate(sizes)]
    return [NetOutput(*(_rows(v, a, b) for v in out)) for a, b in itertools.pairwise(bounds)]


def pair_columns(count: int, cfg: PlusConfig) -> list[tuple[int, int]]:
    """Column pairs ``(i, j)``, ``i < j``, of the pair passes over ``count`` modalities (none when off or M < 3)."""
    if cfg.pair_passes <= 0 or count < 3:
        return []
    return [(i, j) for i in range(count) for j in range(i + 1, count)]


def pass_codes(count: int, cfg: PlusConfig) -> list[int]:
    """The combination code each extra pass is named for, in :meth:`PlusComponents.extra_masks`'
    order: the single modalities (``single_passes`` or ``specialists``), the pairs
    (``pair_passes``, M >= 3), the complete combination (``complete_pass``)."""
    singles = [1 << j for j in range(count)] if cfg.passes else []
    pairs = [(1 << i) | (1 << j) for i, j in pair_columns(count, cfg)]
    return [*singles, *pairs, *([(1 << count) - 1] if cfg.complete_pass > 0 else [])]


def check_own_decoders(net: SubsetNetwork, cfg: PlusConfig) -> None:
    """Raise unless every combination with an own decoder is decoded on every step by a pass
    (:func:`pass_codes`), so no own decoder meets a one-row batch."""
    if not isinstance(net.decoder, CombinationDecoders):
        return
    covered = set(pass_codes(len(net.modalities), cfg))
    missing = [code for code in net.decoder.codes_with_own if code not in covered]
    if missing:
        names = [combination_name(m for j, m in enumerate(net.modalities) if code >> j & 1) for code in missing]
        raise ConfigError(
            f"model.combination_decoders: {names} have own decoders but no mmanet-plus pass decodes them every "
            "step (plus.single_passes, plus.pair_passes, plus.complete_pass); turn those passes on or name fewer"
        )


def encoders_from(net: SubsetNetwork, specialists: FrozenSpecialists, where: object = "the specialists") -> None:
    """Copy every modality's encoder weights (and normalisation statistics) from its specialist,
    into both copies when the network has alone encoders, and the first modality's later stages
    into the fusion stream when it has one.

    Raises:
        ConfigError: a specialist's encoder does not fit the network's (another encoder config).
    """
    for m in net.modalities:
        source: nn.Module = specialists.nets[m].encoders[m]  # type: ignore[index, assignment]
        copies = (False, True) if net.alone_encoders is not None else (False,)
        loads = [(net.encoder_of(m, alone), source) for alone in copies]
        fuse = getattr(net, "fuse_stages", None)
        if fuse is not None and m == net.modalities[0]:  # the fusion stream starts as the first encoder's stages
            loads.append((fuse, source.stages[1:]))  # type: ignore[union-attr, index, arg-type]
        try:
            for target, weights in loads:
                target.load_state_dict(weights.state_dict())
        except RuntimeError as err:
            first = " ".join(str(err).split())[:240]
            raise ConfigError(
                f"plus.encoders_from_specialists: the {m!r} specialist's encoder in {where} does not fit the "
                f"network's ({first}); train the specialists with the same model.encoders"
            ) from err


def check_ogm(net: nn.Module, cfg: PlusConfig) -> None:
    """Refuse ``plus.ogm`` on a network whose encoders do not meet only at the fusion.

    Raises:
        ConfigError: ``plus.ogm`` > 0 and ``net`` is not the vector/image network.
    """
    if cfg.ogm > 0 and not isinstance(net, AnySubsetNet):
        raise ConfigError(
            "plus.ogm: gradient modulation needs a network whose encoders meet only at the fusion (the vector and "
            f"image networks, model.architecture concat); this network is a {type(net).__name__}"
        )


def fusion_se(net: nn.Module) -> nn.ModuleList:
    """The squeeze-excitations of the segmentation network's fusion (one ``{modality: SE}`` per stage).

    Raises:
        ConfigError: ``plus.se_from_specialists`` on a network that does not fuse by squeeze-excitation.
    """
    stages = getattr(net, "se", None)
    if not isinstance(stages, nn.ModuleList):
        raise ConfigError(
            "plus.se_from_specialists: only the segmentation network (model.architecture esanet) fuses by "
            f"squeeze-excitation; this network is a {type(net).__name__}"
        )
    return stages


def se_from(net: SubsetNetwork, specialists: FrozenSpecialists, where: object = "the specialists") -> None:
    """Copy every modality's squeeze-excitation at every fusion stage from its specialist's
    (``plus.se_from_specialists``; the segmentation network).

    Raises:
        ConfigError: the network does not fuse by squeeze-excitation (not the segmentation
            network), or a specialist's squeeze-excitation does not fit the network's.
    """
    stages = fusion_se(net)
    for m in net.modalities:
        source = getattr(specialists.nets[m], "se", None)
        try:
            if not isinstance(source, nn.ModuleList) or len(source) != len(stages):
                raise RuntimeError(f"{len(stages)} fusion stages expected")
            for k, stage in enumerate(stages):
                cast(nn.ModuleDict, stage)[m].load_state_dict(cast(nn.ModuleDict, source[k])[m].state_dict())
        except (RuntimeError, KeyError) as err:
            first = " ".join(str(err).split())[:240]
            raise ConfigError(
                f"plus.se_from_specialists: the {m!r} specialist's squeeze-excitations in {where} do not fit the "
                f"network's ({first}); train the specialists with the same model.encoders"
            ) from err


class FrozenSpecialists(nn.Module):
    """Per-modality specialist networks (each serves its single modality); always eval, no gradients."""

    def __init__(self, nets: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(dict(nets))
        for parameter in self.nets.parameters():
            parameter.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrozenSpecialists:
        """Ignore ``mode``: specialists stay in eval mode."""
        return super().train(False)

    @torch.no_grad()
    def logits(self, modality: str, inputs: Mapping[str, Tensor]) -> Tensor:
        """The ``modality`` specialist's logits on its own input ``(B, *shape)``."""
        x = inputs[modality]
        present = torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)
        return self.nets[modality]({modality: x}, present).logits  # type: ignore[operator]


def _head(shape: tuple[int, ...], num_classes: int, dense: bool) -> nn.Module:
    if dense:
        return nn.Conv2d(shape[0], num_classes, 1)
    if len(shape) == 1:
        return nn.Linear(shape[0], num_classes)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(shape[0], num_classes))


def _weighted_ce(logits: Tensor, target: Tensor, weight: Tensor, ignore_index: int, smoothing: float = 0.0) -> Tensor:
    """Cross-entropy averaged over samples with ``weight`` ``(B,)`` (0 leaves a sample out); dense
    logits are upsampled to the label size and averaged over labelled pixels. Never NaN."""
    if logits.ndim == 4:
        logits = upsample_logits(logits, tuple(target.shape[-2:]))
        per = F.cross_entropy(logits.float(), target, reduction="none", ignore_index=ignore_index)
        valid = (target != ignore_index).float() * weight[:, None, None].float()
        return (per * valid).sum() / valid.sum().clamp_min(1.0)
    per = F.cross_entropy(logits.float(), target, reduction="none", label_smoothing=smoothing)
    return (per * weight.float()).sum() / weight.float().sum().clamp_min(1.0)


def _weighted_kd(
    student: Tensor, teacher: Tensor, weight: Tensor, temperature: float, keep: Tensor | None = None
) -> Tensor:
    """Hinton KD averaged over samples (dense: over pixels) with ``weight`` ``(B,)``; ``keep``
    (``(B,)``, dense ``(B, H, W)`` at the logits' size, bool) leaves out the samples (pixels) it
    marks ``False``: then the mean runs over the kept ones of the weighted samples."""
    if student.ndim == 4:
        k = student.shape[1]
        per = kd_distances(
            student.permute(0, 2, 3, 1).reshape(-1, k), teacher.permute(0, 2, 3, 1).reshape(-1, k), temperature
        ).reshape(student.shape[0], -1)
        if keep is None:
            per = per.mean(1)
        else:
            mass = keep.reshape(per.shape).float() * weight.float()[:, None]
            return (per * mass).sum() / mass.sum().clamp_min(1.0)
    else:
        per = kd_distances(student, teacher, temperature)
        weight = weight if keep is None else weight * keep
    return (per * weight.float()).sum() / weight.float().sum().clamp_min(1.0)


def teacher_right(teacher: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Where ``teacher``'s logits ``(B, K)`` (dense ``(B, K, h, w)``) pick the label: ``(B,)`` or
    ``(B, h, w)`` bool; dense labels are taken at the logits' size (nearest), void pixels are never right."""
    if teacher.ndim == 4:
        if tuple(target.shape[-2:]) != tuple(teacher.shape[-2:]):
            target = F.interpolate(target[:, None].float(), size=teacher.shape[-2:], mode="nearest")[:, 0].long()
        return (teacher.argmax(1) == target) & (target != ignore_index)
    return teacher.argmax(1) == target


class PlusComponents(nn.Module):
    """Unimodal heads, single-modality and complete passes, and specialist KD for one deployment network.

    Args:
        modalities: the network's modality order.
        feature_shapes: ``{m: per-sample shape of m's own features}`` (what the heads read).
        num_classes: ``K``.
        cfg: weights and switches (:class:`mmanet.config.PlusConfig`).
        dense: segmentation (heads are 1x1 convolutions; losses per pixel).
        ignore_index: void label (dense).
        temperature: KD temperature for the specialists.
        specialists: the frozen per-modality specialists (needed when ``cfg.specialists > 0``).
    """

    def __init__(
        self,
        modalities: Sequence[str],
        feature_shapes: Mapping[str, tuple[int, ...]],
        num_classes: int,
        cfg: PlusConfig,
        *,
        dense: bool = False,
        ignore_index: int = -100,
        temperature: float = 4.0,
        specialists: FrozenSpecialists | None = None,
    ) -> None:
        super().__init__()
        if (cfg.specialists > 0 or cfg.specialists_product > 0) and specialists is None:
            raise ValueError("plus.specialists > 0 or plus.specialists_product > 0 needs the per-modality specialists")
        self.modalities = tuple(modalities)
        self.cfg = cfg
        self.dense = dense
        self.ignore_index = ignore_index
        self.temperature = temperature
        self.heads = (
            nn.ModuleDict({m: _head(tuple(feature_shapes[m]), num_classes, dense) for m in self.modalities})
            if cfg.unimodal_heads > 0
            else None
        )
        self._specialists = (
            [specialists] if specialists is not None else []
        )  # outside the module tree: never trained or saved

    @property
    def passes(self) -> bool:
        """Whether single-modality passes run (:attr:`PlusConfig.passes`)."""
        return self.cfg.passes

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Column pairs ``(i, j)``, ``i < j``, of the pair passes (none when off or M < 3)."""
        return pair_columns(len(self.modalities), self.cfg)

    def pair_positions(self) -> range:
        """Where the pair passes sit in :meth:`extra_masks`' list."""
        start = len(self.modalities) if self.passes else 0
        return range(start, start + len(self.pairs))

    def pair_index(self, batch: int, device: torch.device) -> Tensor | None:
        """The rows the pair passes decode this step (``plus.pair_rows`` < 1): a sorted random subset of
        ``ceil(pair_rows * batch)`` rows, at least two (when the batch has them), the same for every
        pair; ``None``: every row (or no pair passes)."""
        if not self.pairs or self.cfg.pair_rows >= 1:
            return None
        keep = min(batch, max(2, math.ceil(self.cfg.pair_rows * batch)))
        return torch.randperm(batch, device=device)[:keep].sort().values

    def extra_masks(self, present: Tensor) -> list[Tensor]:
        """Masks ``(B, M)`` of the extra passes: each single modality (when :attr:`passes`), each
        pair (:attr:`pairs`), then everything the sample holds (when ``complete_pass`` > 0)."""
        singles = self.single_masks(present) if self.passes else []
        eye = torch.eye(len(self.modalities), dtype=torch.bool, device=present.device)
        pairs = [(eye[i] | eye[j])[None, :] & present for i, j in self.pairs]
        return [*singles, *pairs, *([present] if self.cfg.complete_pass > 0 else [])]

    def nominal_codes(self) -> list[int]:
        """The combination code each of :meth:`extra_masks`' passes is named for (in their order)."""
        return pass_codes(len(self.modalities), self.cfg)

    def shared_masks(self, extra: Sequence[Tensor], own_codes: Sequence[int]) -> list[Tensor]:
        """The passes of ``extra`` (:meth:`extra_masks`) whose combination has its own decoder, to be
        decoded a second time by the shared decoder (none when ``shared_passes`` is 0)."""
        if self.cfg.shared_passes <= 0:
            return []
        return [m for m, code in zip(extra, self.nominal_codes(), strict=True) if code in own_codes]

    def shared_term(self, outputs: Sequence[NetOutput], masks: Sequence[Tensor], target: Tensor) -> dict[str, Tensor]:
        """``shared`` (CE of :meth:`shared_masks`' passes through the shared decoder), already weighted."""
        if not outputs:
            return {}
        ce = [
            _weighted_ce(o.logits, target, m.any(dim=1), self.ignore_index) for o, m in zip(outputs, masks, strict=True)
        ]
        return {"shared": self.cfg.shared_passes * torch.stack(ce).mean()}

    def single_masks(self, present: Tensor) -> list[Tensor]:
        """``M`` masks ``(B, M)``: modality ``j`` alone (False rows where the data lacks it)."""
        eye = torch.eye(len(self.modalities), dtype=torch.bool, device=present.device)
        return [eye[j][None, :] & present for j in range(len(self.modalities))]

    def head_loss(self, features: Mapping[str, Tensor], target: Tensor, present: Tensor) -> Tensor:
        """Mean over modalities of each unimodal head's cross-entropy (samples holding that modality)."""
        assert self.heads is not None
        losses = [
            _weighted_ce(self.heads[m](features[m]), target, present[:, j], self.ignore_index)
            for j, m in enumerate(self.modalities)
        ]
        return torch.stack(losses).mean()

    def pass_terms(
        self,
        outputs: Sequence[NetOutput],
        inputs: Mapping[str, Tensor],
        target: Tensor,
        present: Tensor,
        pair_index: Tensor | None = None,
        specialist_weight: float | None = None,
        teachers: Mapping[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """``single`` (CE), ``specialist`` (KD), ``pair`` (CE) and ``complete`` (CE) terms, already
        weighted, from the outputs of :meth:`extra_masks`' passes (the pair passes' outputs on the
        rows ``pair_index`` only, when given: :meth:`pair_index`); ``specialist_weight``: this
        step's KD weight (default ``plus.specialists``; :meth:`PlusConfig.specialist_weight`);
        ``teachers``: the specialists' logits when already computed (:meth:`specialist_logits`)."""
        terms: dict[str, Tensor] = {}
        if self.cfg.complete_pass > 0:
            held = present.any(dim=1).to(torch.float32)
            terms["complete"] = self.cfg.complete_pass * _weighted_ce(
                outputs[-1].logits, target, held, self.ignore_index
            )
            outputs = outputs[:-1]
        if self.pairs:
            cut = len(outputs) - len(self.pairs)
            held, labels = (present, target) if pair_index is None else (present[pair_index], target[pair_index])
            ce = [
                _weighted_ce(o.logits, labels, held[:, i] & held[:, j], self.ignore_index)
                for (i, j), o in zip(self.pairs, outputs[cut:], strict=True)
            ]
            terms["pair"] = self.cfg.pair_passes * torch.stack(ce).mean()
            outputs = outputs[:cut]
        if self.cfg.single_passes > 0:
            ce = [_weighted_ce(o.logits, target, present[:, j], self.ignore_index) for j, o in enumerate(outputs)]
            terms["single"] = self.cfg.single_passes * torch.stack(ce).mean()
        weight = self.cfg.specialists if specialist_weight is None else specialist_weight
        if self.cfg.specialists > 0 and weight == 0:  # KD not started (plus.specialists_start): no specialist runs
            terms["specialist"] = outputs[0].logits.new_zeros((), dtype=torch.float32)
        elif self.cfg.specialists > 0:
            teachers = self.specialist_logits(inputs) if teachers is None else teachers
            kd = []
            for j, (m, o) in enumerate(zip(self.modalities, outputs, strict=True)):
                teacher = teachers[m]
                keep = (
                    teacher_right(teacher, target, self.ignore_index)
                    if self.cfg.specialists_filter == "correct"
                    else None
                )
                kd.append(_weighted_kd(o.logits, teacher, present[:, j], self.temperature, keep))
            terms["specialist"] = weight * torch.stack(kd).mean()
        return terms

    def specialist_logits(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{m: m's specialist's logits (B, K) or (B, K, h, w) on its own input}`` for every modality."""
        device = next(iter(inputs.values())).device
        specialists = self._specialists[0].to(device)
        return {m: specialists.logits(m, inputs) for m in self.modalities}

    def product_term(
        self, logits: Tensor, mask: Tensor, teachers: Mapping[str, Tensor], weight: float
    ) -> dict[str, Tensor]:
        """``product``: Hinton KD, times ``weight``, of ``logits`` ``(B, K)`` (dense ``(B, K, h, w)``)
        decoded under ``mask`` ``(B, M)`` from the product of the present modalities' specialists
        (the sum of ``teachers``' logits over each row's modalities), over the rows holding two or
        more modalities (``plus.specialists_product``; single modalities have their own passes)."""
        stacked = torch.stack([teachers[m] for m in self.modalities], 1).float()  # (B, M, K, ...)
        present = mask.to(stacked.dtype).reshape(*mask.shape, *([1] * (stacked.ndim - 2)))
        teacher = (stacked * present).sum(1)
        rows = mask.sum(1) >= 2
        return {"product": weight * _weighted_kd(logits, teacher, rows, self.temperature)}

    @torch.no_grad()
    def ogm_scores(self, features: Mapping[str, Tensor], target: Tensor, present: Tensor) -> Tensor:
        """``(M,)`` each modality's unimodal head's mean probability of the true class over the rows holding it."""
        assert self.heads is not None
        scores = []
        for j, m in enumerate(self.modalities):
            right = F.softmax(self.heads[m](features[m]).float(), 1).gather(1, target[:, None])[:, 0]
            held = present[:, j].to(right.dtype)
            scores.append((right * held).sum() / held.sum().clamp(min=1))
        return torch.stack(scores)

    def modulated(self, prepared: Any, mask: Tensor, scores: Tensor) -> tuple[Any, Tensor]:
        """The vector/image network's ``prepared`` (:meth:`mmanet.nn.AnySubsetNet.prepare`) with each
        modality's features sending back its rows' OGM coefficients times their gradient under
        ``mask`` ``(B, M)``, and those coefficients ``(B, M)``."""
        features, absent, alone = prepared
        k = ogm_coefficients(scores, mask, self.cfg.ogm)
        scaled = {m: scale_gradient(f, k[:, j]) for j, (m, f) in enumerate(features.items())}
        return (scaled, absent, alone), k

    def head_term(self, net: SubsetNetwork, prepared: Any, target: Tensor, present: Tensor) -> dict[str, Tensor]:
        """``unimodal`` term, already weighted; empty (and no extra pass through ``net``) when the heads are off."""
        if self.heads is None:
            return {}
        features = net.modality_features(prepared)
        return {"unimodal": self.cfg.unimodal_heads * self.head_loss(features, target, present)}
