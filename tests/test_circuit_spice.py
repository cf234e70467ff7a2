"""SPICE export: netlists ngspice runs, and agreement of the solver with ngspice on the same circuits."""

import shutil

import numpy as np
import pytest

from imcsim.circuit import spice
from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.network import IMACNetwork
from imcsim.config.device import DeviceConfig
from imcsim.config.wires import WireConfig

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def test_netlist_structure():
    xb = Crossbar.from_weights(np.array([[1, -1], [0, 1], [-1, 0]]), r_in_ohm=9.0, r_out_ohm=11.0)
    text = spice.crossbar_netlist(xb, np.array([[0.8, -0.8, 0.1], [0.0, 0.2, 0.3]]))
    lines = text.splitlines()
    resistors = [ln for ln in lines if ln.startswith("R")]
    # per cell: 2 devices + 1 input segment + 2 column segments (the bottom one reaches the terminal)
    assert len(resistors) == 3 * 2 * 5
    assert sum(ln.startswith("Vin") for ln in lines) == 3
    assert sum(ln.startswith("Vt") for ln in lines) == 4
    assert "Rdp0_0 a0_0 p0_0 5000" in lines and "Rdm0_0 a0_0 m0_0 15000" in lines
    assert lines.count("op") == 2 and "alter Vin0 dc = 0" in lines
    # ideal wires: no wire resistors at all
    ideal = spice.crossbar_netlist(Crossbar.from_weights(np.ones((2, 2))), np.ones((1, 2)))
    assert sum(ln.startswith("R") for ln in ideal.splitlines()) == 8


def test_read_raw(tmp_path):
    raw = tmp_path / "x.raw"
    raw.write_text("Title: t\nPlotname: Operating Point\nNo. Variables: 2\nNo. Points: 1\nVariables:\n"
                   "\t0\tv(in0)\tvoltage\n\t1\ti(vtp0)\tcurrent\nValues:\n 0\t8.0e-01\n\t-1.25e-04\n")
    assert spice.read_raw(raw) == {"v(in0)": 0.8, "i(vtp0)": -1.25e-4}
    (tmp_path / "bad.raw").write_text("nothing\n")
    with pytest.raises(spice.NgspiceError, match="bad.raw"):
        spice.read_raw(tmp_path / "bad.raw")


def test_missing_ngspice_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(spice.NgspiceError, match="ngspice: not found"):
        spice.simulate_crossbar(Crossbar.from_weights(np.ones((1, 1))), np.ones((1, 1)))


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("seed", range(4))
def test_crossbar_agrees_with_ngspice(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 10, 2)
    gp = rng.uniform(1 / 15e3, 1 / 5e3, (rows, cols))
    gm = rng.uniform(1 / 15e3, 1 / 5e3, (rows, cols))
    r = [(0.0, 0.0, 0.0), (9.24, 11.55, 0.0), (9.24, 11.55, 1e3), (0.0, 30.0, 0.0)][seed]
    xb = Crossbar(gp, gm, *r)
    v = rng.uniform(-0.8, 0.8, (3, rows))
    ref = spice.simulate_crossbar(xb, v)
    ip, im = xb.solve(v)
    np.testing.assert_allclose(ip, ref.i_plus, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(im, ref.i_minus, rtol=1e-9, atol=1e-15)
    assert spice.compare_crossbar(xb, v).max_rel_diff < 1e-9


@pytest.mark.ngspice
@needs_ngspice
def test_single_ended_crossbar_agrees_with_ngspice():
    # one device per cell (an IMC core's offset-encoded array): the netlist has no I- lines
    rng = np.random.default_rng(11)
    gp = rng.uniform(1 / 15e3, 1 / 5e3, (5, 4))
    xb = Crossbar(gp, None, 9.24, 11.55, 0.0)
    v = rng.uniform(-0.8, 0.8, (3, 5))
    ref = spice.simulate_crossbar(xb, v)
    ip, _ = xb.solve(v)
    np.testing.assert_allclose(ip, ref.i_plus, rtol=1e-9, atol=1e-15)
    assert "Rdm" not in spice.crossbar_netlist(xb, v)
    assert spice.compare_crossbar(xb, v).max_rel_diff < 1e-9


@pytest.mark.ngspice
@needs_ngspice
def test_network_agrees_with_ngspice():
    rng = np.random.default_rng(7)
    weights = [(rng.integers(-1, 2, (6, 9)), rng.integers(-1, 2, 6)), (rng.integers(-1, 2, (4, 6)),
                                                                       rng.integers(-1, 2, 4))]
    net = IMACNetwork.from_weights(weights, rows=4, cols=4, wires=WireConfig(), device=DeviceConfig(variation=0.2),
                                   seed=10)
    # inputs small enough that the neurons are not all saturated
    x = rng.uniform(-0.02, 0.02, (3, 9))
    ref = spice.simulate_network(net, x)
    out = net.forward(x)
    np.testing.assert_allclose(out, ref.outputs, rtol=1e-9, atol=1e-12)
    # chip 10 leaves some outputs between the rails, so the comparison covers the neuron's slope, not just its rails
    assert ((out > 0.01) & (out < 0.79)).any()
    # and some partition amplifiers sit at a rail, so ngspice checks the clipping too
    amps = net.layers[0].amplifier_outputs(x)
    assert np.isclose(np.abs(amps), 0.8).any() and (np.abs(amps) < 0.79).any()
