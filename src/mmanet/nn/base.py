"""The contract every deployment network keeps: serve any subset of its modalities.

A network is used in three steps, so that evaluating all ``2^M - 1`` combinations runs the
mask-independent work (the encoders) once per batch:

1. ``prepared = net.prepare(inputs)``: normalise and encode ``{modality: (B, *shape)}``;
2. ``fused = net.fused_from(prepared, mask)``: fuse under a ``(B, M)`` boolean mask (absent
   modalities replaced by zeros or a learned fill);
3. ``net.decode(fused, mask)``: the head, giving :class:`~mmanet.nn.decoders.NetOutput` (the mask
   selects each row's combination patches, :mod:`mmanet.nn.patches`, when the network has them).

``net(inputs, mask)`` does all three; ``net.predict(prepared, mask)`` steps 2-3.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from mmanet.nn.decoders import NetOutput
from mmanet.nn.patches import coded, conditioned

__all__ = ["SubsetNetwork"]


class SubsetNetwork(nn.Module):
    """Base class of the deployment networks (:class:`AnySubsetNet`, :class:`SegmentationNet`).

    Attributes:
        modalities: modality names in mask-column order.
        input_shapes: per-sample input shape of each modality.
        masking: ``feature`` (absent modalities replaced after their encoder) or ``input``.
        decoder: the head; maps fused features to :class:`NetOutput`.
    """

    modalities: tuple[str, ...]
    input_shapes: dict[str, tuple[int, ...]]
    masking: str
    decoder: nn.Module
    alone_patches: bool = False  # encoders with a second normalisation slot for a modality alone
    alone_encoders: nn.ModuleDict | None  # a whole encoder of its own per modality alone (or None)

    def __init__(self) -> None:
        super().__init__()
        self.alone_encoders = None  # a registered submodule once set (:func:`attach_alone_encoders`)

    def prepare(self, inputs: Mapping[str, Tensor]) -> Any:
        """Mask-independent work: normalise and encode every modality."""
        raise NotImplementedError

    def fused_from(self, prepared: Any, mask: Tensor) -> Any:
        """Fused features under ``mask`` ``(B, M)`` from :meth:`prepare`'s result."""
        raise NotImplementedError

    def fused_features(self, inputs: Mapping[str, Tensor], mask: Tensor) -> Any:
        """Encode under ``mask`` and fuse (what every decoder reads)."""
        raise NotImplementedError

    def decode(self, fused: Any, mask: Tensor) -> NetOutput:
        """The decoder on fused features of rows whose combinations are ``mask`` ``(B, M)``."""
        with conditioned(self.decoder, mask):
            return self.decoder(fused)  # type: ignore[no-any-return]

    def predict(self, prepared: Any, mask: Tensor) -> NetOutput:
        """Output under ``mask`` from :meth:`prepare`'s result (same as ``forward``)."""
        return self.decode(self.fused_from(prepared, mask), mask)

    def forward(self, inputs: Mapping[str, Tensor], mask: Tensor) -> NetOutput:
        """Encode under ``mask`` ``(B, M)`` bool, fuse and decode."""
        return self.decode(self.fused_features(inputs, mask), mask)

    @property
    def encodes_alone(self) -> bool:
        """Whether a modality alone is encoded differently (alone patches or alone encoders), so
        :meth:`prepare` encodes each batch twice."""
        return self.alone_patches or self.alone_encoders is not None

    def encoder_of(self, modality: str, alone: bool) -> nn.Module:
        """The encoder that serves ``modality`` alone (its own copy, with alone encoders) or with others."""
        if alone and self.alone_encoders is not None:
            return self.alone_encoders[modality]
        return self.encoders[modality]  # type: ignore[index, no-any-return, return-value]

    def encoder_slot(
        self, encoder: nn.Module, rows: int, alone: bool, device: torch.device
    ) -> AbstractContextManager[None]:
        """The context in which ``encoder`` serves ``rows`` rows that all hold its modality
        ``alone`` (slot 1) or with others (slot 0); a no-op without alone patches."""
        if not self.alone_patches:
            return nullcontext()
        return coded(encoder, torch.full((rows,), int(alone), dtype=torch.long, device=device))

    @staticmethod
    def alone_rows(mask: Tensor) -> Tensor:
        """``(B, M)`` bool: modality ``j`` is present and alone in row ``i``'s combination."""
        return mask & (mask.sum(dim=1, keepdim=True) == 1)

    def modality_features(self, prepared: Any) -> dict[str, Tensor]:
        """Each modality's own features (what a unimodal head reads)."""
        raise NotImplementedError

    def modality_feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape (dense networks: channels) of :meth:`modality_features`."""
        raise NotImplementedError

    def fit_input_statistics(self, inputs: Mapping[str, Tensor], present: Tensor) -> None:
        """Set each modality's input normalisation from training samples where it is present."""
        for j, m in enumerate(self.modalities):
            self.norms[m].fit(inputs[m][present[:, j]])  # type: ignore[index, operator, union-attr]
