"""Workloads: layers and networks, from torch models, SCALE-Sim topology files or the zoo."""

from imcsim.workload.layer import Gemm, Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["Gemm", "Layer", "LayerKind", "Network"]
