"""Multi-layer IMAC networks: the canonical layer equation, partitioning, weight files and evaluation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.config.amplifier import AmplifierConfig
from imcsim.circuit.network import (IMACNetwork, load_imacsim_dataset, load_imacsim_weights, read_matrix_csv,
                                    save_imacsim_weights, write_matrix_csv)
from imcsim.circuit.neuron import neuron_transfer
from imcsim.circuit.partition import partition_layer
from imcsim.config.device import DeviceConfig
from imcsim.config.neuron import NeuronConfig
from imcsim.config.wires import WireConfig
from imcsim.errors import DataError


def mlp_weights(rng, sizes=(400, 120, 84, 10)):
    return [(rng.integers(-1, 2, (o, i)), rng.integers(-1, 2, o)) for i, o in zip(sizes[:-1], sizes[1:])]


def canonical(weights, x, tz=(30e3, 30e3, 10e3), dg=1 / 5e3 - 1 / 15e3, vdd=0.8, rows=None):
    """By hand: per horizontal partition of ``rows`` crossbar rows (inputs then the bias row) an amplifier whose
    output saturates at the rails [-Vdd, Vdd]; the neuron input is the sum of the partition outputs."""
    h = x
    for k, (w, b) in enumerate(weights):
        u = np.concatenate([h, np.full((len(h), 1), vdd)], axis=1)
        wb = np.concatenate([w, b[:, None]], axis=1)
        step = rows or u.shape[1]
        v_n = sum(np.clip(tz[k] * dg * u[:, s:s + step] @ wb[:, s:s + step].T, -vdd, vdd)
                  for s in range(0, u.shape[1], step))
        h = neuron_transfer(v_n, NeuronConfig())
    return h


def test_partition_formulas_mlp_on_32x32():
    parts = [partition_layer(i, o, 32, 32) for i, o in ((400, 120), (120, 84), (84, 10))]
    assert [p.horizontal for p in parts] == [13, 4, 3]
    assert [p.vertical for p in parts] == [4, 3, 1]
    net = IMACNetwork.from_weights(mlp_weights(np.random.default_rng(0)), rows=32, cols=32)
    assert [len(lay.tiles) for lay in net.layers] == [13 * 4, 4 * 3, 3 * 1]
    # every crossbar row and column is covered exactly once
    for lay in net.layers:
        cover = np.zeros((lay.n_in + 1, lay.n_out), int)
        for rs, cs, xb in lay.tiles.values():
            cover[rs, cs] += 1
            assert xb.rows <= 32 and xb.cols <= 32
        assert np.all(cover == 1)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31), st.integers(3, 40), st.integers(2, 40))
def test_ideal_network_is_canonical_equation_for_any_partitioning(seed, rows, cols):
    rng = np.random.default_rng(seed)
    weights = mlp_weights(rng, (23, 11, 5))
    x = rng.uniform(-0.8, 0.8, (6, 23))
    net = IMACNetwork.from_weights(weights, rows=rows, cols=cols)
    np.testing.assert_allclose(net.forward(x), canonical(weights, x, rows=rows), rtol=1e-11, atol=1e-13)


def test_parasitics_shift_neuron_inputs_less_on_small_crossbars():
    rng = np.random.default_rng(1)
    weights = mlp_weights(rng, (127, 10))
    x = rng.choice([-0.8, 0.8], (50, 127))
    amp = AmplifierConfig(transimpedance_ohm=(100.0,))  # small enough that no amplifier reaches a rail
    ideal = IMACNetwork.from_weights(weights, rows=128, cols=16, amplifier=amp).layers[0].neuron_inputs(x)
    assert np.abs(ideal).max() < 0.8
    errs = {}
    for rows in (16, 128):
        net = IMACNetwork.from_weights(weights, rows=rows, cols=16, wires=WireConfig(), amplifier=amp)
        errs[rows] = np.abs(net.layers[0].neuron_inputs(x) - ideal).mean()
    assert 0 < errs[16] < errs[128]


def test_power_matches_ideal_hand_sum():
    rng = np.random.default_rng(2)
    weights = mlp_weights(rng, (10, 4))
    x = rng.uniform(-0.8, 0.8, (3, 10))
    net = IMACNetwork.from_weights(weights, rows=4, cols=3)
    _, p = net.forward_with_power(x)
    # ideal wires: each device dissipates v^2 G with v its row voltage; bias row at Vdd
    w, b = weights[0]
    waug = np.concatenate([w, b[:, None]], axis=1).T
    g = np.where(waug == 0, 2 / 5e3, 1 / 5e3 + 1 / 15e3).sum(axis=1)  # per row: G+ + G-
    u = np.concatenate([x, np.full((3, 1), 0.8)], axis=1)
    np.testing.assert_allclose(p[:, 0], (u**2) @ g, rtol=1e-12)


def test_variation_is_seeded_and_changes_outputs():
    rng = np.random.default_rng(3)
    weights = mlp_weights(rng, (20, 6))
    x = rng.uniform(-0.02, 0.02, (4, 20))
    dev = DeviceConfig(variation=0.2)
    amp = AmplifierConfig(transimpedance_ohm=(300.0,))  # amplifiers in their linear range (no rail reached)
    a = IMACNetwork.from_weights(weights, device=dev, seed=5, amplifier=amp).layers[0].neuron_inputs(x)
    b = IMACNetwork.from_weights(weights, device=dev, seed=5, amplifier=amp).layers[0].neuron_inputs(x)
    c = IMACNetwork.from_weights(weights, device=dev, seed=6, amplifier=amp).layers[0].neuron_inputs(x)
    ideal = IMACNetwork.from_weights(weights, amplifier=amp).layers[0].neuron_inputs(x)
    assert np.abs(ideal).max() < 0.8
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # R(1 + U(-0.2, 0.2)) moves each differential current by a fraction of its size, not by orders of magnitude
    assert 0 < np.abs(a - ideal).max() < 0.5 * np.abs(ideal).max()


def test_read_noise_ideal_wires_only():
    rng = np.random.default_rng(4)
    weights = mlp_weights(rng, (20, 6))
    x = rng.uniform(-0.02, 0.02, (4, 20))
    net = IMACNetwork.from_weights(weights, device=DeviceConfig(read_noise=0.1))
    noisy = net.forward(x, rng=np.random.default_rng(0))
    assert not np.allclose(noisy, net.forward(x))
    net_w = IMACNetwork.from_weights(weights, device=DeviceConfig(read_noise=0.1), wires=WireConfig())
    with pytest.raises(Exception, match="ideal wires"):
        net_w.forward(x, rng=np.random.default_rng(0))


def test_evaluate_accuracy_on_a_constructed_task():
    # one layer, 3 classes: input k drives only output k with weight -1 (the neuron inverts: high output = class)
    w = -np.eye(3)
    net = IMACNetwork.from_weights([(w, np.zeros(3))], rows=2, cols=2, amplifier=AmplifierConfig(
        transimpedance_ohm=(1e3,)))
    x = 0.8 * np.eye(3)
    res = net.evaluate(x, np.array([0, 1, 2]))
    assert res.accuracy == 1.0 and res.n == 3
    assert net.evaluate(x, np.array([1, 2, 0])).accuracy == 0.0
    assert res.mean_power_w > 0 and len(res.layer_power_w) == 1


def test_imacsim_weight_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    weights = mlp_weights(rng, (12, 7, 3))
    save_imacsim_weights(tmp_path, weights)
    # IMAC-Sim orientation: W1.csv is n_in rows by n_out columns, B1.csv n_out rows by 1
    assert read_matrix_csv(tmp_path / "W1.csv").shape == (12, 7)
    assert read_matrix_csv(tmp_path / "B1.csv").shape == (7, 1)
    np.testing.assert_array_equal(read_matrix_csv(tmp_path / "W2.csv"), weights[1][0].T)
    back = load_imacsim_weights(tmp_path)
    for (w, b), (w2, b2) in zip(weights, back):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
    net = IMACNetwork.from_imacsim_dir(tmp_path, rows=5, cols=4)
    assert [lay.weight.shape for lay in net.layers] == [(7, 12), (3, 7)]


def test_weight_file_errors(tmp_path):
    write_matrix_csv(tmp_path / "W1.csv", np.array([[1, 0], [0, -1]]))
    with pytest.raises(DataError, match="B1.csv: missing"):
        load_imacsim_weights(tmp_path)
    write_matrix_csv(tmp_path / "B1.csv", np.array([[1], [0], [1]]))
    with pytest.raises(DataError, match="B1.csv: shape 3x1, expected 2x1"):
        load_imacsim_weights(tmp_path)
    (tmp_path / "W1.csv").write_text("1,0\n0,2\n")
    with pytest.raises(DataError, match=r"W1.csv: row 2, column 2: weight '2' is not one of -1, 0, \+1"):
        load_imacsim_weights(tmp_path)
    (tmp_path / "W1.csv").write_text("1,0\nx,1\n")
    with pytest.raises(DataError, match=r"W1.csv: row 2, column 1: 'x' is not a number"):
        load_imacsim_weights(tmp_path)
    (tmp_path / "W1.csv").write_text("1,0\n1\n")
    with pytest.raises(DataError, match="row 2 has 1 columns, expected 2"):
        load_imacsim_weights(tmp_path)


def test_imacsim_dataset(tmp_path):
    (tmp_path / "x.csv").write_text("0.5,-0.2,0\n-1,3,0.1\n")
    (tmp_path / "y.csv").write_text("0,1,0\n1,0,0\n")
    x, y = load_imacsim_dataset(tmp_path / "x.csv", tmp_path / "y.csv", vdd_v=0.8)
    np.testing.assert_array_equal(x, [[0.8, -0.8, 0], [-0.8, 0.8, 0.8]])
    np.testing.assert_array_equal(y, [1, 0])
    (tmp_path / "y.csv").write_text("0,1,1\n1,0,0\n")
    with pytest.raises(DataError, match="row 1 is not a one-hot label"):
        load_imacsim_dataset(tmp_path / "x.csv", tmp_path / "y.csv")


def test_from_deployment_uses_trained_hardware():
    from imcsim.config.imac import IMACConfig
    from imcsim.train.deploy import DeployedLayer, Deployment, DeploymentConfig

    rng = np.random.default_rng(6)
    weights = mlp_weights(rng, (9, 5, 3))
    hw = IMACConfig(rows=4, cols=2, device=DeviceConfig(r_low_ohm=4e3, r_high_ohm=20e3))
    layers = [DeployedLayer("fc0", "linear", "digital", "int8", np.zeros((9, 4), np.int32)),
              DeployedLayer("fc1", "linear", "imac", "ternary", weights[0][0], weights[0][1],
                            extra={"transimpedance_ohm": 250.0}),
              DeployedLayer("fc2", "linear", "imac", "ternary", weights[1][0], weights[1][1],
                            extra={"transimpedance_ohm": 400.0})]
    dep = Deployment("mlp", "tpu-imac", (1, 2, 2), "fashion-mnist", layers, DeploymentConfig(imac=hw),
                     readout="argmin")
    net = IMACNetwork.from_deployment(dep, parasitics=False)
    assert net.readout == "argmin" and len(net.layers) == 2
    assert [lay.partition.rows for lay in net.layers] == [4, 4] and net.layers[0].partition.horizontal == 3
    x = rng.uniform(-0.8, 0.8, (5, 9))
    np.testing.assert_allclose(net.forward(x), canonical(weights, x, tz=(250.0, 400.0), dg=1 / 4e3 - 1 / 20e3),
                               rtol=1e-11, atol=1e-13)
    over = IMACNetwork.from_deployment(dep, rows=16, cols=16, variation=0.1)
    assert over.layers[0].partition.horizontal == 1 and over.device.variation == 0.1
    assert not over.layers[0].ideal_wires


def test_amplifier_outputs_saturate_at_the_rails_per_partition():
    """One layer, 3 inputs + bias on 2-row crossbars (2 partitions), weights all +1, ideal devices 5k/15k and a
    30 kOhm transimpedance: each device pair passes (1/5k - 1/15k) v = 1.333e-4 v A, times 30 kOhm = 4 v volts.
    Inputs (0.8, 0.8, -0.8), bias row 0.8 V: partition 1 (rows 1-2) 4 * 1.6 = 6.4 V -> clipped to 0.8 V; partition 2
    (row 3 and bias) 4 * 0 = 0 V. Neuron input 0.8 V (unclipped it would read 6.4 V)."""
    net = IMACNetwork.from_weights([(np.ones((1, 3)), np.ones(1))], rows=2, cols=1,
                                   amplifier=AmplifierConfig(transimpedance_ohm=(30e3,)))
    lay = net.layers[0]
    x = np.array([[0.8, 0.8, -0.8]])
    np.testing.assert_allclose(lay.amplifier_outputs(x), [[[0.8], [0.0]]], atol=1e-12)
    np.testing.assert_allclose(lay.neuron_inputs(x), [[0.8]], atol=1e-12)
    np.testing.assert_allclose(np.concatenate([x, [[0.8]]], axis=1) @ lay.effective_matrix.T, [[6.4]], rtol=1e-12)
    # asymmetric rails: inputs -x give partition 1 -6.4 V -> -0.3 V, partition 2 (0.8 V input and bias) 6.4 -> 0.8 V
    low = IMACNetwork.from_weights([(np.ones((1, 3)), np.ones(1))], rows=2, cols=1, vss_v=-0.3,
                                   amplifier=AmplifierConfig(transimpedance_ohm=(30e3,)))
    np.testing.assert_allclose(low.layers[0].amplifier_outputs(-x), [[[-0.3], [0.8]]], atol=1e-12)
