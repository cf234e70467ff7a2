"""The mixed-signal IMC core: hand-derived array counts (conv, grouped, depthwise, dense), the per-layer energy and
time against hand calculations, ISAAC's Table 6 component powers, the ADC floor, presets and the unit registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.arch.imc import IMCUnit, imc_layer_cost, map_layer
from imcsim.arch.unit import Unit, build_unit, unit_kinds
from imcsim.config.imc import IMCConfig, load_imc
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind

ISAAC = IMCConfig()  # the defaults are ISAAC's


def test_conv_array_count_by_hand():
    # 3x3 conv 64 -> 128: K = 9 * 64 = 576 rows, 128 channels x 8 slices (16-bit weights, 2-bit cells) = 1,024
    # columns: ceil(576 / 128) = 5 x ceil(1024 / 128) = 8 = 40 arrays of 16,384 cells, 589,824 used.
    m = map_layer(Layer.conv2d("c", (56, 56), 64, 128, 3, 1, 1), ISAAC)
    assert m.arrays == 40
    assert m.cells_used == 576 * 1024 and m.cells_total == 40 * 128 * 128
    assert m.wasted_cells == 40 * 16384 - 589824


def test_depthwise_maps_block_diagonally_by_hand():
    # depthwise 3x3 on 32 channels: 32 blocks of 9 rows x 8 columns along the diagonal of a 288 x 256 matrix.
    # Row tile 0 (rows 0-127) holds groups 0-14 -> columns 0-119 -> column tile 0: 1 array; row tile 1 (128-255)
    # groups 14-28 -> columns 112-231 -> tiles 0-1: 2 arrays; row tile 2 (256-287) groups 28-31 -> columns
    # 224-255 -> tile 1: 1 array. 4 arrays (one per group would be 32), 2,304 cells used, 63,232 wasted.
    m = map_layer(Layer.conv2d("dw", (16, 16), 32, 32, 3, 1, 1, groups=32), ISAAC)
    assert m.arrays == 4
    assert m.cells_used == 32 * 9 * 8
    assert m.wasted_cells == 4 * 16384 - 2304


def test_grouped_conv_by_hand():
    # 2 groups, 3x3, 64 -> 64: each group 288 rows x 32 * 8 = 256 columns on a 576 x 512 block diagonal. Row tiles
    # of 128: tiles 0, 1 hold group 0 (columns 0-255: 2 arrays each); tile 2 (rows 256-383) both groups (4 arrays);
    # tiles 3, 4 group 1 (2 each): 12 arrays.
    m = map_layer(Layer.conv2d("g", (8, 8), 64, 64, 3, 1, 1, groups=2), ISAAC)
    assert m.arrays == 12


def test_dense_array_count_by_hand():
    # 4096 -> 1000 on 256 x 256 with one 8-bit weight per differential cell: ceil(4096 / 256) = 16 x
    # ceil(1000 / 256) = 4 = 64 arrays.
    hermes = load_imc("hermes")
    assert hermes.slices == 1
    m = map_layer(Layer.linear("fc", 4096, 1000), hermes)
    assert m.arrays == 64 and m.cells_used == 4096 * 1000


def test_slices_by_encoding():
    assert IMCConfig(weight_bits=16, cell_bits=2, encoding="offset").slices == 8
    assert IMCConfig(weight_bits=8, cell_bits=2, encoding="offset").slices == 4
    assert IMCConfig(weight_bits=8, cell_bits=2, encoding="differential").slices == 4  # 7 magnitude bits
    assert IMCConfig(weight_bits=9, cell_bits=2, encoding="differential").slices == 4  # 8 magnitude bits
    assert IMCConfig(weight_bits=9, cell_bits=2, encoding="offset").slices == 5


def test_dense_layer_energy_and_time_by_hand():
    # 100 -> 10 on ISAAC: one array, 100 rows driven, 10 x 8 = 80 columns read, 16 input cycles, one pixel.
    c = imc_layer_cost(Layer.linear("fc", 100, 10, bias=False), ISAAC)
    m = c.metrics
    assert m["arrays"] == 1 and m["mvms"] == 1
    assert m["energy_adc_j"] == pytest.approx(16 * 80 * 2e-3 / 1.28e9)          # 2 mW at 1.28 GS/s each
    assert m["energy_dac_j"] == pytest.approx(16 * 100 * 4e-3 * 100e-9 / 1024)  # ISAAC DACs, 4 mW / 1024 / 100 ns
    g_mean = (1 / 5e3 + 1 / 15e3) / 2
    assert m["energy_crossbar_j"] == pytest.approx(16 * 100 * 80 * 0.5 * 0.01657**2 * g_mean * 100e-9)
    assert m["energy_shift_add_j"] == pytest.approx(16 * 80 * 0.2e-3 / (8 * 1.28e9))  # ISAAC: 0.2 mW per 8 ADCs
    assert m["energy_buffer_j"] == pytest.approx((100 + 10) * 2 * 2.5e-12)
    assert c.energy_j == pytest.approx(sum(m[f"energy_{k}_j"] for k in
                                           ("crossbar", "dac", "adc", "shift_add", "buffer", "post")))
    # 16 reads of max(100 ns, 80 columns x 0.78 ns) = 1.6 us; one row tile: no partial sums.
    assert m["pixel_time_s"] == pytest.approx(16 * 100e-9)
    assert c.latency_s == pytest.approx(1.6e-6)


def test_full_isaac_array_matches_table6_component_powers():
    # One 128 x 128 crossbar read with every column converted: ISAAC Table 6 gives 2 mW per ADC (one ADC sweeps
    # 128 columns per 100 ns cycle), 0.3 mW per crossbar and 4 mW per 1,024 one-bit DACs.
    c = imc_layer_cost(Layer.linear("fc", 128, 16, bias=False), ISAAC)  # 16 x 8 slices = 128 columns
    per_cycle = {k: c.metrics[f"energy_{k}_j"] / 16 for k in ("adc", "crossbar", "dac")}
    assert per_cycle["adc"] == pytest.approx(2e-3 * 100e-9)
    assert per_cycle["crossbar"] == pytest.approx(0.3e-3 * 100e-9, rel=1e-3)
    assert per_cycle["dac"] == pytest.approx(128 * 4e-3 * 100e-9 / 1024)


def test_adc_sharing_sets_the_read_cycle():
    # 64 columns per ADC at 1.28 GS/s: 128 columns take 2 ADCs, 64 conversions each = 50 ns < 100 ns read;
    # with a 400 ns ADC period per conversion... use 10 MS/s: 64 x 100 ns = 6.4 us per cycle.
    slow = IMCConfig(cols_per_adc=64, adc={"conversion_time_s": 100e-9, "ref_energy_per_conversion_j": 1.5625e-12})
    c = imc_layer_cost(Layer.linear("fc", 128, 16, bias=False), slow)
    assert c.metrics["pixel_time_s"] == pytest.approx(16 * 64 * 100e-9)


def test_row_tile_partial_sums_cost_post_processing_time():
    # 300 inputs: 3 row tiles; 10 outputs each add 2 partial sums = 20 adds at 1.536e11 ops/s per pixel.
    c = imc_layer_cost(Layer.linear("fc", 300, 10, bias=False), ISAAC)
    assert c.metrics["pixel_time_s"] == pytest.approx(16 * 100e-9 + 20 / 1.536e11)


def test_adc_energy_floor():
    # Walden scaling halves the energy per bit below the 8-bit reference, down to the 4-bit floor.
    assert IMCConfig(adc={"bits": 6, "ref_energy_per_conversion_j": 1.6e-12}).adc_energy_j == pytest.approx(0.4e-12)
    assert IMCConfig(adc={"bits": 2, "ref_energy_per_conversion_j": 1.6e-12}).adc_energy_j == pytest.approx(0.1e-12)
    assert IMCConfig(adc={"bits": 4, "ref_energy_per_conversion_j": 1.6e-12}).adc_energy_j == pytest.approx(0.1e-12)


def test_mac_free_layers_run_in_post_processing():
    pool = Layer("pool", LayerKind.POOL, 8, 8, 16, 4, 4, 16, 2, 2, 2, 2)
    c = imc_layer_cost(pool, ISAAC)
    # 16 output pixels x 16 channels x 4 window elements = 1,024 ops at 0.1 pJ and 1.536e11 ops/s
    assert c.metrics["arrays"] == 0
    assert c.metrics["energy_post_j"] == pytest.approx(1024 * 0.1e-12)
    assert c.latency_s == pytest.approx(1024 / 1.536e11)


def test_unit_protocol_and_registry():
    assert "imc" in unit_kinds()
    unit = build_unit("imc", ISAAC)
    assert isinstance(unit, IMCUnit) and isinstance(unit, Unit)
    conv = Layer.conv2d("c", (8, 8), 4, 8, 3, 1, 1)
    assert unit.why_not(conv) is None
    assert unit.layer_cost(conv).unit == "imc"
    assert unit.input_bytes(conv) == 8 * 8 * 4 * 2 and unit.output_bytes(conv) == 8 * 8 * 8 * 2
    # arrays (1 x ceil(8 * 8 / 128) = 1), the post-processing unit, and a memory for 256 + 512 values of 2 bytes
    expected = ISAAC.array_area_m2 + ISAAC.post_area_m2 + 768 * 2 * ISAAC.memory_area_per_byte_m2
    assert unit.area_m2([conv]) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["isaac", "puma", "hermes"])
def test_presets_load(name):
    cfg = load_imc(name)
    assert cfg.name == name
    assert cfg.adc.ref_energy_per_conversion_j == pytest.approx(1.5625e-12)


def test_load_imc_refuses_other_presets_and_bad_values():
    with pytest.raises(ConfigError, match="not an IMC core"):
        load_imc("edge-tpu")
    with pytest.raises(ConfigError, match="unknown preset"):
        load_imc("nope")
    with pytest.raises(ValueError, match="cols_per_adc"):
        IMCConfig(cols_per_adc=256)


# ----- the block-diagonal mapping against brute force ---------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(groups=st.integers(1, 9), cin_g=st.integers(1, 6), cout_g=st.integers(1, 6), k=st.sampled_from([1, 3]),
       rows=st.integers(2, 40), cols=st.integers(2, 40), cell_bits=st.sampled_from([1, 2, 4]))
def test_block_diagonal_mapping_equals_brute_force(groups, cin_g, cout_g, k, rows, cols, cell_bits):
    cfg = IMCConfig(rows=rows, cols=cols, cols_per_adc=1, cell_bits=cell_bits, weight_bits=8, encoding="offset")
    layer = Layer.conv2d("c", (5, 5), groups * cin_g, groups * cout_g, k, 1, k // 2, groups=groups)
    kr, nw = k * k * cin_g, cout_g * cfg.slices
    occupied = np.zeros((groups * kr, groups * nw), dtype=bool)  # the block-diagonal weight-slice matrix
    for g in range(groups):
        occupied[g * kr:(g + 1) * kr, g * nw:(g + 1) * nw] = True
    arrays = rows_driven = cols_read = 0
    for r0 in range(0, occupied.shape[0], rows):
        for c0 in range(0, occupied.shape[1], cols):
            tile = occupied[r0:r0 + rows, c0:c0 + cols]
            if tile.any():
                arrays += 1
                rows_driven += int(tile.any(axis=1).sum())
                cols_read += int(tile.any(axis=0).sum())
    m = map_layer(layer, cfg)
    assert (m.arrays, m.rows_driven, m.cols_read) == (arrays, rows_driven, cols_read)
    assert m.cells_used == int(occupied.sum())
