"""Batch > 1: on a systolic array a batch multiplies every GEMM's M; on the CPU and IMAC units the batch's inputs run
one after another. Expected values are hand calculations from the fold formulas (imcsim.arch.dataflow docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imcsim.arch.system import System
from imcsim.arch.systolic import network_totals, simulate_layer, simulate_network
from imcsim.cli.app import main
from imcsim.config.presets import load_preset
from imcsim.config.systolic import SystolicConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

DENSE = Layer.linear("fc", 400, 120, bias=False)  # the 400 -> 120 dense layer


@pytest.mark.parametrize("dataflow,batch,cycles", [
    # os: rows take M, columns N, time K. M = 8 fills one row fold of an 8x8 array either way, N = 120 is 15 column
    # folds, 400 + 8 + 8 - 2 = 414 cycles per fold: 15 * 414 - 1 = 6209 at batch 1 and at batch 8 alike.
    ("os", 1, 15 * 414 - 1), ("os", 8, 15 * 414 - 1),
    # os at batch 9: M = 9 needs 2 row folds: 30 * 414 - 1.
    ("os", 9, 30 * 414 - 1),
    # ws: rows take K (50 folds), columns N (15 folds), time M: 2*8 + 8 + M - 2 per fold.
    ("ws", 1, 750 * 23 - 1), ("ws", 8, 750 * 30 - 1),
    # is: rows take K (50 folds), columns M (1 fold for M <= 8), time N = 120: 2*8 + 8 + 120 - 2 = 142 per fold.
    ("is", 1, 50 * 142 - 1), ("is", 8, 50 * 142 - 1),
])
def test_dense_batch_is_an_m_row_gemm(dataflow, batch, cycles):
    cfg = SystolicConfig(rows=8, cols=8, dataflow=dataflow)
    m = simulate_layer(DENSE, cfg, batch).metrics
    assert m["compute_cycles"] == cycles
    assert m["macs"] == batch * 400 * 120
    assert simulate_layer(Layer.gemm("g", batch, 120, 400), cfg).metrics == m


def test_dense_batch_sram_reads_hand_count():
    # os, batch 8, 8x8: the 8 x 400 ifmap is re-read by each of the 15 column folds; each 400 x 8 filter tile by
    # the one row fold: 15 * 8 * 400 ifmap reads, 400 * 120 filter reads, 8 * 120 outputs.
    m = simulate_layer(DENSE, SystolicConfig(rows=8, cols=8), 8).metrics
    assert (m["sram_ifmap_reads"], m["sram_filter_reads"], m["sram_ofmap_writes"]) == (48000, 48000, 960)


def test_conv_batch_stacks_output_pixels():
    # 8x8x4 input, 3x3 filters, 5 filters: 6x6 = 36 output pixels, K = 36. Batch 2 on 4x4 os: M = 72 -> 18 row
    # folds, N = 5 -> 2 column folds, 36 + 4 + 4 - 2 = 42 cycles per fold: 36 * 42 - 1 = 1511.
    conv = Layer.conv2d("c", (8, 8), 4, 5, 3)
    m = simulate_layer(conv, SystolicConfig(rows=4, cols=4), 2).metrics
    assert m["compute_cycles"] == 36 * 42 - 1
    assert m["dram_ifmap_reads"] == 72 * 36  # im2col words; fits the 64 KiB scratchpad: read once


def test_mac_free_layers_scale_with_batch():
    # 2x2 max pool of a 4x4x8 map: 128 inputs, 32 outputs; batch 3 on 8 columns: ceil(384 / 8) = 48 cycles.
    pool = Layer("p", LayerKind.POOL, 4, 4, 8, 2, 2, 8, 2, 2, 2, 2, op="maxpool2d")
    m = simulate_layer(pool, SystolicConfig(rows=8, cols=8), 3).metrics
    assert m["compute_cycles"] == 48 and m["sram_ifmap_reads"] == 384 and m["sram_ofmap_writes"] == 96


def test_network_throughput():
    net = Network("d", [DENSE])
    cfg = SystolicConfig(rows=8, cols=8, clock_hz=1e9)
    tot = network_totals(simulate_network(net, cfg, 8), cfg, 8)
    # 6209 cycles at 1 GHz carry 8 inferences: 8 / 6.209 us.
    assert tot["latency_s"] == pytest.approx(6209e-9)
    assert tot["throughput_per_s"] == pytest.approx(8 / 6209e-9)


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_bad_batch_names_the_value(bad):
    with pytest.raises(ConfigError, match="batch"):
        simulate_layer(DENSE, SystolicConfig(), bad)
    with pytest.raises(ConfigError, match="batch"):
        System(load_preset("tpu-imac")).compare(Network("d", [DENSE]), batch=bad)


def test_system_batch_imac_in_sequence_systolic_batched():
    sys_cfg = load_preset("tpu-imac")
    conv = Layer.conv2d("c", (8, 8), 4, 5, 3)
    net = Network("n", [conv, Layer.linear("fc", 180, 10)])
    one = System(sys_cfg).compare(net, batch=1)
    eight = System(sys_cfg).compare(net, batch=8)
    assert eight.batch == 8
    by1 = {c.name: c for c in one.hetero.layers}
    for c in eight.hetero.layers:
        if c.unit in ("imac", "transfer"):  # 8 input vectors one after another
            assert c.latency_s == pytest.approx(8 * by1[c.name].latency_s)
            assert c.energy_j == pytest.approx(8 * by1[c.name].energy_j)
            assert c.weight_bits == by1[c.name].weight_bits
    # The systolic rows are the layers at batch 8 (conv: M = 8 * 36; dense on the baseline: an 8-row GEMM).
    assert eight.hetero.layers[0] == simulate_layer(conv, sys_cfg.systolic, 8)
    base_fc = next(c for c in eight.baseline.layers if c.name == "fc")
    assert base_fc.metrics == simulate_layer(Layer.gemm("fc", 8, 10, 180), sys_cfg.systolic).metrics
    assert eight.hetero_throughput == pytest.approx(8 / eight.hetero.latency_s)
    from imcsim.report.compare import comparison_dict

    assert comparison_dict(eight, layers=False)["batch"] == 8


def test_cli_simulate_batch(capsys, tmp_path: Path):
    topo = tmp_path / "g.csv"
    topo.write_text("Layer Name, M, N, K,\ng1, 2, 3, 7,\n")
    # M = 2 at batch 3 -> 6 on 4x4 os: 2 row folds, 1 column fold, 7 + 4 + 4 - 2 = 13 per fold: 25 cycles.
    rc = main(["simulate", "--topology", str(topo), "--gemm", "--array", "4x4", "--batch", "3", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["batch"] == 3
    assert doc["layers"][0]["compute_cycles"] == 25 and doc["layers"][0]["macs"] == 6 * 3 * 7


def test_cli_compare_and_reproduce_batch(capsys):
    rc = main(["compare", "--model", "lenet5", "--batch", "4", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["batch"] == 4
    assert doc["hetero_throughput_per_s"] == pytest.approx(4 / doc["hetero"]["latency_s"])
    rc = main(["reproduce", "--models", "lenet5", "--batch", "1,8", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["batch"] for r in doc["batch"]] == [1, 8]
    rc = main(["reproduce", "--models", "lenet5", "--batch", "0"])
    assert rc == 2 and "--batch" in capsys.readouterr().err
