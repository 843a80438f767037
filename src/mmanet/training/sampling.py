"""Modality dropout draws that depend only on (seed, epoch, sample index).

Every method of a paired comparison therefore sees the same combination for the same sample
at the same epoch, whatever its batch order, extra networks or random-number use.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmanet.modality import sample_masks

__all__ = ["ModalityDropout"]


class ModalityDropout:
    """Uniform modality dropout over ``num_samples`` training samples."""

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples = num_samples
        self.seed = seed
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
        return sample_masks(present, uniform)
