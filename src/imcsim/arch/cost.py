"""The one result type every unit model returns: what a layer costs on a unit.

Units are SI throughout (seconds, joules, bits, bytes, square metres). Unit-specific figures (cycles, utilizations,
SRAM accesses, crossbar counts) go in ``metrics`` under names the unit model documents; reports convert for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["LayerCost", "NetworkCost"]


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer on one unit (or of one transfer between units).

    Attributes:
        name: the layer name (or ``"<from>-><to>"`` for a transfer).
        unit: the unit that ran it: ``"systolic"``, ``"cpu"``, ``"imac"`` or ``"transfer"``.
        latency_s: time from the layer's first input to its last output (s).
        energy_j: energy (J).
        weight_bits: weight storage the layer needs on its unit (bits).
        activation_bytes: input plus output activation bytes the layer reads and writes.
        metrics: unit-specific figures, named and documented by the unit model (SI units or plain counts/fractions).
    """

    name: str
    unit: str
    latency_s: float
    energy_j: float
    weight_bits: int = 0
    activation_bytes: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, "latency_s": self.latency_s, "energy_j": self.energy_j,
                "weight_bits": self.weight_bits, "activation_bytes": self.activation_bytes, **dict(self.metrics)}


@dataclass(frozen=True)
class NetworkCost:
    """Per-layer costs of a network on a unit or a system, with totals (layers run one after another at batch 1)."""

    name: str
    layers: tuple[LayerCost, ...]

    def __init__(self, name: str, layers: Iterable[LayerCost]):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "layers", tuple(layers))

    @property
    def latency_s(self) -> float:
        return float(sum(c.latency_s for c in self.layers))

    @property
    def energy_j(self) -> float:
        return float(sum(c.energy_j for c in self.layers))

    @property
    def weight_bits(self) -> int:
        return int(sum(c.weight_bits for c in self.layers))

    def total(self, metric: str) -> float:
        """Sum of a ``metrics`` entry over the layers that report it."""
        return float(sum(c.metrics.get(metric, 0.0) for c in self.layers))
