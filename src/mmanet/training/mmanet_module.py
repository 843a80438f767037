"""The MMANet training system: deployment network + frozen teacher (MAD/SP/KD) + regularization network (MAR).

``L = CE + alpha * L_distill + beta * L_MAR`` (METHOD.md section 4); the distillation and MAR
terms start at their ``begin_epoch``. Only the deployment network is exported.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from mmanet.config import DistillConfig, MARConfig, PlusConfig, from_dict
from mmanet.data import Batch
from mmanet.metrics import CombinationMetrics
from mmanet.nn import NetOutput
from mmanet.training.distillation import Distillation
from mmanet.training.module import MultimodalClassifier
from mmanet.training.plus import PlusComponents, concat_fused, split_output
from mmanet.training.regularization import ModalityRegularization
from mmanet.training.teacher import FrozenTeacher, load_specialists, load_teacher

__all__ = ["MMANetClassifier"]


class _Detached:
    """Holds a module outside the parent's module tree (not wrapped by DDP, not in its state_dict)."""

    def __init__(self, module: FrozenTeacher) -> None:
        self.module = module


class MMANetClassifier(MultimodalClassifier):
    """A :class:`MultimodalClassifier` with distillation and/or MAR, as its method asks.

    Extra args:
        distill: :class:`mmanet.config.DistillConfig` as a dict.
        mar: :class:`mmanet.config.MARConfig` as a dict.
        teacher: ``{"path": ..., "sha256": ...}`` of the teacher ``model.pt`` (methods that distil).
        entropy_table: ``(num_train,)`` cross-fitted teacher entropies per training sample.
        plus: :class:`mmanet.config.PlusConfig` as a dict (``mmanet-plus``).
        specialists: ``{"path": ..., "sha256": ...}`` of the per-modality specialists' model file.
    """

    entropy_table: Tensor | None

    def __init__(
        self,
        *,
        distill: dict[str, Any],
        mar: dict[str, Any],
        teacher: dict[str, Any] | None = None,
        entropy_table: Tensor | None = None,
        plus: dict[str, Any] | None = None,
        specialists: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["entropy_table"])
        self.distill_config = from_dict(DistillConfig, distill, prefix="distill")
        self.mar_config = from_dict(MARConfig, mar, prefix="mar")
        self.plus_config = from_dict(PlusConfig, plus or {}, prefix="plus")
        self.register_buffer("entropy_table", entropy_table, persistent=entropy_table is not None)
        self.distillation: Distillation | None = None
        self._teacher: _Detached | None = None
        self.teacher_info: dict[str, Any] = {}
        self.specialists_info: dict[str, Any] = {}
        kind = self.method.distillation(self.plus_config)
        if kind is not None:
            if not teacher or not teacher.get("path"):
                raise ValueError(f"method {self.method.name!r} needs a teacher: give distill.teacher or train one first")
            frozen, info = load_teacher(teacher["path"], self.spec, teacher.get("sha256"))
            self._teacher = _Detached(frozen)
            self.teacher_info = info.to_dict()
            self.distillation = Distillation(kind, self.distill_config, entropy_table)
        regularize = self.method.regularizes(self.plus_config)
        reg = ModalityRegularization(self.spec, self.net, self.mar_config, self.task.ignore_index) if regularize else None
        self.regularization = reg
        self.plus = self._plus_components(specialists) if self.method.plus else None
        begin = self.distill_config.begin_epoch
        self.distill_begin = self.mar_config.begin_epoch if begin is None else begin
        self.ess: list[float] = []

    @property
    def teacher(self) -> FrozenTeacher:
        """The frozen teacher, on this module's device."""
        if self._teacher is None:
            raise RuntimeError(f"method {self.method.name!r} has no teacher")
        if next(self._teacher.module.parameters()).device != self.device:
            self._teacher.module.to(self.device)
        return self._teacher.module

    def _plus_components(self, specialists: dict[str, Any] | None) -> PlusComponents:
        """The ``mmanet-plus`` parts, with the specialists loaded when their KD is on."""
        cfg = self.plus_config
        if self.net.masking != "feature":
            raise ValueError("mmanet-plus reuses encoder outputs across combinations: it needs model.masking=feature")
        frozen = None
        if cfg.specialists > 0:
            if not specialists or not specialists.get("path"):
                raise ValueError("plus.specialists > 0 needs the per-modality specialists: give plus.specialists_path or train them first")
            frozen, info = load_specialists(specialists["path"], self.spec, specialists.get("sha256"))
            self.specialists_info = info
        shapes = self.net.modality_feature_shapes()
        return PlusComponents(
            self.net.modalities,
            shapes,
            self.spec.num_classes,
            cfg,
            dense=self.task.dense,
            ignore_index=self.task.ignore_index,
            temperature=self.distill_config.temperature,
            specialists=frozen,
        )

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Deployment network plus the regularization decoder and unimodal heads (never a teacher)."""
        extra = list(self.regularization.decoder.parameters()) if self.regularization is not None else []
        if self.plus is not None:
            extra += list(self.plus.parameters())
        return list(self.net.parameters()) + extra

    def _forward_plus(self, batch: Batch, mask: Tensor) -> tuple[Any, NetOutput, dict[str, Tensor]]:
        """Sampled combination and single-modality passes in one decoder call; the plus terms."""
        assert self.plus is not None
        prepared = self.net.prepare(batch["inputs"])
        present = self.present(batch)
        masks = [mask, *(self.plus.single_masks(present) if self.plus.passes else [])]
        parts = [self.net.fused_from(prepared, m) for m in masks]
        outputs = split_output(self.net.decoder(concat_fused(parts)), int(mask.shape[0]), len(masks))
        terms = self.plus.head_term(self.net.modality_features(prepared), batch["target"], present)
        if self.plus.passes:
            terms |= self.plus.pass_terms(outputs[1:], batch["inputs"], batch["target"], present)
        return parts[0], outputs[0], terms

    def loss_terms(self, batch: Batch, mask: Tensor) -> dict[str, Tensor]:
        """``task``, then ``sp``/``kd``/``mad`` (times alpha), ``mar`` (times beta) and the plus terms when active."""
        extra: dict[str, Tensor] = {}
        if self.plus is not None:
            fused, out, extra = self._forward_plus(batch, mask)
        else:
            fused = self.net.fused_features(batch["inputs"], mask)
            out = self.net.decoder(fused)
        terms = {"task": self.task_loss(out, batch["target"]), **extra}
        epoch = self.current_epoch
        if self.distillation is not None and epoch >= self.distill_begin:
            teacher = self.teacher.layers(batch["inputs"], self.present(batch))
            student = {"fused": fused, "features": out.features, "logits": out.logits}
            raw, diagnostics = self.distillation(student, teacher, batch["index"])
            terms[self.distillation.kind] = self.distill_config.alpha * raw
            if "ess_share" in diagnostics:
                self.ess.append(diagnostics["ess_share"])
                self.log("train/ess_share", diagnostics["ess_share"], on_step=False, on_epoch=True, batch_size=int(mask.shape[0]))
        if self.regularization is not None:
            raw, count = self.regularization(fused, mask, batch["target"], epoch)
            terms["mar"] = self.mar_config.beta * raw
            self.log("train/weak_share", count / mask.shape[0], on_step=False, on_epoch=True, batch_size=int(mask.shape[0]))
        return terms

    # ------------------------------------------------------------------ mining
    def evaluate_batch(self, batch: Batch, metrics: CombinationMetrics) -> dict[str, NetOutput]:
        outputs = super().evaluate_batch(batch, metrics)
        if self.regularization is not None and metrics is self.val_metrics and self.regularization.mining(self.current_epoch):
            self.regularization.miner.update({n: o.logits for n, o in outputs.items()}, batch["target"])
        return outputs

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        reg = self.regularization
        if reg is None or not reg.mining(self.current_epoch):
            return
        scores = reg.miner.accumulate(self.current_epoch)
        for name, value in scores.items():
            self.log(f"mining/{name}", value)
        if reg.selects_after(self.current_epoch):
            self._select_weak()
            if reg.cfg.remine_every > 0:
                reg.miner.restart()

    def on_train_epoch_start(self) -> None:
        reg = self.regularization
        if reg is not None and self.current_epoch >= reg.cfg.begin_epoch and reg.miner.weak_combinations_ is None:
            self._select_weak()  # mining window cut short (e.g. validation skipped): use what was accumulated

    def _select_weak(self) -> None:
        assert self.regularization is not None
        weak = self.regularization.miner.select(self.current_epoch)
        if dist.is_available() and dist.is_initialized():
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, weak)
            if any(g != weak for g in gathered):
                raise RuntimeError(f"ranks mined different weak combinations: {gathered}")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["mmanet"]["ess"] = self.ess

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.ess = list(checkpoint.get("mmanet", {}).get("ess", []))

    def diagnostics(self) -> dict[str, Any]:
        """Mined set, mining scores per epoch and MAD's effective sample share, for the report."""
        out: dict[str, Any] = {}
        if self.ess:
            out["ess_share"] = float(sum(self.ess) / len(self.ess))
        if self.regularization is not None:
            out["weak_combinations"] = self.regularization.miner.weak_combinations_
            out["mining_scores"] = self.regularization.miner.history_
            out["selections"] = self.regularization.miner.selections_
        return out
