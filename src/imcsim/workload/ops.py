"""Names of the operations workloads are made of, defined once for every reader (no torch import).

:data:`ACTIVATIONS` is the one list of activation functions: :mod:`imcsim.workload.from_torch` reads these modules
as elementwise layers, :mod:`imcsim.nn.convert` lets them sit between the IMAC dense layers (the analog neuron
replaces them), and a cost model that fuses activations into the array's output path matches :attr:`Layer.op`
against :data:`ACTIVATION_OPS`.
"""

from __future__ import annotations

__all__ = ["ACTIVATIONS", "ACTIVATION_OPS"]

ACTIVATIONS = ("ReLU", "ReLU6", "Sigmoid", "Tanh", "Hardtanh", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SiLU",
               "Hardswish", "Hardsigmoid", "Mish", "Softplus")
"""``torch.nn`` class names of the activation functions imcsim knows."""

ACTIVATION_OPS = frozenset(name.lower() for name in ACTIVATIONS)
"""The same activations as :attr:`Layer.op` values (lower-case: ``"relu"``, ``"sigmoid"``, ...)."""
