"""Run an experiment: for each seed, split the data, train the prerequisites (teacher, specialists,
cross-fitted entropies) as explicit steps, then every method; test every combination; report.

Output layout under ``cfg.out``::

    config.yaml                     resolved configuration
    report.{json,md,csv,png}        every method x combination, mean and std over seeds
    seed_<s>/split.npz              the split used (``split`` strings, one per sample)
    seed_<s>/<method>/model.pt      exported deployment network(s) (``mmanet evaluate``)
    seed_<s>/<method>/[<combination>/]checkpoints, logs/metrics.csv
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from mmanet.config import ConfigError, ExperimentConfig, PlusConfig, to_dict
from mmanet.data import DataSource, check_splits, load_dataset
from mmanet.io import atomic_write_text
from mmanet.modality import all_combinations, combination_name
from mmanet.nn import CombinationDecoders, NetworkSpec, SubsetNetwork, build_network, build_regularization_decoder
from mmanet.provenance import provenance
from mmanet.reporting import aggregate_method, write_reports
from mmanet.training.build import Prerequisites
from mmanet.training.display import Display
from mmanet.training.distributed import is_global_zero
from mmanet.training.jobs import MethodRun, cross_fit_entropies, train_part
from mmanet.training.methods import METHODS, MethodSpec, get_method
from mmanet.training.plus import check_ogm, check_own_decoders, encoders_from, fusion_se, se_from
from mmanet.training.resume import Mode, RunProgress
from mmanet.training.rundir import RunDirectory, check_run_directory
from mmanet.training.seed import SeedData, prepare_seed, record_split
from mmanet.training.teacher import ModelRef, load_specialists, load_teacher
from mmanet.training.trainer import check_trainer

__all__ = ["build_report", "run_experiment"]

ESS_WARNING = 0.2


def order_methods(names: list[str]) -> list[MethodSpec]:
    """Methods in the order given, except that ``teacher`` and ``specialists`` come first (others distil from them)."""
    try:
        methods = [get_method(n) for n in names]
    except ValueError as err:
        raise ConfigError(f"methods: {err}") from err
    return sorted(methods, key=lambda m: 0 if m.name in ("teacher", "specialists") else 1)


@dataclasses.dataclass(frozen=True)
class ExperimentPlan:
    """A checked experiment: what :func:`plan_experiment` found, before anything was written."""

    cfg: ExperimentConfig
    methods: list[MethodSpec]
    source: DataSource
    warnings: list[str]


def _check_network(spec: NetworkSpec, methods: list[MethodSpec], plus: Any) -> SubsetNetwork | None:
    """Build the networks once on the ``meta`` device (no memory): bad names, options or sizes fail
    here. Returns the ``mmanet-plus`` network, when a method needs one."""
    try:
        with torch.device("meta"):
            nets = {
                kind: build_network(dataclasses.replace(spec, model=spec.model.for_method(kind)))
                for kind in ({m.plus for m in methods} or {False})
            }
            if any(m.regularizes(plus) for m in methods):
                build_regularization_decoder(spec, next(iter(nets.values())))
    except (ValueError, TypeError, RuntimeError) as err:
        raise ConfigError(f"model: cannot build the network: {' '.join(str(err).split())[:300]}") from err
    if True in nets:
        check_own_decoders(nets[True], plus)
        if plus.fork_own_decoders > 0 and not isinstance(nets[True].decoder, CombinationDecoders):
            raise ConfigError(
                f"plus.fork_own_decoders: expected 0 without model.combination_decoders (no own decoder to fork), "
                f"got {plus.fork_own_decoders}"
            )
        if plus.fork_own_decoders > 0 and spec.model.combination_adapters > 0:
            raise ConfigError(
                "plus.fork_own_decoders: expected 0 with model.combination_adapters (the adapters are not folded "
                f"into the forked copies), got {plus.fork_own_decoders}"
            )
        if plus.se_from_specialists:
            fusion_se(nets[True])  # refused here, before the specialists are trained
        check_ogm(nets[True], plus)
        if plus.encoders_from_specialists and spec.model.alone_patches:
            raise ConfigError(
                "plus.encoders_from_specialists: not with model.alone_patches (the specialists' encoders have no "
                "second normalisation slot to copy)"
            )
    if any(m.plus for m in methods) and spec.model.masking != "feature":
        raise ConfigError("model.masking: mmanet-plus reuses encoder outputs across combinations; it needs 'feature'")
    return nets.get(True)


def plan_experiment(cfg: ExperimentConfig) -> ExperimentPlan:
    """Check everything a run can be refused for (methods, data, splits, networks, hardware flags,
    given teacher and specialists) without writing anything."""
    methods = order_methods(cfg.methods)
    source = load_dataset(cfg.data)
    warnings = check_splits(source, cfg.seeds)
    data = prepare_seed(cfg, source, cfg.seeds[0])
    teacher_data = data.with_overrides(cfg.distill.teacher_overrides)
    plus_net = _check_network(data.spec, methods, cfg.plus)
    _check_network(teacher_data.spec, [], cfg.plus)
    check_trainer(cfg.trainer)
    if cfg.distill.teacher is not None and any(m.needs_teacher(cfg.plus) for m in methods):
        _, info = load_teacher(cfg.distill.teacher, data.spec)
        check_teacher_overrides(info.config, cfg.distill.teacher_overrides, cfg.distill.teacher)
    if cfg.plus.specialists_path is not None and any(m.needs_specialists(cfg.plus) for m in methods):
        specialists, _ = load_specialists(cfg.plus.specialists_path, data.spec)
        if plus_net is not None:
            _check_specialists_fit(plus_net, specialists, cfg.plus, cfg.plus.specialists_path)
    return ExperimentPlan(cfg, methods, source, warnings)


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` for every leaf of a nested dict."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_teacher_overrides(teacher_config: dict[str, Any], overrides: dict[str, Any], path: str) -> None:
    """Refuse a given teacher whose recorded training config differs from ``distill.teacher_overrides``.

    The overrides only shape a teacher trained in the run; with ``distill.teacher`` given they
    would otherwise be ignored in silence, and the run would record a teacher it did not use.

    >>> check_teacher_overrides({"optim": {"input_noise": 0.3}}, {"optim": {"input_noise": 0.3}}, "t.pt")
    >>> check_teacher_overrides(
    ...     {"optim": {"input_noise": 0.0}}, {"optim": {"input_noise": 0.3}}, "t.pt"
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mmanet.config.schema.ConfigError: ...optim.input_noise=0.3, but the teacher t.pt was trained with 0.0...
    """
    recorded = _leaves(teacher_config)
    for key, value in _leaves(overrides).items():
        if key in recorded and recorded[key] != value:
            raise ConfigError(
                f"distill.teacher_overrides: {key}={value}, but the teacher {path} was trained with "
                f"{recorded[key]} (train it with the overrides, or drop them)"
            )


def _check_specialists_fit(net: SubsetNetwork, specialists: Any, plus: PlusConfig, path: str) -> None:
    """Copy what ``plus`` copies from the specialists (encoders, squeeze-excitations) into the
    mmanet-plus network ``_check_network`` built on the ``meta`` device: a specialist that does not
    fit fails here, before anything is trained."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # copying into meta parameters is a no-op, by design
        if plus.encoders_from_specialists:
            encoders_from(net, specialists, path)
        if plus.se_from_specialists:
            se_from(net, specialists, path)


def _warnings(methods: dict[str, Any], higher_is_better: dict[str, bool]) -> list[str]:
    out = []
    dropout_full = [d.get("student_full") for d in methods.get("dropout", {}).get("diagnostics", {}).values()]
    for name, entry in methods.items():
        diags = entry.get("diagnostics", {})
        teacher = [d["teacher_full"] for d in diags.values() if d.get("teacher_full") is not None]
        if not teacher or not dropout_full or None in dropout_full:
            continue
        metric = next(iter(diags.values()))["full_metric"]
        sign = 1.0 if higher_is_better.get(metric, True) else -1.0
        if sign * np.mean(teacher) <= sign * np.mean(dropout_full):
            t, d = 100 * np.mean(teacher), 100 * np.mean(dropout_full)
            out.append(
                f"{name}: the teacher ({metric} {t:.2f}%) is no better than the dropout student ({d:.2f}%) on "
                "the full combination: little to distil"
            )
        ess = [d["ess_share"] for d in diags.values() if d.get("ess_share") is not None]
        if ess and np.mean(ess) < ESS_WARNING:
            out.append(
                f"{name}: MAD's weights fall on {100 * np.mean(ess):.0f}% of each batch (effective sample "
                f"share < {ESS_WARNING}): a near-certain teacher"
            )
    return out


def build_report(cfg: ExperimentConfig, source: DataSource, runs: dict[str, dict[int, MethodRun]]) -> dict[str, Any]:
    """The ``report.json`` dictionary (see :mod:`mmanet.reporting`)."""
    names = [combination_name(c) for c in all_combinations(source.modalities)]
    task = source.task_spec.metrics()
    methods: dict[str, Any] = {}
    for method, per_seed in runs.items():
        served = [
            n for n in names if all(n in r.results for r in per_seed.values())
        ]  # specialists serve the single modalities
        entry = aggregate_method({s: r.results for s, r in per_seed.items()}, served, task.names, task.higher_is_better)
        entry["seconds"] = float(np.mean([r.seconds for r in per_seed.values()]))
        entry["diagnostics"] = {str(s): r.diagnostics for s, r in per_seed.items()}
        entry["val_per_seed"] = {str(s): r.val_results for s, r in per_seed.items()}
        weak = {
            str(s): r.diagnostics["weak_combinations"]
            for s, r in per_seed.items()
            if "weak_combinations" in r.diagnostics
        }
        if weak:
            entry["weak_combinations"] = weak
        methods[method] = entry
    return {
        "name": cfg.name,
        "dataset": source.name,
        "task": source.task,
        "modalities": list(source.modalities),
        "split": "test",
        "seeds": list(cfg.seeds),
        "metrics": list(task.names),
        "higher_is_better": task.higher_is_better,
        "data": source.info,
        "methods": methods,
        "warnings": _warnings(methods, task.higher_is_better),
        "config": to_dict(cfg),
        "provenance": provenance(),
    }


def _needs(methods: list[MethodSpec], cfg: ExperimentConfig) -> tuple[bool, bool, bool]:
    """Whether this run trains a teacher, the specialists, and cross-fitted entropies."""
    plus = cfg.plus
    teacher = any(m.name == "teacher" for m in methods) or (
        cfg.distill.teacher is None and any(m.needs_teacher(plus) for m in methods)
    )
    specialists = any(m.name == "specialists" for m in methods) or (
        plus.specialists_path is None and any(m.needs_specialists(plus) for m in methods)
    )
    cross_fit = cfg.distill.uncertainty == "cross_fit" and any(m.distillation(plus) == "mad" for m in methods)
    return teacher, specialists, cross_fit


def train_prerequisites(
    data: SeedData, methods: list[MethodSpec], progress: RunProgress | None = None, display: Display | None = None
) -> tuple[Prerequisites, dict[str, MethodRun]]:
    """Train what the methods distil from, in order: the teacher, the specialists, cross-fitted
    entropies. Returns the references and the runs of ``teacher`` / ``specialists``."""
    cfg = data.cfg
    display = display or Display()
    needs_teacher, needs_specialists, cross_fit = _needs(methods, cfg)
    runs: dict[str, MethodRun] = {}
    if needs_teacher:
        display.announce(f"seed {data.seed} · teacher (complete modalities)")
        runs["teacher"] = train_part(data, METHODS["teacher"], Prerequisites(), progress, display)
    if needs_specialists:
        display.announce(f"seed {data.seed} · specialists (one model per modality)")
        runs["specialists"] = train_part(data, METHODS["specialists"], Prerequisites(), progress, display)
    teacher = cfg.distill.teacher or (str(runs["teacher"].model_path) if "teacher" in runs else None)
    specialists = cfg.plus.specialists_path or (str(runs["specialists"].model_path) if "specialists" in runs else None)
    table = cross_fit_entropies(data, display=display) if cross_fit else None
    refs = Prerequisites(
        teacher=ModelRef.of(teacher) if teacher else None,
        specialists=ModelRef.of(specialists) if specialists else None,
        entropy_table=table,
    )
    return refs, runs


class _NoDirectory:
    """What ranks other than 0 use instead of a :class:`RunDirectory` (they never write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def created(self, name: str) -> Path:
        return self.path / name


def run_experiment(
    cfg: ExperimentConfig, mode: Mode = "new", display: Display | None = None, config_file: Path | None = None
) -> dict[str, Any]:
    """Train and test every method on every seed, write the reports, return ``report.json``'s dict.

    Everything that can be refused is checked first (:func:`plan_experiment`,
    :func:`check_run_directory`), so a refused run writes nothing. ``mode``: ``new`` refuses an
    output directory holding an earlier run; ``resume`` reuses its finished parts and continues
    unfinished ones from their last checkpoint; ``overwrite`` removes what the earlier run
    created. ``config_file``: the YAML the config came from (never overwritten). ``display``
    receives the progress (nothing is printed here).
    """
    plan = plan_experiment(cfg)
    out = Path(cfg.out)
    if not is_global_zero():
        return _execute(plan, mode, display or Display(), _NoDirectory(out))
    check_run_directory(out, mode, config_file)
    with RunDirectory(out, mode) as rundir:
        return _execute(plan, mode, display or Display(), rundir)


def count_models(plan: ExperimentPlan) -> int:
    """How many models the run fits (for the progress display's ETA; finished parts count too)."""
    cfg, m = plan.cfg, len(plan.source.modalities)
    needs_teacher, needs_specialists, cross_fit = _needs(plan.methods, cfg)
    per_seed = int(needs_teacher) + m * int(needs_specialists) + cfg.distill.folds * int(cross_fit)
    for method in plan.methods:
        if method.name in ("teacher", "specialists"):
            continue
        per_seed += (m if method.single_only else (1 << m) - 1) if method.per_combination else 1
    return per_seed * len(cfg.seeds)


def _execute(plan: ExperimentPlan, mode: Mode, display: Display, rundir: RunDirectory | _NoDirectory) -> dict[str, Any]:
    display.begin(count_models(plan), plan.cfg.optim.epochs)
    try:
        return _train_all(plan, mode, display, rundir)
    finally:
        display.end()


def _train_all(
    plan: ExperimentPlan, mode: Mode, display: Display, rundir: RunDirectory | _NoDirectory
) -> dict[str, Any]:
    cfg, methods = plan.cfg, plan.methods
    progress = RunProgress(cfg, mode)
    if is_global_zero():
        atomic_write_text(rundir.created("config.yaml"), yaml.safe_dump(to_dict(cfg), sort_keys=False))
    runs: dict[str, dict[int, MethodRun]] = {m.name: {} for m in methods}
    for seed in cfg.seeds:
        rundir.created(f"seed_{seed}")
        data = prepare_seed(cfg, plan.source, seed)
        record_split(data)
        refs, done = train_prerequisites(data, methods, progress, display)
        for i, method in enumerate(methods, 1):
            display.announce(f"seed {seed} · {method.name} ({i}/{len(methods)}): {method.description}")
            run = done.get(method.name) or train_part(data, method, refs, progress, display)
            runs[method.name][seed] = run
    report = build_report(cfg, plan.source, runs)
    report["warnings"] = plan.warnings + report["warnings"]
    if is_global_zero():
        for kind in ("json", "md", "csv", "png"):
            rundir.created(f"report.{kind}")
        write_reports(report, rundir.path)
    return report
