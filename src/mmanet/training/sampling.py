"""Modality dropout draws that depend only on (seed, epoch, sample index).

Every method of a paired comparison therefore sees the same combination for the same sample
at the same epoch, whatever its batch order, extra networks or random-number use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

from mmanet.modality import code_count, sample_masks, sample_masks_by_size, sample_masks_weighted

__all__ = ["ModalityDropout", "Policy", "error_weights"]

Policy = Literal["uniform", "size_uniform", "adaptive"]
_POLICIES = {"uniform": sample_masks, "size_uniform": sample_masks_by_size, "adaptive": sample_masks}


def error_weights(scores: Mapping[int, float], num_modalities: int, mix: float) -> Tensor:
    """Sampling weights of every combination from its latest validation selection score.

    ``scores``: ``{code: score in [0, 1]}`` (higher is better; :func:`~mmanet.modality.combination_codes`'
    codes); a combination without a score takes the mean error of those with one. Returns
    ``(2^M,)`` probabilities indexed by code (entry 0, the empty set, is 0): ``(1 - mix) / K`` for
    every one of the ``K = 2^M - 1`` combinations plus ``mix`` shared in proportion to each
    combination's error ``1 - score`` (uniform when every error is 0).

    >>> error_weights({1: 0.5, 2: 1.0, 3: 1.0}, 2, 0.5).tolist()
    [0.0, 0.6666666666666666, 0.16666666666666666, 0.16666666666666666]
    """
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"sampling mix must lie in [0, 1], got {mix}")
    count = code_count(num_modalities)
    bad = [c for c in scores if not 0 < c < count]
    if bad:
        raise ValueError(f"combination codes {bad} outside 1..{count - 1} for {num_modalities} modalities")
    errors = {c: min(1.0, max(0.0, 1.0 - float(v))) for c, v in scores.items()}
    fill = sum(errors.values()) / len(errors) if errors else 0.0
    error = torch.tensor([0.0] + [errors.get(c, fill) for c in range(1, count)], dtype=torch.float64)
    share = torch.full_like(error, 1.0 / (count - 1))
    share[0] = 0.0
    total = float(error.sum())
    if total > 0:
        share = (1 - mix) * share + mix * error / total
    return share


class ModalityDropout:
    """Modality dropout over ``num_samples`` training samples.

    ``policy``: ``uniform`` (every non-empty subset of a sample's present modalities equally
    likely), ``size_uniform`` (the subset size first, uniformly) or ``adaptive`` (each subset in
    proportion to :attr:`weights`, set by the trainer between epochs, e.g. from
    :func:`error_weights`; uniform while unset). All use the same per-sample draw, so two
    policies are paired on everything else.
    """

    def __init__(self, num_samples: int, seed: int, policy: Policy = "uniform") -> None:
        if policy not in _POLICIES:
            raise ValueError(f"unknown sampling policy {policy!r}; available: {sorted(_POLICIES)}")
        self.num_samples = num_samples
        self.seed = seed
        self.policy = policy
        self._epoch = -1
        self._uniform = torch.empty(0)
        self.weights: Tensor | None = None  # (2^M,) by combination code, policy ``adaptive``

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
        if self.policy == "adaptive" and self.weights is not None:
            return sample_masks_weighted(present, uniform, self.weights)
        return _POLICIES[self.policy](present, uniform)
