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
