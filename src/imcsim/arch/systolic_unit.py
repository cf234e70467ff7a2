"""The systolic array as a :class:`~imcsim.arch.unit.Unit` (kind ``"systolic"``): a thin adapter over
:func:`imcsim.arch.systolic.simulate_layer`, which runs every layer kind (MAC-free layers included).

Area: the PE array and its scratchpads, :attr:`imcsim.config.systolic.SystolicConfig.array_area_m2`, whatever the
layers (the array is there whether or not a layer uses it). Boundary bytes: a layer's input or output elements in
the array's words (``word_bytes`` each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from imcsim.arch import systolic
from imcsim.arch.cost import LayerCost
from imcsim.arch.unit import LayerWeights, Placement, register_unit
from imcsim.config.systolic import SystolicConfig
from imcsim.workload.layer import Layer

__all__ = ["SystolicUnit"]


@dataclass(frozen=True)
class SystolicUnit:
    """A digital systolic array; converters and placement do not change a layer's cost on it."""

    config: SystolicConfig
    kind: ClassVar[str] = "systolic"
    analog_chain: ClassVar[bool] = False
    analog: ClassVar[bool] = False
    batches: ClassVar[bool] = True

    def why_not(self, layer: Layer) -> str | None:
        return None

    def layer_cost(self, layer: Layer, placement: Placement = Placement(),
                   weights: LayerWeights | None = None, batch: int = 1) -> LayerCost:
        return systolic.simulate_layer(layer, self.config, batch)

    def area_m2(self, layers: Sequence[Layer]) -> float:
        return self.config.array_area_m2

    def input_bytes(self, layer: Layer) -> int:
        return layer.input_elems * self.config.word_bytes

    def output_bytes(self, layer: Layer) -> int:
        return layer.output_elems * self.config.word_bytes


register_unit("systolic", SystolicUnit)
