"""Loop-based references: obviously correct, slow."""

from __future__ import annotations

import itertools

import numpy as np
import torch


def reference_subsets(num_modalities: int) -> list[tuple[int, ...]]:
    """Non-empty subsets of range(M) as index tuples, by size then lexicographically."""
    return [c for k in range(1, num_modalities + 1) for c in itertools.combinations(range(num_modalities), k)]


def reference_sample_mask(present: list[bool], u: float) -> list[bool]:
    """Pick the floor(u * n)-th allowed subset, subsets ordered by their binary code."""
    m = len(present)
    allowed = []
    for code in range(1, 2**m):
        bits = [(code >> j) & 1 == 1 for j in range(m)]
        if all(p or not b for p, b in zip(present, bits, strict=True)):
            allowed.append(bits)
    return allowed[int(np.floor(min(u, 1 - 1e-7) * len(allowed)))]


def reference_accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    """Share of samples predicted right."""
    right = 0
    for p, t in zip(pred, target, strict=True):
        right += int(p == t)
    return right / len(target)


def reference_macro_f1(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """Mean over classes of 2TP / (2TP + FP + FN); a class absent from both counts as 0."""
    scores = []
    for c in range(num_classes):
        tp = sum(1 for p, t in zip(pred, target, strict=True) if p == c and t == c)
        fp = sum(1 for p, t in zip(pred, target, strict=True) if p == c and t != c)
        fn = sum(1 for p, t in zip(pred, target, strict=True) if p != c and t == c)
        scores.append(0.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


@torch.no_grad()
def reference_combination_predictions(net: torch.nn.Module, inputs: dict[str, torch.Tensor], mask_row: list[bool]) -> np.ndarray:
    """Predictions of the whole network (encoders included) re-run for one fixed mask, sample by sample."""
    n = next(iter(inputs.values())).shape[0]
    preds = []
    for i in range(n):
        sample = {m: x[i : i + 1] for m, x in inputs.items()}
        mask = torch.tensor([mask_row], dtype=torch.bool)
        preds.append(int(net(sample, mask).logits.argmax(1)))
    return np.asarray(preds)
