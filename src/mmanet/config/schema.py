"""Typed configuration sections; each checks its impossible values and names the key."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

__all__ = [
    "CalibrationConfig",
    "ConfigError",
    "DataConfig",
    "DistillConfig",
    "ExperimentConfig",
    "MARConfig",
    "ModelConfig",
    "OptimConfig",
    "PlusConfig",
    "TrainerConfig",
]


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type, or impossible."""


@dataclasses.dataclass
class DataConfig:
    """Which data, which modalities, how it is split and batched.

    ``path``: a bring-your-own ``.npz``; ``root``: a dataset directory (CASIA-SURF, CeFA, ...);
    ``options``: dataset-specific settings (e.g. CeFA ``protocol``, ``on_missing``).
    ``num_workers``: loader processes (``null``: 0 for in-memory data, 2 for images on disk).
    ``max_bytes``: an ``.npz`` whose arrays would take more memory is refused before loading.
    """

    dataset: str = "mfeat"
    path: str | None = None
    root: str | None = None
    modalities: list[str] | None = None
    split: list[float] = dataclasses.field(default_factory=lambda: [0.6, 0.2, 0.2])
    split_seed: int | None = None
    batch_size: int = 64
    eval_batch_size: int = 512
    num_workers: int | None = None
    normalize: bool = True
    max_bytes: int = 1 << 30
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(
            len(self.split) == 3 and all(f > 0 for f in self.split),
            "data.split",
            "three positive fractions (train, val, test)",
            self.split,
        )
        _check(abs(sum(self.split) - 1.0) < 1e-6, "data.split", "fractions summing to 1", self.split)
        _check(self.batch_size >= 1, "data.batch_size", ">= 1", self.batch_size)
        _check(self.eval_batch_size >= 1, "data.eval_batch_size", ">= 1", self.eval_batch_size)
        _check(self.num_workers is None or self.num_workers >= 0, "data.num_workers", ">= 0 or null", self.num_workers)
        _check(self.max_bytes >= 1, "data.max_bytes", ">= 1", self.max_bytes)


@dataclasses.dataclass
class ModelConfig:
    """Network: ``concat`` (encoders, masked concatenation, decoder; classification) or ``esanet``
    (per-modality ResNets fused by SE + add at every stage; segmentation); ``auto`` picks by the
    data's task. Per-modality encoders are ``{modality or 'default': {name: ..., **options}}``.
    ``absent``: what stands in for a missing modality's features, ``zero`` (the paper) or a
    ``learned`` vector per modality (feature masking only). ``combination_patches``: a scale and
    shift per combination after every normalisation layer (:mod:`mmanet.nn.patches`) of the
    ``decoder`` (and of the segmentation context module; ``true`` means this), or of the whole
    ``trunk`` that carries fused features (the decoder plus, in the segmentation network, the
    primary stream's stages); ``none``/``false``: off; ``auto``: :data:`PLUS_PATCHES` for
    ``mmanet-plus`` (its recipe), ``none`` for every other method. Networks of one modality have
    none. ``combination_readout``: a linear map per combination from the fused vector to the
    logits, added to the decoder's (classification networks; :mod:`mmanet.nn.patches`), for
    ``all`` combinations (``true``), only the ``small`` ones: single modalities, pairs and the
    complete combination (those ``mmanet-plus`` decodes every step with ``plus.pair_passes``), or
    a list of combination names (``[fou+mor, pix+mor]``; checked against the data's modalities
    when the network is built). ``combination_decoders``: an own decoder (the decoder's
    architecture, own weights and normalisation statistics; :mod:`mmanet.nn.own_decoders`) for
    the ``small`` combinations (``true``; as for the readout), the ``complete`` combination only,
    or a list of combination names;
    every other combination keeps the shared decoder. Meant for ``mmanet-plus``, whose passes
    decode every sample under those combinations each step (with batch normalisation a
    decoder cannot train on a group of one row). ``alone_patches``: every encoder's normalisation
    layers get a second scale and shift, used when its modality is alone in the row's combination
    (the encoders run twice per batch, alone and with the others; feature masking only; not with
    ``trunk`` patches). ``alone_encoders``: every encoder gets a whole copy of its own, used when
    its modality is alone in the row's combination (the network holds ``M`` more encoders; the
    same restrictions, and not with ``alone_patches``). ``fusion_stream`` (``esanet`` only): every
    modality's stream continues on its own features and the fused maps travel in a stream of
    their own, copies of the first encoder's later stages (:mod:`mmanet.nn.segmentation`; not with
    ``trunk`` patches). ``combination_adapters``: the rank ``r`` of a low-rank update per
    combination added to every linear and convolution layer of the (shared) decoder and the
    segmentation context module (:mod:`mmanet.nn.adapters`; 0: off): each combination gets a
    little capacity of its own while every row still trains the shared weights. ``stream_se``
    (``esanet`` only): every stream that continues on its own features passes each stage's output
    through its modality's squeeze-excitation before the next stage, as the primary stream does
    and as a single-modality network's only stream does, so an encoder copied from a specialist
    computes in the network what it computed in its specialist (off: ESANet's raw streams).
    ``skip_absent_primary`` (``esanet`` only): in training the primary (first) stream's stages run
    only on the rows that hold the primary modality; on the other rows their outputs are masked out
    anyway, and without the option their activations enter those stages' batch and running
    normalisation statistics (evaluation gives the same outputs either way; not with ``trunk``
    patches, alone patches or encoders, or a fusion stream). ``combination_statistics``
    (``esanet`` only): the batch normalisation of the primary stream's stages 2-5 (which carry the
    primary modality alone, or the fused maps) keeps running statistics per combination
    (:class:`mmanet.nn.patches.CombinationStatistics`): training normalises each pass with its own
    rows' statistics, and evaluation then normalises each row with its combination's instead of a
    blend over every pass (same restrictions as ``skip_absent_primary``, and not with it).
    ``auto`` (the default): on for ``mmanet-plus`` on the segmentation network where no such
    option is set (round 33 of docs/results.md), off otherwise. ``decoder_statistics``
    (``esanet`` only): the batch norms of the (shared) decoder and the context module keep running
    statistics per combination too, so in training each combination's rows in the decoder call
    are normalised on their own (not with own decoders); ``auto`` (the default): on for
    ``mmanet-plus`` on the segmentation network without own decoders (round 34 of
    docs/results.md), off otherwise."""

    architecture: Literal["auto", "concat", "esanet"] = "auto"
    encoders: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    embed_dim: int = 64
    context_channels: int = 512
    decoder: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "mlp", "hidden": 128, "dropout": 0.2})
    masking: Literal["feature", "input"] = "feature"
    absent: Literal["zero", "learned"] = "zero"
    combination_patches: Literal["auto", "none", "decoder", "trunk", False, True] = "auto"
    combination_readout: Literal["none", "all", "small", False, True] | list[str] = "none"
    combination_decoders: Literal["none", "small", "complete", False, True] | list[str] = "none"
    alone_patches: bool = False
    alone_encoders: bool = False
    fusion_stream: bool = False
    stream_se: bool = False
    skip_absent_primary: bool = False
    combination_statistics: Literal["auto"] | bool = "auto"
    decoder_statistics: Literal["auto"] | bool = "auto"
    combination_adapters: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.combination_patches, bool):  # YAML true/false
            self.combination_patches = "decoder" if self.combination_patches else "none"
        if isinstance(self.combination_readout, bool):
            self.combination_readout = "all" if self.combination_readout else "none"
        if isinstance(self.combination_decoders, bool):
            self.combination_decoders = "small" if self.combination_decoders else "none"
        _check(
            self.combination_decoders != [],
            "model.combination_decoders",
            "'none' instead of an empty list",
            self.combination_decoders,
        )
        _check(
            self.combination_decoders == "none" or self.combination_readout == "none",
            "model.combination_decoders",
            "'none' with a combination readout (choose one of the two)",
            self.combination_decoders,
        )
        for key in ("alone_patches", "alone_encoders"):  # a modality alone is encoded apart: needs its features
            value = getattr(self, key)
            _check(
                not value or self.masking == "feature",
                f"model.{key}",
                "false with input masking (the encoders see zeroed inputs there)",
                value,
            )
        _check(
            not self.alone_patches or self.combination_patches != "trunk",
            "model.alone_patches",
            "false with combination_patches: trunk (both patch the first encoder's stages)",
            self.alone_patches,
        )
        _check(
            not self.alone_encoders or self.combination_patches != "trunk",
            "model.alone_encoders",
            "false with combination_patches: trunk (the first encoder's stages would be patched in one copy only)",
            self.alone_encoders,
        )
        _check(
            not self.fusion_stream or self.combination_patches != "trunk",
            "model.fusion_stream",
            "false with combination_patches: trunk (the first encoder's stages no longer carry the fused maps)",
            self.fusion_stream,
        )
        _check(
            not self.skip_absent_primary or not self.primary_runs_its_own_way,
            "model.skip_absent_primary",
            "false with combination_patches: trunk, alone_patches, alone_encoders or fusion_stream (each runs the "
            "primary stream's stages its own way)",
            self.skip_absent_primary,
        )
        for key in ("combination_statistics", "decoder_statistics"):
            _check(
                getattr(self, key) in ("auto", True, False), f"model.{key}", "auto, true or false", getattr(self, key)
            )
        _check(
            self.decoder_statistics is not True or self.combination_decoders in ("none", False),
            "model.decoder_statistics",
            "false with model.combination_decoders (own decoders are copied from the shared one's plain norms)",
            self.decoder_statistics,
        )
        _check(
            self.combination_statistics is not True or not (self.primary_runs_its_own_way or self.skip_absent_primary),
            "model.combination_statistics",
            "false with combination_patches: trunk, alone_patches, alone_encoders, fusion_stream or "
            "skip_absent_primary (each runs the primary stream's stages its own way)",
            self.combination_statistics,
        )
        _check(
            not (self.alone_encoders and self.alone_patches),
            "model.alone_encoders",
            "false with model.alone_patches (an encoder of its own already has its own normalisation)",
            self.alone_encoders,
        )
        _check(
            self.combination_readout != [],
            "model.combination_readout",
            "'none' instead of an empty list",
            self.combination_readout,
        )
        _check(
            self.absent == "zero" or self.masking == "feature", "model.absent", "'zero' with input masking", self.absent
        )
        _check(self.embed_dim >= 1, "model.embed_dim", ">= 1", self.embed_dim)
        _check(
            isinstance(self.combination_adapters, int) and self.combination_adapters >= 0,
            "model.combination_adapters",
            "an integer >= 0 (the rank; 0: off)",
            self.combination_adapters,
        )
        _check(
            self.combination_readout == "none" or self.architecture != "esanet",
            "model.combination_readout",
            "none for the segmentation network (a readout per combination is for class logits)",
            self.combination_readout,
        )
        if self.architecture == "esanet" and self.decoder.get("name", "mlp") == "mlp":
            self.decoder = {"name": "esanet"}  # the classification default does not apply
        name = self.decoder.get("name")
        _check(
            self.architecture != "esanet" or name == "esanet",
            "model.decoder.name",
            "'esanet' for architecture esanet",
            name,
        )

    @property
    def primary_runs_its_own_way(self) -> bool:
        """Whether an option runs the segmentation network's primary stages its own way (trunk
        patches, alone patches or encoders, a fusion stream): ``skip_absent_primary`` and
        ``combination_statistics`` do not combine with them."""
        return self.combination_patches == "trunk" or self.alone_patches or self.alone_encoders or self.fusion_stream

    def for_method(self, plus: bool) -> ModelConfig:
        """This model with ``combination_patches``, ``combination_statistics`` and
        ``decoder_statistics: auto`` resolved for a method (``plus``: mmanet-plus; statistics per
        combination on the segmentation network's primary stream unless another option runs its
        stages its own way, and in its decoder and context module unless it has own decoders).

        >>> ModelConfig(architecture="esanet").for_method(True).combination_statistics
        True
        >>> ModelConfig(architecture="esanet", fusion_stream=True).for_method(True).combination_statistics
        False
        >>> ModelConfig(architecture="concat").for_method(True).combination_statistics
        False
        >>> ModelConfig(architecture="esanet").for_method(True).decoder_statistics
        True
        >>> ModelConfig(architecture="esanet").for_method(False).decoder_statistics
        False
        """
        model = self
        if model.combination_patches == "auto":
            model = dataclasses.replace(model, combination_patches=PLUS_PATCHES if plus else "none")
        if model.combination_statistics == "auto":
            own_way = model.primary_runs_its_own_way or model.skip_absent_primary
            statistics = plus and model.architecture == "esanet" and not own_way
            model = dataclasses.replace(model, combination_statistics=statistics)
        if model.decoder_statistics == "auto":
            decoder = plus and model.architecture == "esanet" and model.combination_decoders in ("none", False)
            model = dataclasses.replace(model, decoder_statistics=decoder)
        return model

    def for_task(self, task: str) -> ModelConfig:
        """This model with ``architecture: auto`` resolved for ``task`` (``esanet`` for segmentation)."""
        architecture = self.architecture
        if architecture == "auto":
            architecture = "esanet" if task == "segmentation" else "concat"
        if (architecture == "esanet") != (task == "segmentation"):
            raise ConfigError(f"model.architecture: {architecture!r} does not fit a {task} dataset (use 'auto')")
        return dataclasses.replace(self, architecture=architecture)


@dataclasses.dataclass
class OptimConfig:
    """Optimiser, learning-rate schedule and training-time regularisers (epochs count from 0).

    ``input_noise``: std of Gaussian noise added to the normalised inputs during training (an
    augmentation for vector data; 0 = off).
    ``ema``: decay of an exponential moving average of the module's weights and buffers, updated
    after every optimizer step (``avg <- ema * avg + (1 - ema) * weights``, the first step copies);
    validation, checkpoint selection, the saved model and the test use the average (0 = off).
    ``restore``: which epoch's network is kept after training (saved, calibrated, tested): the
    best validation epoch (``best``) or the last epoch (``last``, no choice). On a small validation
    split a model that serves one combination picks its best epoch among noisy scores; on the
    study's four-view digits its last epoch scored 0.49 points more on the test split
    (``docs/results.md``, *What the customized models' epoch choice is worth*).
    """

    epochs: int = 60
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    scheduler: Literal["none", "cosine", "step"] = "cosine"
    warmup_epochs: int = 0
    milestones: list[float] = dataclasses.field(default_factory=lambda: [1 / 6, 2 / 6, 3 / 6])
    gamma: float = 0.1
    label_smoothing: float = 0.0
    input_noise: float = 0.0
    ema: float = 0.0
    restore: Literal["best", "last"] = "best"

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "optim.epochs", ">= 1", self.epochs)
        _check(self.lr > 0, "optim.lr", "> 0", self.lr)
        _check(self.weight_decay >= 0, "optim.weight_decay", ">= 0", self.weight_decay)
        _check(0 <= self.warmup_epochs < self.epochs, "optim.warmup_epochs", "in [0, epochs)", self.warmup_epochs)
        _check(
            all(0 < m < 1 for m in self.milestones),
            "optim.milestones",
            "fractions of training in (0, 1)",
            self.milestones,
        )
        _check(0 <= self.label_smoothing < 1, "optim.label_smoothing", "in [0, 1)", self.label_smoothing)
        _check(self.input_noise >= 0, "optim.input_noise", ">= 0", self.input_noise)
        _check(0 <= self.ema < 1, "optim.ema", "in [0, 1) (0 = off)", self.ema)


@dataclasses.dataclass
class DistillConfig:
    """Knowledge transfer from the frozen teacher (used by ``sp``, ``kd``, ``mad``, ``mmanet``).

    ``begin_epoch`` null means ``mar.begin_epoch`` (the paper starts MAD and MAR together).
    ``uncertainty: cross_fit`` takes MAD's entropy weights from teachers trained on the other
    ``folds - 1`` folds of the training split, so training samples get honest entropies.
    ``teacher_overrides`` are config overrides used only to train the teacher, e.g.
    ``{optim: {label_smoothing: 0.1, input_noise: 0.3}}``. Dense (segmentation) MAD pools each
    distilled map to at most ``max_size`` and builds the Gram matrices ``chunk`` rows at a time.
    ``cache_teacher``: keep the teacher's outputs per training sample when the training inputs do
    not change between epochs (in-memory data, no input noise): the same values as a teacher pass
    at a fixed batch size, and one teacher pass per sample instead of one per step.
    """

    alpha: float = 1.0
    variant: Literal["paper", "official"] = "paper"
    temperature: float = 4.0
    teacher_temperature: float = 1.0
    layer: Literal["features", "fused", "logits"] = "features"
    teacher: str | None = None
    begin_epoch: int | None = None
    uncertainty: Literal["teacher", "cross_fit"] = "teacher"
    folds: int = 5
    teacher_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_size: list[int] = dataclasses.field(default_factory=lambda: [30, 40])
    chunk: int = 1024
    cache_teacher: bool = True

    def __post_init__(self) -> None:
        _check(self.alpha >= 0, "distill.alpha", ">= 0", self.alpha)
        _check(
            self.begin_epoch is None or self.begin_epoch >= 0, "distill.begin_epoch", ">= 0 or null", self.begin_epoch
        )
        _check(self.folds >= 2, "distill.folds", ">= 2", self.folds)
        _check(
            len(self.max_size) == 2 and min(self.max_size) >= 1,
            "distill.max_size",
            "[height, width] >= 1",
            self.max_size,
        )
        _check(self.chunk >= 1, "distill.chunk", ">= 1", self.chunk)
        _check(self.temperature > 0, "distill.temperature", "> 0", self.temperature)
        _check(self.teacher_temperature > 0, "distill.teacher_temperature", "> 0", self.teacher_temperature)


@dataclasses.dataclass
class MARConfig:
    """Modality-aware regularization: mining window and loss weight (epochs count from 0).

    ``remine_every: N`` keeps mining after ``begin_epoch`` and re-selects the weak set every
    ``N`` epochs from the scores gathered since the previous selection (0: mine once, as published).
    ``task_loss`` (segmentation): train ``R`` with the task's loss (class weights, side outputs),
    as the public segmentation code does.
    """

    beta: float = 0.5
    mine_start: int = 2
    begin_epoch: int = 5
    criterion: Literal["label_kl", "posterior_kl", "metric_gap"] = "label_kl"
    top_k: int = 1
    candidates: list[str] | None = None
    variant: Literal["paper", "official"] = "paper"
    remine_every: int = 0
    task_loss: bool = False

    def __post_init__(self) -> None:
        _check(self.beta >= 0, "mar.beta", ">= 0", self.beta)
        _check(self.remine_every >= 0, "mar.remine_every", ">= 0 (0: mine once)", self.remine_every)
        _check(
            0 <= self.mine_start < self.begin_epoch,
            "mar.begin_epoch",
            f"after mar.mine_start ({self.mine_start})",
            self.begin_epoch,
        )
        _check(self.top_k >= 1, "mar.top_k", ">= 1", self.top_k)


@dataclasses.dataclass
class PlusConfig:
    """The components ``mmanet-plus`` adds to MMANet (issue 10); each can be switched off here.

    The defaults are the recipe chosen on validation data by the rules of ``docs/results.md``
    (unimodal heads, single-modality passes, specialist KD and a complete-combination pass, each
    with weight 1; MAD and MAR off, as they did not add to the other components there).

    ``mad`` / ``mar``: keep MMANet's two components (settings in ``distill`` and ``mar``).
    ``sampling``: ``uniform`` (every non-empty subset equally likely, the paper),
    ``size_uniform`` (subset size uniform first, so small subsets are drawn more often) or
    ``adaptive`` (from the second epoch, each subset in proportion to ``(1 - sampling_mix) / K``
    plus ``sampling_mix`` shared by its error on the latest validation epoch: the combinations
    the network reads worst are drawn more often; the issue's "sampling in proportion to the
    validation gap", with the network's own error standing in for the gap it cannot know).
    ``sampling_mix``: the error-proportional share of ``adaptive`` sampling, in [0, 1].
    ``unimodal_heads``: weight of the cross-entropy of one linear head per modality on that
    modality's own encoder features (heads dropped at export; 0 = off).
    ``single_passes``: weight of the cross-entropy of the deployment network under each single
    modality, every step (encoder outputs reused; 0 = off).
    ``specialists``: weight of logit KD (temperature ``distill.temperature``) from per-modality
    specialists into those single-modality passes (0 = off); ``specialists_path`` names a model
    file holding them (``mmanet run --methods specialists``), otherwise they are trained first.
    ``pair_passes``: weight of the cross-entropy of the deployment network under each pair of
    modalities that is not the complete combination (M >= 3; mean over the M(M-1)/2 pairs), every
    step (0 = off); ``pair_rows``: the share of the batch's rows decoded under the pairs (one random
    subset per step, common to every pair; 1 = every row). ``complete_pass``: weight of the
    cross-entropy under every modality the sample holds, every step (0 = off). ``shared_passes``:
    weight of the cross-entropy of those passes
    (single, pair, complete) whose combination has its own decoder (``model.combination_decoders``),
    decoded a second time by the shared decoder, so that it keeps learning from those rows (0 = off).
    ``detach_own_decoders``: the rows an own decoder decodes send no gradient to the encoders
    (the own decoders read the shared features; the shared decoder's rows train the encoders).
    ``encoders_from_specialists``: every encoder starts from the encoder of its modality's
    specialist (trained first, or ``specialists_path``), copied after the network is built.
    ``fork_own_decoders``: the share of the epochs, at the start, in which the combinations with
    their own decoders (``model.combination_decoders``) are decoded by the shared decoder, each
    own decoder kept a copy of it (:func:`mmanet.nn.copy_shared`, before every validation); from
    then on each own decoder trains from that copy (0 = own decoders from the first step).
    ``specialists_filter``: ``correct`` leaves out of the KD the samples (dense: pixels) that a
    specialist itself gets wrong, so a single view is not pulled towards its specialist's errors;
    ``none``: every sample.
    ``specialists_product``: weight of Hinton KD into the sampled pass's rows that hold two or more
    modalities (and, with ``pair_passes``, into each pair pass: mean over the pairs, a term of
    its own), from the product of the present modalities' specialists (the sum of their logits:
    at any temperature its softmax is the normalised product of theirs; a product of experts, as
    if the views were independent given the class). It follows the specialists' KD schedule: off
    before ``specialists_start``, this weight after (no decay). The specialists already run for
    the single passes, so it costs one KD per step (0 = off).
    ``specialists_start``: the share of the epochs, at the start, without the specialists' KD
    (``ceil(share * epochs)`` epochs; 0: from the first epoch). The default, 0.5, is round 30 of
    docs/results.md: KD from the first epoch holds the single views in their specialists'
    solution (segmentation), KD in the second half still lifts the weak views.
    ``specialists_decay``: ``linear`` lowers the specialists' KD weight over training, from
    ``specialists`` at the first epoch to ``specialists / epochs`` at the last (epoch ``e`` of
    ``E``: ``specialists * (1 - e / E)``): their soft targets speed the single views early and
    hold them at the specialists' own errors late; ``none``: constant.
    ``se_from_specialists``: every modality's squeeze-excitation in the segmentation network's
    fusion starts from its specialist's (with ``model.stream_se`` and ``encoders_from_specialists``
    each modality alone then computes its specialist's fused maps from the first step).
    ``encoder_warmup``: the share of the epochs, at the start, in which those copied encoders keep
    their weights while everything else trains (their gradients are dropped before each optimizer
    step: linear probing before fine-tuning; ``ceil(share * epochs)`` epochs; 0 = off; needs
    ``encoders_from_specialists``).
    ``ogm``: alpha of on-the-fly gradient modulation (OGM, Peng et al., CVPR 2022), generalised to
    M modalities and missing ones (0 = off; needs ``unimodal_heads``; the vector and image
    networks, whose encoders meet only at the fusion). Each step every modality's score is its
    unimodal head's mean probability of the true class over the rows holding it; in a row of
    combination ``c`` modality ``m``'s discrepancy ratio is its score over the mean score of the
    other modalities of ``c``, and where it is above 1 the gradient reaching ``m``'s features from
    that row is scaled by ``1 - tanh(ogm * ratio)`` (the paper's Eq. 10; a single modality has
    nothing to compete with and keeps its gradient). ``ogm_noise`` (GE): Gaussian noise with the
    standard deviation of each encoder weight's gradient is added to it after the backward pass.
    ``ogm_until``: the share of the epochs, at the start, with modulation (``ceil(share * epochs)``
    epochs; the paper's code: the first half).
    """

    mad: bool = False
    mar: bool = False
    sampling: Literal["uniform", "size_uniform", "adaptive"] = "uniform"
    sampling_mix: float = 0.5
    unimodal_heads: float = 1.0
    single_passes: float = 1.0
    specialists: float = 1.0
    specialists_path: str | None = None
    specialists_decay: Literal["none", "linear"] = "none"
    specialists_filter: Literal["none", "correct"] = "none"
    specialists_start: float = 0.5
    specialists_product: float = 0.0
    complete_pass: float = 1.0
    pair_passes: float = 0.0
    pair_rows: float = 1.0
    shared_passes: float = 0.0
    detach_own_decoders: bool = False
    encoders_from_specialists: bool = True
    se_from_specialists: bool = False
    encoder_warmup: float = 0.0
    fork_own_decoders: float = 0.0
    ogm: float = 0.0
    ogm_noise: bool = True
    ogm_until: float = 0.5

    def __post_init__(self) -> None:
        for key in (
            "unimodal_heads",
            "single_passes",
            "specialists",
            "specialists_product",
            "complete_pass",
            "pair_passes",
            "shared_passes",
            "ogm",
        ):
            _check(getattr(self, key) >= 0, f"plus.{key}", ">= 0 (0: off)", getattr(self, key))
        _check(0 < self.ogm_until <= 1, "plus.ogm_until", "in (0, 1]", self.ogm_until)
        _check(
            self.ogm == 0 or self.unimodal_heads > 0,
            "plus.ogm",
            "0 without plus.unimodal_heads (the modalities' scores come from their heads)",
            self.ogm,
        )
        _check(0 < self.pair_rows <= 1, "plus.pair_rows", "in (0, 1]", self.pair_rows)
        _check(0 <= self.sampling_mix <= 1, "plus.sampling_mix", "in [0, 1]", self.sampling_mix)
        _check(0 <= self.encoder_warmup < 1, "plus.encoder_warmup", "in [0, 1) (0: off)", self.encoder_warmup)
        _check(0 <= self.fork_own_decoders < 1, "plus.fork_own_decoders", "in [0, 1) (0: off)", self.fork_own_decoders)
        _check(
            self.encoder_warmup == 0 or self.encoders_from_specialists,
            "plus.encoder_warmup",
            "0 without plus.encoders_from_specialists (only encoders copied from the specialists are held)",
            self.encoder_warmup,
        )

    def fork_epochs(self, epochs: int) -> int:
        """How many of ``epochs`` epochs own decoders stay copies of the shared one (:attr:`fork_own_decoders`).

        >>> PlusConfig(fork_own_decoders=0.5).fork_epochs(15)
        8
        """
        return math.ceil(self.fork_own_decoders * epochs)

    def specialist_weight(self, epoch: int, epochs: int) -> float:
        """The specialists' KD weight in epoch ``epoch`` (from 0) of ``epochs`` (:attr:`specialists_decay`).

        >>> [round(PlusConfig(specialists_start=0, specialists_decay="linear").specialist_weight(e, 4), 2)
        ...  for e in range(4)]
        [1.0, 0.75, 0.5, 0.25]
        >>> [PlusConfig(specialists_start=0.5).specialist_weight(e, 5) for e in range(5)]
        [0.0, 0.0, 0.0, 1.0, 1.0]
        """
        if epoch < math.ceil(self.specialists_start * epochs):
            return 0.0
        if self.specialists_decay == "none" or epochs <= 0:
            return self.specialists
        return self.specialists * (1 - min(epoch, epochs) / epochs)

    def product_weight(self, epoch: int, epochs: int) -> float:
        """The weight of the specialists' product KD in epoch ``epoch`` (from 0) of ``epochs``
        (:attr:`specialists_product`, from :attr:`specialists_start` on).

        >>> [PlusConfig(specialists_product=2.0).product_weight(e, 4) for e in range(4)]
        [0.0, 0.0, 2.0, 2.0]
        """
        if epoch < math.ceil(self.specialists_start * epochs):
            return 0.0
        return self.specialists_product

    def warmup_epochs(self, epochs: int) -> int:
        """How many of ``epochs`` epochs the copied encoders are held (:attr:`encoder_warmup`).

        >>> PlusConfig(encoder_warmup=0.2).warmup_epochs(20), PlusConfig().warmup_epochs(20)
        (4, 0)
        """
        return math.ceil(self.encoder_warmup * epochs)

    def modulates(self, epoch: int, epochs: int) -> bool:
        """Whether gradient modulation (:attr:`ogm`) is on in epoch ``epoch`` (from 0) of ``epochs``.

        >>> [PlusConfig(ogm=0.1).modulates(e, 5) for e in range(5)]
        [True, True, True, False, False]
        """
        return self.ogm > 0 and epoch < math.ceil(self.ogm_until * epochs)

    @property
    def needs_specialists(self) -> bool:
        """Whether the specialists are needed (their KD, or the encoders or squeeze-excitations they initialise)."""
        return (
            self.specialists > 0
            or self.specialists_product > 0
            or self.encoders_from_specialists
            or self.se_from_specialists
        )

    @property
    def passes(self) -> bool:
        """Whether the single-modality passes run (for their own loss or for specialist KD)."""
        return self.single_passes > 0 or self.specialists > 0


# The combination patches of the mmanet-plus recipe (model.combination_patches: auto), chosen on
# validation in round 4 of docs/results.md.
PLUS_PATCHES: Literal["none", "decoder", "trunk"] = "decoder"

# What each mmanet-plus component does, for ``mmanet list`` (every PlusConfig field, plus the
# model option that patches the trunk per combination).
PLUS_COMPONENTS: dict[str, str] = {
    "plus.mad": "MMANet's margin-aware distillation from the teacher",
    "plus.mar": "MMANet's modality-aware regularization on mined weak combinations",
    "plus.sampling": "subset sampling: uniform, size_uniform (subset size first) or adaptive (by validation error)",
    "plus.sampling_mix": "adaptive sampling's error-proportional share, in [0, 1]",
    "plus.unimodal_heads": "weight: a linear head per encoder on its own features (dropped at export)",
    "plus.single_passes": "weight: decode every sample under each single modality, every step",
    "plus.specialists": "weight: KD from per-modality specialists into the single passes",
    "plus.specialists_path": "model file holding the specialists (otherwise trained first)",
    "plus.specialists_decay": "none, or linear: the specialists' KD weight falls over the epochs",
    "plus.specialists_filter": "none, or correct: the KD leaves out what a specialist gets wrong",
    "plus.specialists_start": "share of the first epochs without the specialists' KD",
    "plus.specialists_product": "weight: KD from the present modalities' specialists' product into fused rows",
    "plus.complete_pass": "weight: decode every sample under everything it holds, every step",
    "plus.pair_passes": "weight: decode every sample under each pair of modalities (M >= 3)",
    "plus.pair_rows": "share of the batch's rows the pair passes decode (a random subset per step)",
    "plus.shared_passes": "weight: passes of combinations with own decoders also through the shared one",
    "plus.detach_own_decoders": "own decoders read detached features (only shared rows train encoders)",
    "plus.encoders_from_specialists": "every encoder starts from its modality's specialist's encoder",
    "plus.se_from_specialists": "segmentation: each modality's fusion squeeze-excitation from its specialist",
    "plus.encoder_warmup": "share of the first epochs in which the copied encoders keep their weights",
    "plus.fork_own_decoders": "share of the first epochs in which own decoders stay copies of the shared one",
    "plus.ogm": "alpha of OGM: a dominant modality's gradient from fused rows scaled down (0: off)",
    "plus.ogm_noise": "OGM-GE: Gaussian noise of each encoder weight gradient's scale added during OGM",
    "plus.ogm_until": "share of the first epochs with OGM (gradient modulation)",
    "model.combination_patches": "per-combination scale and shift after each norm: none, decoder, trunk",
    "model.combination_readout": "a linear map per combination to the logits: none, all, small, [names]",
    "model.combination_decoders": "an own decoder for some combinations: none, small, complete, [names]",
    "model.alone_patches": "each encoder's norms get a second scale and shift for its modality alone",
    "model.alone_encoders": "each encoder gets a whole copy of its own for its modality alone",
    "model.fusion_stream": "segmentation: fused maps in a stream of their own, not the first encoder's",
    "model.stream_se": "segmentation: every own stream passes each stage through its squeeze-excitation",
    "model.skip_absent_primary": "segmentation: the primary stream trains only on rows holding its modality",
    "model.combination_statistics": "segmentation: primary-stream batch norms keep statistics per combination",
    "model.decoder_statistics": "segmentation: decoder and context batch norms keep statistics per combination",
    "model.combination_adapters": "rank of a low-rank update per combination on the decoder's layers (0: off)",
}


@dataclasses.dataclass
class CalibrationConfig:
    """Confidence calibration fitted on the validation split after training; stored in ``model.pt``
    and applied by ``predict`` and ``export``.

    ``temperature``: one temperature per combination (classification and anti-spoofing).
    ``threshold`` (anti-spoofing): the decision threshold on ``p(bona fide)`` per combination used
    for HTER and predicted labels: ``eer`` (equal-error point), ``apcer`` (APCER at most
    ``target_apcer``) or ``none`` (0.5). ACER is always reported at 0.5.
    """

    temperature: bool = True
    threshold: Literal["eer", "apcer", "none"] = "eer"
    target_apcer: float = 0.05

    def __post_init__(self) -> None:
        _check(0 < self.target_apcer < 1, "calibration.target_apcer", "in (0, 1)", self.target_apcer)


@dataclasses.dataclass
class TrainerConfig:
    """Passed through to ``lightning.Trainer`` (checked by Lightning's own parsers before a run writes).

    ``accelerator: auto`` uses a GPU when there is one; ``precision: auto`` is ``bf16-mixed`` on a
    CUDA GPU that supports bfloat16 and ``32-true`` otherwise (the CPU included).
    ``channels_last``: convolutions and image batches in channels-last memory order (faster on
    tensor-core GPUs); ``compile``: ``torch.compile`` the deployment network (opt in: the first
    steps pay the compilation).
    """

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    progress: bool = True
    log_every_n_steps: int = 10
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        _check(self.num_nodes >= 1, "trainer.num_nodes", ">= 1", self.num_nodes)
        _check(self.log_every_n_steps >= 1, "trainer.log_every_n_steps", ">= 1", self.log_every_n_steps)


@dataclasses.dataclass
class ExperimentConfig:
    """One experiment: data, model, methods and seeds; written into every result."""

    name: str = "experiment"
    out: str = "runs/experiment"
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    methods: list[str] = dataclasses.field(default_factory=lambda: ["teacher", "dropout", "customized"])
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)
    mar: MARConfig = dataclasses.field(default_factory=MARConfig)
    plus: PlusConfig = dataclasses.field(default_factory=PlusConfig)
    calibration: CalibrationConfig = dataclasses.field(default_factory=CalibrationConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        _check(len(self.seeds) >= 1, "seeds", "at least one seed", self.seeds)
        _check(len(set(self.seeds)) == len(self.seeds), "seeds", "distinct seeds", self.seeds)
        _check(all(0 <= s < 1 << 31 for s in self.seeds), "seeds", "integers in [0, 2^31)", self.seeds)
        _check(len(self.methods) >= 1, "methods", "at least one method", self.methods)
        _check(len(set(self.methods)) == len(self.methods), "methods", "each method once", self.methods)


def _check(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {got!r}")
