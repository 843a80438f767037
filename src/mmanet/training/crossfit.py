"""Cross-fitted teacher uncertainty: honest entropies for the training samples MAD weighs.

A teacher is near-certain on the samples it was trained on, so its entropy on them says little
about where class boundaries are. Here the training split is cut into ``K`` stratified folds;
a teacher trained on the other ``K - 1`` folds (selected on the validation split as usual)
gives the entropy of each held-out sample. The result is a per-sample table keyed by the
sample's index in the training split.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate

from mmanet.data import Batch, ReindexedSubset
from mmanet.losses import prediction_entropy
from mmanet.nn import SubsetNetwork

__all__ = ["fold_assignment", "held_out_entropy"]


def fold_assignment(labels: Tensor, folds: int, seed: int) -> np.ndarray:
    """``(N,)`` fold index per sample, stratified by class and seeded."""
    rng = np.random.default_rng(seed + 7919)
    out = np.empty(len(labels), dtype=np.int64)
    y = labels.numpy()
    for cls in np.unique(y):
        idx = rng.permutation(np.nonzero(y == cls)[0])
        out[idx] = np.arange(len(idx)) % folds
    return out


@torch.no_grad()
def _entropies(
    net: SubsetNetwork, dataset: Dataset[Batch], data_modalities: tuple[str, ...], temperature: float, batch: int = 256
) -> Tensor:
    """Entropy of ``net`` on every sample of ``dataset`` with every modality the data has."""
    net.eval()
    columns = [data_modalities.index(m) for m in net.modalities]
    loader = DataLoader(
        dataset, batch_size=batch, shuffle=False, collate_fn=getattr(dataset, "collate_fn", None) or default_collate
    )
    device = next(net.parameters()).device
    out = []
    for b in loader:
        inputs = {m: x.to(device) for m, x in b["inputs"].items()}
        out.append(prediction_entropy(net(inputs, b["present"][:, columns].to(device)).logits, temperature).cpu())
    return torch.cat(out)


def held_out_entropy(
    train_eval: Dataset[Batch],
    labels: Tensor,
    data_modalities: tuple[str, ...],
    folds: int,
    seed: int,
    temperature: float,
    fit_teacher: Callable[[int, np.ndarray], SubsetNetwork],
) -> Tensor:
    """``(N_train,)`` entropy of each training sample under a teacher that never saw it.

    Args:
        train_eval: the training split without augmentation.
        labels: its ``(N_train,)`` labels (for stratified folds).
        fit_teacher: ``fit_teacher(fold, kept_indices)`` trains one teacher on the training
            samples at ``kept_indices`` and returns its network.
    """
    assignment = fold_assignment(labels, folds, seed)
    table = torch.empty(len(labels))
    for fold in range(folds):
        held_out = np.nonzero(assignment == fold)[0]
        net = fit_teacher(fold, np.nonzero(assignment != fold)[0])
        table[torch.as_tensor(held_out)] = _entropies(
            net, ReindexedSubset(train_eval, held_out.tolist()), data_modalities, temperature
        )
    return table
