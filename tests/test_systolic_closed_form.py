"""Hand-computed cycles, utilizations, traffic and energy of small layers on each dataflow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.arch.memory import OperandStream, read_lateness, ready_cycles, write_lateness
from imcsim.arch.systolic import METRIC_KEYS, network_totals, simulate_layer, simulate_network
from imcsim.config.systolic import SystolicConfig
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

# 8x8x4 input, 3x3 filters, 5 filters, stride 1: E = 6, so M = 36 output pixels, K = 3*3*4 = 36, N = 5.
CONV = Layer.conv2d("c", (8, 8), 4, 5, 3)


def cfg(**kw) -> SystolicConfig:
    return SystolicConfig(**kw)


def test_hand_cycles_each_dataflow_square():
    # os on 4x4: rows take M=36 -> 9 folds, columns N=5 -> 2; per fold K + 4 + 4 - 2 = 42; 18*42 - 1 = 755.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os")).metrics
    assert m["compute_cycles"] == 755 and m["folds"] == 18
    # mapping: 36*5 used PE-folds over 18 folds of 16 PEs = 180/288.
    assert m["mapping_efficiency"] == pytest.approx(180 / 288)
    assert m["compute_util"] == pytest.approx(36 * 5 * 36 / (18 * 16 * 42))
    assert m["overall_util"] == pytest.approx(36 * 5 * 36 / (755 * 16))
    # ws: rows K=36 -> 9, columns N=5 -> 2; per fold 2*4 + 4 + 36 - 2 = 46; 18*46 - 1 = 827.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="ws")).metrics
    assert m["compute_cycles"] == 827
    assert m["compute_util"] == pytest.approx(36 * 5 * 36 / (18 * 16 * (8 + 8 + 36 - 3)))
    # is: rows K=36 -> 9, columns M=36 -> 9; per fold 2*4 + 4 + 5 - 2 = 15; 81*15 - 1 = 1214; every PE used.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="is")).metrics
    assert m["compute_cycles"] == 1214 and m["mapping_efficiency"] == 1.0


def test_hand_cycles_non_square():
    g = Layer.gemm("g", 10, 3, 7)  # M=10, N=3, K=7 on 2 rows x 4 columns
    # os: ceil(10/2)=5 x ceil(3/4)=1 folds of 7+2+4-2 = 11 cycles -> 54; mapping 30 / (5*8).
    m = simulate_layer(g, cfg(rows=2, cols=4, dataflow="os")).metrics
    assert (m["compute_cycles"], m["mapping_efficiency"]) == (54, pytest.approx(0.75))
    # ws: ceil(7/2)=4 x 1 folds of 2*2+4+10-2 = 16 -> 63.
    assert simulate_layer(g, cfg(rows=2, cols=4, dataflow="ws")).metrics["compute_cycles"] == 63
    # is: ceil(7/2)=4 x ceil(10/4)=3 folds of 4+4+3-2 = 9 -> 107.
    assert simulate_layer(g, cfg(rows=2, cols=4, dataflow="is")).metrics["compute_cycles"] == 107
    # The transpose array differs: os on 4x2: ceil(10/4)=3 x ceil(3/2)=2 folds of 7+4+2-2 = 11 -> 65.
    assert simulate_layer(g, cfg(rows=4, cols=2, dataflow="os")).metrics["compute_cycles"] == 65


def test_sram_reads_hand():
    # SCALE-Sim's counts (checked against SCALE-Sim 3.0.0 in test_systolic_scalesim.py): os re-reads the ifmap per
    # column fold and the filters per row fold.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os")).metrics
    assert (m["sram_ifmap_reads"], m["sram_filter_reads"], m["sram_ofmap_writes"]) == (2 * 1296, 9 * 180, 180)
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="ws")).metrics
    assert (m["sram_ifmap_reads"], m["sram_filter_reads"], m["sram_ofmap_writes"]) == (2 * 1296, 180, 9 * 180)
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="is")).metrics
    assert (m["sram_ifmap_reads"], m["sram_filter_reads"], m["sram_ofmap_writes"]) == (1296, 9 * 180, 9 * 180)


def test_dram_traffic_fits_and_spills():
    # Everything fits in 64 KiB: the im2col ifmap (M x K = 36 x 36 = 1296 words, SCALE-Sim's count) and the filters
    # (180) are read once.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os")).metrics
    assert (m["dram_ifmap_reads"], m["dram_filter_reads"], m["dram_ofmap_writes"]) == (1296, 180, 180)
    # Fetching pixels once: the 8*8*4 = 256 input words.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os", ifmap_pixels_once=True)).metrics
    assert m["dram_ifmap_reads"] == 256
    # A 200-byte ifmap scratchpad (active half 100 words) cannot keep the 256-word ifmap: re-read per column fold.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os", ifmap_sram_bytes=200, ifmap_pixels_once=True)).metrics
    assert m["dram_ifmap_reads"] == 2 * 256
    # A filter scratchpad whose active half (50 words) is below the first column fold's K x C tile (36 x 4 = 144)
    # re-reads that tile for every row fold (9: the tile is more than twice the half, so the window keeps none of its
    # start); the second column fold's tile (36 x 1 = 36 words) fits and is read once: 9 * 144 + 36.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os", filter_sram_bytes=100)).metrics
    assert m["dram_filter_reads"] == 9 * 144 + 36
    # With a 35-word half neither tile fits. The 144-word tile is more than twice the half: the window holds none of
    # a row fold's first words when the next starts, 144 per row fold. The 36-word tile ends each row fold with
    # words 1..35 held; the next moves back one word and forward one: 2 per reuse. 9 * 144 + 36 + 8 * 2.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os", filter_sram_bytes=70)).metrics
    assert m["dram_filter_reads"] == 9 * 144 + 36 + 8 * 2
    # A 100-word half: the 144-word tile's reuse moves the window back 44 words ([0, 44) re-enter, [44, 100) stay)
    # and forward 44 ([100, 144)): 88 per reuse. 144 + 8 * 88 + 36.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="os", filter_sram_bytes=200)).metrics
    assert m["dram_filter_reads"] == 144 + 8 * 88 + 36
    # ws drains every partial sum by default (SCALE-Sim), only final outputs with accumulating scratchpads.
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="ws")).metrics
    assert m["dram_ofmap_writes"] == 9 * 180
    m = simulate_layer(CONV, cfg(rows=4, cols=4, dataflow="ws", accumulate_partial_sums=True)).metrics
    assert m["dram_ofmap_writes"] == 180


def test_grouped_conv_is_groups_of_gemms():
    dw = Layer.conv2d("dw", (10, 10), 6, 6, 3, groups=6)  # depthwise: 6 GEMMs of M=64, N=1, K=9
    single = simulate_layer(Layer.gemm("g", 64, 1, 9), cfg(rows=4, cols=4)).metrics
    m = simulate_layer(dw, cfg(rows=4, cols=4)).metrics
    assert m["compute_cycles"] == 6 * (single["compute_cycles"] + 1) - 1
    assert m["mapping_efficiency"] == pytest.approx(single["mapping_efficiency"])
    assert m["macs"] == 6 * 64 * 9 == dw.macs


def test_mac_free_layers_are_not_dropped():
    pool = Layer("p", LayerKind.POOL, 8, 8, 16, 4, 4, 16, 2, 2, 2, 2)
    view = Layer("r", LayerKind.RESHAPE, 4, 4, 16, 1, 1, 256)
    c = cfg(rows=8, cols=8, sram_read_energy_j_per_byte=1e-12, sram_write_energy_j_per_byte=2e-12)
    p = simulate_layer(pool, c)
    # 1024 input elements through an 8-column vector unit: 128 cycles; energy 1024 reads + 256 writes.
    assert p.metrics["total_cycles"] == 128 and p.unit == "systolic"
    assert p.energy_j == pytest.approx(1024 * 1e-12 + 256 * 2e-12)
    assert simulate_layer(view, c).metrics["total_cycles"] == 0
    # A residual addition reads two 4x4x16 operands and writes one: 256/8 = 32 cycles.
    add = Layer("a", LayerKind.ELEMENTWISE, 4, 4, 16, 4, 4, 16, op="add")
    la = simulate_layer(add, c)
    assert la.metrics["total_cycles"] == 32 and la.metrics["sram_ifmap_reads"] == 512
    assert la.energy_j == pytest.approx(512 * 1e-12 + 256 * 2e-12)
    # ReLU and batch norm are applied as outputs leave the array: no cycles, no traffic, but a row of their own.
    relu = Layer("act", LayerKind.ELEMENTWISE, 4, 4, 16, 4, 4, 16, op="ReLU")
    assert simulate_layer(relu, c).metrics["total_cycles"] == 0 and simulate_layer(relu, c).energy_j == 0
    # Every activation of the workload's one list is fused, including those the systolic model used to miss
    # (prelu, elu, selu, mish, softplus cost a vector-unit pass before); a residual addition is not.
    for op in ("PReLU", "ELU", "SELU", "Mish", "Softplus", "GELU"):
        act = Layer("act", LayerKind.ELEMENTWISE, 4, 4, 16, 4, 4, 16, op=op)
        assert simulate_layer(act, c).metrics["total_cycles"] == 0, op
    net = Network("n", (CONV, relu, pool, view, add))
    cost = simulate_network(net, c)
    assert [lc.name for lc in cost.layers] == ["c", "act", "p", "r", "a"]


def test_energy_and_latency_composition():
    c = cfg(rows=4, cols=4, clock_hz=1e8, mac_energy_j=1e-12, sram_read_energy_j_per_byte=2e-12,
            sram_write_energy_j_per_byte=3e-12, dram_read_energy_j_per_byte=5e-12, dram_write_energy_j_per_byte=7e-12)
    lc = simulate_layer(CONV, c)
    m = lc.metrics
    assert lc.latency_s == pytest.approx(755 / 1e8)
    assert m["mac_energy_j"] == pytest.approx(6480 * 1e-12)
    # SRAM: array reads (2592 + 1620) and drain reads (180) at 2 pJ; array writes (180) and fills (1296 + 180) at
    # 3 pJ.
    assert m["sram_energy_j"] == pytest.approx((2592 + 1620 + 180) * 2e-12 + (180 + 1296 + 180) * 3e-12)
    assert m["dram_energy_j"] == pytest.approx((1296 + 180) * 5e-12 + 180 * 7e-12)
    assert lc.energy_j == pytest.approx(m["mac_energy_j"] + m["sram_energy_j"] + m["dram_energy_j"])
    assert lc.weight_bits == CONV.weights * 8
    assert set(METRIC_KEYS) <= set(m)


def test_ready_cycles_hand():
    # 100-word scratchpad: 50 words before cycle 0, then 50-word halves at 10 words/cycle: 5 + 1 cycles each.
    got = ready_cycles(np.array([1, 50, 51, 100, 101, 150]), 100, 10.0)
    np.testing.assert_array_equal(got, [0, 0, 7, 7, 13, 13])


def test_read_lateness_hand():
    # Two folds of 60 words each, needed from cycles 0..9 and 10..19, 100-word pad at 10 words/cycle:
    # words 1..50 are there at 0, 51..100 at 7 and 101..150 at 13. Lateness: fold 1 word 1: 0 - 0, word 60: 7 - 9;
    # fold 2 word 61: 7 - 10, word 120: 13 - 19. The largest is 0: no stall.
    s = OperandStream(np.array([60.0, 60.0]), np.array([0.0, 10.0]), np.array([9.0, 19.0]))
    assert read_lateness(s, 100, 10.0) == pytest.approx(0.0)
    # (The first words of the halves, 51 and 101, are needed at 9 * 50/59 and 10 + 9 * 40/59, after they arrive.)
    # At 1 word/cycle halves take 51 cycles: words 51..100 arrive at 52, 101..150 at 103. The lateness peaks where a
    # half starts: word 51, fold 1's 51st, needed at 9 * 50/59; word 101, fold 2's 41st, at 10 + 9 * 40/59.
    assert read_lateness(s, 100, 1.0) == pytest.approx(max(52 - 9 * 50 / 59, 103 - (10 + 9 * 40 / 59)))


def test_write_lateness_hand():
    # 100-word ofmap pad, drains of 50-word halves at 10 words/cycle (5 cycles, a 10-word row per cycle); 230 words
    # written evenly over cycles 0..4, word w at t(w) = 4 (w - 1) / 229. Drain 1 starts when word 50 is written,
    # at t(50) = 4 * 49 / 229; drains 2 and 3 follow back to back (words 100 and 150 are written by then), drain 3
    # at t(50) + 10. The 230th word needs the 130th drained word gone: drain 3's third row, at t(50) + 10 + 3, and is
    # written at 4 without stalls.
    s = OperandStream(np.array([230.0]), np.array([0.0]), np.array([4.0]))
    assert write_lateness(s, 100, 10.0) == pytest.approx(4 * 49 / 229 + 13 - 4)
    # The same words written over cycles 0..229 (one a cycle, slower than the drain): drain k starts at t(50 k) =
    # 50 k - 1 and is done 5 cycles later, long before word 100 + 50 k needs its space: never late.
    s = OperandStream(np.array([230.0]), np.array([0.0]), np.array([229.0]))
    assert write_lateness(s, 100, 10.0) < 0


def test_ideal_memory_never_stalls_and_finite_bandwidth_can():
    big = Layer.conv2d("big", (32, 32), 64, 64, 3)
    assert simulate_layer(big, cfg()).metrics["stall_cycles"] == 0
    slow = simulate_layer(big, cfg(dram_bandwidth_words_per_cycle=1.0, ifmap_sram_bytes=4096,
                                   filter_sram_bytes=4096, ofmap_sram_bytes=4096)).metrics
    assert slow["stall_cycles"] > 0
    assert slow["total_cycles"] == slow["compute_cycles"] + slow["stall_cycles"]
    # Bandwidth bound: the ofmap port must drain all but one scratchpad of outputs within the layer.
    assert slow["total_cycles"] >= slow["dram_ofmap_writes"] - 4096


@settings(max_examples=40, deadline=None)
@given(bw=st.floats(0.25, 64.0), kb=st.integers(1, 64), df=st.sampled_from(["os", "ws", "is"]))
def test_stalls_fall_as_bandwidth_rises(bw, kb, df):
    base = dict(rows=8, cols=8, dataflow=df, ifmap_sram_bytes=kb * 1024, filter_sram_bytes=kb * 1024,
                ofmap_sram_bytes=kb * 1024)
    slow = simulate_layer(CONV, cfg(dram_bandwidth_words_per_cycle=bw, **base)).metrics["stall_cycles"]
    fast = simulate_layer(CONV, cfg(dram_bandwidth_words_per_cycle=2 * bw, **base)).metrics["stall_cycles"]
    assert 0 <= fast <= slow


def test_network_totals():
    net = Network("n", (CONV, Layer.linear("fc", 16, 10)))
    c = cfg(rows=4, cols=4)
    cost = simulate_network(net, c)
    tot = network_totals(cost, c)
    # By hand, 4x4 OS, ideal memory. conv: M = 36, K = 36, N = 5: 9 x 2 = 18 folds of 36 + 4 + 4 - 2 = 42 cycles,
    # 755 cycles, 6,480 MACs, folds using 16 PEs (9) and 4 PEs (9). fc 16 -> 10: M = 1, K = 16, N = 10: 3 folds of
    # 16 + 4 + 4 - 2 = 22 cycles, 65 cycles, 160 MACs, folds using 1 x 4, 1 x 4 and 1 x 2 PEs.
    assert tot["total_cycles"] == 755 + 65 == sum(lc.metrics["total_cycles"] for lc in cost.layers)
    assert tot["macs"] == 6_480 + 160
    assert tot["overall_util"] == pytest.approx(6_640 / (820 * 16), rel=1e-12)
    # fold-weighted mapping efficiency: (9 x 16 + 9 x 4 + 4 + 4 + 2) / (21 folds x 16 PEs)
    assert tot["mapping_efficiency"] == pytest.approx((9 * 16 + 9 * 4 + 10) / (21 * 16), rel=1e-12)


def test_weight_bits_follow_precision():
    import dataclasses

    c = cfg(rows=4, cols=4)
    base = Layer.conv2d("q", (8, 8), 4, 5, 3)
    # The typed field decides (bits per weight by the precision's definition), and so does a workload written
    # before it was a field (the precision in ``extra`` at construction, which Layer moves into the field).
    for prec, bits in (("int4", 4), ("binary", 1), ("ternary", 2), ("float32", 32)):
        assert simulate_layer(dataclasses.replace(base, precision=prec), c).weight_bits == base.weights * bits
    legacy = Layer("q", LayerKind.CONV2D, 8, 8, 4, 6, 6, 5, 3, 3, extra={"precision": "int4"})
    assert legacy.precision == "int4"
    assert simulate_layer(legacy, c).weight_bits == legacy.weights * 4
    assert simulate_layer(CONV, cfg(rows=4, cols=4, word_bytes=2)).weight_bits == CONV.weights * 16


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 40), groups=st.integers(1, 3),
       rows=st.integers(1, 8), cols=st.integers(1, 8), df=st.sampled_from(["os", "ws", "is"]),
       sram=st.integers(16, 4096), acc=st.booleans(), once=st.booleans())
def test_fold_streams_sum_to_closed_form_traffic(m, n, k, groups, rows, cols, df, sram, acc, once):
    """The per-fold DRAM words the stall model uses add up to the closed-form DRAM totals it reports."""
    from imcsim.arch.systolic import layer_traffic

    layer = Layer("g", LayerKind.CONV2D, m + 2, 3, k * groups, m, 1, n * groups, 3, 3, groups=groups)
    c = cfg(rows=rows, cols=cols, dataflow=df, ifmap_sram_bytes=sram, filter_sram_bytes=sram,
            ofmap_sram_bytes=sram, accumulate_partial_sums=acc, ifmap_pixels_once=once)
    met = simulate_layer(layer, c).metrics
    tr = layer_traffic(layer, c)
    streams = tr.streams(c)
    totals = tr.dram
    for s, tot, key in zip(streams, totals, ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")):
        assert s.total == pytest.approx(tot) == pytest.approx(met[key])
        assert (s.first_need <= s.last_need).all()
