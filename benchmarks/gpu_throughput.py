"""Throughput of the paper-size recipes (issue 12): input pipelines and training steps.

    python benchmarks/gpu_throughput.py --json docs/throughput.json           # paper sizes (a GPU)
    python benchmarks/gpu_throughput.py --json /tmp/throughput.json --small   # CPU-sized (the tests run this)

For the CASIA-SURF recipe (ResNet-18-SE stems, batch 64, 112 x 112 crops of 144 x 144 images):
(a) training samples/s through the real pipeline from a generated tree in the real layout
(256 x 256 JPEGs), with the joint augmentation on the CPU (Pillow, in workers) or on the device
(uint8 in workers, one ``grid_sample`` per batch), with and without the pre-decoded cache;
(b) training samples/s from tensors already in memory (the compute bound), plain, channels-last,
and compiled when asked; (c) the step time of ``mmanet`` against ``dropout``. For NYUv2
(ESANet-34, batch 8, 480 x 640): (b) and (c). GPU utilisation is sampled while the pipelines run
(when ``torch.cuda.utilization`` works). ``--small`` shrinks images, networks and counts so the
whole script runs on a laptop CPU in about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

from mmanet.config import load_config
from mmanet.data import ArraySource, CasiaSurfSource, MultimodalArrays, MultimodalDataModule, load_dataset
from mmanet.data.trees import make_casia_surf
from mmanet.io import atomic_write_text
from mmanet.modality import all_combinations, combination_name
from mmanet.modelfile import save_model_file
from mmanet.nn import build_network
from mmanet.training import METHODS, ModelRef, Prerequisites, build_module, build_trainer, prepare_seed

ROOT = Path(__file__).resolve().parents[1]


class StepTimer(Callback):
    """Wall time of every training step from ``from_epoch`` on (synchronised on a GPU)."""

    def __init__(self, from_epoch: int) -> None:
        self.from_epoch, self.times, self._start = from_epoch, [], 0.0

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
        self._sync()
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        self._sync()
        if trainer.current_epoch >= self.from_epoch:
            self.times.append(time.perf_counter() - self._start)


class Utilisation:
    """Samples ``torch.cuda.utilization()`` every 0.2 s in a thread (``None`` without a GPU/NVML)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(float(torch.cuda.utilization()))
            except Exception:
                return
            time.sleep(0.2)

    def __enter__(self) -> Utilisation:
        if torch.cuda.is_available():
            self._thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self._stop.set()

    def summary(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        return {
            "mean": float(np.mean(self.samples)),
            "median": float(np.median(self.samples)),
            "max": max(self.samples),
        }


def _tree(root: Path, samples: int, side: int) -> Path:
    """A CASIA-SURF tree in the real layout with ``side`` x ``side`` JPEGs."""
    root = make_casia_surf(root, {"train": samples, "val": 4, "test": 4})
    for path in root.rglob("*.jpg"):
        with Image.open(path) as image:
            image.resize((side, side)).save(path, quality=90)
    return root


def pipeline(
    root: Path, options: dict[str, Any], batch: int, workers: int, batches: int, device: torch.device
) -> dict[str, Any]:
    """Training samples/s through loader, transfer and (device) augmentation."""
    source = CasiaSurfSource(root, options=options)
    datasets = source.splits(0).datasets
    module = MultimodalDataModule(
        datasets=datasets,
        batch_size=batch,
        eval_batch_size=batch,
        seed=0,
        num_workers=workers,
        transform=source.batch_transform(),
    )
    module.prepare_data()
    loader = module.train_dataloader()
    count, start, seen = 0, 0.0, 0
    with Utilisation() as gpu:
        for _ in range(max(1, batches // max(1, len(loader)) + 1)):
            for raw in loader:
                moved = module.on_after_batch_transfer(module.transfer_batch_to_device(raw, device, 0), 0)
                if seen == 1:  # the first batch pays the worker start-up
                    start, count = time.perf_counter(), 0
                seen += 1
                count += int(moved["target"].shape[0])
                if seen > batches:
                    break
            if seen > batches:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"samples_per_s": count / (time.perf_counter() - start), "gpu_utilisation": gpu.summary()}


def _arrays(shapes: dict[str, tuple[int, ...]], samples: int, classes: int) -> MultimodalArrays:
    g = torch.Generator().manual_seed(0)
    inputs = {m: torch.randn(samples, *s, generator=g) for m, s in shapes.items()}
    labels = torch.arange(samples) % classes
    present = torch.ones(samples, len(shapes), dtype=torch.bool)
    return MultimodalArrays(tuple(shapes), inputs, present, labels, classes, "generated")


def train_steps(
    config: str,
    overrides: list[str],
    shapes: dict[str, tuple[int, ...]] | None,
    classes: int,
    samples: int,
    methods: tuple[str, ...] = ("dropout", "mmanet"),
    scenes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Median step time of each method on in-memory tensors (MAD and MAR active from epoch 1)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            config,
            [
                *overrides,
                f"out={tmp}",
                "optim.epochs=2",
                "optim.warmup_epochs=0",
                "mar.mine_start=0",
                "mar.begin_epoch=1",
                "trainer.progress=false",
                "data.num_workers=0",
                "data.split=[0.8, 0.1, 0.1]",
            ],
        )
        if scenes is not None:  # segmentation: synthetic scenes in memory instead of the recipe's files
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset="synthetic-rgbd", options=scenes))
        source = ArraySource(_arrays(shapes, samples, classes), cfg.data.split) if shapes else load_dataset(cfg.data)
        data = prepare_seed(cfg, source, 0)
        teacher = Path(tmp) / "teacher.pt"
        names = [combination_name(c) for c in all_combinations(data.modalities)]
        save_model_file(
            teacher,
            entries=[(build_network(data.spec), data.spec, names)],
            meta={"data_modalities": list(data.modalities)},
        )
        refs = Prerequisites(teacher=ModelRef.of(teacher))
        out: dict[str, Any] = {}
        for name in methods:
            module = build_module(data, METHODS[name], prerequisites=refs)
            if cfg.trainer.channels_last:
                module.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            if cfg.trainer.compile:
                module.net.compile()
            timer = StepTimer(from_epoch=1)
            L.seed_everything(0, verbose=False)
            trainer = build_trainer(cfg.trainer, root=Path(tmp) / name, epochs=2, extra_callbacks=[timer])
            trainer.fit(module, datamodule=data.datamodule())
            median = statistics.median(timer.times)
            out[name] = {
                "median_step_s": median,
                "samples_per_s": cfg.data.batch_size / median,
                "steps": len(timer.times),
            }
        if "mmanet" in out and "dropout" in out:
            out["mmanet_over_dropout"] = out["mmanet"]["median_step_s"] / out["dropout"]["median_step_s"]
        return out


def _gpu_name() -> str:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--small", action="store_true", help="CPU-sized images, networks and counts")
    parser.add_argument("--workers", type=int, default=min(14, os.cpu_count() or 1))
    args = parser.parse_args()
    small = args.small
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    side, size, resize, batch = (48, 32, 40, 8) if small else (256, 112, 144, 64)
    workers = min(args.workers, 2) if small else args.workers
    result: dict[str, Any] = {"small": small, "device": str(device)}
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(Path(tmp) / "surf", 48 if small else 2048, side)
        base = {"image_size": size, "resize": resize}
        runs = {
            "cpu_augmentation": base,
            "device_augmentation": base | {"augment": "device"},
            "device_augmentation_cached": base | {"augment": "device", "cache": str(Path(tmp) / "cache")},
        }
        result["casia_surf_pipeline"] = {
            k: pipeline(root, v, batch, workers, 4 if small else 60, device) for k, v in runs.items()
        }
    casia = ROOT / "configs" / "casia_surf_mmanet.yaml"
    shape = (3, size, size)
    tiny = ["model.encoders={default: {name: cnn, dim: 8}}", "model.decoder={name: mlp, hidden: 16}"] if small else []
    common = [f"data.batch_size={batch}", "data.eval_batch_size=32"]
    result["casia_surf_in_memory"] = train_steps(
        str(casia), [*common, *tiny], dict.fromkeys(("rgb", "depth", "ir"), shape), 2, 64 if small else 1024
    )
    if not small:
        channels_last = train_steps(
            str(casia),
            [*common, "trainer.channels_last=true"],
            dict.fromkeys(("rgb", "depth", "ir"), shape),
            2,
            1024,
            ("dropout",),
        )
        result["casia_surf_in_memory_channels_last"] = channels_last
    nyu = ROOT / "configs" / "nyuv2_mmanet.yaml"
    hw = (64, 64) if small else (480, 640)
    seg = (
        [
            "model.encoders={default: {name: tiny, width: 8}}",
            "model.decoder={name: esanet, channels: [16, 8, 8]}",
            "model.context_channels=16",
            "distill.max_size=[4, 4]",
        ]
        if small
        else []
    )
    scenes = {"num_samples": 32 if small else 96, "height": hw[0], "width": hw[1], "objects": 4, "workers": False}
    seg += [
        "data.batch_size=4" if small else "data.batch_size=8",
        "data.eval_batch_size=8",
        "data.split=[0.8, 0.1, 0.1]",
    ]
    result["nyuv2_in_memory"] = train_steps(str(nyu), seg, None, 0, 0, scenes=scenes)  # NYUv2-sized scenes in memory
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, {_gpu_name()}, torch {torch.__version__}"
    result["command"] = f"python benchmarks/gpu_throughput.py --json {args.json}{' --small' if small else ''}"
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
