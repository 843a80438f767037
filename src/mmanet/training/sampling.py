"""Modality dropout draws that depend only on (seed, epoch, sample index).

Every method of a paired comparison therefore sees the same combination for the same sample
at the same epoch, whatever its batch order, extra networks or random-number use.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from mmanet.modality import sample_masks, sample_masks_by_size

__all__ = ["ModalityDropout", "Policy"]

Policy = Literal["uniform", "size_uniform"]
_POLICIES = {"uniform": sample_masks, "size_uniform": sample_masks_by_size}


class ModalityDropout:
    """Modality dropout over ``num_samples`` training samples.

    ``policy``: ``uniform`` (every non-empty subset of a sample's present modalities equally
    likely) or ``size_uniform`` (the subset size first, uniformly). Both use the same per-sample
    draw, so two policies are paired on everything else.
    """

    def __init__(self, num_samples: int, seed: int, policy: Policy = "uniform") -> None:
        if policy not in _POLICIES:
            raise ValueError(f"unknown sampling policy {policy!r}; available: {sorted(_POLICIES)}")
        self.num_samples = num_samples
        self.seed = seed
        self.policy = policy
        self._epoch = -1
        self._uniform = torch.empty(0)

    def uniforms(self, epoch: int) -> Tensor:
        """``(num_samples,)`` draws in ``[0, 1)`` for ``epoch`` (cached)."""
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._uniform = torch.rand(self.num_samples, generator=generator)
            self._epoch = epoch
        return self._uniform

    def masks(self, epoch: int, index: Tensor, present: Tensor) -> Tensor:
        """``(B, M)`` masks for the samples at ``index`` (``(B,)``), within their ``present`` ``(B, M)``."""
        if int(index.max()) >= self.num_samples:
            raise ValueError(f"sample index {int(index.max())} outside the {self.num_samples} training samples")
        uniform = self.uniforms(epoch)[index.cpu()].to(present.device)
        return _POLICIES[self.policy](present, uniform)
