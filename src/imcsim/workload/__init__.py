"""Workloads: layers and networks, from torch models, SCALE-Sim topology files or the zoo.

``Layer`` and ``Network`` import without torch (arch/ code uses them). The zoo, ``from_torch`` (both need torch) and
the topology reader/writer are imported on first use of their names (``imcsim.workload.get_model`` etc.).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from imcsim.workload.layer import Gemm, Layer, LayerKind
from imcsim.workload.network import Network

# name -> module, imported on first use (the torch-based modules stay out of `import imcsim`).
_LAZY = {
    "read_topology": "imcsim.workload.scalesim_csv",
    "write_topology": "imcsim.workload.scalesim_csv",
    "from_torch": "imcsim.workload.from_torch",
    "ZooEntry": "imcsim.workload.zoo",
    "list_models": "imcsim.workload.zoo",
    "get_model": "imcsim.workload.zoo",
    "build_model": "imcsim.workload.zoo",
    "load_network": "imcsim.workload.zoo",
    "model_info": "imcsim.workload.zoo_info",
    "zoo_rows": "imcsim.workload.zoo_info",
}

__all__ = ["Gemm", "Layer", "LayerKind", "Network", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imcsim.workload' has no attribute {name!r}")
