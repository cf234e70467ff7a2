"""imcsim.train: datasets, the training loop with checkpoints and resume, Monte Carlo evaluation, deployment export.

Modules: :mod:`imcsim.train.config` (``TrainConfig``), :mod:`imcsim.train.data` (readers),
:mod:`imcsim.train.trainer` (``train``), :mod:`imcsim.train.evaluate` (``evaluate_run``, ``monte_carlo``),
:mod:`imcsim.train.deploy` (``Deployment``, ``save_deployment``, ``load_deployment``). Names are imported lazily, so
``import imcsim.train.config`` (the CLI's flag defaults) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "DATASETS": "data", "Dataset": "data", "load_dataset": "data",
    "DeployedLayer": "deploy", "Deployment": "deploy", "DeploymentConfig": "deploy",
    "export_deployment": "deploy", "load_deployment": "deploy", "save_deployment": "deploy",
    "compare_deployment": "deploy",
    "EvalResult": "evaluate", "HardwareChanges": "evaluate", "evaluate_run": "evaluate", "monte_carlo": "evaluate",
    "TrainConfig": "config", "TrainResult": "trainer", "evaluate_accuracy": "trainer", "train": "trainer",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"imcsim.train.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'imcsim.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
