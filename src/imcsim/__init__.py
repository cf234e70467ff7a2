"""imcsim: heterogeneous mixed-signal CNN accelerator design and evaluation.

The public API, re-exported from the modules that define it (see the README for a tour). Names that need torch or
scipy are loaded on first use, so ``import imcsim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from imcsim.arch import LayerCost, NetworkCost
from imcsim.errors import (CheckpointError, ConfigError, DataError, ImcsimError, ModelError, OutputError,
                           TopologyError, WeightLevelError)
from imcsim.workload import Gemm, Layer, LayerKind, Network

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__.
_LAZY = {
    # workloads
    "from_torch": "imcsim.workload.from_torch",
    "from_onnx": "imcsim.workload.from_onnx",
    "load_workload": "imcsim.workload.resolve",
    "load_network": "imcsim.workload.zoo",
    "build_model": "imcsim.workload.zoo",
    "list_models": "imcsim.workload.zoo",
    "read_topology": "imcsim.workload.scalesim_csv",
    "write_topology": "imcsim.workload.scalesim_csv",
    # hardware configs and presets
    "load_preset": "imcsim.config.presets",
    "list_presets": "imcsim.config.presets",
    "read_scalesim_cfg": "imcsim.config.scalesim_cfg",
    "SystolicConfig": "imcsim.config.systolic",
    "CPUConfig": "imcsim.config.cpu",
    "IMACConfig": "imcsim.config.imac",
    "SystemConfig": "imcsim.config.system",
    "load_system": "imcsim.config.system",
    "DeviceConfig": "imcsim.config.device",
    "ADCConfig": "imcsim.config.adc",
    # systems
    "System": "imcsim.arch.system",
    "Comparison": "imcsim.arch.system",
    # circuits
    "Crossbar": "imcsim.circuit.crossbar",
    "IMACNetwork": "imcsim.circuit.network",
    "WireConfig": "imcsim.config.wires",
    # hardware-aware training
    "convert": "imcsim.nn.convert",
    "TrainConfig": "imcsim.train.config",
    "evaluate_run": "imcsim.train.evaluate",
    "load_deployment": "imcsim.train.deploy",
    "load_dataset": "imcsim.train.data",
    # design-space exploration
    "load_spec": "imcsim.explore.spec",
    "run_sweep": "imcsim.explore.runner",
    "open_store": "imcsim.explore.store",
}

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "ImcsimError", "ModelError", "OutputError", "TopologyError",
    "WeightLevelError",
    "Gemm", "Layer", "LayerKind", "Network", "LayerCost", "NetworkCost", *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imcsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
