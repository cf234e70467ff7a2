"""imcsim: heterogeneous mixed-signal CNN accelerator design and evaluation.

The public API is re-exported here; see the README for a tour.
"""

from imcsim.errors import (CheckpointError, ConfigError, DataError, ImcsimError, ModelError,
                           TopologyError)
from imcsim.workload import Gemm, Layer, LayerKind, Network
from imcsim.arch import LayerCost, NetworkCost

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "ImcsimError", "ModelError", "TopologyError",
    "Gemm", "Layer", "LayerKind", "Network", "LayerCost", "NetworkCost",
]
