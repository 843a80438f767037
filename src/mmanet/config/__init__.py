"""Layered experiment configuration: defaults < YAML file < ``--set key=value`` overrides.

Every section is a typed dataclass; :func:`from_dict` checks keys and types and names the
offending key (``optim.lr: expected float, got 'fast'``). The resolved config is saved with
every run, checkpoint and report (:func:`to_dict`).
"""

from mmanet.config.loader import apply_overrides, load_config, with_overrides
from mmanet.config.schema import (
    CalibrationConfig,
    ConfigError,
    DataConfig,
    DistillConfig,
    ExperimentConfig,
    MARConfig,
    ModelConfig,
    OptimConfig,
    PlusConfig,
    TrainerConfig,
)
from mmanet.config.typed import config_from_plain, from_dict, to_dict

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
    "apply_overrides",
    "config_from_plain",
    "from_dict",
    "load_config",
    "to_dict",
    "with_overrides",
]
