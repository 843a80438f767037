"""Per-combination affine patches on the normalisation layers of the shared trunk (issue 10).

A unified network shares its decoder between every combination of modalities, while a
customized model gives one combination the whole network. A *patch* gives each combination a
little of its own: after a normalisation layer (BatchNorm or LayerNorm) the features are scaled
and shifted per channel by parameters of the sample's combination,

    y = norm(x) * (1 + scale[c]) + shift[c],    c = sum_j mask_j * 2^j  (the combination's code),

(:func:`mmanet.modality.combination_codes`), with ``scale`` and ``shift`` of shape
``(2^M, C)`` starting at zero (the patched network starts as the unpatched one).
Normalisation statistics stay shared, so training and evaluation normalise alike; only the
affine part is per combination ("model patches", Mudrakarta et al., ICLR 2019: per-task
normalisation parameters carry much of what separate networks learn).
The parameters cost ``2 * 2^M * C`` per layer; at M = 6 and 128 channels 16 k.

*Combination statistics* (:class:`CombinationStatistics`, ``model.combination_statistics``) go
further on the segmentation network's primary stream, whose stages the unified network runs
once per pass: each combination keeps its own running statistics there, so evaluation
normalises each row as training normalised its pass.

*Alone patches* (``model.alone_patches``) give every encoder's normalisation layers two slots:
0 when its modality is fused with others, 1 when it is alone in the row's combination (the
encoders then run twice per batch).

A *readout* (:class:`CombinationReadout`, classification) adds a linear map per combination
from the fused vector to the logits, next to the shared decoder.

The combination reaches the patches through :func:`conditioned`, which sets every patch's codes
for one call (the network's ``decode``); a patch used outside it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmanet.modality import code_count, combination_codes

__all__ = [
    "MAX_PATCHED_MODALITIES",
    "CombinationAffine",
    "CombinationReadout",
    "CombinationStatistics",
    "Conditioned",
    "attach_patches",
    "attach_slots",
    "attach_statistics",
    "coded",
    "conditioned",
]

MAX_PATCHED_MODALITIES = 12  # 4096 slots per layer
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)


class Conditioned(nn.Module):
    """A part with per-combination parameters: :func:`conditioned` gives it each row's code."""

    codes: Tensor | None = None

    def _codes_for(self, rows: int) -> Tensor:
        if self.codes is None:
            raise RuntimeError("a combination patch was called without its combination: use net.decode(fused, mask)")
        if self.codes.shape[0] != rows:
            raise ValueError(f"combination patch: {self.codes.shape[0]} codes for a batch of {rows} rows")
        return self.codes


class CombinationAffine(Conditioned):
    """``norm`` followed by a per-combination scale and shift.

    Args:
        norm: the normalisation layer (its own affine part stays: the shared part).
        channels: ``C``, the feature dimension the layer normalises (dim 1 of its input).
        slots: ``2^M`` (one per subset, the empty one included).
    """

    def __init__(self, norm: nn.Module, channels: int, slots: int) -> None:
        super().__init__()
        self.norm = norm
        self.scale = nn.Parameter(torch.zeros(slots, channels))
        self.shift = nn.Parameter(torch.zeros(slots, channels))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, C, *spatial)`` -> same shape."""
        codes = self._codes_for(x.shape[0])
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        return self.norm(x) * (1 + self.scale[codes].view(shape)) + self.shift[codes].view(shape)


class CombinationReadout(Conditioned):
    """A decoder plus a linear map per combination from the fused vector to the logits.

    ``logits = decoder(fused).logits + active[c] * (fused @ weight[c] + bias[c])``, ``weight``
    ``(2^M, D, K)`` and ``bias`` ``(2^M, K)`` starting at zero; ``active`` (``2^M`` bools) says
    which combinations have a readout (default: all); the features (what MAD reads) are the
    decoder's.
    """

    active: Tensor
    slots: Tensor
    place: Tensor

    def __init__(
        self, decoder: nn.Module, features: int, classes: int, slots: int, active: Sequence[bool] | None = None
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.in_shape = getattr(decoder, "in_shape", (features,))
        self.weight = nn.Parameter(torch.zeros(slots, features, classes))
        self.bias = nn.Parameter(torch.zeros(slots, classes))
        on = [True] * slots if active is None else [bool(a) for a in active]
        if len(on) != slots:
            raise ValueError(f"combination readout: 'active' must have {slots} entries, got {len(on)}")
        # derived from the configuration (plain Python, so a network built on the meta device
        # gets the same values), not saved: which slots read out, and each slot's place among
        # them (the last place, a zero map, for slots without a readout)
        chosen = [slot for slot, a in enumerate(on) if a]
        place = [len(chosen)] * slots
        for index, slot in enumerate(chosen):
            place[slot] = index
        self.register_buffer("active", torch.tensor(on), persistent=False)
        self.register_buffer("slots", torch.tensor(chosen, dtype=torch.long), persistent=False)
        self.register_buffer("place", torch.tensor(place, dtype=torch.long), persistent=False)

    def forward(self, fused: Tensor) -> Any:
        """``fused`` ``(B, D)`` -> the decoder's :class:`~mmanet.nn.decoders.NetOutput` with the readout added.

        Every row is mapped by every active slot in one matrix product ``(B, D) @ (D, A K)`` and
        its own slot's ``K`` logits picked: a per-row gather of the ``(D, K)`` maps would copy
        ``B D K`` weights forwards and scatter them backwards, several times slower on a CPU."""
        codes = self._codes_for(fused.shape[0])
        out = self.decoder(fused)
        x = fused.flatten(1)
        weight, classes = self.weight[self.slots], self.weight.shape[2]
        every = (x @ weight.permute(1, 0, 2).reshape(x.shape[1], -1)).view(x.shape[0], -1, classes)
        every = torch.cat([every, every.new_zeros(x.shape[0], 1, classes)], 1)  # the zero map
        rows = torch.arange(x.shape[0], device=x.device)
        readout = every[rows, self.place[codes]] + self.bias[codes] * self.active[codes].to(x.dtype)[:, None]
        return out._replace(logits=out.logits + readout)


def _channels(norm: nn.Module) -> int:
    if isinstance(norm, nn.LayerNorm):
        if len(norm.normalized_shape) != 1:
            raise ValueError(f"combination patches need LayerNorm over one dimension, got {norm.normalized_shape}")
        return int(norm.normalized_shape[0])
    return int(norm.num_features)  # type: ignore[arg-type]


def attach_patches(module: nn.Module, num_modalities: int) -> int:
    """Wrap every normalisation layer below ``module`` in a :class:`CombinationAffine`, in place.

    Returns the number of layers patched.
    """
    if not 1 <= num_modalities <= MAX_PATCHED_MODALITIES:
        raise ValueError(f"combination patches support 1 to {MAX_PATCHED_MODALITIES} modalities, got {num_modalities}")
    return attach_slots(module, code_count(num_modalities))


def attach_slots(module: nn.Module, slots: int) -> int:
    """Wrap every normalisation layer below ``module`` in a :class:`CombinationAffine` of ``slots``
    slots, in place (:func:`attach_patches`: one per combination; alone patches: two). Returns
    the number of layers patched."""
    return _replace_below(
        module, _NORMS, lambda norm: CombinationAffine(norm, _channels(norm), slots), CombinationAffine
    )


def _replace_below(
    module: nn.Module, kinds: tuple[type, ...], make: Callable[[Any], nn.Module], keep: type | None = None
) -> int:
    """Replace every module of ``kinds`` below ``module`` by ``make(it)``, in place, without entering
    modules of type ``keep``; returns how many were replaced."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, kinds):
            setattr(module, name, make(child))
            count += 1
        elif keep is None or not isinstance(child, keep):
            count += _replace_below(child, kinds, make, keep)
    return count


@contextmanager
def conditioned(module: nn.Module, mask: Tensor) -> Iterator[None]:
    """Within the block, every patch below ``module`` serves the combinations of ``mask`` ``(B, M)``."""
    with coded(module, None, mask):
        yield


@contextmanager
def coded(module: nn.Module, codes: Tensor | None, mask: Tensor | None = None) -> Iterator[None]:
    """Within the block, every patch below ``module`` serves the combination ``codes`` ``(B,)``
    (or those of ``mask`` ``(B, M)``, computed only when ``module`` has patches)."""
    patches = [m for m in module.modules() if isinstance(m, Conditioned)]
    if not patches:
        yield
        return
    if codes is None:
        assert mask is not None
        codes = combination_codes(mask)
    for patch in patches:
        patch.codes = codes
    try:
        yield
    finally:
        for patch in patches:
            patch.codes = None


class CombinationStatistics(Conditioned):
    """Batch normalisation with running statistics of its own for every combination (shared affine).

    In training each combination's rows are normalised with their own batch statistics, which
    update that combination's running mean and variance; in evaluation each row is normalised with
    its combination's running statistics. A layer that serves several input distributions (the
    segmentation network's primary stream: its modality alone, or fused with others) then
    normalises each row in evaluation as it did in training. Loads a plain batch-norm state (its
    ``(C,)`` statistics copied to every combination).
    """

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(self, norm: nn.BatchNorm1d | nn.BatchNorm2d, slots: int) -> None:
        super().__init__()
        if not (norm.affine and norm.track_running_stats) or norm.momentum is None:
            raise ValueError(
                "combination statistics need a batch norm with an affine part and running statistics averaged "
                f"with a momentum (got affine={norm.affine}, track_running_stats={norm.track_running_stats}, "
                f"momentum={norm.momentum})"
            )
        self.slots, self.eps, self.momentum = slots, norm.eps, float(norm.momentum)
        self.weight = nn.Parameter(norm.weight.detach().clone())
        self.bias = nn.Parameter(norm.bias.detach().clone())
        assert norm.running_mean is not None and norm.running_var is not None
        self.register_buffer("running_mean", norm.running_mean.detach()[None].repeat(slots, 1))
        self.register_buffer("running_var", norm.running_var.detach()[None].repeat(slots, 1))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, C, *spatial)`` -> same shape."""
        codes = self._codes_for(x.shape[0])
        if self.training:
            self.num_batches_tracked.add_(1)
            out = torch.empty_like(x)
            for code in codes.unique().tolist():
                rows = codes == code
                group = x[rows]
                # one value per channel has no batch statistics: that group uses its running ones
                batch = group.numel() > group.shape[1]
                out[rows] = F.batch_norm(
                    group, self.running_mean[code], self.running_var[code], self.weight, self.bias,
                    batch, self.momentum, self.eps,
                )  # fmt: skip
            return out
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        scale = self.weight / torch.sqrt(self.running_var[codes] + self.eps)  # (B, C)
        shift = self.bias - self.running_mean[codes] * scale
        return x * scale.view(shape) + shift.view(shape)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        for key in ("running_mean", "running_var"):
            value = state_dict.get(prefix + key)
            if value is not None and value.ndim == 1:  # a plain batch norm's statistics: every combination's
                state_dict[prefix + key] = value[None].repeat(self.slots, 1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def attach_statistics(module: nn.Module, num_modalities: int) -> int:
    """Replace every batch norm below ``module`` by a :class:`CombinationStatistics`, in place.

    Returns the number of layers replaced.
    """
    slots = code_count(num_modalities)
    return _replace_below(module, (nn.BatchNorm1d, nn.BatchNorm2d), lambda norm: CombinationStatistics(norm, slots))
