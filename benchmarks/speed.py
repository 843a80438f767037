"""Speed study (issue 6): training-step, evaluation and inference overheads, throughput.

    python benchmarks/speed.py --json docs/speed.json

Writes, in one process run on this machine:

- ``step_time_ratio_mmanet_over_dropout``: median training-step time of ``mmanet`` (teacher
  outputs + deployment + regularization + MAD) over plain ``dropout``, same batches, MAD and MAR
  active from epoch 1 (Lightning loop, timed from batch start to batch end), in the steady state
  (epochs 4 on). The frozen teacher's outputs are cached per sample once computed, so the first
  distillation epochs, which still meet unseen samples (``drop_last`` leaves some out of each
  epoch), run the teacher; ``step_times`` also gives the median over every distillation step
  (epochs 1 on), the worst case of a short run;
- ``eval_time_ratio_cached_over_naive``: all 2^M - 1 combinations with encoder reuse versus
  re-running the whole network per combination, for M = 3 and M = 6;
- ``inference_overhead_deployed_over_plain``: the exported deployment network versus the same
  architecture built afresh (no teacher, no regularization network, no hooks);
- ``samples_per_second``: training on the bundled data, and the image pipeline (decode +
  joint augmentation) with 2 loader workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from torch.utils.data import DataLoader

from mmanet.config import load_config
from mmanet.data import CasiaSurfSource, load_dataset
from mmanet.data.trees import make_casia_surf
from mmanet.evaluation import combination_outputs
from mmanet.io import atomic_write_text
from mmanet.modality import all_combinations, combination_mask, combination_name
from mmanet.modelfile import load_model_file, save_model_file
from mmanet.nn import NetworkSpec, build_network
from mmanet.training import METHODS, build_module, build_trainer, prepare_seed, train_prerequisites


class StepTimer(Callback):
    """Wall time of every training step from ``from_epoch`` on."""

    def __init__(self, from_epoch: int) -> None:
        self.from_epoch = from_epoch
        self.times: list[float] = []
        self.epochs: list[int] = []  # the epoch of each entry of ``times``
        self.epoch_times: list[float] = []
        self._start = 0.0
        self._epoch = 0.0

    def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.current_epoch >= self.from_epoch:
            self.times.append(time.perf_counter() - self._start)
            self.epochs.append(int(trainer.current_epoch))

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        self._epoch = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.current_epoch >= self.from_epoch:
            self.epoch_times.append(time.perf_counter() - self._epoch)


def step_times(out: Path, epochs: int, steady_from: int = 4) -> dict[str, Any]:
    """Median step time of dropout and mmanet (MAD and MAR active from epoch 1): from
    ``steady_from`` on (the ratio) and over every epoch from 1 on."""
    cfg = load_config(
        None,
        [f"out={out}", f"optim.epochs={epochs}", "trainer.progress=false", "mar.mine_start=0", "mar.begin_epoch=1"],
    )
    source = load_dataset(cfg.data)
    ctx = prepare_seed(cfg, source, 0)
    refs, _ = train_prerequisites(ctx, [METHODS["mmanet"]])
    result: dict[str, Any] = {}
    for name in ("dropout", "mmanet"):
        module = build_module(ctx, METHODS[name], prerequisites=refs)
        timer = StepTimer(from_epoch=1)
        trainer = build_trainer(cfg.trainer, root=out / name, epochs=epochs, extra_callbacks=[timer])
        trainer.fit(module, datamodule=ctx.datamodule())
        if name == "mmanet":  # the deployment network as exported for inference
            names = [combination_name(c) for c in all_combinations(ctx.modalities)]
            save_model_file(
                out / "mmanet_model.pt",
                entries=[(module.net, ctx.spec, names)],
                meta={"data_modalities": list(ctx.modalities), "method": name},
            )
        steady = [t for t, e in zip(timer.times, timer.epochs, strict=True) if e >= steady_from]
        result[name] = {
            "median_step_s": statistics.median(steady),
            "steps": len(steady),
            "median_step_s_from_epoch_1": statistics.median(timer.times),
            "steps_from_epoch_1": len(timer.times),
            "epoch_s": statistics.median(timer.epoch_times),
        }
    result["samples_per_second_training_dropout"] = ctx.num_train / result["dropout"]["epoch_s"]
    result["ratio"] = result["mmanet"]["median_step_s"] / result["dropout"]["median_step_s"]
    result["ratio_from_epoch_1"] = (
        result["mmanet"]["median_step_s_from_epoch_1"] / result["dropout"]["median_step_s_from_epoch_1"]
    )
    return result


def _median_time(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def eval_ratio(modalities: list[str], repeats: int) -> dict[str, float]:
    """Time of all combinations with encoder reuse over naive full passes, one 400-sample batch."""
    cfg = load_config(None, [f"data.modalities={modalities}", "model.embed_dim=32"])
    source = load_dataset(cfg.data)
    batch = source.splits(0).datasets["val"].__getitems__(list(range(400)))  # type: ignore[attr-defined]
    spec_cfg = {"embed_dim": 32, "decoder": {"name": "mlp", "hidden": 128}}
    net = build_network(NetworkSpec(source.modalities, source.input_shapes, source.num_classes, spec_cfg)).eval()
    combos = all_combinations(source.modalities)

    def cached() -> None:
        combination_outputs(net, batch["inputs"], batch["present"], combos)

    def naive() -> None:
        for combo in combos:
            net(batch["inputs"], combination_mask(combo, source.modalities).expand(400, -1))

    c, n = _median_time(cached, repeats), _median_time(naive, repeats)
    return {"cached_s": c, "naive_s": n, "ratio": c / n, "combinations": len(combos)}


@torch.no_grad()
def inference_overhead(model_path: Path, repeats: int) -> dict[str, float]:
    """Exported deployment network versus a freshly built one of the same architecture."""
    model = load_model_file(model_path)
    deployed = model.entries[0].net.eval()
    plain = build_network(model.entries[0].spec).eval()
    plain.load_state_dict(deployed.state_dict())
    cfg = load_config(None, [])
    test = load_dataset(cfg.data).splits(0).datasets["test"]
    batch = test.__getitems__(list(range(400)))  # type: ignore[attr-defined]
    d = _median_time(lambda: deployed(batch["inputs"], batch["present"]), repeats)
    p = _median_time(lambda: plain(batch["inputs"], batch["present"]), repeats)
    same = sum(x.numel() for x in deployed.parameters()) == sum(x.numel() for x in plain.parameters())
    return {"deployed_s": d, "plain_s": p, "ratio": d / p, "same_parameter_count": float(same)}


def image_pipeline(samples: int, workers: int) -> float:
    """Samples per second through decode + joint augmentation (112 x 112 from 144) with ``workers``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_casia_surf(Path(tmp), {"train": samples, "val": 4, "test": 4})
        for path in Path(tmp).rglob("*.jpg"):  # realistic sizes: re-save at 256 x 256
            with Image.open(path) as image:
                image.resize((256, 256)).save(path)
        dataset = CasiaSurfSource(root).splits(0).datasets["train"]
        keys = [(i, 0) for i in range(len(dataset))]
        loader = DataLoader(dataset, batch_size=32, sampler=keys, num_workers=workers)
        next(iter(loader))
        start = time.perf_counter()
        count = sum(len(b["target"]) for b in loader)
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        steps = step_times(Path(tmp), args.epochs)
        overhead = inference_overhead(Path(tmp) / "mmanet_model.pt", args.repeats)
    result = {
        "step_time_ratio_mmanet_over_dropout": steps["ratio"],
        "eval_time_ratio_cached_over_naive": {
            "M=3": eval_ratio(["pix", "fou", "mor"], args.repeats),
            "M=6": eval_ratio(["fou", "fac", "kar", "pix", "zer", "mor"], args.repeats),
        },
        "inference_overhead_deployed_over_plain": overhead,
        "samples_per_second": {
            "training_dropout_mfeat_trio": steps["samples_per_second_training_dropout"],
            "image_pipeline_2_workers": image_pipeline(256, 2),
        },
        "step_times": steps,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, threads {torch.get_num_threads()}",
        "command": "python benchmarks/speed.py --json " + str(args.json),
    }
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
