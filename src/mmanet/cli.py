"""The ``mmanet`` command line; the only place that parses arguments.

mmanet demo                                    every method on the bundled data
mmanet run CONFIG.yaml --set optim.lr=0.01     an experiment from a config file
mmanet run --data FILE.npz --methods dropout,customized --seeds 0,1,2 --epochs 30 --out DIR
mmanet evaluate runs/demo/seed_0/dropout/model.pt --failure-rates pix=0.1,fou=0.05,mor=0.2
mmanet predict runs/demo/seed_0/mmanet/model.pt --data new.npz --out predictions.csv
mmanet export runs/demo/seed_0/mmanet/model.pt --format onnx --out model.onnx
mmanet list                                    methods, datasets, encoders, decoders
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["build_parser", "main"]


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_trainer_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hardware (passed to lightning.Trainer)")
    group.add_argument("--accelerator", help="cpu, gpu, auto (default: auto, a GPU when there is one)")
    group.add_argument("--devices", help="number of devices (processes) or 'auto'")
    group.add_argument("--num-nodes", type=int, help="nodes for multi-node DDP")
    group.add_argument("--strategy", help="auto, ddp, ddp_spawn, ...")
    group.add_argument(
        "--precision",
        help="auto (default: bf16-mixed on a GPU with bfloat16, else 32-true), 32-true, bf16-mixed, 16-mixed",
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. optim.lr=0.01 (repeatable)",
    )
    parser.add_argument("--data", help="your own .npz file (see README: bring your own data)")
    parser.add_argument("--dataset", help="dataset name (see `mmanet list`)")
    parser.add_argument("--data-root", help="dataset directory (casia-surf, cefa)")
    parser.add_argument("--protocol", help="CeFA protocol, e.g. 4@5")
    parser.add_argument("--modalities", type=_csv, help="comma-separated modality names to use")
    parser.add_argument("--methods", type=_csv, help="comma-separated methods (see `mmanet list`)")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--epochs", type=int, help="training epochs per model")
    parser.add_argument("--out", help="output directory")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: reuse finished parts, resume unfinished ones",
    )
    again.add_argument("--overwrite", action="store_true", help="delete an earlier run in --out and start over")
    _add_trainer_flags(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from mmanet import __version__

    parser = argparse.ArgumentParser(prog="mmanet", description="Multimodal learning with missing modalities (MMANet).")
    parser.add_argument("--version", action="version", version=f"mmanet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train and compare every method on the bundled UCI digits (or synthetic RGB-D scenes)"
    )
    demo.add_argument(
        "--task",
        choices=["classification", "segmentation"],
        default="classification",
        help="which demo (default: classification)",
    )
    _add_run_flags(demo)
    run = sub.add_parser("run", help="run an experiment from a YAML config and/or flags")
    run.add_argument("config", nargs="?", help="experiment YAML (see configs/)")
    _add_run_flags(run)
    evaluate = sub.add_parser("evaluate", help="evaluate an exported model.pt on every combination")
    evaluate.add_argument("checkpoint", help="model.pt written by `mmanet run`")
    evaluate.add_argument("--data", help=".npz file to evaluate on (default: the training data)")
    evaluate.add_argument("--dataset", help="dataset name (default: the one the model was trained on)")
    evaluate.add_argument("--data-root", help="dataset directory (CASIA-SURF, CeFA, ...)")
    evaluate.add_argument(
        "--split", default="test", choices=["train", "val", "test", "all"], help="which split (default: test)"
    )
    evaluate.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    evaluate.add_argument(
        "--failure-rates", help="expected score when each modality fails independently, e.g. rgb=0.1,depth=0.05"
    )
    _add_trainer_flags(evaluate)
    predict = sub.add_parser("predict", help="predict with a model.pt from whatever modalities a file holds")
    predict.add_argument("checkpoint", help="model.pt written by `mmanet run`")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", help=".npz in the training format (labels and split not needed; modalities may be missing)"
    )
    source.add_argument("--data-root", help="a directory of the model's dataset (images, segmentation)")
    predict.add_argument("--split", default="test", choices=["train", "val", "test", "all"], help="with --data-root")
    predict.add_argument(
        "--out", required=True, help="CSV file (classification) or directory of label PNGs (segmentation)"
    )
    predict.add_argument("--batch-size", type=int, default=256)
    predict.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    export = sub.add_parser("export", help="export a model.pt as one ONNX or TorchScript graph for every subset")
    export.add_argument("checkpoint", help="model.pt written by `mmanet run`")
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument("--out", required=True, help="output file")
    route = sub.add_parser(
        "route", help="one model.pt serving each combination with whichever model file did best on it on validation"
    )
    route.add_argument("checkpoint", help="the base model.pt (the unified network: serves what no candidate wins)")
    route.add_argument(
        "candidates",
        nargs="+",
        help="model.pt files of the same seed (specialists, customized) whose networks may serve",
    )
    route.add_argument("--out", required=True, help="the routed model file to write")
    route.add_argument(
        "--margin",
        type=float,
        default=0.0,
        help="a candidate serves a combination only when better than the base by more than this on validation, in "
        "the selection metric's units (0.005: half a point of accuracy; default 0)",
    )
    route.add_argument("--data-root", help="dataset directory (CASIA-SURF, CeFA, ...)")
    route.add_argument("--json", dest="json_out", help="also write the validation scores and choices to this JSON file")
    _add_trainer_flags(route)
    sub.add_parser("list", help="list methods, datasets, encoders and decoders")
    return parser


def _trainer_values(args: argparse.Namespace) -> dict[str, Any]:
    """The hardware flags given on the command line, by ``trainer`` key."""
    pairs = {
        "accelerator": args.accelerator,
        "devices": args.devices,
        "num_nodes": args.num_nodes,
        "strategy": args.strategy,
        "precision": args.precision,
    }
    out: dict[str, Any] = {k: v for k, v in pairs.items() if v is not None}
    if args.no_progress:
        out["progress"] = False
    return out


def _trainer_overrides(args: argparse.Namespace) -> list[str]:
    return [f"trainer.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in _trainer_values(args).items()]


def _run_overrides(args: argparse.Namespace) -> list[str]:
    out = _trainer_overrides(args)
    if args.data:
        out += ["data.dataset=npz", f"data.path={json.dumps(str(args.data))}"]
    if args.dataset:
        out.append(f"data.dataset={args.dataset}")
    if args.data_root:
        out.append(f"data.root={json.dumps(str(args.data_root))}")
    if args.protocol:
        out.append(f"data.options.protocol={json.dumps(str(args.protocol))}")
    for key, value in (("data.modalities", args.modalities), ("methods", args.methods), ("seeds", args.seeds)):
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    if args.epochs is not None:
        out.append(f"optim.epochs={args.epochs}")
    if args.out:
        out.append(f"out={json.dumps(str(args.out))}")
    return out + list(args.overrides)


def _cmd_run(args: argparse.Namespace, console: Console, preset: Path | None = None, default_mode: str = "new") -> int:
    from mmanet.config import load_config
    from mmanet.console import ConsoleDisplay, print_report
    from mmanet.training import is_global_zero, run_experiment

    config_path = preset if preset is not None else args.config
    cfg = load_config(config_path, _run_overrides(args))
    mode = "resume" if args.resume else "overwrite" if args.overwrite else default_mode
    display = ConsoleDisplay(console if is_global_zero() else Console(quiet=True), enabled=cfg.trainer.progress)
    source_file = Path(config_path) if config_path is not None and preset is None else None
    report = run_experiment(cfg, mode=mode, display=display, config_file=source_file)  # type: ignore[arg-type]
    if is_global_zero():
        print_report(report, console)
        console.print(f"reports written to [bold]{cfg.out}[/]: report.json, report.md, report.csv, report.png")
    return 0


def _evaluation_config(args: argparse.Namespace, saved: dict[str, Any]) -> Any:
    """The model's training config with the data and hardware flags of ``evaluate`` layered on top."""
    from mmanet.config import apply_overrides, config_from_plain, with_overrides

    flags = _trainer_overrides(args)
    if getattr(args, "data", None):
        flags += ["data.dataset=npz", f"data.path={json.dumps(str(args.data))}"]
    elif getattr(args, "dataset", None):
        flags.append(f"data.dataset={args.dataset}")
    if args.data_root:
        flags.append(f"data.root={json.dumps(str(args.data_root))}")
    return with_overrides(config_from_plain(saved), apply_overrides({}, flags))


def _check_output_file(path: Path, flag: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    from mmanet.config import ConfigError

    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    parent = next((p for p in path.parents if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: no permission to write in {parent}")


def _cmd_evaluate(args: argparse.Namespace, console: Console) -> int:
    from mmanet.console import print_report
    from mmanet.data import load_dataset
    from mmanet.io import atomic_write_text
    from mmanet.modelfile import check_compatible, load_model_file
    from mmanet.reporting import aggregate_method
    from mmanet.training import evaluate_model_file, is_global_zero
    from mmanet.training.evaluate import model_task

    if args.json_out:
        _check_output_file(Path(args.json_out), "--json")
    model = load_model_file(args.checkpoint)
    cfg = _evaluation_config(args, model.meta["config"])
    source = load_dataset(cfg.data)
    check_compatible(model, source)
    seed = int(model.meta["seed"])
    dataset = source.everything() if args.split == "all" else source.splits(seed).datasets[args.split]
    workers = source.workers(cfg.data.num_workers)
    results = evaluate_model_file(model, dataset, cfg.trainer, source.modalities, num_workers=workers)
    if not is_global_zero():
        return 0
    task = model_task(model)
    summary = aggregate_method({seed: results}, list(results), task.names, task.higher_is_better)
    report = {
        "dataset": source.name,
        "modalities": list(source.modalities),
        "split": args.split,
        "seeds": [seed],
        "metrics": list(task.names),
        "higher_is_better": task.higher_is_better,
        "methods": {model.meta["method"]: summary},
    }
    if args.failure_rates:
        _add_expected(report, summary, list(results), source.modalities, args.failure_rates, task.names)
    stored = model.meta.get("data_fingerprint")
    if stored and not (args.data or args.dataset) and stored != source.fingerprint():
        report["warnings"] = [
            f"{source.name} changed since {args.checkpoint} was trained (data fingerprint differs): "
            "the seeded split may now put training samples in the evaluated split"
        ]
    print_report(report, console)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(report, indent=2) + "\n")
    return 0


def _add_expected(
    report: dict[str, Any], summary: dict[str, Any], names: list[str], modalities: Any, text: str, metrics: Any
) -> None:
    """``methods.<method>.expected.<metric>`` under the given failure rates."""
    from mmanet.config import ConfigError
    from mmanet.robustness import expected_metric, parse_failure_rates

    try:
        rates = parse_failure_rates(text)
        per = summary["combinations"]
        served = [m for m in modalities if any(m in n.split("+") for n in names)]
        expected = {k: expected_metric({n: per[n][k] for n in names}, served, rates) for k in metrics}
    except ValueError as err:
        raise ConfigError(f"--failure-rates: {err}") from err
    summary["expected"] = expected
    summary["failure_rates"] = rates
    report["failure_rates"] = rates


def _predict_rows(predictor: Any, out: Any, start: int) -> list[list[Any]]:
    rows = []
    for i, (probs, combo) in enumerate(zip(out.probabilities, out.combinations, strict=True)):
        rows.append([start + i, combo, int(probs.argmax()), *(f"{p:.6f}" for p in probs)])
    return rows


def _cmd_predict(args: argparse.Namespace, console: Console) -> int:
    import mmanet
    from mmanet.modelfile import ModelFileError

    predictor = mmanet.load(args.checkpoint, device=args.device)
    dense = predictor.task == "segmentation"
    if args.data:
        from mmanet.data import DataError, read_inputs

        shapes = predictor.deployed.input_shapes
        inputs, present = read_inputs(args.data, predictor.modalities, shapes, dense=dense)
        try:
            batches = [(0, predictor.predict(inputs, present, args.batch_size))]
        except ValueError as err:
            raise DataError(f"{args.data}: {err}") from err
    else:
        batches = _predict_dataset(predictor, args)
    if dense:
        count = _write_label_maps(Path(args.out), batches)
        console.print(f"{count} label maps written to [bold]{args.out}[/]")
        return 0
    if not str(args.out).endswith(".csv") and Path(args.out).is_dir():
        raise ModelFileError(f"--out {args.out} is a directory; give a .csv file")
    header = ["index", "combination", "prediction", *(f"prob_{k}" for k in range(predictor.num_classes))]
    rows = [row for start, out in batches for row in _predict_rows(predictor, out, start)]
    _write_csv(Path(args.out), header, rows)
    console.print(f"{len(rows)} predictions written to [bold]{args.out}[/]")
    return 0


def _predict_dataset(predictor: Any, args: argparse.Namespace) -> list[tuple[int, Any]]:
    """Predictions over a dataset directory of the model's dataset kind, in batches."""
    from torch.utils.data import DataLoader, default_collate

    from mmanet.config import apply_overrides, config_from_plain, with_overrides
    from mmanet.data import load_dataset

    flags = [f"data.root={json.dumps(str(args.data_root))}"]
    cfg = with_overrides(config_from_plain(predictor.model.meta["config"]), apply_overrides({}, flags))
    source = load_dataset(cfg.data)
    seed = int(predictor.model.meta.get("seed", 0))
    dataset = source.everything() if args.split == "all" else source.splits(seed).datasets[args.split]
    if hasattr(dataset, "prepare"):
        dataset.prepare()  # an image cache, when the dataset has one
    collate = getattr(dataset, "collate_fn", None) or default_collate
    columns = [source.modalities.index(m) for m in predictor.modalities]
    out, start = [], 0
    for batch in DataLoader(dataset, batch_size=args.batch_size, shuffle=False, collate_fn=collate):
        present = batch["present"][:, columns]
        out.append((start, predictor.predict(batch["inputs"], present, args.batch_size)))
        start += len(present)
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    from mmanet.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _write_label_maps(out: Path, batches: list[tuple[int, Any]]) -> int:
    """One PNG of predicted class indices per sample, ``<index>.png``."""
    import io

    import numpy as np
    from PIL import Image

    from mmanet.io import atomic_write_bytes

    count = 0
    for start, prediction in batches:
        for i, labels in enumerate(prediction.labels):
            buffer = io.BytesIO()
            Image.fromarray(labels.astype(np.uint8 if labels.max() < 256 else np.uint16)).save(buffer, format="PNG")
            atomic_write_bytes(out / f"{start + i:06d}.png", buffer.getvalue())
            count += 1
    return count


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from mmanet.config import ConfigError
    from mmanet.export import export_model_file
    from mmanet.modelfile import ModelFileError

    _check_output_file(Path(args.out), "--out")
    try:
        path = export_model_file(args.checkpoint, args.out, args.format)
    except ValueError as err:
        if isinstance(err, ConfigError | ModelFileError):
            raise
        raise ConfigError(f"--format {args.format}: {err}") from err
    console.print(f"{args.format} graph for every subset written to [bold]{path}[/]")
    return 0


def _cmd_route(args: argparse.Namespace, console: Console) -> int:
    from mmanet.config import ConfigError
    from mmanet.data import load_dataset
    from mmanet.io import atomic_write_text
    from mmanet.modelfile import check_compatible, load_model_file
    from mmanet.routing import check_routable, choose_routes, routed_meta, write_routed
    from mmanet.training import evaluate_model_file
    from mmanet.training.evaluate import model_task
    from mmanet.training.teacher import file_sha256

    _check_output_file(Path(args.out), "--out")
    if args.json_out:
        _check_output_file(Path(args.json_out), "--json")
    if not args.margin >= 0:
        raise ConfigError(f"--margin: expected a number >= 0, got {args.margin}")
    files = [load_model_file(path) for path in [args.checkpoint, *args.candidates]]
    check_routable(files)
    cfg = _evaluation_config(args, files[0].meta["config"])
    source = load_dataset(cfg.data)
    for model in files:
        check_compatible(model, source)
    dataset = source.splits(int(files[0].meta["seed"])).datasets["val"]
    workers = source.workers(cfg.data.num_workers)
    scores = [evaluate_model_file(m, dataset, cfg.trainer, source.modalities, num_workers=workers) for m in files]
    task = model_task(files[0])
    selection = [{name: float(v[task.select]) for name, v in s.items()} for s in scores]
    routes = choose_routes(selection, higher_is_better=task.higher_is_better[task.select], margin=args.margin)
    hashes = [file_sha256(m.path) for m in files]
    meta = routed_meta(files, routes, scores, select=task.select, margin=args.margin, hashes=hashes)
    path = write_routed(args.out, files, routes, meta)
    _print_routes(console, files, meta["routing"], task.select)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(meta["routing"], indent=2) + "\n")
    moved = [k for k in routes.values() if k]
    console.print(
        f"routed model written to [bold]{path}[/]: {len(moved)} of {len(routes)} "
        f"combinations served by {len(set(moved))} candidate file(s), the rest by the base"
    )
    return 0


def _print_routes(console: Console, files: list[Any], routing: dict[str, Any], select: str) -> None:
    """A table: each combination's validation score under every file, and the file chosen."""
    from rich.table import Table

    labels = [f"{k}: {f.meta.get('method', '?')}" for k, f in enumerate(files)]
    table = Table(title=f"validation {select} per combination (0 = base)")
    table.add_column("combination")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("served by", justify="right")
    for name, values in routing["val"].items():
        cells = ["-" if v is None else f"{100 * v:.2f}" for v in values]
        table.add_row(name, *cells, str(routing["served_by"][name]))
    console.print(table)


def _cmd_list(console: Console) -> int:
    from mmanet.data import DATASETS
    from mmanet.nn import DECODERS, ENCODERS
    from mmanet.training import METHODS

    console.print("[bold]methods[/]")
    for name, spec in METHODS.items():
        console.print(f"  {name:12s} {spec.description}")
    console.print(f"[bold]datasets[/]  {', '.join(sorted(DATASETS))}")
    console.print(f"[bold]encoders[/]  {', '.join(ENCODERS.names())} (auto: mlp for vectors, cnn for images)")
    console.print(f"[bold]decoders[/]  {', '.join(DECODERS.names())}")
    console.print("[bold]mmanet-plus components[/] (config key: what it does \\[default])")
    components = plus_components()
    width = max(map(len, components))
    for key, text in components.items():  # the texts hold brackets ([names], [default]): not markup
        console.print(f"  {key:{width}s} {text}", markup=False)
    return 0


def plus_components() -> dict[str, str]:
    """``{config key: "what it does [default]"}`` of every mmanet-plus component."""
    from mmanet.config import ModelConfig, PlusConfig
    from mmanet.config.schema import PLUS_COMPONENTS

    defaults = {f"plus.{k}": v for k, v in dataclasses.asdict(PlusConfig()).items()}
    model = ModelConfig()
    defaults["model.combination_patches"] = model.combination_patches
    defaults["model.combination_readout"] = model.combination_readout
    defaults["model.combination_decoders"] = model.combination_decoders
    defaults["model.alone_patches"] = model.alone_patches
    defaults["model.alone_encoders"] = model.alone_encoders
    defaults["model.fusion_stream"] = model.fusion_stream
    defaults["model.stream_se"] = model.stream_se
    defaults["model.skip_absent_primary"] = model.skip_absent_primary
    defaults["model.combination_statistics"] = model.combination_statistics
    defaults["model.decoder_statistics"] = model.decoder_statistics
    defaults["model.combination_adapters"] = model.combination_adapters
    return {key: f"{text} [{defaults[key]}]" for key, text in PLUS_COMPONENTS.items()}


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    if args.command == "demo":
        preset = "demo.yaml" if args.task == "classification" else "demo_segmentation.yaml"
        demo = Path(str(resources.files("mmanet.presets").joinpath(preset)))
        return _cmd_run(args, console, preset=demo, default_mode="resume")  # rerunning the demo reuses finished parts
    if args.command == "run":
        return _cmd_run(args, console)
    if args.command == "evaluate":
        return _cmd_evaluate(args, console)
    if args.command == "predict":
        return _cmd_predict(args, console)
    if args.command == "export":
        return _cmd_export(args, console)
    if args.command == "route":
        return _cmd_route(args, console)
    return _cmd_list(console)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mmanet`` console script.

    Exit codes: 0 done; 2 refused input (config, data, model file, output directory; the message
    names the file or key, no traceback unless ``--debug``); 3 training stopped on a non-finite
    loss or weights; 1 an internal error; 130 interrupted.
    """
    args = build_parser().parse_args(argv)
    console = Console()
    from mmanet.config import ConfigError
    from mmanet.data import DataError
    from mmanet.metrics import UndefinedMetricError
    from mmanet.modelfile import ModelFileError
    from mmanet.training import NonFiniteLossError

    def say(kind: str, text: str) -> None:
        console.print(f"[bold red]{kind}:[/] {text}", highlight=False, soft_wrap=True)

    try:
        return _dispatch(args, console)
    except (ConfigError, DataError, ModelFileError, UndefinedMetricError) as err:
        if args.debug:
            raise
        say("error", str(err))
        return 2
    except OSError as err:
        if args.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        say("error", f"{where}{err.strerror or err}")
        return 2
    except NonFiniteLossError as err:
        if args.debug:
            raise
        say("training stopped", str(err))
        return 3
    except KeyboardInterrupt:
        say("interrupted", "finished parts are kept; rerun with --resume to continue")
        return 130
    except Exception as err:
        if args.debug:
            raise
        say("internal error", f"{type(err).__name__}: {err} (rerun with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
