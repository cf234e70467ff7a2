"""Workloads: layers and networks, from torch models, ONNX files, SCALE-Sim topology files or the zoo.

``Layer`` and ``Network`` import without torch (arch/ code uses them). The zoo, ``from_torch`` (both need torch),
``from_onnx``, the topology reader/writer and ``load_workload`` (one resolver for a zoo name, ``FILE.onnx`` or
``path/to/file.py:ClassName``) are imported on first use of their names (``imcsim.workload.get_model`` etc.).
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
    "from_onnx": "imcsim.workload.from_onnx",
    "load_workload": "imcsim.workload.resolve",
    "load_module": "imcsim.workload.resolve",
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
