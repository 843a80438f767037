"""Predict with whatever modalities arrive: ``mmanet.load(path).predict(inputs, present)``.

>>> import numpy as np, mmanet  # doctest: +SKIP
>>> predictor = mmanet.load("runs/demo/seed_0/mmanet/model.pt")  # doctest: +SKIP
>>> out = predictor.predict({"pix": pix, "fou": fou})  # mor missing for every sample  # doctest: +SKIP
>>> out.probabilities.shape, out.combinations[:2]  # doctest: +SKIP
((400, 10), ['pix+fou', 'pix+fou'])

Inputs are raw (the model standardises them with its training statistics); calibration stored in
the model file (temperature per combination, anti-spoofing thresholds) is applied. Nothing from
training (Lightning, optimisers, datasets) is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmanet.deploy import DeployedModel
from mmanet.modality import all_combinations, combination_codes, combination_name
from mmanet.modelfile import ModelFile, ModelFileError, load_model_file

__all__ = ["Prediction", "Predictor", "load"]

InputArray = np.ndarray | Tensor | None


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Per sample: class probabilities ``(N, K)`` (segmentation ``(N, K, H, W)``) and the combination used."""

    probabilities: np.ndarray
    combinations: list[str]

    @property
    def labels(self) -> np.ndarray:
        """Most probable class per sample (or pixel)."""
        return self.probabilities.argmax(axis=1)


class Predictor:
    """A trained model file ready for inference on any subset of its modalities.

    Attributes:
        modalities: modality names, in the order of ``present`` columns.
        num_classes: ``K``; ``class_names`` where the task defines them (anti-spoofing).
        combinations: the combinations some network of the file serves.
        task: ``classification``, ``anti_spoofing`` or ``segmentation``.
    """

    def __init__(self, model: ModelFile, device: str | torch.device = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)
        self.deployed = DeployedModel(model).to(self.device).eval()
        self.modalities = self.deployed.modalities
        self.num_classes = model.num_classes
        task = dict(model.meta.get("task") or {"name": "classification"})
        self.task = str(task.get("name"))
        bona = int(task.get("bona_fide", 1))
        self.class_names = (
            (["bona fide", "attack"] if bona == 0 else ["attack", "bona fide"])
            if self.task == "anti_spoofing"
            else None
        )
        self.bona_fide = bona if self.task == "anti_spoofing" else None
        served = {self.deployed.combination_names[c] for c in self.deployed.served}
        self.combinations = [
            combination_name(c) for c in all_combinations(self.modalities) if combination_name(c) in served
        ]
        self.thresholds = dict((model.meta.get("calibration") or {}).get("threshold") or {})

    @property
    def classes(self) -> int:
        """Number of classes."""
        return self.num_classes

    def _arrays(self, inputs: Mapping[str, InputArray], present: Any) -> tuple[dict[str, Tensor], Tensor]:
        unknown = sorted(set(inputs) - set(self.modalities))
        if unknown:
            raise ValueError(f"inputs for unknown modalities {unknown}; the model takes {list(self.modalities)}")
        given = {m: torch.as_tensor(np.asarray(x), dtype=torch.float32) for m, x in inputs.items() if x is not None}
        if not given:
            raise ValueError(f"no input given; the model takes any of {list(self.modalities)}")
        n = next(iter(given.values())).shape[0]
        for m, x in given.items():
            expected = self.deployed.input_shapes[m]
            dense = self.task == "segmentation"
            ok = x.ndim == len(expected) + 1 and x.shape[0] == n and (dense or tuple(x.shape[1:]) == tuple(expected))
            if not ok or (dense and x.shape[1] != expected[0]):
                raise ValueError(
                    f"input {m!r}: expected shape ({n}, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
                )
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"input {m!r}: NaN or infinite values (mark missing samples with present instead)")
        mask = torch.tensor([[m in given for m in self.modalities]] * n, dtype=torch.bool)
        if present is not None:
            extra = torch.as_tensor(np.asarray(present)).bool()
            if tuple(extra.shape) != (n, len(self.modalities)):
                raise ValueError(f"present: expected ({n}, {len(self.modalities)}) booleans, got {tuple(extra.shape)}")
            mask &= extra
        empty = torch.nonzero(~mask.any(1)).flatten()
        if len(empty):
            raise ValueError(f"sample {int(empty[0])} has no modality present ({len(empty)} such samples)")
        served = torch.zeros(1 << len(self.modalities), dtype=torch.bool)
        served[self.deployed.served] = True
        unserved = torch.nonzero(~served[combination_codes(mask)]).flatten()
        if len(unserved):
            raise ValueError(f"sample {int(unserved[0])}: no network of this model file serves its combination")
        like = next(iter(given.values()))
        return {m: given[m] if m in given else self._zeros(m, n, like) for m in self.modalities}, mask

    def _zeros(self, modality: str, n: int, like: Tensor) -> Tensor:
        shape = self.deployed.input_shapes[modality]
        if self.task == "segmentation":
            return torch.zeros(n, shape[0], *like.shape[2:])
        return torch.zeros(n, *shape)

    @torch.no_grad()
    def logits(
        self, inputs: Mapping[str, InputArray], present: Any = None, batch_size: int = 256
    ) -> tuple[Tensor, Tensor]:
        """Calibrated logits and the ``(N, M)`` combination mask used, in batches."""
        arrays, mask = self._arrays(inputs, present)
        chunks = []
        for start in range(0, mask.shape[0], batch_size):
            part = [arrays[m][start : start + batch_size].to(self.device) for m in self.modalities]
            chunks.append(self.deployed(*part, present=mask[start : start + batch_size].to(self.device)).cpu())
        return torch.cat(chunks), mask

    def predict(self, inputs: Mapping[str, InputArray], present: Any = None, batch_size: int = 256) -> Prediction:
        """Class probabilities per sample and the combination each was predicted from.

        Args:
            inputs: ``{modality: (N, *shape)}`` NumPy arrays or tensors; a modality left out or
                ``None`` is missing for every sample.
            present: optional ``(N, M)`` booleans marking per-sample gaps (ANDed with what is given).
            batch_size: samples per forward pass.
        """
        logits, mask = self.logits(inputs, present, batch_size)
        names = [self.deployed.combination_names[int(c)] for c in combination_codes(mask)]
        return Prediction(torch.softmax(logits.float(), dim=1).numpy(), names)

    def predict_labels(
        self, inputs: Mapping[str, InputArray], present: Any = None, batch_size: int = 256
    ) -> np.ndarray:
        """Predicted class per sample (per pixel for segmentation). Anti-spoofing accepts a sample as
        bona fide when ``p(bona fide)`` reaches its combination's validation threshold (0.5 if none)."""
        out = self.predict(inputs, present, batch_size)
        if self.bona_fide is None:
            return out.labels
        threshold = np.array([self.thresholds.get(c, 0.5) for c in out.combinations])
        accepted = out.probabilities[:, self.bona_fide] >= threshold
        return np.where(accepted, self.bona_fide, 1 - self.bona_fide)


def load(path: str | Path, device: str | torch.device = "cpu") -> Predictor:
    """A :class:`Predictor` for a ``model.pt`` written by ``mmanet run``.

    Raises:
        ModelFileError: unreadable file, another format, or weights that do not fit their spec.
    """
    model = load_model_file(path)
    if not model.entries:
        raise ModelFileError(f"{path}: the model file holds no network")
    return Predictor(model, device)
