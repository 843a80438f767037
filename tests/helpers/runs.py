"""Small training runs for tests: a seed's data and one method with its prerequisites."""

from __future__ import annotations

from mmanet.config import ExperimentConfig
from mmanet.data import ArraySource, MultimodalArrays
from mmanet.training import METHODS, MethodRun, SeedData, prepare_seed, train_part, train_prerequisites


def seed_data(cfg: ExperimentConfig, arrays: MultimodalArrays, seed: int = 0) -> SeedData:
    """:class:`SeedData` of in-memory ``arrays`` under ``cfg`` (run directory ``cfg.out``)."""
    return prepare_seed(cfg, ArraySource(arrays, cfg.data.split), seed)


def run_method(data: SeedData, name: str) -> MethodRun:
    """Train ``name`` for this seed, after the prerequisites it needs (teacher, specialists)."""
    method = METHODS[name]
    refs, done = train_prerequisites(data, [method])
    return done.get(name) or train_part(data, method, refs)


def tiny_run_args(samples: int, data_seed: int, epochs: int) -> list[str]:
    """``mmanet run`` arguments for a tiny synthetic run (4-d encoders, one 8-wide decoder layer,
    ``samples`` samples drawn with ``data_seed``, seed 0, no progress display)."""
    return [
        "--set", "model.encoders={default: {name: tiny, dim: 4}}",
        "--set", "model.decoder={name: mlp, hidden: 8, depth: 1}",
        "--set", "data.dataset=synthetic", "--set", f"data.options={{num_samples: {samples}, seed: {data_seed}}}",
        "--epochs", str(epochs), "--seeds", "0", "--no-progress",
    ]  # fmt: skip
