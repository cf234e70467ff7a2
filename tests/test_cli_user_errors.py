"""Regression tests from a review of the CLI as a user: every user error is ONE line naming the file/row/field and
the value, exit status 2, no traceback; ``--format json`` is strict JSON; result files are written atomically with
ordinary permissions."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imcsim.cli.app import main
from imcsim.io import dumps_json, write_atomic

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which Python writes but JSON does not have."""
    def refuse(name: str):
        raise ValueError(f"non-JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def xbar_files(tmp_path: Path) -> Path:
    (tmp_path / "W.csv").write_text("1,-1\n0,1\n-1,0\n")
    (tmp_path / "X.csv").write_text("0.8,-0.8,0.4\n")
    return tmp_path


# ----- configs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("yaml_text, needles", [
    ("rows: true\n", ("field 'rows' = True", "not a boolean")),          # was silently rows = 1
    ("clock_hz: .inf\n", ("field 'clock_hz' = inf", "finite")),           # was latency 0 s
    ("mac_energy_j: .inf\n", ("field 'mac_energy_j' = inf", "finite")),   # was energy "inf"
])
def test_config_yaml_wrong_value_type_is_refused(capsys, tmp_path, yaml_text, needles):
    cfg = tmp_path / "arr.yaml"
    cfg.write_text(yaml_text)
    _one_line_error(capsys, ["simulate", "--model", "lenet5", "--config", str(cfg)], "arr.yaml", *needles)


def test_a_preset_may_still_say_inf_for_an_ideal_port(capsys):
    assert main(["presets", "edge-tpu", "--format", "json"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    assert doc["config"]["ifmap_dram_bandwidth_words_per_cycle"] == "inf"


def test_undecodable_config_file_is_one_line(capsys, tmp_path):
    cfg = tmp_path / "bin.yaml"
    cfg.write_bytes(b"\xff\xfe\x00rows")  # was a UnicodeDecodeError traceback
    _one_line_error(capsys, ["simulate", "--model", "lenet5", "--config", str(cfg)], "bin.yaml", "cannot read")
    _one_line_error(capsys, ["compare", "--model", "lenet5", "--arch", str(cfg)], "bin.yaml", "cannot read")


@pytest.mark.parametrize("body, needles", [
    ("systolic: nosuch\n", ("sys.yaml", "field 'systolic' = 'nosuch'", "unknown preset 'nosuch'")),
    ("systolic: cortex-a76\n", ("sys.yaml", "field 'systolic' = 'cortex-a76'", "is a CPUConfig")),
])
def test_system_yaml_preset_errors_name_file_and_field(capsys, tmp_path, body, needles):
    (tmp_path / "sys.yaml").write_text(body)  # the message used to name neither the file nor the field
    _one_line_error(capsys, ["compare", "--model", "lenet5", "--arch", str(tmp_path / "sys.yaml")], *needles)


def test_cross_field_error_has_no_dict_dump(capsys, xbar_files):
    err = _one_line_error(capsys, ["xbar", "solve", "-w", str(xbar_files / "W.csv"), "-x", str(xbar_files / "X.csv"),
                                   "--r-low", "2e4"], "r_high (15000 ohm) must exceed r_low (20000 ohm)")
    assert "(root)" not in err and "Value error" not in err


# ----- flags ----------------------------------------------------------------------------------------------------------

def test_bad_flag_value_names_the_value(capsys):
    _one_line_error(capsys, ["simulate", "--model", "lenet5", "--bandwidth", "abc"], "'--bandwidth' = 'abc'")
    err = _one_line_error(capsys, ["simulate", "--model", "lenet5", "--format", "xml"], "'xml'")
    assert "Value error" not in err


def test_array_larger_than_the_guard_is_one_line(capsys):
    _one_line_error(capsys, ["simulate", "--model", "lenet5", "--array", "100000x4"], "--array: field 'rows' = 100000")


def test_reproduce_empty_model_list_is_refused(capsys):
    _one_line_error(capsys, ["reproduce", "--models", " , "], "--models = ' , '")  # was: the whole zoo


# ----- topology sizes -------------------------------------------------------------------------------------------------

def test_absurd_topology_size_is_one_line_not_an_overflow(capsys, tmp_path):
    topo = tmp_path / "big.csv"
    topo.write_text(CONV_HEADER + "c1, 28, 28, 5, 5, 1, 6, 1,\n"
                    "c2, 100000000000, 100000000000, 5, 5, 100000, 600000, 1,\n")
    # 1e11 x 1e11 x 25 x 1e5 x 6e5 MACs: an OverflowError traceback in numpy before
    _one_line_error(capsys, ["simulate", "--topology", str(topo)], "big.csv: row 3", "layer 'c2'", "2**53")


def test_stall_model_fold_limit_is_one_line_not_a_memory_error(capsys, tmp_path):
    topo = tmp_path / "g.csv"
    topo.write_text("Layer Name, M, N, K,\ng1, 10000000, 100, 10,\n")  # 1e9 folds on a 1x1 array
    _one_line_error(capsys, ["simulate", "--topology", str(topo), "--gemm", "--array", "1x1", "--bandwidth", "1"],
                    "layer 'g1'", "1,000,000,000 folds")
    assert main(["simulate", "--topology", str(topo), "--gemm", "--array", "1x1", "--format", "json"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    # ideal memory has no per-fold arrays: os dataflow, 1e9 folds of K + R + C - 2 = 10 cycles, minus SCALE-Sim's 1
    assert doc["totals"]["compute_cycles"] == 10**9 * 10 - 1


# ----- xbar -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0"])
def test_xbar_transimpedance_must_be_positive_and_finite(capsys, xbar_files, value):
    # nan used to print NaN into the JSON output, which no strict parser accepts
    _one_line_error(capsys, ["xbar", "solve", "-w", str(xbar_files / "W.csv"), "-x", str(xbar_files / "X.csv"),
                             "--transimpedance", value], "--transimpedance")


def test_xbar_output_into_a_missing_directory_is_refused(capsys, xbar_files):
    target = xbar_files / "nodir" / "out.json"
    _one_line_error(capsys, ["xbar", "solve", "-w", str(xbar_files / "W.csv"), "-x", str(xbar_files / "X.csv"),
                             "-o", str(target)], "does not exist")
    assert not (xbar_files / "nodir").exists()  # it used to create the directory, unlike every other command


def test_xbar_output_onto_a_directory_is_one_line(capsys, xbar_files):
    (xbar_files / "d.cir").mkdir()  # an OSError from the write used to escape as a traceback
    _one_line_error(capsys, ["xbar", "spice", "-w", str(xbar_files / "W.csv"), "-x", str(xbar_files / "X.csv"),
                             "-o", str(xbar_files / "d.cir")], "d.cir", "is a directory")


def test_xbar_json_and_wrote_message(capsys, xbar_files):
    rc = main(["xbar", "solve", "-w", str(xbar_files / "W.csv"), "-x", str(xbar_files / "X.csv"), "-o",
               str(xbar_files / "o.json")])
    out, err = capsys.readouterr()
    assert rc == 0 and out == "" and "wrote" in err  # data on stdout only, as simulate does
    doc = _strict_json((xbar_files / "o.json").read_text())
    # hand value: column 0 weights (+1, 0, -1) at 0.8, -0.8, 0.4 V; I+ = 0.8/5k - 0.8/5k + 0.4/15k
    assert doc["i_plus"][0][0] == pytest.approx(0.4 / 15e3, rel=1e-12)


@pytest.fixture
def imacsim_dir(tmp_path: Path) -> Path:
    from imcsim.circuit.network import save_imacsim_weights

    save_imacsim_weights(tmp_path, [(-np.eye(3), np.zeros(3))])
    (tmp_path / "x.csv").write_text("1,0,0\n0,1,0\n")
    (tmp_path / "y.csv").write_text("0\n1\n")
    return tmp_path


def _evaluate_argv(d: Path, labels: str = "y.csv") -> list[str]:
    return ["xbar", "evaluate", "--imacsim-dir", str(d), "-x", str(d / "x.csv"), "-y", str(d / labels), "--rows",
            "2", "--cols", "2", "--no-parasitics"]


@pytest.mark.parametrize("extra, needle", [
    (["--seed", "-1"], "'--seed' = '-1'"),     # was a numpy ValueError traceback
    (["--limit", "0"], "'--limit' = '0'"),     # was a 0-input "accuracy 0%"
    (["--limit", "-1"], "'--limit' = '-1'"),   # was silently all inputs but the last
])
def test_xbar_evaluate_flag_ranges(capsys, imacsim_dir, extra, needle):
    _one_line_error(capsys, _evaluate_argv(imacsim_dir) + extra, needle)


def test_xbar_evaluate_label_out_of_range(capsys, imacsim_dir):
    (imacsim_dir / "y7.csv").write_text("0\n7\n")  # 3 outputs: class 7 used to count as a plain miss
    _one_line_error(capsys, _evaluate_argv(imacsim_dir, "y7.csv"), "y7.csv: row 2", "label 7", "3 network outputs")
    (imacsim_dir / "yf.csv").write_text("0\n0.5\n")
    err = _one_line_error(capsys, _evaluate_argv(imacsim_dir, "yf.csv"), "yf.csv: row 2", "label 0.5")
    assert "np.float64" not in err


def test_imac_network_evaluate_refuses_out_of_range_labels():
    from imcsim.circuit.network import IMACNetwork
    from imcsim.errors import DataError

    net = IMACNetwork.from_weights([(-np.eye(3), np.zeros(3))], rows=2, cols=2)
    with pytest.raises(DataError, match="row 2: 3 is not a class of the 3 network outputs"):
        net.evaluate(np.zeros((2, 3)), np.array([0, 3]))


# ----- files ----------------------------------------------------------------------------------------------------------

def test_plot_onto_a_directory_is_one_line(capsys, tmp_path):
    (tmp_path / "fig.png").mkdir()  # an OSError from matplotlib/mkstemp used to escape as a traceback
    _one_line_error(capsys, ["compare", "--model", "lenet5", "--plot", str(tmp_path / "fig.png")], "fig.png")


def test_output_files_get_ordinary_permissions(capsys, tmp_path):
    mask = os.umask(0o022)
    try:
        assert main(["simulate", "--model", "lenet5", "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
        assert main(["compare", "--model", "lenet5", "--plot", str(tmp_path / "p.png")]) == 0
    finally:
        os.umask(mask)
    # mkstemp's 0600 used to leave results unreadable to the group and others
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _strict_json((tmp_path / "r.json").read_text())


def test_write_atomic_keeps_an_existing_mode_and_takes_bytes(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"old")
    p.chmod(0o640)
    write_atomic(p, b"\x00new")
    assert p.read_bytes() == b"\x00new" and stat.S_IMODE(p.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_dumps_json_is_strict():
    text = dumps_json({"a": math.inf, "b": -math.inf, "c": math.nan, "d": np.float64(2.5), "e": np.arange(2)})
    assert _strict_json(text) == {"a": "inf", "b": "-inf", "c": None, "d": 2.5, "e": [0, 1]}


# ----- formats the README promises ------------------------------------------------------------------------------------

def test_models_csv(capsys):
    assert main(["models", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    lenet = next(r for r in rows if r["name"] == "lenet5")
    # by hand: conv1 28*28*6*25 + conv2 10*10*16*150 + dense 400*120 + 120*84 + 84*10
    assert int(lenet["macs"]) == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert lenet["input_shape"] == "1x28x28" and int(lenet["params"]) == 61_706
    assert main(["models", "lenet5", "-f", "csv"]) == 0
    layers = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    fc1 = next(r for r in layers if r["name"] == "fc1")
    assert (int(fc1["in_c"]), int(fc1["out_c"]), int(fc1["macs"])) == (400, 120, 48_000)


def test_compare_csv_per_layer(capsys):
    assert main(["compare", "--model", "lenet5", "--format", "csv"]) == 0
    rows = {r["layer"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    # fc1: 400 x 120 weights + 120 biases, int8 on the TPU, one bit each in binary IMAC
    assert rows["fc1"]["unit"] == "imac"
    assert int(rows["fc1"]["base_weight_bits"]) == 8 * 48_120 and int(rows["fc1"]["weight_bits"]) == 48_120
    assert rows["conv1"]["unit"] == "systolic" and rows["conv1"]["latency_s"] == rows["conv1"]["base_latency_s"]


def test_a_cpu_system_yaml_is_not_labelled_tpu_imac(capsys, tmp_path):
    (tmp_path / "cpu.yaml").write_text("digital: cpu\ncpu: cortex-a76\n")  # no name: it used to say tpu-imac
    assert main(["compare", "--model", "lenet5", "--arch", str(tmp_path / "cpu.yaml"), "--format", "json"]) == 0
    assert _strict_json(capsys.readouterr().out)["system"] == "cpu-imac"


# ----- fuzz: whatever a user writes into a topology or config file, the CLI answers 0 or one line and 2 --------------

_cell = st.one_of(st.integers(-3, 10**25).map(str), st.sampled_from(["", "x", "1.5", "2:4", "0:1", "#c", " 7 ", "nan",
                                                                      "1e3", "DP", "-0"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_cell, min_size=0, max_size=10), min_size=0, max_size=3), gemm=st.booleans())
def test_fuzzed_topology_rows_never_raise(capsys, tmp_path, rows, gemm):
    header = "Layer Name, M, N, K,\n" if gemm else CONV_HEADER
    topo = tmp_path / "fuzz.csv"
    topo.write_text(header + "".join(",".join(r) + ",\n" for r in rows))
    rc = main(["simulate", "--topology", str(topo), "--array", "4x4", "--format", "json"]
              + (["--gemm"] if gemm else []))
    out, err = capsys.readouterr()
    if rc == 0:
        _strict_json(out)
    else:
        assert rc == 2 and err.startswith(f"error: {topo}") and err.count("\n") == 1, err


_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=5), st.lists(st.integers(0, 3), max_size=2))
_keys = st.sampled_from(["rows", "cols", "dataflow", "ifmap_sram_bytes", "dram_bandwidth_words_per_cycle",
                         "ifmap_dram_bandwidth_words_per_cycle", "clock_hz", "word_bytes", "mac_energy_j",
                         "accumulate_partial_sums", "bogus"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(_keys, _value, max_size=4))
def test_fuzzed_systolic_yaml_never_raises(capsys, tmp_path, fields):
    import yaml

    cfg = tmp_path / "arr.yaml"
    cfg.write_text(yaml.safe_dump(fields))
    rc = main(["simulate", "--model", "lenet5", "--config", str(cfg), "--format", "json"])
    out, err = capsys.readouterr()
    if rc == 0:
        _strict_json(out)
    else:
        assert rc == 2 and err.startswith("error: ") and "arr.yaml" in err and err.count("\n") == 1, err


def test_output_to_a_device_or_fifo_writes_into_it(tmp_path):
    import threading

    # -o /dev/stdout or /dev/null must stay a device: an atomic replace swapped it for a regular file (as root).
    # A FIFO in tmp_path stands in for them, so that a regression cannot damage the machine running the test.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, '{"a": 1}\n')
    reader.join(timeout=10)
    assert got == ['{"a": 1}\n'] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    link = tmp_path / "stdout"  # /dev/stdout is a symlink to /proc/self/fd/1: write through it, not to its realpath
    link.symlink_to(fifo)
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(link, "b\n")
    reader.join(timeout=10)
    assert got[-1] == "b\n" and link.is_symlink()


def test_write_atomic_writes_through_a_symlink(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_simulate_csv_counts_are_integers(capsys, tmp_path):
    topo = tmp_path / "g.csv"
    topo.write_text("Layer Name, M, N, K,\ng1, 10, 3, 7,\n")
    assert main(["simulate", "--topology", str(topo), "--gemm", "--array", "2x4", "-f", "csv"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # os, 2x4 array: ceil(10/2) x ceil(3/4) = 5 folds of K + R + C - 2 = 11 cycles, minus SCALE-Sim's 1 -> 54;
    # "54.0" used to make int() fail in scripts
    assert int(row["compute_cycles"]) == 54 and int(row["dram_filter_reads"]) == 21


# ----- review fixes in the library ------------------------------------------------------------------------------------

def test_reproduce_ideal_dram_clears_every_port():
    from imcsim.config.systolic import SystolicConfig
    from imcsim.report.reproduce import _ideal_memory

    finite = SystolicConfig(dram_bandwidth_words_per_cycle=4, ifmap_dram_bandwidth_words_per_cycle=2,
                            filter_dram_bandwidth_words_per_cycle=3, ofmap_dram_bandwidth_words_per_cycle=1)
    assert finite.read_bandwidths() == (2, 3, 1)
    # the ofmap override used to survive, so the "ideal DRAM" what-if still stalled on the output drain
    assert _ideal_memory(finite).read_bandwidths() == (None, None, None)


def test_renamed_topology_layer_has_its_own_extra(tmp_path):
    from imcsim.workload.scalesim_csv import read_topology

    topo = tmp_path / "dup.csv"
    topo.write_text(CONV_HEADER + "c, 8, 8, 3, 3, 1, 2, 1,\nc, 8, 8, 3, 3, 1, 2, 1, 2:4,\n")
    net = read_topology(topo)
    first, second = net.layers
    assert (first.name, second.name) == ("c", "c_row3")
    assert first.extra == {"row": 2} and second.extra == {"sparsity": "2:4", "row": 3}
    assert first.extra is not second.extra


def test_empty_output_path_is_refused(capsys):
    # simulate used to print to stdout instead, compare to say ".: is a directory"
    _one_line_error(capsys, ["simulate", "--model", "lenet5", "-o", ""], "output path is empty")
    _one_line_error(capsys, ["compare", "--model", "lenet5", "-o", ""], "output path is empty")


def test_ctrl_c_exits_130_not_0(monkeypatch, capsys):
    """typer turns KeyboardInterrupt into a *returned* 130 outside standalone mode; main must pass it on."""
    from imcsim.cli.app import main
    from imcsim.workload import zoo_info

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo_info, "zoo_rows", interrupted)
    assert main(["models"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_reproduce_refuses_csv(capsys):
    assert main(["reproduce", "--format", "csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--format 'csv'" in err and len(err.splitlines()) == 1
