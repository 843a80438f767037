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
def reference_combination_predictions(
    net: torch.nn.Module, inputs: dict[str, torch.Tensor], mask_row: list[bool]
) -> np.ndarray:
    """Predictions of the whole network (encoders included) re-run for one fixed mask, sample by sample."""
    n = next(iter(inputs.values())).shape[0]
    preds = []
    for i in range(n):
        sample = {m: x[i : i + 1] for m, x in inputs.items()}
        mask = torch.tensor([mask_row], dtype=torch.bool)
        preds.append(int(net(sample, mask).logits.argmax(1)))
    return np.asarray(preds)


def reference_row_normalized_gram(features: torch.Tensor) -> list[list[float]]:
    """G = F F^T with each row divided by its L2 norm, in plain Python loops."""
    flat = features.reshape(features.shape[0], -1).double().tolist()
    b = len(flat)
    gram = [[sum(x * y for x, y in zip(flat[i], flat[j], strict=True)) for j in range(b)] for i in range(b)]
    out = []
    for row in gram:
        norm = max(sum(v * v for v in row) ** 0.5, 1e-12)
        out.append([v / norm for v in row])
    return out


def reference_entropy(logits: torch.Tensor, temperature: float = 1.0) -> list[float]:
    """Shannon entropy of softmax(logits / T), sample by sample."""
    out = []
    for row in logits.double().tolist():
        scaled = [v / temperature for v in row]
        top = max(scaled)
        exps = [np.exp(v - top) for v in scaled]
        total = sum(exps)
        probs = [e / total for e in exps]
        out.append(-sum(p * np.log(p) for p in probs if p > 0))
    return out


def reference_mad(
    student: torch.Tensor,
    teacher: torch.Tensor,
    teacher_logits: torch.Tensor,
    variant: str = "paper",
    temperature: float = 1.0,
) -> float:
    """MAD by loops: paper sum_i w_i (1/B) sum_j E_ij; official sum_ij E_ij w_j."""
    gs, gt = reference_row_normalized_gram(student), reference_row_normalized_gram(teacher)
    b = len(gs)
    entropy = reference_entropy(teacher_logits, temperature)
    total = sum(entropy)
    weights = [h / total for h in entropy] if total > 1e-12 else [1.0 / b] * b
    loss = 0.0
    for i in range(b):
        for j in range(b):
            e = (gs[i][j] - gt[i][j]) ** 2
            loss += weights[i] * e / b if variant == "paper" else weights[j] * e
    return loss


def reference_sp(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """SP by loops: sum_ij (G~s - G~t)^2 / B^2."""
    gs, gt = reference_row_normalized_gram(student), reference_row_normalized_gram(teacher)
    b = len(gs)
    return sum((gs[i][j] - gt[i][j]) ** 2 for i in range(b) for j in range(b)) / b**2


def reference_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> float:
    """Hinton KD by loops: T^2 mean_i sum_c p_t log(p_t / p_s)."""
    total = 0.0
    for s_row, t_row in zip(student_logits.double().tolist(), teacher_logits.double().tolist(), strict=True):
        ps = np.exp(np.array(s_row) / temperature - np.logaddexp.reduce(np.array(s_row) / temperature))
        pt = np.exp(np.array(t_row) / temperature - np.logaddexp.reduce(np.array(t_row) / temperature))
        total += float(sum(t * np.log(t / s) for t, s in zip(pt, ps, strict=True)))
    return temperature**2 * total / len(student_logits)


def reference_label_kl_scores(
    preds: dict[str, np.ndarray], candidates: list[str], full: str, num_classes: int, eps: float = 1e-6
) -> list[float]:
    """KL(P_k || P_full) of smoothed predicted-label histograms, candidate by candidate."""

    def hist(p: np.ndarray) -> list[float]:
        counts = [sum(1 for v in p if v == c) + eps for c in range(num_classes)]
        total = sum(counts)
        return [c / total for c in counts]

    pf = hist(preds[full])
    scores = []
    for name in candidates:
        pk = hist(preds[name])
        scores.append(sum(a * np.log(a / b) for a, b in zip(pk, pf, strict=True)))
    return scores


def reference_dense_mad(
    student: torch.Tensor, teacher: torch.Tensor, teacher_logits: torch.Tensor | None, size: tuple[int, int]
) -> float:
    """Dense MAD of one map by loops: pool, pixel rows, full Gram rows, per-pixel entropy weights."""
    import torch.nn.functional as F

    s = F.adaptive_avg_pool2d(student.double(), size).permute(0, 2, 3, 1).reshape(-1, student.shape[1])
    t = F.adaptive_avg_pool2d(teacher.double(), size).permute(0, 2, 3, 1).reshape(-1, teacher.shape[1])
    gs, gt = reference_row_normalized_gram(s), reference_row_normalized_gram(t)
    n = len(gs)
    d = [sum((gs[i][j] - gt[i][j]) ** 2 for j in range(n)) / n for i in range(n)]
    if teacher_logits is None:
        return sum(d) / n
    probs = F.adaptive_avg_pool2d(torch.softmax(teacher_logits.double(), 1), size)
    probs = probs / probs.sum(1, keepdim=True)
    rows = probs.permute(0, 2, 3, 1).reshape(-1, probs.shape[1]).tolist()
    h = [-sum(p * np.log(p) for p in row if p > 0) for row in rows]
    total = sum(h)
    return sum(hi / total * di for hi, di in zip(h, d, strict=True))


def reference_miou(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int
) -> tuple[float, float, list[float | None]]:
    """(mIoU over classes seen in labels or predictions, pixel accuracy, per-class IoU) by loops."""
    ious: list[float | None] = []
    for c in range(num_classes):
        tp = fp = fn = 0
        for p, t in zip(pred.ravel(), target.ravel(), strict=True):
            if t == ignore_index:
                continue
            tp += int(p == c and t == c)
            fp += int(p == c and t != c)
            fn += int(p != c and t == c)
        ious.append(None if tp + fp + fn == 0 else tp / (tp + fp + fn))
    valid = target != ignore_index
    seen = [v for v in ious if v is not None]
    return float(np.mean(seen)), float((pred[valid] == target[valid]).mean()), ious


def reference_ece(probabilities: torch.Tensor, target: torch.Tensor, bins: int = 15) -> float:
    """Top-label expected calibration error by loops over equal-width confidence bins."""
    total, n = 0.0, len(target)
    edges = [i / bins for i in range(bins + 1)]
    rows = [
        (max(p), p.index(max(p)), int(y)) for p, y in zip(probabilities.double().tolist(), target.tolist(), strict=True)
    ]
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        chosen = [(c, k == y) for c, k, y in rows if (lo < c <= hi) or (b == 0 and c == 0)]
        if chosen:
            accuracy = sum(ok for _, ok in chosen) / len(chosen)
            confidence = sum(c for c, _ in chosen) / len(chosen)
            total += len(chosen) / n * abs(accuracy - confidence)
    return total


def reference_dense_official(
    student: torch.Tensor, teacher: torch.Tensor, teacher_logits: torch.Tensor, size: tuple[int, int]
) -> float:
    """The public segmentation MAD of one map by loops (METHOD.md section 2): rows X (N x C), the N
    columns of X X^T split in halves, each row of each half normalised on its own, d_i summed over
    both halves (no 1/N), entropy weights over the N rows."""
    import torch.nn.functional as F

    s = F.adaptive_avg_pool2d(student.double(), size).permute(0, 2, 3, 1).reshape(-1, student.shape[1]).tolist()
    t = F.adaptive_avg_pool2d(teacher.double(), size).permute(0, 2, 3, 1).reshape(-1, teacher.shape[1]).tolist()
    n = len(s)
    halves = [range(0, n // 2), range(n // 2, n)]

    def row(x: list[list[float]], i: int, cols: range) -> list[float]:
        g = [sum(a * b for a, b in zip(x[i], x[j], strict=True)) for j in cols]
        norm = max(sum(v * v for v in g) ** 0.5, 1e-12)
        return [v / norm for v in g]

    d = []
    for i in range(n):
        d.append(sum(sum((a - b) ** 2 for a, b in zip(row(s, i, h), row(t, i, h), strict=True)) for h in halves))
    probs = torch.softmax(teacher_logits.double(), 1)
    probs = F.adaptive_avg_pool2d(probs, size)
    probs = probs / probs.sum(1, keepdim=True)
    entropy = (-(probs * probs.clamp_min(1e-12).log()).sum(1)).reshape(-1).tolist()
    total = sum(entropy)
    return sum(e / total * di for e, di in zip(entropy, d, strict=True))
