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

from mmanet.data import MultimodalArrays, MultimodalDataModule
from mmanet.losses import prediction_entropy
from mmanet.nn import AnySubsetNet

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
def _entropies(net: AnySubsetNet, arrays: MultimodalArrays, temperature: float, batch: int = 512) -> Tensor:
    net.eval()
    out = []
    for start in range(0, len(arrays), batch):
        inputs = {m: arrays.inputs[m][start : start + batch] for m in net.modalities}
        present = arrays.present[start : start + batch]
        out.append(prediction_entropy(net(inputs, present).logits, temperature))
    return torch.cat(out)


def held_out_entropy(
    train: MultimodalArrays,
    datamodule: MultimodalDataModule,
    folds: int,
    seed: int,
    temperature: float,
    fit_teacher: Callable[[int, MultimodalArrays, MultimodalDataModule], AnySubsetNet],
) -> Tensor:
    """``(N_train,)`` entropy of each training sample under a teacher that never saw it.

    ``fit_teacher(fold, train_subset, datamodule)`` trains one teacher and returns its network.
    """
    assignment = fold_assignment(train.labels, folds, seed)
    table = torch.empty(len(train))
    for fold in range(folds):
        held_out = np.nonzero(assignment == fold)[0]
        kept = np.nonzero(assignment != fold)[0]
        sub = train.subset(kept)
        loaders = MultimodalDataModule(
            train=sub,
            val=datamodule.splits["val"],
            test=train.subset(held_out),
            batch_size=datamodule.batch_size,
            eval_batch_size=datamodule.eval_batch_size,
            seed=seed,
            num_workers=datamodule.num_workers,
        )
        net = fit_teacher(fold, sub, loaders)
        table[torch.as_tensor(held_out)] = _entropies(net, train.subset(held_out), temperature).cpu()
    return table
