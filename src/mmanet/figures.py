"""Figures: example segmentation predictions for every modality combination."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmanet.data.seg_transforms import RGB_MEAN, RGB_STD
from mmanet.evaluation import combination_outputs
from mmanet.metrics import upsample_logits
from mmanet.modality import Combination, combination_name

__all__ = ["prediction_grid"]


def _palette(num_classes: int) -> np.ndarray:
    import matplotlib

    colours = matplotlib.colormaps["tab20"](np.linspace(0, 1, 20))[:, :3]
    return np.concatenate([colours[np.arange(num_classes) % 20], np.zeros((1, 3))])  # last row: void


def _show_labels(labels: np.ndarray, palette: np.ndarray, ignore_index: int) -> np.ndarray:
    index = np.where((labels == ignore_index) | (labels >= len(palette) - 1), len(palette) - 1, labels)
    return palette[index]


@torch.no_grad()
def prediction_grid(
    net: Any,
    dataset: Dataset[Any],
    combinations: Sequence[Combination],
    num_classes: int,
    ignore_index: int = 255,
    count: int = 4,
) -> bytes:
    """PNG: one row per example (RGB, depth, ground truth, then the prediction of each combination)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    examples = [dataset[i] for i in range(min(count, len(dataset)))]  # type: ignore[arg-type]
    palette = _palette(num_classes)
    columns = 3 + len(combinations)
    fig, axes = plt.subplots(len(examples), columns, figsize=(2.2 * columns, 1.9 * len(examples)), squeeze=False)
    for row, sample in enumerate(examples):
        inputs = {m: x[None].to(device) for m, x in sample["inputs"].items()}
        present = sample["present"][None].to(device)
        outputs = combination_outputs(net, inputs, present, combinations)
        target = sample["target"].numpy()
        panels: list[tuple[str, np.ndarray, dict[str, Any]]] = []
        if "rgb" in sample["inputs"]:
            rgb = sample["inputs"]["rgb"].permute(1, 2, 0).numpy() * np.asarray(RGB_STD) + np.asarray(RGB_MEAN)
            panels.append(("RGB", np.clip(rgb, 0, 1), {}))
        other = [m for m in sample["inputs"] if m != "rgb"]
        if other:
            panels.append((other[0], sample["inputs"][other[0]][0].numpy(), {"cmap": "viridis"}))
        panels.append(("ground truth", _show_labels(target, palette, ignore_index), {}))
        for combo in combinations:
            logits = upsample_logits(outputs[combination_name(combo)].logits, target.shape)
            panels.append(
                (combination_name(combo), _show_labels(logits.argmax(1)[0].cpu().numpy(), palette, ignore_index), {})
            )
        for col in range(columns):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(panels):
                title, image, kwargs = panels[col]
                ax.imshow(image, **kwargs)
                if row == 0:
                    ax.set_title(title, fontsize=8)
    net.train(was_training)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
