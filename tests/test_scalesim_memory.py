"""``memory_model = "scalesim"`` without SCALE-Sim at hand: recorded SCALE-Sim 3.0.0 figures, the prefetch order,
errors, and how groups and batches compose. (The live comparison over the grid is in test_systolic_scalesim.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from imcsim.arch.scalesim_memory import _antidiagonal, ifmap_addresses
from imcsim.arch.systolic import simulate_layer
from imcsim.config.systolic import SystolicConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer

KEYS = ("compute_cycles", "stall_cycles", "total_cycles", "dram_ifmap_reads", "dram_filter_reads",
        "dram_ofmap_writes")


def _cfg(**kw) -> SystolicConfig:
    base = dict(rows=8, cols=8, dataflow="ws", ifmap_sram_bytes=2048, filter_sram_bytes=2048, ofmap_sram_bytes=2048,
                dram_bandwidth_words_per_cycle=4)
    return SystolicConfig(**{**base, **kw})


def test_issue_dense_layer_figures():
    """The 400 -> 120 dense layer, ws, 8x8, 2 kB scratchpads, 4 words/cycle. SCALE-Sim 3.0.0 reports (run as a GEMM
    M=1, N=120, K=400): Total Cycles 1,486,713, Stall Cycles 1,469,464, DRAM IFMAP Reads 400, DRAM Filter Reads
    5,923,840, DRAM OFMAP Writes 6,003 (issue 13 quotes the 1,486,713)."""
    layer = Layer.linear("fc", 400, 120, bias=False)
    s = simulate_layer(layer, _cfg(memory_model="scalesim")).metrics
    assert [s[k] for k in KEYS] == [17249, 1469464, 1486713, 400, 5923840, 6003]
    # Physical: each of the 750 folds needs 64 new filter words, 16 cycles at 4 words/cycle, while it computes for
    # 2*8 + 8 + 1 - 2 = 23: no stalls; the 48,000 filter words are read once; every one of the 50 row folds drains
    # a 1 x 120 partial-sum row: 6,000 words.
    p = simulate_layer(layer, _cfg()).metrics
    assert [p[k] for k in KEYS] == [17249, 0, 17249, 400, 48000, 6000]


def test_antidiagonal_order():
    # [[0, 1], [2, 3], [4, 5]] read along anti-diagonals, each from its highest row: 0 | 2 1 | 4 3 | 5.
    assert _antidiagonal(np.arange(6).reshape(3, 2)).tolist() == [0, 2, 1, 4, 3, 5]


def test_ifmap_addresses_conv_windows():
    # 4x4x2 input, 3x3 window, stride 1, 2x2 outputs. Output pixel 3 (row 1, col 1) starts at input (1, 1): its
    # first words are pixel (1, 1) channels 0 and 1 = addresses (1*4 + 1)*2 + {0, 1} = 10, 11; its last, pixel
    # (3, 3) channel 1 = (3*4 + 3)*2 + 1 = 31. With SCALE-Sim's rounded-up output size (3 columns) the third
    # column's window leaves the input: -1.
    a = ifmap_addresses(4, 18, (4, 4, 2, 3, 3, 1, 1, 2))
    assert a[3, :2].tolist() == [10, 11] and a[3, -1] == 31 and (a >= 0).all()
    b = ifmap_addresses(6, 18, (4, 4, 2, 3, 3, 1, 1, 3))
    assert b[2, -1] == -1
    # Batch 2: the second image's addresses follow the first's 32 words.
    assert (ifmap_addresses(8, 18, (4, 4, 2, 3, 3, 1, 1, 2), batch=2)[4:] == a + 32).all()


def test_ideal_memory_is_the_same_in_both_models():
    layer = Layer.conv2d("c", (10, 10), 4, 6, 3)
    ideal = _cfg(dram_bandwidth_words_per_cycle=None)
    assert simulate_layer(layer, ideal.replace(memory_model="scalesim")) == simulate_layer(layer, ideal)


def test_groups_run_back_to_back():
    # Two groups: each is the 1-group layer with half the channels, on fresh scratchpads, the second starting the
    # cycle after the first's last: total = 2 * (t1 + 1) - 1, DRAM counts doubled.
    grouped = Layer.conv2d("g", (9, 9), 8, 8, 3, groups=2)
    single = Layer.conv2d("s", (9, 9), 4, 4, 3)
    cfg = _cfg(dataflow="os", ifmap_sram_bytes=1024, filter_sram_bytes=1024, ofmap_sram_bytes=1024,
               dram_bandwidth_words_per_cycle=2, memory_model="scalesim")
    g, s = simulate_layer(grouped, cfg).metrics, simulate_layer(single, cfg).metrics
    assert s["stall_cycles"] > 0
    assert g["total_cycles"] == 2 * (s["total_cycles"] + 1) - 1
    for k in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"):
        assert g[k] == 2 * s[k]


def test_batch_in_scalesim_mode_is_an_m_row_gemm():
    cfg = _cfg(memory_model="scalesim", dataflow="os")
    dense = simulate_layer(Layer.linear("fc", 100, 30, bias=False), cfg, 8).metrics
    assert dense == simulate_layer(Layer.gemm("fc", 8, 30, 100), cfg).metrics


@pytest.mark.parametrize("kw,field", [
    (dict(dram_bandwidth_words_per_cycle=2.5), "ifmap"),
    (dict(ofmap_dram_bandwidth_words_per_cycle=float("inf")), "ofmap"),
])
def test_scalesim_mode_needs_integer_finite_ports(kw, field):
    with pytest.raises(ConfigError, match=f"memory_model = 'scalesim': the {field} DRAM port"):
        simulate_layer(Layer.linear("fc", 40, 12), _cfg(memory_model="scalesim", **kw))


def test_unknown_memory_model_is_a_config_error():
    from imcsim.config.base import parse_config

    with pytest.raises(ConfigError, match="memory_model"):
        parse_config(SystolicConfig, {"memory_model": "magic"}, source="t.yaml")


def test_prefetch_runs_in_closed_form_equal_step_by_step():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from imcsim.arch.scalesim_memory import _prefetches

    @settings(max_examples=300, deadline=None)
    @given(x=st.integers(-50, 400), last=st.integers(-50, 400), step=st.integers(1, 60), j=st.integers(0, 40))
    def check(x, last, step, j):
        xx, ll = x, last
        for _ in range(j):  # SCALE-Sim's loop, one prefetch at a time
            ll += step
            wait = ll - xx
            xx += wait
            if wait > 0:
                xx += wait
        assert _prefetches(x, last, step, j) == (xx, ll)

    check()


def test_cli_memory_model(tmp_path, capsys):
    import json

    from imcsim.cli.app import main

    yaml = tmp_path / "sa.yaml"
    yaml.write_text("rows: 8\ncols: 8\ndataflow: ws\nifmap_sram_bytes: 2048\nfilter_sram_bytes: 2048\n"
                    "ofmap_sram_bytes: 2048\ndram_bandwidth_words_per_cycle: 4\n")
    topo = tmp_path / "fc.csv"
    topo.write_text("Layer Name, M, N, K,\nfc, 1, 120, 400,\n")
    args = ["simulate", "--topology", str(topo), "--gemm", "--config", str(yaml), "--format", "json"]
    assert main(args + ["--memory-model", "scalesim"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["total_cycles"] == 1486713  # SCALE-Sim 3.0.0
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["total_cycles"] == 17249
    assert main(args + ["--memory-model", "magic"]) == 2
    assert "memory_model" in capsys.readouterr().err


def test_artefacts_switched_off_leave_the_physical_figures_on_the_issue_dense_layer():
    """The same 400 -> 120 ws layer with SCALE-Sim's artefacts off (imcsim.arch.scalesim_memory.Artefacts). By
    hand, as for the physical model above: every filter word read once (400 x 120 = 48,000) and every ifmap word
    once (400), no stall (64 new filter words per fold arrive in 16 cycles, the fold takes 23), 750 folds x 23 - 1 =
    17,249 cycles, and the 50 row folds drain 50 x 120 = 6,000 partial sums."""
    import dataclasses

    from imcsim.arch.scalesim_memory import ALL_ARTEFACTS, NO_ARTEFACTS
    from imcsim.arch.systolic import scalesim_memory_layer

    layer = Layer.linear("fc", 400, 120, bias=False)
    cfg = _cfg(memory_model="scalesim")
    assert scalesim_memory_layer(layer, cfg) == (1486713, (400.0, 5923840.0, 6003.0))  # SCALE-Sim's, above
    assert scalesim_memory_layer(layer, cfg, NO_ARTEFACTS) == (17249, (400.0, 48000.0, 6000.0))
    # The window that travels round the operand is the whole gap: without it alone, no stall and no re-read
    # (request lines of 4 words: a set of 21 words entering the window is read as 6 lines, 24 words, at most).
    cyc, (rd_if, rd_f, _) = scalesim_memory_layer(layer, cfg, dataclasses.replace(ALL_ARTEFACTS,
                                                                                  forward_only=False))
    assert cyc == 17249 and rd_if == 400 and 48000 <= rd_f <= 48000 * 24 / 21


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_each_artefact_changes_only_what_it_is_about(df):
    """Timing artefacts (double-counted waits, drain credit) cannot change what is read; counting whole request
    lines cannot change when anything happens."""
    import dataclasses

    from imcsim.arch.scalesim_memory import ALL_ARTEFACTS
    from imcsim.arch.systolic import scalesim_memory_layer

    layer = Layer.conv2d("c", (12, 12), 6, 16, 5)
    for base in (ALL_ARTEFACTS, dataclasses.replace(ALL_ARTEFACTS, forward_only=False)):
        cfg = _cfg(dataflow=df, memory_model="scalesim", ifmap_sram_bytes=1024, filter_sram_bytes=1024,
                   ofmap_sram_bytes=512, dram_bandwidth_words_per_cycle=2)
        c0, d0 = scalesim_memory_layer(layer, cfg, base)
        c1, d1 = scalesim_memory_layer(layer, cfg, dataclasses.replace(base, double_stall=False))
        assert d1 == d0 and c1 <= c0
        c2, d2 = scalesim_memory_layer(layer, cfg, dataclasses.replace(base, line_reads=False))
        assert c2 == c0 and d2[2] == d0[2]
        _, d3 = scalesim_memory_layer(layer, cfg, dataclasses.replace(base, write_credit_at_start=False))
        assert d3[:2] == d0[:2]


@pytest.mark.parametrize("df,kb,bw,name", [("os", 2, 4, "conv2"), ("os", 1, 1, "conv2"), ("ws", 2, 4, "conv1")])
def test_artefact_free_mode_agrees_with_the_physical_model_on_lenet5(df, kb, bw, name):
    """Two independent computations of the same physics: the scalesim mode's event-driven buffers with every
    artefact off (the order the array consumes each tile kept) and the physical model's closed forms. The cases are
    the ones that differed by 5% to 20% before the window rule and the row-by-row drain: os conv2's 1,200-word filter
    tile reused by 13 row folds through a 1,024-word (2 kB) or 512-word (1 kB) active half, and ws conv1's drain-bound
    partial sums behind a read-bound im2col ifmap. The reads also have a figure by hand: os conv2 reads its im2col
    ifmap (100 x 150 = 15,000 words, far more than twice the half) once per column fold, 2 x 15,000, and each of the
    two 1,200-word filter tiles once plus 12 reuses of min(1,200, 2 (1,200 - A)) words: 352 at 2 kB, 1,200 at 1 kB."""
    import dataclasses

    from imcsim.arch.scalesim_memory import NO_ARTEFACTS
    from imcsim.arch.systolic import scalesim_memory_layer
    from imcsim.workload.zoo import load_network

    layer = next(lay for lay in load_network("lenet5").layers if lay.name == name)
    cfg = _cfg(dataflow=df, ifmap_sram_bytes=kb * 1024, filter_sram_bytes=kb * 1024, ofmap_sram_bytes=kb * 1024,
               dram_bandwidth_words_per_cycle=bw)
    p = simulate_layer(layer, cfg).metrics
    cyc, (rd_if, rd_f, _) = scalesim_memory_layer(layer, cfg, dataclasses.replace(NO_ARTEFACTS, antidiagonal=True))
    assert cyc == pytest.approx(p["total_cycles"], rel=0.05)
    assert rd_if + rd_f == pytest.approx(p["dram_ifmap_reads"] + p["dram_filter_reads"], rel=0.05)
    if df == "os":
        reuse = {2: 352, 1: 1200}[kb]
        assert (p["dram_ifmap_reads"], p["dram_filter_reads"]) == (2 * 15000, 2 * (1200 + 12 * reuse))


def test_artefact_free_mode_agrees_with_the_physical_model_on_the_parity_grid():
    """The 72 layer/setting pairs that test_systolic_scalesim.py runs through SCALE-Sim (where this mode with all
    artefacts equals SCALE-Sim): with every artefact off the scalesim mode and the physical model agree within 5%
    in cycles and DRAM reads, except for the reads of f2, whose windows run past its input (SCALE-Sim's rounded-up
    output size: 11 x 9 x 5 input, 3 x 2 window, stride 2, 5 x 5 outputs): the physical model counts its M x K im2col
    words, 25 x 30 = 750, the address streams only those inside the input, 15 x 9 x 5 = 675 (the last output
    column's windows overhang the 9-wide input by one column), so its ifmap reads are up to 750 / 675 times more.
    And where SCALE-Sim is physical (all artefacts within 5% of none), the physical model is within 5% of it."""
    import dataclasses

    from imcsim.arch.scalesim_memory import ALL_ARTEFACTS, NO_ARTEFACTS
    from imcsim.arch.systolic import scalesim_memory_layer
    from test_systolic_scalesim import CONV_FM, GEMM_FM, GRID, _ours

    free = dataclasses.replace(NO_ARTEFACTS, antidiagonal=True)
    physical_ss = 0
    for (r, c), kb, bw in GRID:
        for df in ("os", "ws", "is"):
            for s in CONV_FM + GEMM_FM:
                cfg = SystolicConfig(rows=r, cols=c, dataflow=df, ifmap_sram_bytes=kb * 1024,
                                     filter_sram_bytes=kb * 1024, ofmap_sram_bytes=kb * 1024,
                                     dram_bandwidth_words_per_cycle=bw)
                layer = _ours(s)
                p = simulate_layer(layer, cfg).metrics
                p_cyc, p_rd = p["total_cycles"], p["dram_ifmap_reads"] + p["dram_filter_reads"]
                cyc, d = scalesim_memory_layer(layer, cfg, free)
                ss_cyc, ss_d = scalesim_memory_layer(layer, cfg, ALL_ARTEFACTS)
                case = f"{r}x{c} {kb} kB {bw} w/c {df} {s.name}"
                assert cyc == pytest.approx(p_cyc, rel=0.05), case
                if s.name == "f2":
                    assert (d[0] + d[1]) / 1.05 <= p_rd <= (d[0] * 750 / 675 + d[1]) * 1.05, case
                else:
                    assert d[0] + d[1] == pytest.approx(p_rd, rel=0.05), case
                if ss_cyc == pytest.approx(cyc, rel=0.05) and sum(ss_d[:2]) == pytest.approx(sum(d[:2]), rel=0.05):
                    physical_ss += 1
                    assert p_cyc == pytest.approx(ss_cyc, rel=0.05) and p_rd == pytest.approx(sum(ss_d[:2]),
                                                                                              rel=0.05), case
    assert physical_ss >= 10
