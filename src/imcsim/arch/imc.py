"""The mixed-signal IMC core cost model: im2col mapping onto crossbars, and what a layer costs there (pure, numpy).

Mapping (ISAAC, ISCA 2016; PUMA, ASPLOS 2019). A layer with weights is ``groups`` weight matrices of
K = k_h k_w C_in / groups rows by N = C_out / groups output channels; each output channel takes ``slices`` columns
(``IMCConfig.slices`` bit slices). The groups sit block-diagonally in one (groups K) x (groups N slices) matrix that
is cut into R x C crossbar arrays; an array is allocated when a diagonal block reaches into it. For ``groups == 1``
that is ceil(K / R) x ceil(N slices / C) arrays; a depthwise layer packs many small blocks into few arrays, and the
cells its off-diagonal zeros occupy are reported as ``wasted_cells``. A dense layer is a 1 x 1 "convolution" with one
output pixel; a GEMM layer (SCALE-Sim's M x K by K x N) has M "pixels".

Per output pixel every allocated array does one MVM: ``input_cycles`` crossbar reads (bit-serial through 1-bit DACs,
or fewer with multi-bit DACs). One read cycle lasts max(crossbar read time, the column conversions its busiest ADC
makes x conversion time): sample-and-hold lets the ADC sweep while the next read settles (ISAAC's 100 ns =
128 columns / 1.28 GS/s). Row-tile partial sums are added in the digital post-processing unit, which also runs the
MAC-free layers (activation, batch norm, pooling, residual additions; reshapes cost nothing).

``pixel_time_s`` is what one output pixel costs on one copy of the layer's arrays; the layer on one copy takes
``pixels x pixel_time_s`` (``LayerCost.latency_s``, the layer-by-layer view). :mod:`imcsim.arch.pipeline` schedules
pixels over copies. Metrics in ``LayerCost.metrics`` (SI units or counts):

``arrays``, ``cells_used``, ``cells_total``, ``wasted_cells`` (cells in allocated arrays that hold no weight slice),
``cell_utilization`` (used / total), ``pixels``, ``mvms`` (array MVMs per image), ``input_cycles``,
``adc_conversions``, ``pixel_time_s``, ``area_m2`` (the arrays with their converters and shift-add), and the energy
split ``energy_crossbar_j``, ``energy_dac_j``, ``energy_adc_j``, ``energy_shift_add_j``, ``energy_buffer_j``,
``energy_post_j`` (summing to ``LayerCost.energy_j``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imcsim.arch.cost import LayerCost
from imcsim.arch.unit import LayerWeights, Placement, register_unit
from imcsim.config.imc import IMCConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind

__all__ = ["ENERGY_PARTS", "LayerMapping", "map_layer", "post_ops_per_pixel", "pixels", "imc_layer_cost",
           "IMCUnit"]

#: The energy split of every IMC layer cost, in report order.
ENERGY_PARTS = ("crossbar", "dac", "adc", "shift_add", "buffer", "post")


@dataclass(frozen=True)
class LayerMapping:
    """How one layer with weights sits on crossbars (counts are per weight copy).

    Attributes:
        groups: weight matrices (convolution groups).
        rows: K, crossbar rows one group needs (k_h k_w C_in / groups).
        cols: N x slices, crossbar columns one group needs.
        arrays: R x C arrays allocated.
        cells_used: cells holding a weight slice (groups K N slices).
        cells_total: arrays x R x C.
        rows_driven: sum over arrays of the rows driven per read (DAC conversions per input cycle).
        cols_read: sum over arrays of the columns converted per read (ADC conversions per input cycle).
        busiest_adc: conversions the busiest ADC makes per read.
        psum_adds: additions of row-tile partial sums per output pixel (words).
    """

    groups: int
    rows: int
    cols: int
    arrays: int
    cells_used: int
    cells_total: int
    rows_driven: int
    cols_read: int
    busiest_adc: int
    psum_adds: int

    @property
    def wasted_cells(self) -> int:
        return self.cells_total - self.cells_used


def _tiles_spanned(start: np.ndarray, length: int, tile: int) -> np.ndarray:
    """How many tiles of size ``tile`` the intervals [start, start + length) touch (vectorised over ``start``)."""
    return (start + length - 1) // tile - start // tile + 1


def map_layer(layer: Layer, cfg: IMCConfig) -> LayerMapping:
    """The block-diagonal im2col mapping of ``layer`` (conv2d, linear or gemm) onto ``cfg``'s crossbars."""
    g = layer.as_gemm()
    groups, k, n = g.groups, g.k, g.n
    r, c = cfg.rows, cfg.cols
    nw = n * cfg.slices
    busiest_adc = math.ceil(min(c, groups * nw) / cfg.adcs_per_array)
    if groups == 1:  # one block: ceil(K / R) x ceil(N slices / C) arrays
        rt, ct = math.ceil(k / r), math.ceil(nw / c)
        return LayerMapping(1, k, nw, rt * ct, k * nw, rt * ct * r * c, k * ct, nw * rt, busiest_adc, (rt - 1) * n)
    # Row tiles of the block-diagonal matrix; for each, the groups whose rows it holds and the column tiles those
    # groups' columns touch (a contiguous run, since group g's columns follow group g - 1's).
    row_tiles = math.ceil(groups * k / r)
    a = np.arange(row_tiles, dtype=np.int64)
    g_lo = (a * r) // k
    g_hi = np.minimum(((a + 1) * r - 1) // k, groups - 1)
    col_lo = (g_lo * nw) // c
    col_hi = ((g_hi + 1) * nw - 1) // c
    arrays = int(np.sum(col_hi - col_lo + 1))
    gi = np.arange(groups, dtype=np.int64)
    col_tiles_per_group = _tiles_spanned(gi * nw, nw, c)  # arrays a group's rows are driven into, per row tile
    row_tiles_per_group = _tiles_spanned(gi * k, k, r)    # arrays a group's columns are read from, per column tile
    rows_driven = int(np.sum(k * col_tiles_per_group))
    cols_read = int(np.sum(nw * row_tiles_per_group))
    psum_adds = int(np.sum((row_tiles_per_group - 1) * n))
    cells_used = groups * k * nw
    return LayerMapping(groups, k, nw, arrays, cells_used, arrays * r * c, rows_driven, cols_read, busiest_adc,
                        psum_adds)


def pixels(layer: Layer) -> int:
    """Output pixels of a layer, each one MVM per weight copy (M for a GEMM layer, 1 for a dense layer)."""
    if layer.kind == LayerKind.GEMM:
        return layer.m
    return layer.out_h * layer.out_w


def post_ops_per_pixel(layer: Layer) -> int:
    """Element operations the post-processing unit does per output pixel of a MAC-free layer: a compare or add per
    window element of a pooling layer, one operation per element of an activation or batch norm, one add per extra
    operand of a residual addition; a reshape moves nothing through the unit."""
    if layer.kind == LayerKind.POOL:
        return layer.out_c * layer.kernel_h * layer.kernel_w
    if layer.kind == LayerKind.ELEMENTWISE:
        return layer.out_c * max(int(layer.extra.get("operands", 1)) - 1, 1)
    return 0


def imc_layer_cost(layer: Layer, cfg: IMCConfig) -> LayerCost:
    """What ``layer`` costs on one copy of its arrays of ``cfg``'s IMC core, or on its post-processing unit when it
    has no weights (see the module docstring for the metrics)."""
    if layer.dynamic:
        raise ConfigError(f"layer '{layer.name}': a product of two activations cannot be mapped onto IMC crossbars "
                          "(they hold stored weights)")
    p = pixels(layer)
    act = cfg.activation_bytes
    if not layer.kind.has_weights:
        ops = post_ops_per_pixel(layer)
        t_pixel = ops / cfg.post_ops_per_s
        in_elems = int(layer.extra.get("input_elems", layer.input_elems))
        moved = 0 if layer.kind == LayerKind.RESHAPE else in_elems + layer.output_elems
        parts = dict.fromkeys(ENERGY_PARTS, 0.0)
        parts["post"] = p * ops * cfg.post_energy_per_op_j
        parts["buffer"] = moved * act * cfg.memory_energy_per_byte_j
        metrics = {"arrays": 0, "cells_used": 0, "cells_total": 0, "wasted_cells": 0, "cell_utilization": 0.0,
                   "pixels": p, "mvms": 0, "input_cycles": 0, "adc_conversions": 0, "pixel_time_s": t_pixel,
                   "area_m2": 0.0, **{f"energy_{k}_j": v for k, v in parts.items()}}
        return LayerCost(layer.name, "imc", p * t_pixel, float(sum(parts.values())), 0,
                         int(round(moved * act)), metrics)

    m = map_layer(layer, cfg)
    cycles = cfg.input_cycles
    t_cycle = max(cfg.crossbar_read_time_s, m.busiest_adc * cfg.adc.time_per_conversion_s)
    t_pixel = cycles * t_cycle + m.psum_adds / cfg.post_ops_per_s
    conversions = p * cycles * m.cols_read
    in_values = m.groups * (layer.as_gemm().k)  # the receptive field (im2col row) read per pixel
    parts = {
        "crossbar": p * cycles * m.cells_used * cfg.cell_read_energy_j,
        "dac": p * cycles * m.rows_driven * cfg.dac.energy_per_conversion_j,
        "adc": conversions * cfg.adc_energy_j,
        "shift_add": (conversions + p * m.psum_adds) * cfg.shift_add_energy_j,
        "buffer": p * (in_values + layer.out_c) * act * cfg.memory_energy_per_byte_j,
        "post": 0.0,
    }
    metrics = {"arrays": m.arrays, "cells_used": m.cells_used, "cells_total": m.cells_total,
               "wasted_cells": m.wasted_cells, "cell_utilization": m.cells_used / m.cells_total, "pixels": p,
               "mvms": p * m.arrays, "input_cycles": cycles, "adc_conversions": conversions,
               "pixel_time_s": t_pixel, "area_m2": m.arrays * cfg.array_area_m2,
               **{f"energy_{k}_j": v for k, v in parts.items()}}
    return LayerCost(layer.name, "imc", p * t_pixel, float(sum(parts.values())),
                     int(layer.weights * cfg.weight_bits), int(round((layer.input_elems + layer.output_elems) * act)),
                     metrics)


class IMCUnit:
    """A mixed-signal IMC core type as a :class:`~imcsim.arch.unit.Unit` (kind ``"imc"``): layers with weights on
    crossbars, every other layer on its digital post-processing unit. Data cross its boundary as digital words."""

    kind = "imc"
    analog_chain = False
    analog = True  # mixed-signal: placement policies send layers here, though its outputs leave as digital words

    def __init__(self, config: IMCConfig):
        self.config = config

    def why_not(self, layer: Layer) -> str | None:
        if layer.dynamic:  # attention's Q K^T: both operands change with every input
            return "a product of two activations; crossbars hold stored weights"
        return None  # any other layer: weights on crossbars, the rest in post-processing

    def layer_cost(self, layer: Layer, placement: Placement = Placement(),
                   weights: LayerWeights | None = None) -> LayerCost:
        return imc_layer_cost(layer, self.config)

    def area_m2(self, layers: Sequence[Layer]) -> float:
        """The arrays of every layer held (one copy each), the post-processing unit, and an activation memory that
        holds the largest input plus output map of a layer-by-layer run."""
        arrays = sum(map_layer(lay, self.config).arrays for lay in layers if lay.kind.has_weights)
        maps = max((lay.input_elems + lay.output_elems for lay in layers), default=0)
        return (arrays * self.config.array_area_m2 + self.config.post_area_m2
                + maps * self.config.activation_bytes * self.config.memory_area_per_byte_m2)

    def input_bytes(self, layer: Layer) -> int:
        return int(math.ceil(layer.input_elems * self.config.activation_bytes))

    def output_bytes(self, layer: Layer) -> int:
        return int(math.ceil(layer.output_elems * self.config.activation_bytes))


register_unit("imc", IMCUnit)
