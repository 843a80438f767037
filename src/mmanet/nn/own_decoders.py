"""Own decoders for some combinations of modalities (issue 10, round 10).

A unified network reads every combination out through one decoder; a customized model gives a
combination a decoder (and encoders) of its own. :class:`CombinationDecoders` sits between the
two: the encoders stay shared, and each chosen combination ``c`` gets its own copy of the
decoder's architecture (own weights, own normalisation statistics), while every other
combination keeps the shared decoder:

    out[i] = decoder_{c_i}(fused[i])   if c_i has its own decoder,   shared(fused[i]) otherwise.

Rows are sorted by decoder, so each decoder sees (and normalises over) its own rows only, as one
contiguous slice, and a batch costs the same arithmetic as one shared decoder. A decoder with batch
normalisation cannot train on a group of one row: :mod:`mmanet.training.plus` decodes every
sample under the single modalities, the pairs and the complete combination each step, which
keeps those groups at least a batch large.

In training, rows can be sent to the shared decoder whatever their combination
(:func:`through_shared`): ``mmanet-plus`` decodes the passes of combinations with their own
decoder a second time there (``plus.shared_passes``), so the shared decoder keeps learning from
those rows while their combinations are served by their own decoders; and the own decoders can
read their rows detached (``plus.detach_own_decoders``), so that only the shared decoder's rows
train the encoders.

Under tracing (ONNX, TorchScript) the grouping would be frozen to the example's, so there every
decoder runs on every row and each row's output is picked by its combination (same values in
eval mode, more arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from mmanet.nn.adapters import CombinationLowRank
from mmanet.nn.patches import CombinationAffine, Conditioned, coded
from mmanet.nn.segmentation import SegFeatures

__all__ = ["CombinationDecoders", "copy_shared", "select_rows", "through_shared"]

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def select_rows(fused: Any, index: Tensor) -> Any:
    """Rows ``index`` of fused features (a tensor or :class:`SegFeatures`)."""
    if isinstance(fused, SegFeatures):
        return fused.select(index)
    return fused.index_select(0, index)


def _detached(fused: Any) -> Any:
    """Fused features cut from the graph (a tensor or :class:`SegFeatures`)."""
    if isinstance(fused, SegFeatures):
        return SegFeatures(fused.context.detach(), tuple(s.detach() for s in fused.skips))  # type: ignore[arg-type]
    return fused.detach()


def _rows_of(fused: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of fused features (a tensor or :class:`SegFeatures`), as views."""
    if isinstance(fused, SegFeatures):
        return SegFeatures(fused.context[start:stop], tuple(s[start:stop] for s in fused.skips))  # type: ignore[arg-type]
    return fused[start:stop]


def _map_output(parts: list[Any], combine: Callable[[list[Tensor]], Tensor]) -> Any:
    """Apply ``combine`` to each field of the group outputs (tensors, or tuples of them) in turn."""
    first = parts[0]
    if isinstance(first, Tensor):
        return combine(parts)
    if isinstance(first, tuple):
        fields = [_map_output([p[k] for p in parts], combine) for k in range(len(first))]
        return type(first)(*fields) if hasattr(first, "_fields") else tuple(fields)
    raise TypeError(f"own decoders: cannot combine decoder outputs of type {type(first).__name__}")


def _pick(outputs: list[Any], place: Tensor) -> Any:
    """Row ``i`` of ``outputs[place[i]]`` for every row (every decoder ran on every row)."""
    rows = torch.arange(place.shape[0], device=place.device)
    return _map_output(outputs, lambda every: torch.stack(every)[place, rows])


class CombinationDecoders(Conditioned):
    """A shared decoder plus an own decoder for each of some combination codes.

    Args:
        shared: the decoder of every combination without its own.
        own: ``{combination code: decoder}`` (codes as :func:`mmanet.modality.combination_codes`).
        slots: ``2^M``.
    """

    place: Tensor
    to_shared: Tensor | None = None  # (B,) bool: rows sent to the shared decoder (see through_shared)
    detach_own: bool = False  # own decoders read detached features (see through_shared)

    def __init__(self, shared: nn.Module, own: Mapping[int, nn.Module], slots: int) -> None:
        super().__init__()
        bad = sorted(code for code in own if not 0 < code < slots)
        if bad:
            raise ValueError(f"own decoders: combination codes {bad} outside 1..{slots - 1}")
        self.shared = shared
        self.codes_with_own = sorted(own)  # plain Python: a network built on the meta device gets it too
        self.own = nn.ModuleDict({str(code): own[code] for code in self.codes_with_own})
        place = [0] * slots  # 0: the shared decoder; k: the k-th own decoder
        for k, code in enumerate(self.codes_with_own, start=1):
            place[code] = k
        self.register_buffer("place", torch.tensor(place, dtype=torch.long), persistent=False)

    def decoders(self) -> list[nn.Module]:
        """The shared decoder, then the own decoders in code order (``place`` indexes this list)."""
        return [self.shared, *(self.own[str(code)] for code in self.codes_with_own)]

    def forward(self, fused: Any) -> Any:
        """Fused features of ``B`` rows -> each row's decoder output (:class:`NetOutput`) in row order."""
        rows = fused.context.shape[0] if isinstance(fused, SegFeatures) else fused.shape[0]
        codes = self._codes_for(rows)
        place = self.place[codes]
        if self.to_shared is not None:
            if self.to_shared.shape != (rows,):
                raise ValueError(f"own decoders: {tuple(self.to_shared.shape)} shared-row flags for {rows} rows")
            place = place.masked_fill(self.to_shared, 0)
        decoders = self.decoders()
        if torch.jit.is_tracing():
            return _pick([decoder(fused) for decoder in decoders], place)
        # rows sorted by decoder: one gather in, each decoder on a contiguous slice, one gather out
        order = torch.argsort(place, stable=True)
        counts = torch.bincount(place, minlength=len(decoders)).tolist()
        ordered, ordered_codes = select_rows(fused, order), codes[order]
        parts, start = [], 0
        for k, (decoder, count) in enumerate(zip(decoders, counts, strict=True)):
            if count == 0:
                continue
            if self.training and count == 1 and any(isinstance(m, _NORMS) for m in decoder.modules()):
                code = self.codes_with_own[k - 1] if k else "shared"
                raise ValueError(
                    f"own decoders: one row for decoder {code} in a training batch; batch normalisation needs "
                    "at least two (mmanet-plus's single, pair and complete passes give each combination with "
                    "its own decoder a full batch)"
                )
            rows_in = _rows_of(ordered, start, start + count)
            if k and self.detach_own:  # an own decoder trains on the shared features without moving them
                rows_in = _detached(rows_in)
            with coded(decoder, ordered_codes[start : start + count]):  # shared patches: its rows only
                parts.append(decoder(rows_in))
            start += count
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(rows, device=order.device)
        return _map_output(parts, lambda group: torch.cat(group).index_select(0, inverse))


@contextmanager
def through_shared(module: nn.Module, rows: Tensor, detach_own: bool = False) -> Iterator[None]:
    """Within the block, the rows flagged in ``rows`` ``(B,)`` bool go to the shared decoder of
    every :class:`CombinationDecoders` below ``module``, whatever their combination; with
    ``detach_own`` the own decoders read their rows' features detached (no gradient to the
    encoders through them)."""
    routers = [m for m in module.modules() if isinstance(m, CombinationDecoders)]
    for router in routers:
        router.to_shared, router.detach_own = rows, detach_own
    try:
        yield
    finally:
        for router in routers:
            router.to_shared, router.detach_own = None, False


def copy_shared(router: CombinationDecoders) -> None:
    """Make every own decoder of ``router`` a copy of its shared decoder as that decoder serves the
    own decoder's combination: weights and normalisation statistics copied, and where the shared
    decoder has combination patches, the combination's scale and shift folded into the copy's
    normalisation affine (``w (1 + s_c)``, ``b (1 + s_c) + t_c``), so both give the same output
    on that combination's rows.

    Raises:
        ValueError: an own decoder's architecture differs from the shared one's, a patched
            normalisation layer has no affine part to fold into, or the shared decoder has
            combination adapters (not folded).
    """
    shared = router.shared
    if any(isinstance(m, CombinationLowRank) for m in shared.modules()):
        raise ValueError("own decoders cannot be copied from a shared decoder with combination adapters")
    patched = {name: m for name, m in shared.named_modules() if isinstance(m, CombinationAffine)}
    state = {}
    for key, value in shared.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if owner in patched and leaf in ("scale", "shift"):
            continue  # folded below
        parent, _, child = owner.rpartition(".")
        state[f"{parent}.{leaf}" if parent in patched and child == "norm" else key] = value
    for code in router.codes_with_own:
        own = router.own[str(code)]
        try:
            own.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"own decoder {code}: not the shared decoder's architecture ({err})") from err
        with torch.no_grad():
            for name, patch in patched.items():
                norm = own.get_submodule(name)
                weight, bias = getattr(norm, "weight", None), getattr(norm, "bias", None)
                if not isinstance(weight, Tensor) or not isinstance(bias, Tensor):
                    raise ValueError(f"own decoder {code}: norm layer {name!r} has no affine part to fold into")
                scale = 1 + patch.scale[code]
                weight.mul_(scale)
                bias.mul_(scale).add_(patch.shift[code])
