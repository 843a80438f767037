"""mmanet: multimodal learning when modalities go missing (MMANet, Wei, Luo & Luo, CVPR 2023).

The public Python API: train with :func:`run` (or the ``mmanet`` command), then :func:`load` a
``model.pt`` and predict from whatever modalities arrive::

    import mmanet
    predictor = mmanet.load("runs/demo/seed_0/mmanet/model.pt")
    out = predictor.predict({"pix": pix, "fou": fou})   # mor missing
    out.probabilities, out.combinations
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmanet.predict import Prediction, Predictor, load

if TYPE_CHECKING:
    from mmanet.config import ExperimentConfig

__version__ = "0.2.0"

__all__ = ["Prediction", "Predictor", "__version__", "load", "load_config", "run"]


def load_config(path: str | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """An experiment config: defaults < YAML file ``path`` < ``overrides`` (``["optim.lr=0.01"]``)."""
    from mmanet.config import load_config as _load

    return _load(path, overrides)


def run(config: ExperimentConfig, mode: str = "new") -> dict[str, Any]:
    """Train and test every method of ``config``; returns ``report.json``'s content (see the README)."""
    from mmanet.training import run_experiment

    return run_experiment(config, mode=mode)  # type: ignore[arg-type]
