"""Training: methods, the Lightning module, the experiment runner."""

from mmanet.training.evaluate import EvaluationModule, evaluate_model_file
from mmanet.training.experiment import SeedContext, fit_module, run_experiment
from mmanet.training.methods import METHODS, MethodSpec, get_method
from mmanet.training.module import MultimodalClassifier
from mmanet.training.sampling import ModalityDropout
from mmanet.training.trainer import build_trainer

__all__ = [
    "METHODS",
    "EvaluationModule",
    "MethodSpec",
    "ModalityDropout",
    "MultimodalClassifier",
    "SeedContext",
    "build_trainer",
    "evaluate_model_file",
    "fit_module",
    "get_method",
    "run_experiment",
]
