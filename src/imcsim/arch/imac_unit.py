"""The fully analog IMAC unit as a :class:`~imcsim.arch.unit.Unit` (kind ``"imac"``): a thin adapter over
:func:`imcsim.arch.imac.simulate_layer`.

It runs dense layers only (``linear`` on one or more token rows, or a GEMM of weights with M = 1) and is an analog
chain: consecutive dense layers pass neuron voltages without converters, so :class:`~imcsim.arch.unit.Placement`
sets its DACs (``convert_in``) and ADCs (``convert_out``), and ``Placement.index`` picks the layer's amplifier gain
and sampling time. Area is sized by the mapped layers (crossbars plus converters,
:func:`imcsim.arch.imac.simulate_layer`'s ``metrics["area_m2"]``). Boundary bytes: ``n_in`` DAC words in, ``n_out``
ADC codes out, each ``ceil(bits / 8)`` bytes, per token row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from imcsim.arch import imac
from imcsim.arch.cost import LayerCost
from imcsim.arch.unit import LayerWeights, Placement, register_unit
from imcsim.config.imac import IMACConfig
from imcsim.workload.layer import Layer, LayerKind

__all__ = ["IMACUnit"]


@dataclass(frozen=True)
class IMACUnit:
    """Dense layers on partitioned resistive crossbars with analog neurons, converters at the segment boundaries."""

    config: IMACConfig
    kind: ClassVar[str] = "imac"
    analog_chain: ClassVar[bool] = True
    analog: ClassVar[bool] = True

    def why_not(self, layer: Layer) -> str | None:
        if layer.kind == LayerKind.GEMM and layer.dynamic:
            return "a product of two activations; crossbars hold stored weights"
        if layer.kind == LayerKind.LINEAR or (layer.kind == LayerKind.GEMM and layer.m == 1 and layer.groups == 1):
            return None
        return "dense layers only"

    def layer_cost(self, layer: Layer, placement: Placement = Placement(),
                   weights: LayerWeights | None = None) -> LayerCost:
        w = weights or LayerWeights()
        return imac.simulate_layer(layer, self.config, imac_index=placement.index, dac_in=placement.convert_in,
                                   adc_out=placement.convert_out, weights=w.weight, bias=w.bias, inputs_v=w.inputs_v)

    def area_m2(self, layers: Sequence[Layer]) -> float:
        """Crossbars and converters of ``layers``, each mapped on its own with DACs and ADCs (the system sums its
        placed run instead, where a segment's inner layers have no converters)."""
        dense = [lay for lay in layers if lay.kind.has_weights]
        return float(sum(self.layer_cost(lay, Placement(index=i)).metrics["area_m2"] for i, lay in enumerate(dense)))

    def input_bytes(self, layer: Layer) -> int:
        return imac.mvm_count(layer) * imac.dense_shape(layer)[0] * math.ceil(self.config.dac.bits / 8)

    def output_bytes(self, layer: Layer) -> int:
        return imac.mvm_count(layer) * imac.dense_shape(layer)[1] * math.ceil(self.config.adc.bits / 8)


register_unit("imac", IMACUnit)
