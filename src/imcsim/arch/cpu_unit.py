"""The mobile CPU as a :class:`~imcsim.arch.unit.Unit` (kind ``"cpu"``): a thin adapter over
:func:`imcsim.arch.cpu.simulate_layer`, which runs every layer kind.

Area: ``cores`` x ``core_area_m2`` (:attr:`imcsim.config.cpu.CPUConfig.area_m2`), whatever the layers. Boundary
bytes: a layer's input or output elements at ``bytes_per_activation`` each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from imcsim.arch import cpu
from imcsim.arch.cost import LayerCost
from imcsim.arch.unit import LayerWeights, Placement, register_unit
from imcsim.config.cpu import CPUConfig
from imcsim.workload.layer import Layer

__all__ = ["CPUUnit"]


@dataclass(frozen=True)
class CPUUnit:
    """A digital multi-core CPU; converters and placement do not change a layer's cost on it."""

    config: CPUConfig
    kind: ClassVar[str] = "cpu"
    analog_chain: ClassVar[bool] = False
    analog: ClassVar[bool] = False

    def why_not(self, layer: Layer) -> str | None:
        return None

    def layer_cost(self, layer: Layer, placement: Placement = Placement(),
                   weights: LayerWeights | None = None) -> LayerCost:
        return cpu.simulate_layer(layer, self.config)

    def area_m2(self, layers: Sequence[Layer]) -> float:
        return self.config.area_m2

    def input_bytes(self, layer: Layer) -> int:
        return layer.input_elems * self.config.bytes_per_activation

    def output_bytes(self, layer: Layer) -> int:
        return layer.output_elems * self.config.bytes_per_activation


register_unit("cpu", CPUUnit)
