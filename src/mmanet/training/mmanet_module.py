"""The MMANet training system: deployment network + frozen teacher (MAD/SP/KD) + regularization network (MAR),
plus the ``mmanet-plus`` components (unimodal heads, single-modality passes, specialist KD).

``L = CE + alpha * L_distill + beta * L_MAR (+ plus terms)`` (METHOD.md section 4); the
distillation and MAR terms start at their ``begin_epoch``. Only the deployment network is exported.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor

from mmanet.config import DistillConfig, MARConfig, PlusConfig, to_dict
from mmanet.data import Batch
from mmanet.losses import DistillationLoss, build_distillation, effective_sample_share
from mmanet.metrics import CombinationMetrics
from mmanet.nn import CombinationDecoders, NetOutput, copy_shared, select_rows, through_shared
from mmanet.training.deployment import DeploymentModule
from mmanet.training.distributed import check_same_on_every_rank, gather_function
from mmanet.training.plus import (
    FrozenSpecialists,
    PlusComponents,
    add_gradient_noise,
    check_ogm,
    check_own_decoders,
    concat_fused,
    encoders_from,
    se_from,
    split_output,
)
from mmanet.training.regularization import ModalityRegularization
from mmanet.training.teacher import FrozenTeacher, ModelRef, TeacherCache, load_specialists, load_teacher

__all__ = ["MMANetModule"]


class _Detached:
    """Holds a module outside the parent's module tree (not wrapped by DDP, not in its state_dict)."""

    def __init__(self, module: FrozenTeacher) -> None:
        self.module = module


class MMANetModule(DeploymentModule):
    """A :class:`DeploymentModule` with distillation, MAR and the plus components, as its method asks.

    Extra args:
        distill: distillation settings (layer, variant, alpha, temperatures, ...).
        mar: MAR settings (mining window, criterion, beta, ...).
        plus: the ``mmanet-plus`` components (read only when the method is ``mmanet-plus``).
        teacher: the teacher model file (methods that distil).
        specialists: the per-modality specialists' model file (``plus.needs_specialists``).
        entropy_table: ``(num_train,)`` cross-fitted teacher entropies per training sample.
        fixed_inputs: the training inputs are the same every epoch (the teacher's outputs are
            cached per sample when ``distill.cache_teacher``).
    """

    def __init__(
        self,
        *,
        distill: DistillConfig,
        mar: MARConfig,
        plus: PlusConfig | None = None,
        teacher: ModelRef | None = None,
        specialists: ModelRef | None = None,
        entropy_table: Tensor | None = None,
        fixed_inputs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        plus = plus or PlusConfig()
        self.save_hyperparameters({"distill": to_dict(distill), "mar": to_dict(mar), "plus": to_dict(plus)})
        self.distill_config = distill
        self.mar_config = mar
        self.plus_config = plus
        self.register_buffer("entropy_table", entropy_table, persistent=entropy_table is not None)
        self._teacher: _Detached | None = None
        self.teacher_info: dict[str, Any] = {}
        self.specialists_info: dict[str, Any] = {}
        self.distillation = self._distillation(teacher, entropy_table)
        self._teacher_cache: TeacherCache | None = None
        if self._teacher is not None and distill.cache_teacher and fixed_inputs and self.optim_config.input_noise == 0:
            keys = tuple(dict.fromkeys([distill.layer, "logits"]))
            self._teacher_cache = TeacherCache(self._teacher.module, self.dropout.num_samples, keys)
        regularize = self.method.regularizes(plus)
        reg = None
        if regularize:
            reg = ModalityRegularization(self.spec, self.net, mar, self.task.ignore_index, self.class_weights)
        self.regularization = reg
        self.plus = self._plus_components(specialists) if self.method.plus else None
        begin = distill.begin_epoch
        self.distill_begin = mar.begin_epoch if begin is None else begin
        self._ess = torch.zeros(2, dtype=torch.float64)  # running (sum, count) of MAD's effective sample share

    def _distillation(self, teacher: ModelRef | None, entropy_table: Tensor | None) -> DistillationLoss | None:
        """Load the frozen teacher and build the distillation loss, when the method distils."""
        kind = self.method.distillation(self.plus_config)
        if kind is None:
            return None
        if teacher is None:
            raise ValueError(f"method {self.method.name!r} needs a teacher: give distill.teacher or train one first")
        frozen, info = load_teacher(teacher.path, self.spec, teacher.sha256)
        self._teacher = _Detached(frozen)
        self.teacher_info = info.to_dict()
        d = self.distill_config
        return build_distillation(
            kind,
            layer=d.layer,
            variant=d.variant,
            dense=self.task.dense,
            temperature=d.temperature,
            teacher_temperature=d.teacher_temperature,
            max_size=d.max_size,
            chunk=d.chunk,
            entropy_table=entropy_table,
        )

    def _plus_components(self, specialists: ModelRef | None) -> PlusComponents:
        """The ``mmanet-plus`` parts, with the specialists loaded when their KD is on."""
        cfg = self.plus_config
        if self.net.masking != "feature":
            raise ValueError("mmanet-plus reuses encoder outputs across combinations: it needs model.masking=feature")
        check_own_decoders(self.net, cfg)
        check_ogm(self.net, cfg)
        frozen: FrozenSpecialists | None = None
        if cfg.needs_specialists:
            if specialists is None:
                raise ValueError(
                    "plus.specialists > 0 or plus.encoders_from_specialists needs the specialists: give "
                    "plus.specialists_path or train them first"
                )
            frozen, self.specialists_info = load_specialists(specialists.path, self.spec, specialists.sha256)
            if cfg.encoders_from_specialists:
                encoders_from(self.net, frozen, specialists.path)
            if cfg.se_from_specialists:
                se_from(self.net, frozen, specialists.path)
        return PlusComponents(
            self.net.modalities,
            self.net.modality_feature_shapes(),
            self.spec.num_classes,
            cfg,
            dense=self.task.dense,
            ignore_index=self.task.ignore_index,
            temperature=self.distill_config.temperature,
            specialists=frozen,
        )

    @property
    def teacher(self) -> FrozenTeacher:
        """The frozen teacher, on this module's device."""
        if self._teacher is None:
            raise RuntimeError(f"method {self.method.name!r} has no teacher")
        if next(self._teacher.module.parameters()).device != self.device:
            self._teacher.module.to(self.device)
        return self._teacher.module

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
        extra = self.plus.extra_masks(present)
        decoder = self.net.decoder
        again = self.plus.shared_masks(
            extra, decoder.codes_with_own if isinstance(decoder, CombinationDecoders) else []
        )
        masks = [mask, *extra, *again]
        modulated = self._modulated(prepared, masks, batch["target"], present)
        parts = [self.net.fused_from(p, m) for p, m in zip(modulated, masks, strict=True)]
        index = self.plus.pair_index(int(mask.shape[0]), mask.device)
        if index is not None:  # plus.pair_rows < 1: the pair passes decode a subset of the rows
            for k in self.plus.pair_positions():
                parts[1 + k], masks[1 + k] = select_rows(parts[1 + k], index), masks[1 + k][index]
        sizes = [int(m.shape[0]) for m in masks]
        shared_rows = torch.arange(sum(sizes), device=mask.device) >= sum(sizes[: 1 + len(extra)])
        if not self.own_decoders_forked():  # every row through the shared decoder (its copies follow it)
            shared_rows = torch.ones_like(shared_rows)
        with through_shared(decoder, shared_rows, self.plus_config.detach_own_decoders):  # repeats: shared decoder
            decoded = self.net.decode(concat_fused(parts), torch.cat(masks))
        waiting = self.waiting_own_decoders()
        if waiting:  # a zero-valued use, so DDP sees every parameter each step (their gradients are dropped)
            decoded = decoded._replace(logits=decoded.logits + torch.stack([p.sum() for p in waiting]).sum() * 0.0)
        outputs = split_output(decoded, sizes)
        terms = self.plus.head_term(self.net, prepared, batch["target"], present)
        epoch, epochs = self.current_epoch, self._epochs()
        product = self.plus_config.product_weight(epoch, epochs)
        teachers = self.plus.specialist_logits(batch["inputs"]) if product > 0 else None
        if extra:
            passes = outputs[1 : 1 + len(extra)]
            weight = self.plus_config.specialist_weight(epoch, epochs)
            terms |= self.plus.pass_terms(passes, batch["inputs"], batch["target"], present, index, weight, teachers)
        if teachers is not None:
            terms |= self.plus.product_term(outputs[0].logits, mask, teachers, product)
            terms |= self._pair_product(outputs, masks, teachers, index, product)
        elif self.plus_config.specialists_product > 0:  # not started: the terms logged as 0
            zero = outputs[0].logits.new_zeros((), dtype=torch.float32)
            terms |= {"product": zero, **({"pair_product": zero} if self.plus.pairs else {})}
        terms |= self.plus.shared_term(outputs[1 + len(extra) :], again, batch["target"])
        return parts[0], outputs[0], terms

    def _pair_product(
        self,
        outputs: list[NetOutput],
        masks: list[Tensor],
        teachers: dict[str, Tensor],
        index: Tensor | None,
        weight: float,
    ) -> dict[str, Tensor]:
        """``pair_product``: the specialists' product KD into each pair pass (``plus.pair_passes``; on the
        rows ``index`` when ``plus.pair_rows`` < 1), mean over the pairs; empty without pair passes."""
        assert self.plus is not None
        positions = [1 + k for k in self.plus.pair_positions()]
        if not positions:
            return {}
        rows = teachers if index is None else {m: t[index] for m, t in teachers.items()}
        kd = [self.plus.product_term(outputs[k].logits, masks[k], rows, weight)["product"] for k in positions]
        return {"pair_product": torch.stack(kd).mean()}

    def _modulated(self, prepared: Any, masks: list[Tensor], target: Tensor, present: Tensor) -> list[Any]:
        """``prepared`` once per pass of ``masks``, with OGM's gradient coefficients on its features while
        ``plus.ogm`` modulates (:meth:`PlusConfig.modulates`); logs each modality's mean coefficient
        over the sampled pass's rows in which it shares the combination (``ogm_<m>``)."""
        assert self.plus is not None
        if not self.plus_config.modulates(self.current_epoch, self._epochs()):
            return [prepared] * len(masks)
        scores = self.plus.ogm_scores(self.net.modality_features(prepared), target, present)
        out = [self.plus.modulated(prepared, m, scores) for m in masks]
        shared = masks[0] & (masks[0].sum(1, keepdim=True) > 1)
        k = out[0][1]
        for j, m in enumerate(self.net.modalities):
            if bool(shared[:, j].any()):
                self.train_means.add({f"ogm_{m}": k[shared[:, j], j].mean()}, int(shared[:, j].sum()))
        return [p for p, _ in out]

    def loss_terms(self, batch: Batch, mask: Tensor) -> dict[str, Tensor]:
        """``task``, then ``sp``/``kd``/``mad`` (times alpha), ``mar`` (times beta) and the plus terms when active."""
        extra: dict[str, Tensor] = {}
        if self.plus is not None:
            fused, out, extra = self._forward_plus(batch, mask)
        else:
            fused = self.net.fused_features(batch["inputs"], mask)
            out = self.net.decode(fused, mask)
        terms = {"task": self.task_loss(out, batch["target"]), **extra}
        epoch = self.current_epoch
        size = int(mask.shape[0])
        if self.distillation is not None and epoch >= self.distill_begin:
            if self._teacher_cache is not None:
                self.teacher  # noqa: B018 - moves the teacher to this module's device
                teacher = self._teacher_cache.layers(batch["inputs"], self.present(batch), batch["index"])
            else:
                teacher = self.teacher.layers(batch["inputs"], self.present(batch))
            student = {"fused": fused, "features": out.features, "logits": out.logits}
            raw, weights = self.distillation(student, teacher, batch["index"], gather_function(self._trainer))
            terms[self.distillation.name] = self.distill_config.alpha * raw
            if weights is not None:
                ess = effective_sample_share(weights.detach())
                self._ess = self._ess.to(ess.device) + torch.stack(
                    [ess.double(), ess.new_ones((), dtype=torch.float64)]
                )
                self.train_means.add({"ess_share": ess}, size)
        if self.regularization is not None:
            raw, count = self.regularization(fused, mask, batch["target"], epoch)
            terms["mar"] = self.mar_config.beta * raw
            self.train_means.add({"weak_share": torch.tensor(count / size)}, size)
        return terms

    # ------------------------------------------------------------------ mining
    def evaluate_batch(self, batch: Batch, metrics: CombinationMetrics) -> dict[str, NetOutput]:
        outputs = super().evaluate_batch(batch, metrics)
        reg = self.regularization
        if reg is not None and metrics is self.val_metrics and reg.mining(self.current_epoch):
            reg.miner.update({n: o.logits for n, o in outputs.items()}, batch["target"])
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

    def own_decoders_forked(self) -> bool:
        """Whether the own decoders train on their own rows this epoch (``plus.fork_own_decoders``)."""
        return self.current_epoch >= self.plus_config.fork_epochs(self._epochs())

    def _own_decoders(self) -> CombinationDecoders | None:
        """The network's own decoders when ``mmanet-plus`` trains them, else ``None``."""
        decoder = self.net.decoder
        return decoder if self.plus is not None and isinstance(decoder, CombinationDecoders) else None

    def on_validation_epoch_start(self) -> None:
        router = self._own_decoders()
        if router is not None and not self.own_decoders_forked():
            copy_shared(router)  # before the fork every combination is the shared decoder's, in checkpoints too
        super().on_validation_epoch_start()

    def held_encoders(self) -> list[torch.nn.Parameter]:
        """The encoder parameters held this epoch (``plus.encoder_warmup``; none after it)."""
        if self.plus is None or self.current_epoch >= self.plus_config.warmup_epochs(self._epochs()):
            return []
        return self.encoder_parameters()

    def _epochs(self) -> int:
        trainer = self._trainer
        return int(trainer.max_epochs) if trainer is not None and trainer.max_epochs is not None else 0

    def waiting_own_decoders(self) -> list[torch.nn.Parameter]:
        """The own decoders' parameters before the fork (``plus.fork_own_decoders``; none after it)."""
        router = self._own_decoders()
        if router is None or self.own_decoders_forked():
            return []
        return [p for own in router.own.values() for p in own.parameters()]

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        for p in [*self.held_encoders(), *self.waiting_own_decoders()]:
            p.grad = None  # no gradient: the optimizer leaves them (and their moments) as they are
        cfg = self.plus_config
        if self.plus is not None and cfg.ogm_noise and cfg.modulates(self.current_epoch, self._epochs()):
            # one draw per (seed, step): the same on every process of a data-parallel run
            add_gradient_noise(self.encoder_parameters(), self.dropout.seed * 1_000_003 + self.global_step)

    def encoder_parameters(self) -> list[torch.nn.Parameter]:
        """Every encoder's parameters (and the alone encoders', when the network has them)."""
        encoders = cast(torch.nn.Module, self.net.encoders)
        copies = [encoders, *([self.net.alone_encoders] if self.net.alone_encoders is not None else [])]
        return [p for module in copies for p in module.parameters()]

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        router = self._own_decoders()
        if router is not None and 0 < self.plus_config.fork_epochs(self._epochs()) == self.current_epoch:
            copy_shared(router)  # the fork: each own decoder starts from the shared decoder as it is now
        reg = self.regularization
        if reg is not None and self.current_epoch >= reg.cfg.begin_epoch and reg.miner.weak_combinations_ is None:
            self._select_weak()  # mining window cut short (e.g. validation skipped): use what was accumulated

    def _select_weak(self) -> None:
        assert self.regularization is not None
        weak = self.regularization.miner.select(self.current_epoch)
        check_same_on_every_rank(self._trainer, weak, "the mined weak combinations")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["mmanet"]["ess"] = [float(v) for v in self._ess]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._ess = torch.tensor(checkpoint.get("mmanet", {}).get("ess", [0.0, 0.0]), dtype=torch.float64)

    def diagnostics(self) -> dict[str, Any]:
        """Mined set, mining scores per epoch, MAD's effective sample share, the encoder warm-up
        epochs (``plus.encoder_warmup``) and each epoch's combination probabilities under
        ``plus.sampling: adaptive`` (from the second epoch), for the report."""
        out: dict[str, Any] = {}
        if self.plus is not None and self.plus_config.encoder_warmup > 0:
            out["encoder_warmup_epochs"] = self.plus_config.warmup_epochs(self._epochs())
        if self.plus is not None and self.plus_config.fork_own_decoders > 0:
            out["fork_epochs"] = self.plus_config.fork_epochs(self._epochs())
        total, count = (float(v) for v in self._ess)
        if count > 0:
            out["ess_share"] = total / count
        if self.sampling_history:
            out["sampling"] = self.sampling_history
        if self.regularization is not None:
            out["weak_combinations"] = self.regularization.miner.weak_combinations_
            out["mining_scores"] = self.regularization.miner.history_
            out["selections"] = self.regularization.miner.selections_
        return out
