"""imcsim.train: datasets, the training loop with checkpoints and resume, Monte Carlo evaluation, deployment export.

Modules: :mod:`imcsim.train.data` (readers), :mod:`imcsim.train.trainer` (``TrainConfig``, ``train``),
:mod:`imcsim.train.evaluate` (``evaluate_run``, ``monte_carlo``), :mod:`imcsim.train.deploy` (``Deployment``,
``save_deployment``, ``load_deployment``).
"""

from imcsim.train.data import DATASETS, Dataset, load_dataset
from imcsim.train.deploy import DeployedLayer, Deployment, export_deployment, load_deployment, save_deployment
from imcsim.train.evaluate import EvalResult, HardwareOverrides, evaluate_run, monte_carlo
from imcsim.train.trainer import TrainConfig, TrainResult, evaluate_accuracy, train

__all__ = [
    "DATASETS", "Dataset", "load_dataset",
    "DeployedLayer", "Deployment", "export_deployment", "load_deployment", "save_deployment",
    "EvalResult", "HardwareOverrides", "evaluate_run", "monte_carlo",
    "TrainConfig", "TrainResult", "evaluate_accuracy", "train",
]
