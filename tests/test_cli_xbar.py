"""``imcsim xbar`` in-process: outputs checked against hand calculations, and one-line errors with exit 2."""

import json
import shutil

import numpy as np
import pytest

from imcsim.circuit.network import save_imacsim_weights
from imcsim.cli.app import main


@pytest.fixture
def files(tmp_path):
    (tmp_path / "W.csv").write_text("1,-1\n0,1\n-1,0\n")
    (tmp_path / "X.csv").write_text("0.8,-0.8,0.4\n0.1,0.2,0.3\n")
    return tmp_path


def test_solve_ideal_json_by_hand(files, capsys):
    rc = main(["xbar", "solve", "-w", str(files / "W.csv"), "-x", str(files / "X.csv"), "--format", "json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    # vector 0, column 0: weights (+1, 0, -1) -> I+ = 0.8/5k - 0.8/5k + 0.4/15k, I- = 0.8/15k - 0.8/5k + 0.4/5k
    assert out["i_plus"][0][0] == pytest.approx(0.4 / 15e3, rel=1e-12)
    assert out["i_minus"][0][0] == pytest.approx(0.8 / 15e3 - 0.8 / 5e3 + 0.4 / 5e3, rel=1e-12)
    # I+ - I- = 0.4/15k - (0.8/15k - 0.8/5k + 0.4/5k) = 5.333e-5 A; 30 kOhm gives 1.6 V, beyond the 0.8 V
    # rail of IMAC-Sim's +-0.8 V supply: the amplifier saturates there
    assert 30e3 * (out["i_plus"][0][0] - out["i_minus"][0][0]) == pytest.approx(1.6, rel=1e-12)
    assert out["v_amp"][0][0] == 0.8 and out["rails_v"] == [-0.8, 0.8]
    lin = 30e3 * (np.array(out["i_plus"]) - np.array(out["i_minus"]))
    assert np.allclose(out["v_amp"], np.clip(lin, -0.8, 0.8), rtol=1e-12, atol=1e-15)
    assert len(out["i_plus"]) == 2 and len(out["power_w"]) == 2
    # power: each row drives its two devices in parallel; row 0 (+1,-1) and (R, R) pairs: G = 2*(1/5k + 1/15k)
    g_rows = [2 * (1 / 5e3 + 1 / 15e3), (2 / 5e3) + (1 / 5e3 + 1 / 15e3), (1 / 5e3 + 1 / 15e3) + 2 / 5e3]
    assert out["power_w"][0] == pytest.approx(0.64 * g_rows[0] + 0.64 * g_rows[1] + 0.16 * g_rows[2], rel=1e-12)


def test_solve_tech_9nm_and_text(files, capsys):
    assert main(["xbar", "solve", "-w", str(files / "W.csv"), "-x", str(files / "X.csv"), "--tech", "9nm"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["r_in_ohm"] == pytest.approx(9.24, abs=0.005) and out["r_out_ohm"] == pytest.approx(11.55, abs=0.005)
    assert main(["xbar", "solve", "-w", str(files / "W.csv"), "-x", str(files / "X.csv"), "--format", "table",
                 "-o", str(files / "o.txt")]) == 0
    assert "i_plus (uA)" in (files / "o.txt").read_text()


@pytest.mark.parametrize("content, expect", [
    ("1,-1\n0,0.5\n-1,0\n", "W.csv: row 2, column 2: weight '0.5' is not one of -1, 0, +1"),
    ("1,-1\n0,1\nabc,0\n", "W.csv: row 3, column 1: 'abc' is not a number"),
    ("1,-1\n0,1\n", "X.csv: 3 columns, expected 2"),
])
def test_bad_csv_is_one_line_exit_2(files, capsys, content, expect):
    (files / "W.csv").write_text(content)
    rc = main(["xbar", "solve", "-w", str(files / "W.csv"), "-x", str(files / "X.csv")])
    err = capsys.readouterr().err
    assert rc == 2
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err


def test_option_errors(files, capsys):
    base = ["xbar", "solve", "-w", str(files / "W.csv"), "-x", str(files / "X.csv")]
    assert main(base + ["--tech", "9nm", "--r-in", "3"]) == 2
    assert main(base + ["--tech", "5nm"]) == 2
    assert main(base + ["--r-low", "2e4"]) == 2
    assert main(base + ["--format", "xml"]) == 2
    assert main(["xbar", "solve", "-w", str(files / "nope.csv"), "-x", str(files / "X.csv")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv: no such file" in err and "r_high (15000 ohm) must exceed r_low" in err


def test_spice_writes_netlist(files, capsys):
    rc = main(["xbar", "spice", "-w", str(files / "W.csv"), "-x", str(files / "X.csv"), "--tech", "9nm", "-o",
               str(files / "net.cir")])
    assert rc == 0
    text = (files / "net.cir").read_text()
    assert text.startswith("* imcsim crossbar") and text.rstrip().endswith(".end")
    assert sum(ln.startswith("R") for ln in text.splitlines()) == 3 * 2 * 5


@pytest.mark.ngspice
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_compare_json(files, capsys):
    rc = main(["xbar", "compare", "-w", str(files / "W.csv"), "-x", str(files / "X.csv"), "--tech", "9nm",
               "--format", "json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["max_rel_diff"] < 1e-9 and out["vectors"] == 2 and out["ngspice_s"] > 0


def test_evaluate_imacsim_dir(tmp_path, capsys):
    # one layer, input k drives output k with weight -1 (inverting neuron: the high output is the class)
    save_imacsim_weights(tmp_path, [(-np.eye(3), np.zeros(3))])
    (tmp_path / "x.csv").write_text("1,0,0\n0,1,0\n0,0,1\n1,0,0\n")
    (tmp_path / "y.csv").write_text("1,0,0\n0,1,0\n0,0,1\n0,1,0\n")
    rc = main(["xbar", "evaluate", "--imacsim-dir", str(tmp_path), "-x", str(tmp_path / "x.csv"), "-y",
               str(tmp_path / "y.csv"), "--rows", "2", "--cols", "2", "--format", "json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == pytest.approx(0.75) and out["n"] == 4 and out["mean_power_w"] > 0
    assert main(["xbar", "evaluate", "--imacsim-dir", str(tmp_path)]) == 2
    assert "needs --inputs and --labels" in capsys.readouterr().err


@pytest.mark.ngspice
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_spice_network_export_runs_in_ngspice(tmp_path, capsys):
    from imcsim.circuit.network import IMACNetwork
    from imcsim.circuit.spice import run_ngspice
    from imcsim.config.wires import WireConfig

    rng = np.random.default_rng(0)
    weights = [(rng.integers(-1, 2, (4, 6)), rng.integers(-1, 2, 4)), (rng.integers(-1, 2, (2, 4)),
                                                                       rng.integers(-1, 2, 2))]
    save_imacsim_weights(tmp_path, weights)
    x = rng.uniform(-0.01, 0.01, (2, 6))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    rc = main(["xbar", "spice", "--imacsim-dir", str(tmp_path), "-x", str(tmp_path / "x.csv"), "--rows", "3",
               "--cols", "3", "--tech", "9nm", "-o", str(tmp_path / "net.cir")])
    assert rc == 0
    points, _ = run_ngspice((tmp_path / "net.cir").read_text(), 2)
    ref = np.array([[pt[f"v(out{j})"] for j in range(2)] for pt in points])
    ours = IMACNetwork.from_weights(weights, rows=3, cols=3, wires=WireConfig()).forward(
        np.loadtxt(tmp_path / "x.csv", delimiter=","))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    assert main(["xbar", "spice", "-x", str(tmp_path / "x.csv"), "-o", str(tmp_path / "n2.cir")]) == 2
    assert "exactly one of --weights and --imacsim-dir" in capsys.readouterr().err
