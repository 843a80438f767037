"""Training: methods, the Lightning modules, the jobs of a seed, and the experiment runner.

A run goes one way: config -> data source -> :class:`SeedData` -> prerequisites (teacher,
specialists) -> one module per model (:func:`build_module`) -> :func:`fit_module` -> export ->
report. Only :func:`run_experiment` orchestrates; nothing below it prints.
"""

from mmanet.training.build import Prerequisites, build_module
from mmanet.training.deployment import DeploymentModule, NonFiniteLossError
from mmanet.training.display import Display
from mmanet.training.distributed import is_global_zero
from mmanet.training.evaluate import EvaluationModule, evaluate_model_file
from mmanet.training.experiment import build_report, run_experiment, train_prerequisites
from mmanet.training.fit import FitResult, fit_module
from mmanet.training.jobs import MethodRun, cross_fit_entropies, train_part, train_per_combination, train_unified
from mmanet.training.methods import METHODS, MethodSpec, get_method
from mmanet.training.mmanet_module import MMANetModule
from mmanet.training.sampling import ModalityDropout
from mmanet.training.seed import SeedData, prepare_seed
from mmanet.training.teacher import FrozenTeacher, ModelRef, load_teacher
from mmanet.training.trainer import build_trainer

__all__ = [
    "METHODS",
    "DeploymentModule",
    "Display",
    "EvaluationModule",
    "FitResult",
    "FrozenTeacher",
    "MMANetModule",
    "MethodRun",
    "MethodSpec",
    "ModalityDropout",
    "ModelRef",
    "NonFiniteLossError",
    "Prerequisites",
    "SeedData",
    "build_module",
    "build_report",
    "build_trainer",
    "cross_fit_entropies",
    "evaluate_model_file",
    "fit_module",
    "get_method",
    "is_global_zero",
    "load_teacher",
    "prepare_seed",
    "run_experiment",
    "train_part",
    "train_per_combination",
    "train_prerequisites",
    "train_unified",
]
