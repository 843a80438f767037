"""The Lightning module that trains one deployment network and evaluates every combination.

Training returns named loss terms (``loss`` = their weighted sum, ``task``, and, for the
MMANet methods, ``mad`` / ``mar`` / ...); validation and test evaluate every combination with a
fixed mask, reusing each encoder's features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from mmanet.config import OptimConfig, to_dict
from mmanet.data import Batch, check_batch
from mmanet.evaluation import data_columns, update_combination_metrics
from mmanet.losses import segmentation_loss
from mmanet.metrics import CombinationMetrics, TaskSpec
from mmanet.modality import (
    Combination,
    all_combinations,
    combination_code,
    combination_name,
    full_combination,
    parse_combination,
)
from mmanet.nn import InputNorm, NetOutput, NetworkSpec, SubsetNetwork, build_network
from mmanet.training.calibrate import Calibration
from mmanet.training.methods import MethodSpec
from mmanet.training.optim import build_optimizer
from mmanet.training.resume import rng_state, set_rng_state
from mmanet.training.sampling import ModalityDropout, Policy, error_weights

__all__ = ["DeploymentModule", "NonFiniteLossError", "NonFiniteWeightsError", "check_finite_weights"]


class NonFiniteLossError(RuntimeError):
    """A training loss term became NaN or infinite."""


class NonFiniteWeightsError(NonFiniteLossError):
    """A trained network holds NaN or infinite weights (it is not exported)."""


def check_finite_weights(net: torch.nn.Module, label: str) -> None:
    """Raise :class:`NonFiniteWeightsError` naming the first non-finite weights of ``net``."""
    bad = [k for k, v in net.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise NonFiniteWeightsError(
            f"{label}: non-finite weights in {bad[:3]} ({len(bad)} tensors); the model is not exported"
        )


class EpochMeans:
    """Batch-size-weighted means over an epoch of scalar tensors logged every step.

    Lightning's ``self.log(..., on_epoch=True)`` gives the same means but costs a pass through
    its result collection per value and step; here a step adds one stacked tensor.
    """

    def __init__(self) -> None:
        self._sums: dict[tuple[str, ...], Tensor] = {}
        self._counts: dict[tuple[str, ...], int] = {}

    def add(self, values: dict[str, Tensor], size: int) -> None:
        """Accumulate ``values`` (each a 0-d tensor) of a batch of ``size`` samples."""
        key = tuple(values)
        stacked = torch.stack([v.detach().to(torch.float64) for v in values.values()]) * size
        self._sums[key] = self._sums[key] + stacked if key in self._sums else stacked
        self._counts[key] = self._counts.get(key, 0) + size

    def means(self) -> dict[str, Tensor]:
        """Each name's weighted mean over the steps that logged it; then empties the accumulator."""
        sums: dict[str, Tensor] = {}
        counts: dict[str, int] = {}
        for key, stacked in self._sums.items():
            for name, value in zip(key, stacked, strict=True):
                sums[name] = sums[name] + value if name in sums else value
                counts[name] = counts.get(name, 0) + self._counts[key]
        self._sums, self._counts = {}, {}
        return {name: (total / counts[name]).float() for name, total in sums.items()}


class DeploymentModule(L.LightningModule):
    """Trains the deployment network of ``spec`` by one method's sampling policy and plain cross-entropy.

    Args:
        spec: the deployment network.
        data_modalities: modality order of the data's presence mask (may include modalities the
            network does not use: a customized model sees a subset).
        optim: optimiser, schedule and training-time regularisers.
        method: what is trained (``teacher``: complete modalities; otherwise modality dropout).
        seed: keys the modality-dropout draws.
        num_train: number of training samples (dropout draws are made per sample index).
        task: the task and its options (metrics, ignore label).
        eval_combinations: combinations evaluated on validation and test (default: all of the
            network's; a customized model evaluates only its own).
        select_combinations: names whose mean validation selection score (the task's selection
            metric, e.g. accuracy, or ``1 - ACER``) selects the checkpoint (default:
            ``eval_combinations``; the teacher selects on the full combination).
        class_weights: per-class weights of the segmentation cross-entropy (e.g. median frequency).
        sampling: modality-dropout policy, ``uniform``, ``size_uniform`` or ``adaptive``
            (:class:`ModalityDropout`; ``adaptive`` draws each epoch's combinations by the latest
            validation epoch's errors, :func:`~mmanet.training.sampling.error_weights`).
        sampling_mix: ``adaptive``'s error-proportional share.
    """

    def __init__(
        self,
        *,
        spec: NetworkSpec,
        data_modalities: Sequence[str],
        optim: OptimConfig,
        method: MethodSpec,
        seed: int,
        num_train: int,
        task: TaskSpec | None = None,
        eval_combinations: Sequence[str] | None = None,
        select_combinations: Sequence[str] | None = None,
        class_weights: Sequence[float] | None = None,
        sampling: Policy = "uniform",
        sampling_mix: float = 0.5,
    ) -> None:
        super().__init__()
        task = task or TaskSpec()
        self.save_hyperparameters(  # plain values only: checkpoints load with weights_only=True
            {
                "network": spec.to_dict(),
                "data_modalities": list(data_modalities),
                "optim": to_dict(optim),
                "method": method.name,
                "seed": seed,
                "task": task.to_dict(),
                "sampling": sampling,
                "sampling_mix": sampling_mix,
            }
        )
        self.spec = spec
        self.method = method
        self.optim_config = optim
        self.net: SubsetNetwork = build_network(spec)
        self.data_modalities = list(data_modalities)
        self.columns = data_columns(self.net, self.data_modalities)
        modalities = self.net.modalities
        self.combinations: list[Combination] = (
            [parse_combination(n, modalities) for n in eval_combinations]
            if eval_combinations
            else all_combinations(modalities)
        )
        names = [combination_name(c) for c in self.combinations]
        self.select_names = [combination_name(parse_combination(n, modalities)) for n in (select_combinations or names)]
        self.dropout = ModalityDropout(num_train, seed, sampling)
        self.sampling_mix = sampling_mix
        self.sampling_history: list[dict[str, float]] = []  # adaptive: each epoch's probabilities by name
        self.task = task.metrics()
        self.val_metrics = CombinationMetrics(names, spec.num_classes, self.task.factory)
        self.test_metrics = CombinationMetrics(names, spec.num_classes, self.task.factory)
        self.class_weights = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights else None
        self.test_results: dict[str, dict[str, Any]] = {}
        self.val_history: list[dict[str, Any]] = []
        self.calibration = Calibration()
        self.train_means = EpochMeans()

    # ----------------------------------------------------------------- training
    def fit_input_statistics(self, inputs: dict[str, Tensor], present: Tensor) -> None:
        """Set the network's input normalisation from training inputs and their ``(N, M_data)`` presence."""
        self.net.fit_input_statistics(inputs, present[:, self.columns])

    def present(self, batch: Batch) -> Tensor:
        """``(B, M_net)`` data-presence mask in the network's modality order (checked)."""
        check_batch(batch, len(self.data_modalities))
        return batch["present"][:, self.columns]

    def training_mask(self, batch: Batch) -> Tensor:
        """The combination each training sample is shown this step, ``(B, M_net)`` bool."""
        present = self.present(batch)
        if self.method.sampling == "full":
            return present
        return self.dropout.masks(self.current_epoch, batch["index"], present)

    def on_train_epoch_start(self) -> None:
        if self.dropout.policy == "adaptive":
            self.set_sampling_weights()

    def set_sampling_weights(self) -> None:
        """``adaptive`` sampling: this epoch's combination weights from the latest validation entry
        (uniform before the first); their probabilities are kept in :attr:`sampling_history`."""
        if not self.val_history:
            self.dropout.weights = None
            return
        modalities = self.net.modalities
        results = self.val_history[-1]["combinations"]
        scores = {
            combination_code(c, modalities): self.task.score(results[combination_name(c)])
            for c in self.combinations
            if results.get(combination_name(c), {}).get("samples")
        }
        weights = error_weights(scores, len(modalities), self.sampling_mix)
        self.dropout.weights = weights
        self.sampling_history.append(
            {
                combination_name(c): round(float(weights[combination_code(c, modalities)]), 5)
                for c in all_combinations(modalities)
            }
        )

    def task_loss(self, out: NetOutput, target: Tensor) -> Tensor:
        """Cross-entropy of the deployment network: label smoothing for classification; per pixel with
        deep supervision, ignore label and optional class weights for segmentation."""
        if self.task.dense:
            ignore = self.task.ignore_index
            return segmentation_loss(
                out.logits, out.side, target, ignore_index=ignore, class_weights=self.class_weights
            )
        return F.cross_entropy(out.logits.float(), target, label_smoothing=self.optim_config.label_smoothing)

    def loss_terms(self, batch: Batch, mask: Tensor) -> dict[str, Tensor]:
        """Named, already weighted loss terms; their sum is the training loss."""
        out = self.net(batch["inputs"], mask)
        return {"task": self.task_loss(out, batch["target"])}

    def augment(self, batch: Batch) -> Batch:
        """Gaussian input noise (``optim.input_noise`` standard deviations of each feature), training only."""
        sigma = self.optim_config.input_noise
        if sigma <= 0:
            return batch
        inputs = dict(batch["inputs"])
        for m in self.net.modalities:
            std = cast(InputNorm, self.net.norms[m]).std  # type: ignore[index]
            inputs[m] = inputs[m] + sigma * std * torch.randn_like(inputs[m])
        return Batch(inputs=inputs, present=batch["present"], target=batch["target"], index=batch["index"])

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        batch = self.augment(batch)
        terms = self.loss_terms(batch, self.training_mask(batch))
        values = torch.stack(list(terms.values()))
        self.check_finite(terms, values, batch_idx)
        loss = values.sum()
        self.train_means.add({"loss": loss, **terms}, int(batch["target"].shape[0]))
        return loss

    def on_train_epoch_end(self) -> None:
        for name, value in self.train_means.means().items():
            self.log(f"train/{name}", value, prog_bar=name == "loss")

    def check_finite(self, terms: dict[str, Tensor], values: Tensor, batch_idx: int) -> None:
        """Stop on a NaN/inf loss term, naming the step and the term (every rank stops together).

        ``values`` is ``terms`` stacked: one check (one host sync) per step when all is well."""
        finite = bool(torch.isfinite(values.detach()).all())
        bad = [] if finite else [name for name, value in terms.items() if not bool(torch.isfinite(value.detach()))]
        trainer = self._trainer
        stop = bool(bad)
        if trainer is not None and trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            where = f"epoch {self.current_epoch}, batch {batch_idx}, global step {self.global_step}"
            raise NonFiniteLossError(
                f"non-finite loss at {where}: terms {bad or '(on another rank)'}; the last good checkpoint is kept"
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["mmanet"] = {
            "rng": rng_state(),
            "val_history": self.val_history,
            "sampling_history": self.sampling_history,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("mmanet", {})
        self.val_history = list(state.get("val_history", []))
        self.sampling_history = list(state.get("sampling_history", []))
        if "rng" in state:
            set_rng_state(state["rng"])

    def configure_optimizers(self) -> Any:
        optimizer, scheduler = build_optimizer(self.optim_config, self.trainable_parameters())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters the optimiser updates (subclasses add their training-only networks)."""
        return list(self.net.parameters())

    # --------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: Batch, metrics: CombinationMetrics) -> dict[str, NetOutput]:
        """Update ``metrics`` with every combination's predictions for one batch."""
        check_batch(batch, len(self.data_modalities))
        return update_combination_metrics(self.net, batch, self.columns, self.combinations, metrics)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.evaluate_batch(batch, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        results = self.val_metrics.compute()
        self.val_metrics.reset()
        scored = [n for n in self.select_names if results[n]["samples"]]
        select = sum(self.task.score(results[n]) for n in scored) / max(1, len(scored))
        self.log("val/select", select, prog_bar=True)
        for name, values in results.items():
            for metric in self.task.names:
                if values.get(metric) is not None:
                    self.log(f"val/{name}/{metric}", values[metric])
        self.val_history.append({"epoch": self.current_epoch, "select": select, "combinations": results})

    def best_validation(self) -> dict[str, Any] | None:
        """The validation entry with the highest selection score (the first one on ties, as the checkpoint)."""
        if not self.val_history:
            return None
        return max(self.val_history, key=lambda e: (e["select"], -e["epoch"]))

    def last_validation(self) -> dict[str, Any] | None:
        """The latest validation entry (``optim.restore: last``)."""
        return self.val_history[-1] if self.val_history else None

    def use_calibration(self, calibration: Calibration) -> None:
        """Test with the calibration fitted on validation: logits divided by each combination's
        temperature, anti-spoofing HTER at its threshold."""
        self.calibration = calibration
        names = [combination_name(c) for c in self.combinations]
        options = calibration.metric_options()
        self.test_metrics = CombinationMetrics(names, self.spec.num_classes, self.task.factory, options)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        check_batch(batch, len(self.data_modalities))
        temperature = self.calibration.temperature
        update_combination_metrics(self.net, batch, self.columns, self.combinations, self.test_metrics, temperature)

    def on_test_epoch_start(self) -> None:
        self.test_metrics.reset()

    def on_test_epoch_end(self) -> None:
        self.test_results = self.test_metrics.compute()
        self.test_metrics.reset()

    @property
    def full_name(self) -> str:
        """Name of the network's complete combination."""
        return combination_name(full_combination(self.net.modalities))
