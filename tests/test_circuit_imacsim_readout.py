"""IMAC-Sim's read-out (resistive difference amplifier, partitions averaged): solver against a hand derivation and
against ngspice, and nn/'s layer against the solver."""

import shutil

import numpy as np
import pytest
import torch

from imcsim.circuit import spice
from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.network import IMACNetwork
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.wires import WireConfig
from imcsim.nn.imac_linear import IMACLinear

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
IMACSIM = AmplifierConfig(readout="imacsim")


def _hand_column(v, gp, gm, r_d, r_f):
    """One column pair with ideal wires, by hand. KCL at the I+ line (node Vp): sum g+ (v - Vp) = Vp / (r_d + r_f).
    The op-amp's inputs sit at Vx = r_f Vp / (r_d + r_f) (the R2-R4 divider). KCL at the I- line (node Vm):
    sum g- (v - Vm) = (Vm - Vx) / r_d. Output: Vx - r_f (Vm - Vx) / r_d (R3 carries the R1 current)."""
    vp = (v @ gp) / (gp.sum() + 1 / (r_d + r_f))
    vx = r_f * vp / (r_d + r_f)
    vm = (v @ gm + vx / r_d) / (gm.sum() + 1 / r_d)
    return vx - r_f * (vm - vx) / r_d, vp, vm


def test_solver_equals_hand_derivation_and_line_ends_are_not_at_ground():
    rng = np.random.default_rng(0)
    gp, gm = 1 / rng.uniform(5e3, 15e3, (6, 3)), 1 / rng.uniform(5e3, 15e3, (6, 3))
    v = rng.uniform(-0.8, 0.8, (4, 6))
    xb = Crossbar(gp, gm, diff_amp=(1e3, 30e3))
    ip, im = xb.solve(v)
    for j in range(3):
        out, vp, vm = _hand_column(v, gp[:, j], gm[:, j], 1e3, 30e3)
        np.testing.assert_allclose(30e3 * (ip[:, j] - im[:, j]), out, rtol=1e-10)
        # the output is gain x (V+ - V-) of the line ends, and the I+ line end is far from 0 V
        np.testing.assert_allclose(out, 30 * (vp - vm), rtol=1e-10)
        assert np.abs(vp).max() > 0.1
    # the same circuit at virtual ground gives a different answer (the amplifier loads the lines)
    ip0, im0 = Crossbar(gp, gm).solve(v)
    assert np.abs(30e3 * (ip0 - im0) - 30e3 * (ip - im)).max() > 0.1


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("wires", [(0.0, 0.0), (9.24, 11.55)])
def test_crossbar_with_difference_amplifier_agrees_with_ngspice(wires):
    rng = np.random.default_rng(3)
    gp, gm = rng.uniform(1 / 15e3, 1 / 5e3, (5, 4)), rng.uniform(1 / 15e3, 1 / 5e3, (5, 4))
    xb = Crossbar(gp, gm, *wires, diff_amp=(1e3, 30e3))
    v = rng.uniform(-0.8, 0.8, (3, 5))
    ref = spice.simulate_crossbar(xb, v)
    ip, im = xb.solve(v)
    # the exported op-amp has a finite gain (OPAMP_GAIN = 1e9): relative errors ~ 1e-8
    np.testing.assert_allclose(ip, ref.i_plus, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(im, ref.i_minus, rtol=1e-6, atol=1e-12)


@pytest.mark.ngspice
@needs_ngspice
def test_network_with_imacsim_readout_agrees_with_ngspice():
    rng = np.random.default_rng(7)
    weights = [(rng.integers(-1, 2, (6, 9)), rng.integers(-1, 2, 6)), (rng.integers(-1, 2, (4, 6)),
                                                                       rng.integers(-1, 2, 4))]
    net = IMACNetwork.from_weights(weights, rows=4, cols=4, wires=WireConfig(), device=DeviceConfig(variation=0.2),
                                   seed=10, amplifier=IMACSIM)
    assert net.layers[0].n_partitions == 3 and net.layers[0].average
    x = rng.uniform(-0.05, 0.05, (3, 9))
    ref = spice.simulate_network(net, x)
    out = net.forward(x)
    np.testing.assert_allclose(out, ref.outputs, rtol=1e-6, atol=1e-9)
    assert ((out > 0.01) & (out < 0.79)).any()


def test_partitions_are_averaged_not_summed():
    rng = np.random.default_rng(1)
    w = [(rng.integers(-1, 2, (3, 11)), rng.integers(-1, 2, 3))]
    net = IMACNetwork.from_weights(w, rows=4, cols=4, amplifier=IMACSIM, vss_v=-100, vdd_v=0.8)
    x = rng.uniform(-0.8, 0.8, (5, 11))
    amps = net.layers[0].amplifier_outputs(x)  # (batch, 3 partitions, out)
    assert amps.shape[1] == 3
    np.testing.assert_allclose(net.layers[0].neuron_inputs(x), amps.mean(axis=1), rtol=1e-12)
    # the accuracy reports say which read-out they used
    from imcsim.circuit.chip import describe_effects
    assert net.effects()["readout"] == "imacsim" and "imacsim read-out" in describe_effects(net.effects())
    assert IMACNetwork.from_weights(w, rows=4, cols=4).effects()["readout"] == "virtual-ground"


@pytest.mark.parametrize("ir_drop", ["off", "exact"])
def test_nn_layer_equals_circuit_with_imacsim_readout(ir_drop):
    torch.manual_seed(4)
    hw = IMACConfig(rows=8, cols=4, amplifier=IMACSIM)
    layer = IMACLinear(13, 6, 0, hw, precision="ternary").double()
    layer.ir_drop = ir_drop
    with torch.no_grad():
        layer.weight.uniform_(-1, 1)
        layer.bias.uniform_(-1, 1)
    v = torch.rand(5, 13, dtype=torch.float64) * 0.2 - 0.1
    _, v_n = layer(v)
    wq, bq = layer.quantized()
    net = IMACNetwork.from_weights([(wq.detach().numpy(), bq.detach().numpy())], rows=8, cols=4, seed=None,
                                   amplifier=IMACSIM, wires=hw.wires if ir_drop == "exact" else None,
                                   device=hw.device, vdd_v=hw.vdd_v, vss_v=hw.vss_v)
    np.testing.assert_allclose(v_n.detach().numpy(), net.layers[0].neuron_inputs(v.numpy()), rtol=1e-9, atol=1e-12)


def test_calibration_reaches_the_target_spread_with_the_imacsim_readout():
    # the amplifier loads the lines, yet the calibration must put std(v_n) at target_std / slope (2 / 15 V here)
    torch.manual_seed(0)
    hw = IMACConfig(rows=26, cols=15, amplifier=IMACSIM)
    layer = IMACLinear(100, 20, 0, hw, first=True, precision="binary").double()
    x = torch.rand(256, 100, dtype=torch.float64) * 2 - 1
    layer.calibrate_(x, target_std=2.0)
    with torch.no_grad():
        std = float(layer.preactivation(layer.input_voltages(x), clip=False).std())
    assert std == pytest.approx(2.0 / hw.neuron.slope_per_v, rel=0.01)
