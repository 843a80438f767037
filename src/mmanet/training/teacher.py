"""The frozen teacher: trained on complete modalities, then used only to distil from.

The teacher is pinned to eval mode (a parent's ``train()`` cannot switch it back), has no
gradients, runs under ``no_grad``, and is kept outside the student's module tree so neither
DDP nor the student's checkpoint ever wraps or copies it; the checkpoint records its path and
SHA-256 instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmanet.modality import combination_name, full_combination
from mmanet.modelfile import ModelFileError, load_model_file
from mmanet.nn import NetworkSpec, SubsetNetwork
from mmanet.training.plus import FrozenSpecialists

__all__ = [
    "FrozenTeacher",
    "ModelRef",
    "TeacherCache",
    "TeacherInfo",
    "file_sha256",
    "load_specialists",
    "load_teacher",
]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A model file another training step distils from, with the hash it had when referenced."""

    path: str
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> ModelRef:
        """Reference ``path`` with its current SHA-256."""
        return cls(str(path), file_sha256(path))


@dataclasses.dataclass
class TeacherInfo:
    """What the student's checkpoint and report record about its teacher."""

    path: str
    sha256: str
    method: str
    config: dict[str, Any]
    results: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return dataclasses.asdict(self)


class FrozenTeacher(nn.Module):
    """Wraps a trained :class:`SubsetNetwork`; always eval, never trainable."""

    def __init__(self, net: SubsetNetwork) -> None:
        super().__init__()
        self.net = net
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrozenTeacher:
        """Ignore ``mode``: the teacher stays in eval mode."""
        return super().train(False)

    @torch.no_grad()
    def layers(self, inputs: dict[str, Tensor], present: Tensor) -> dict[str, Tensor]:
        """``{"fused", "features", "logits"}`` of the teacher on what the data holds (complete data: all)."""
        fused = self.net.fused_features(inputs, present)
        out = self.net.decode(fused, present)
        return {"fused": fused, "features": out.features, "logits": out.logits}


class TeacherCache:
    """The frozen teacher's outputs per training sample, computed once when the training inputs are
    the same every epoch (no augmentation, no input noise).

    The teacher is in eval mode, so a sample's outputs do not depend on the other samples of its
    batch, only (through floating-point rounding) on the batch size the kernels see: a single row
    can round differently from the same row in a batch of 64. So whenever a batch holds a sample
    never seen, the teacher runs on the whole batch, as an uncached pass would, and the lookups
    equal the uncached pass bit for bit when the batch size is fixed (``drop_last``; checked in
    the tests, where a batch with one new row used to round differently).
    """

    def __init__(self, teacher: FrozenTeacher, num_samples: int, keys: tuple[str, ...]) -> None:
        self.teacher = teacher
        self.num_samples = num_samples
        self.keys = keys
        self.tables: dict[str, Tensor] = {}
        self.filled = torch.zeros(num_samples, dtype=torch.bool)

    @torch.no_grad()
    def layers(self, inputs: dict[str, Tensor], present: Tensor, index: Tensor) -> dict[str, Tensor]:
        """The teacher's ``keys`` for the samples at ``index`` (computed for those never seen before)."""
        device = present.device
        self.filled = self.filled.to(device)
        new = ~self.filled[index]
        if bool(new.any()):
            out = self.teacher.layers(inputs, present)  # the whole batch: the same rounding as a plain pass
            rows = torch.nonzero(new).flatten()
            for key in self.keys:
                if key not in self.tables:
                    self.tables[key] = torch.zeros(
                        self.num_samples, *out[key].shape[1:], dtype=out[key].dtype, device=device
                    )
                self.tables[key][index[rows]] = out[key][rows]
            self.filled[index[rows]] = True
            return {key: out[key] for key in self.keys}
        return {key: self.tables[key].to(device)[index] for key in self.keys}


def _check_matches(teacher: NetworkSpec, student: NetworkSpec, path: str) -> None:
    if teacher.modalities != student.modalities:
        raise ModelFileError(
            f"teacher {path}: modalities {list(teacher.modalities)} differ from the student's "
            f"{list(student.modalities)}"
        )
    for m in student.modalities:
        if teacher.input_shapes[m] != student.input_shapes[m]:
            raise ModelFileError(
                f"teacher {path}: modality {m!r} has input shape {teacher.input_shapes[m]}, the student "
                f"{student.input_shapes[m]}"
            )
    if teacher.num_classes != student.num_classes:
        raise ModelFileError(f"teacher {path}: {teacher.num_classes} classes, the student has {student.num_classes}")


def load_teacher(
    path: str | Path, student: NetworkSpec, expected_sha256: str | None = None
) -> tuple[FrozenTeacher, TeacherInfo]:
    """Load a teacher ``model.pt`` and check it fits the student (modalities, shapes, classes).

    Raises:
        ModelFileError: unreadable file, several networks, a mismatch with the student, or a
            file whose hash differs from ``expected_sha256`` (a resumed run's teacher changed).
    """
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise ModelFileError(
            f"teacher {path}: SHA-256 {sha[:12]}... differs from the recorded {expected_sha256[:12]}..."
        )
    model = load_model_file(path)
    if len(model.entries) != 1:
        raise ModelFileError(f"teacher {path}: expected one network, found {len(model.entries)} (a customized model?)")
    entry = model.entries[0]
    full = combination_name(full_combination(entry.spec.modalities))
    if full not in [combination_name(c) for c in entry.serves]:
        raise ModelFileError(f"teacher {path}: does not serve the complete combination {full}")
    _check_matches(entry.spec, student, str(path))
    meta = model.meta
    info = TeacherInfo(
        str(path), sha, str(meta.get("method")), dict(meta.get("config", {})), dict(meta.get("results", {}))
    )
    return FrozenTeacher(entry.net), info


def load_specialists(
    path: str | Path, student: NetworkSpec, expected_sha256: str | None = None
) -> tuple[FrozenSpecialists, dict[str, Any]]:
    """Load per-modality specialists (a model file with one network serving each single modality).

    Returns the frozen specialists and ``{"path", "sha256"}``.

    Raises:
        ModelFileError: unreadable file, a modality without a specialist, or shapes/classes that
            differ from the student's.
    """
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise ModelFileError(
            f"specialists {path}: SHA-256 {sha[:12]}... differs from the recorded {expected_sha256[:12]}..."
        )
    model = load_model_file(path)
    nets: dict[str, nn.Module] = {}
    for entry in model.entries:
        if len(entry.spec.modalities) == 1 and [tuple(c) for c in entry.serves] == [tuple(entry.spec.modalities)]:
            nets[entry.spec.modalities[0]] = entry.net
    missing = [m for m in student.modalities if m not in nets]
    if missing:
        raise ModelFileError(f"specialists {path}: no single-modality network for {missing} (found {sorted(nets)})")
    for m in student.modalities:
        spec = next(e.spec for e in model.entries if e.net is nets[m])
        if spec.input_shapes[m] != student.input_shapes[m] or spec.num_classes != student.num_classes:
            raise ModelFileError(
                f"specialists {path}: modality {m!r} network has shape {spec.input_shapes[m]} and "
                f"{spec.num_classes} classes, "
                f"the student {student.input_shapes[m]} and {student.num_classes}"
            )
    return FrozenSpecialists({m: nets[m] for m in student.modalities}), {"path": str(path), "sha256": sha}
