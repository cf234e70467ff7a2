"""``imcsim simulate`` and ``imcsim presets`` in-process: outputs, files and one-line errors with exit status 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from imcsim.cli.app import main

CONV_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 8, 8, 3, 3, 4, 5, 1,\n"
            "c2, 11, 9, 3, 2, 3, 7, 2,\n")
GEMM_CSV = "Layer Name, M, N, K,\ng1, 10, 3, 7,\n"


@pytest.fixture
def topo(tmp_path: Path) -> Path:
    p = tmp_path / "net.csv"
    p.write_text(CONV_CSV)
    return p


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_layers_and_totals(capsys, topo):
    rc, out, _ = _run(capsys, "simulate", "--topology", str(topo), "--array", "4x4", "--dataflow", "os",
                      "--format", "json")
    assert rc == 0
    doc = json.loads(out)
    names = [lay["name"] for lay in doc["layers"]]
    assert names == ["c1", "c2"]
    c1, c2 = doc["layers"]
    # Hand calculation (tests/test_systolic_closed_form.py): 18 folds x 42 cycles - 1. c2 uses SCALE-Sim's
    # round-up output size 5x5 (M=25, K=18, N=7): 7 x 2 folds x (18 + 4 + 4 - 2) - 1 = 335.
    assert c1["compute_cycles"] == 755
    assert c2["compute_cycles"] == 7 * 2 * 24 - 1
    for key in ("stall_cycles", "total_cycles", "overall_util", "mapping_efficiency", "compute_util",
                "sram_ifmap_reads", "dram_filter_reads", "latency_s", "energy_j"):
        assert key in c1
    # c1 by hand: M = 6 x 6 = 36 output pixels, K = 3 x 3 x 4 = 36, N = 5 filters, 6,480 MACs on a 4x4 array in
    # 755 stall-free cycles (ideal memory): overall util 6,480 / (755 x 16). OS folds: 9 row folds of 4 pixels x
    # column folds of 4 and 1 filters: mapping efficiency (9 x 16 + 9 x 4) / (18 x 16) = 0.625.
    assert c1["overall_util"] == pytest.approx(6480 / (755 * 16), rel=1e-12)
    assert c1["mapping_efficiency"] == pytest.approx(0.625, rel=1e-12)
    assert doc["totals"]["total_cycles"] == 755 + 335
    assert doc["config"]["rows"] == 4


def test_gemm_topology_csv_output(capsys, tmp_path):
    p = tmp_path / "g.csv"
    p.write_text(GEMM_CSV)
    rc, out, _ = _run(capsys, "simulate", "--topology", str(p), "--gemm", "--array", "2x4", "-f", "csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "g1" and float(rows[0]["compute_cycles"]) == 54
    assert rows[-1]["name"] == "TOTAL"


def test_table_and_output_file(capsys, topo, tmp_path):
    rc, out, _ = _run(capsys, "simulate", "--topology", str(topo), "--preset", "tpu-v1")
    assert rc == 0 and "c1" in out and "total (cycles)" in out and "256x256 ws" in out
    target = tmp_path / "res.json"
    rc, out, err = _run(capsys, "simulate", "--topology", str(topo), "-f", "json", "-o", str(target))
    assert rc == 0 and out == "" and "wrote" in err
    assert json.loads(target.read_text())["layers"][0]["name"] == "c1"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".res.json")] == []  # no temp file left


def test_scalesim_config_and_config_yaml(capsys, topo, tmp_path):
    cfg = tmp_path / "a.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight: 4\nArrayWidth: 4\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\n"
                   "OfmapSramSzkB: 64\nDataflow: ws\n[run_presets]\nInterfaceBandwidth: CALC\n")
    rc, out, _ = _run(capsys, "simulate", "--topology", str(topo), "--scalesim-config", str(cfg), "-f", "json")
    assert rc == 0 and json.loads(out)["layers"][0]["compute_cycles"] == 827
    yml = tmp_path / "a.yaml"
    yml.write_text("rows: 4\ncols: 4\ndataflow: is\n")
    rc, out, _ = _run(capsys, "simulate", "--topology", str(topo), "--config", str(yml), "-f", "json")
    assert rc == 0 and json.loads(out)["layers"][0]["compute_cycles"] == 1214


@pytest.mark.parametrize("args,pattern", [
    (["--model", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["--topology", "TOPO", "--array", "4by4"], "--array: array shape = '4by4'"),
    (["--topology", "TOPO", "--array", "0x4"], "--array: array shape = '0x4'"),
    (["--topology", "TOPO", "--preset", "nope"], "unknown preset 'nope'"),
    (["--topology", "TOPO", "--preset", "cortex-a76"], "not a systolic array"),
    (["--topology", "TOPO", "--config", "MISSING.yaml"], "no such config file"),
    (["--topology", "TOPO", "--config", "BADKEY"], "unknown key 'colz'"),
    (["--topology", "TOPO", "--config", "BADTYPE"], "field 'rows' = 'many'"),
    (["--topology", "TOPO", "--scalesim-config", "MISSING.cfg"], "no such SCALE-Sim config file"),
    (["--topology", "TOPO", "--preset", "edge-tpu", "--config", "BADKEY"], "give at most one hardware source"),
    (["--topology", "TOPO", "--bandwidth", "-1"], "--bandwidth = -1"),
    (["--topology", "MISSING.csv"], "no such topology file"),
    (["--topology", "BADROW"], "BADROW"),
    ([], "give exactly one workload"),
    (["--topology", "TOPO", "--dataflow", "xs"], "xs"),
])
def test_errors_one_line_exit_2(capsys, topo, tmp_path, args, pattern):
    (tmp_path / "badkey.yaml").write_text("rows: 4\ncolz: 4\n")
    (tmp_path / "badtype.yaml").write_text("rows: many\n")
    (tmp_path / "badrow.csv").write_text(CONV_CSV + "c3, 8, 0, 3, 3, 4, 5, 1,\n")
    subst = {"TOPO": str(topo), "MISSING.yaml": str(tmp_path / "missing.yaml"), "BADKEY": str(tmp_path / "badkey.yaml"),
             "BADTYPE": str(tmp_path / "badtype.yaml"), "MISSING.cfg": str(tmp_path / "missing.cfg"),
             "MISSING.csv": str(tmp_path / "missing.csv"), "BADROW": str(tmp_path / "badrow.csv")}
    pattern = subst.get(pattern, pattern)
    rc, out, err = _run(capsys, "simulate", *[subst.get(a, a) for a in args])
    assert rc == 2
    assert pattern in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_presets_list_and_show(capsys):
    rc, out, _ = _run(capsys, "presets")
    assert rc == 0 and "edge-tpu" in out and "tpu-v1" in out and "systolic" in out
    rc, out, _ = _run(capsys, "presets", "tpu-v1", "-f", "json")
    doc = json.loads(out)
    assert rc == 0 and doc["config"]["rows"] == 256 and doc["config"]["ifmap_dram_bandwidth_words_per_cycle"] == "inf"
    rc, out, _ = _run(capsys, "presets", "edge-tpu")
    clock = next(line for line in out.splitlines() if " clock_hz " in line)
    # the whole field name, the value with its unit, and the preset file's own source for it (not a generic text)
    assert [c.strip() for c in clock.split("│")[1:4]] == ["clock_hz", "488281250", "Hz"]
    assert "edge-tpu: Hz; 4e12 op/s / (2 op/MAC x 64 x 64 MACs)" in clock
    rc, out, _ = _run(capsys, "presets", "tpu-imac")
    assert rc == 0 and "systolic.filter_dram_bandwidth_words_per_cycle" in out and "…" not in out
    # the IMAC peripheral terms derived by default are shown as such, with how, in the preset table
    rc, out, _ = _run(capsys, "presets", "sot-mram-imac", "-f", "json")
    values = {v["field"]: v for v in json.loads(out)["values"]}
    assert values["amplifier_area_m2"]["value"] is None and "derived" in values["amplifier_area_m2"]["source"]
    for name in ("amplifier_bias_power_w", "neuron_bias_power_w"):
        assert values[name]["value"] is None and values[name]["unit"] == "W" and "derived" in values[name]["source"]
    rc, _, err = _run(capsys, "presets", "nope")
    assert rc == 2 and "unknown preset 'nope'" in err
