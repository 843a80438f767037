"""Training: methods, the Lightning modules, the experiment runner."""

from mmanet.training.evaluate import EvaluationModule, evaluate_model_file
from mmanet.training.experiment import build_report, run_experiment
from mmanet.training.fitting import MethodRun, SeedContext, fit_module, is_global_zero, train_method
from mmanet.training.methods import METHODS, MethodSpec, get_method
from mmanet.training.mmanet_module import MMANetClassifier
from mmanet.training.module import MultimodalClassifier
from mmanet.training.sampling import ModalityDropout
from mmanet.training.teacher import FrozenTeacher, load_teacher
from mmanet.training.trainer import build_trainer

__all__ = [
    "METHODS",
    "EvaluationModule",
    "FrozenTeacher",
    "MMANetClassifier",
    "MethodRun",
    "MethodSpec",
    "ModalityDropout",
    "MultimodalClassifier",
    "SeedContext",
    "build_report",
    "build_trainer",
    "evaluate_model_file",
    "fit_module",
    "get_method",
    "is_global_zero",
    "load_teacher",
    "run_experiment",
    "train_method",
]
