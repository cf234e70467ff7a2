"""IMAC unit cost model: partitions, hand-computed energy and latency, converters only at segment boundaries, and the
device energy against the crossbar circuit solver."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.arch import imac
from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.devices import weights_to_conductances
from imcsim.config.base import parse_config
from imcsim.config.imac import IMACConfig
from imcsim.errors import ConfigError, WeightLevelError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network


def _mlp() -> Network:
    return Network("mlp", (Layer.linear("fc1", 400, 120), Layer("act1", LayerKind.ELEMENTWISE, 1, 1, 120, 1, 1, 120),
                           Layer.linear("fc2", 120, 84), Layer("act2", LayerKind.ELEMENTWISE, 1, 1, 84, 1, 1, 84),
                           Layer.linear("fc3", 84, 10)))


def test_mlp_400_120_84_10_partitions_on_32x32():
    # IMAC-Sim (GLSVLSI 2023) partitions this MLP horizontal 13/4/3, vertical 4/3/1.
    cost = imac.simulate_network(_mlp(), IMACConfig())
    assert [c.metrics["horizontal_partitions"] for c in cost.layers] == [13, 4, 3]
    assert [c.metrics["vertical_partitions"] for c in cost.layers] == [4, 3, 1]
    assert [c.metrics["crossbars"] for c in cost.layers] == [52, 12, 3]
    # amplifiers: one per neuron per horizontal partition
    assert [c.metrics["amplifiers"] for c in cost.layers] == [13 * 120, 4 * 84, 3 * 10]


def test_small_layer_energy_and_latency_by_hand():
    cfg = IMACConfig(rows=2, cols=1)  # 5 kOhm / 15 kOhm devices, Vdd 0.8 V, 1 ns, 8-bit DAC and ADC
    layer = Layer.linear("fc", 3, 2)
    w = np.array([[1, -1, 1], [-1, 1, 1]])
    b = np.array([1, -1])
    v = np.array([[0.2, -0.4, 0.8]])
    c = imac.simulate_layer(layer, cfg, weights=w, bias=b, inputs_v=v)
    # partitions: h = ceil(4 / 2) = 2, v = ceil(2 / 1) = 2
    assert c.metrics["horizontal_partitions"] == 2 and c.metrics["vertical_partitions"] == 2
    g_pair = 1 / 5e3 + 1 / 15e3                                   # every binary pair is (G_on, G_off)
    sum_v2 = 0.2**2 + 0.4**2 + 0.8**2 + 0.8**2                    # three inputs and the bias row at Vdd
    e_dev = 1e-9 * sum_v2 * 2 * g_pair                            # two columns
    e_amp = 1e-9 * (2 * 2) * (1.6 * 0.8 / 30e3)                   # 4 amplifiers, (Vdd - Vss) Vdd / 30 kOhm
    r_p = 10.0 / (math.pi / 4 * 0.05 * 0.03)                      # neuron MTJ: RA / area (ohm)
    e_neu = 1e-9 * 2 * 0.8**2 / (r_p + 3 * r_p)                   # R_AP = (1 + 200%) R_P
    e_dac = 3 * 8 * (4e-3 * 100e-9 / 1024)                        # 3 inputs x 8 one-bit ISAAC DAC energies
    # ADC: ISAAC Table 6 lists 16 mW for the 8 ADCs of an IMA at 1.28 GS/s: 2 mW per ADC, 1.5625 pJ per conversion;
    # 10% of it static (PUMA: 0.2 mW of 2 mW), drawn while an ADC waits through the 1 ns window before converting.
    e_adc = 2 * (16e-3 / 8) / 1.28e9 + 2 * 0.2e-3 * 1e-9          # 2 ADCs: 3.125 pJ + 0.4 pJ
    assert c.metrics["device_energy_j"] == pytest.approx(e_dev, rel=1e-12)
    assert c.metrics["amplifier_energy_j"] == pytest.approx(e_amp, rel=1e-12)
    assert c.metrics["neuron_energy_j"] == pytest.approx(e_neu, rel=1e-9)
    assert c.energy_j == pytest.approx(e_dev + e_amp + e_neu + e_dac + e_adc, rel=1e-9)
    assert c.latency_s == pytest.approx(1e-9 + 1e-9 + 1 / 1.28e9, rel=1e-12)   # DAC + sampling + ADC
    assert c.weight_bits == 8                                     # 6 weights + 2 biases, 1 bit each
    # without converters only the sampling window and the analog parts remain
    inner = imac.simulate_layer(layer, cfg, weights=w, bias=b, inputs_v=v, dac_in=False, adc_out=False)
    assert inner.latency_s == pytest.approx(1e-9)
    assert inner.energy_j == pytest.approx(e_dev + e_amp + e_neu, rel=1e-9)


def test_ternary_zero_pair_is_two_low_resistances():
    cfg = IMACConfig(weight_precision="ternary")
    layer = Layer.linear("fc", 2, 1, bias=False)
    e = imac.device_energy_j(layer, cfg, weights=np.array([[0, 1]]), inputs_v=np.array([0.5, 0.5]))
    assert e == pytest.approx(1e-9 * 0.25 * (2 / 5e3 + (1 / 5e3 + 1 / 15e3)), rel=1e-12)
    assert imac.simulate_layer(layer, cfg).weight_bits == 2 * 2   # two 2-bit weights


def test_ternary_expected_energy_is_the_mean_over_all_weight_matrices():
    # brute force: every ternary (1 x 2) weight matrix and bias, each level equally likely (zero fraction 1/3)
    cfg = IMACConfig(weight_precision="ternary", input_rms_fraction=0.5)
    layer = Layer.linear("fc", 2, 1)
    v = np.full(2, 0.5 * 0.8)
    energies = [imac.device_energy_j(layer, cfg, np.array([[a, b]]), np.array([c]), v)
                for a, b, c in itertools.product((-1, 0, 1), repeat=3)]
    assert imac.device_energy_j(layer, cfg) == pytest.approx(np.mean(energies), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 12), n_out=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_device_energy_equals_crossbar_solver_power_with_ideal_wires(n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    cfg = IMACConfig(weight_precision="ternary")
    w = rng.integers(-1, 2, size=(n_out, n_in))
    b = rng.integers(-1, 2, size=n_out)
    v = rng.uniform(-0.8, 0.8, size=(3, n_in))
    layer = Layer.linear("fc", n_in, n_out)
    ours = imac.device_energy_j(layer, cfg, w, b, v)
    # the crossbar holds the weights as (rows = inputs + bias row, cols = neurons)
    gp, gm = weights_to_conductances(np.vstack([w.T, b[None, :]]), cfg.device)
    xbar = Crossbar(gp, gm)
    v_rows = np.hstack([v, np.full((3, 1), cfg.vdd_v)])
    ref = cfg.sampling_time_s * xbar.power(v_rows).mean()
    assert ours == pytest.approx(ref, rel=1e-9)
    # wire resistance only lowers the current: the nominal figure is an upper bound
    wired = Crossbar(gp, gm, cfg.wires.r_in_ohm, cfg.wires.r_out_ohm)
    assert cfg.sampling_time_s * wired.power(v_rows).mean() <= ours * (1 + 1e-12)


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_binary_energy_does_not_depend_on_the_weight_signs(n_in, n_out, seed):
    # a binary pair is (G_on, G_off) whatever its sign, so the expected-mix energy is exact
    rng = np.random.default_rng(seed)
    cfg = IMACConfig()
    layer = Layer.linear("fc", n_in, n_out)
    w = rng.choice((-1, 1), size=(n_out, n_in))
    b = rng.choice((-1, 1), size=n_out)
    assert imac.device_energy_j(layer, cfg, w, b) == pytest.approx(imac.device_energy_j(layer, cfg), rel=1e-12)


def test_consecutive_dense_layers_convert_only_at_the_boundaries():
    # every crossbar in one window (the analog budget: test_arch_imac_design.py); the op-amp bias (derived, tested in
    # test_arch_imac_peripherals.py) left out so that the amplifier energy is the output-stage load power alone
    cfg = IMACConfig(peak_power_w=None, amplifier_bias_power_w=0)
    cost = imac.simulate_network(_mlp(), cfg)
    assert [c.metrics["dac_conversions"] for c in cost.layers] == [400, 0, 0]
    assert [c.metrics["adc_conversions"] for c in cost.layers] == [0, 0, 10]
    assert cost.latency_s == pytest.approx(cfg.dac.conversion_time_s + 3 * 1e-9 + cfg.adc.conversion_time_s)
    # amplifier gains follow IMAC-Sim's 30/30/10 kOhm per layer
    amp = [c.metrics["amplifier_energy_j"] / (c.metrics["amplifiers"] * 1e-9) for c in cost.layers]
    assert amp == pytest.approx([1.6 * 0.8 / 30e3, 1.6 * 0.8 / 30e3, 1.6 * 0.8 / 10e3])
    assert cost.weight_bits == 59_134                              # 1 bit per weight and bias


def test_shared_converters_serialise_their_conversions():
    cfg = IMACConfig(outputs_per_adc=4, inputs_per_dac=8)
    c = imac.simulate_layer(Layer.linear("fc", 20, 10), cfg)
    assert c.metrics["adcs"] == 3 and c.metrics["dacs"] == 3
    assert c.latency_s == pytest.approx(8 * 1e-9 + 1e-9 + 4 / 1.28e9)


def test_area_counts_arrays_and_peripherals():
    layer = Layer.linear("fc", 31, 32)                                # exactly one 32 x 32 array
    cell = 135e-9 * 108e-9
    converters = 31 * 8 * 0.00017e-6 / 1024 + 32 * 1.2e-9             # 8-bit DACs (ISAAC) and ADCs (ISAAC)
    # One neuron by hand: a 10-fin NMOS over a 10-fin PMOS (IMAC-Sim neuron.sp) plus 2 fin pitches of n-p spacing,
    # at a 42 nm fin pitch: 22 x 42 nm = 924 nm tall; 3 contacted gate pitches of 70 nm = 210 nm wide (Intel 14 nm,
    # IEDM 2014): 924 nm x 210 nm = 0.19404 um^2. The amplifiers' derived area: test_arch_imac_peripherals.py.
    neuron = 924e-9 * 210e-9
    c = imac.simulate_layer(layer, IMACConfig(amplifier_area_m2=0))
    assert c.metrics["crossbar_area_m2"] == pytest.approx(32 * 64 * cell, rel=1e-12)
    assert c.metrics["area_m2"] == pytest.approx(32 * 64 * cell + converters + 32 * neuron, rel=1e-12)
    bare = imac.simulate_layer(layer, IMACConfig(neuron_area_m2=0, amplifier_area_m2=0))
    assert bare.metrics["area_m2"] == pytest.approx(32 * 64 * cell + converters, rel=1e-12)
    with_periph = imac.simulate_layer(layer, IMACConfig(amplifier_area_m2=1e-12, neuron_area_m2=2e-12))
    assert with_periph.metrics["area_m2"] == pytest.approx(32 * 64 * cell + converters + 32 * 3e-12, rel=1e-12)


def test_peripheral_area_and_power_terms_and_what_is_left_out():
    # fc 400 -> 120 on 32 x 32 arrays: h = ceil(401 / 32) = 13 horizontal, v = ceil(120 / 32) = 4 vertical partitions;
    # one amplifier per neuron per horizontal partition: 13 x 120 = 1,560 amplifiers, 120 neurons.
    layer = Layer.linear("fc1", 400, 120)
    c = imac.simulate_layer(layer, IMACConfig(amplifier_area_m2=1e-12, amplifier_bias_power_w=2e-6))
    m = c.metrics
    assert (m["amplifiers"], m["neurons"]) == (1560, 120)
    assert m["amplifier_area_m2"] == pytest.approx(1560 * 1e-12, rel=1e-12)
    # neuron footprint by hand: (10 + 10 + 2) fin pitches x 42 nm = 924 nm by 3 gate pitches x 70 nm = 210 nm
    assert m["neuron_area_m2"] == pytest.approx(120 * 924e-9 * 210e-9, rel=1e-12)
    # 400 8-bit DACs at ISAAC's 0.00017 mm^2 / 1024 per bit, 120 ADCs at ISAAC's 0.0096 mm^2 / 8 = 0.0012 mm^2
    assert m["converter_area_m2"] == pytest.approx(400 * 8 * 0.00017e-6 / 1024 + 120 * 0.0012e-6, rel=1e-12)
    assert m["crossbar_area_m2"] == pytest.approx(13 * 4 * 32 * 64 * 135e-9 * 108e-9, rel=1e-12)
    assert m["area_m2"] == pytest.approx(m["crossbar_area_m2"] + m["converter_area_m2"] + m["amplifier_area_m2"]
                                         + m["neuron_area_m2"], rel=1e-12)
    # one amplifier of layer 1: output stage (0.8 - (-0.8)) V x 0.8 V / 30 kOhm = 42.667 uW, plus the 2 uW bias
    assert m["amplifier_power_w"] == pytest.approx(1.6 * 0.8 / 30e3 + 2e-6, rel=1e-12)
    # one neuron: 0.8^2 V^2 over R_P + R_AP = 4 R_P, R_P = 10 ohm um^2 / (pi / 4 x 0.05 um x 0.03 um) = 8,488.26 ohm,
    # plus its inverter's bias power (derived by default: test_arch_imac_peripherals.py)
    r_p = 10.0 / (math.pi / 4 * 0.05 * 0.03)
    assert m["neuron_power_w"] - m["neuron_bias_power_w"] == pytest.approx(0.64 / (4 * r_p), rel=1e-9)
    assert m["amplifier_energy_j"] == pytest.approx(1560 * m["amplifier_power_w"] * m["sampling_time_s"], rel=1e-12)
    # The defaults count every term (derived: test_arch_imac_peripherals.py); a term set to 0 is left out, said so,
    # and costs nothing.
    assert IMACConfig().uncounted_terms == ()
    off = IMACConfig(amplifier_bias_power_w=0, amplifier_area_m2=0, neuron_bias_power_w=0, neuron_area_m2=0)
    assert off.uncounted_terms == ("amplifier bias power", "amplifier area", "neuron inverter bias power",
                                   "neuron area")
    m0 = imac.simulate_layer(layer, off).metrics
    assert m0["amplifier_area_m2"] == 0.0 and m0["neuron_area_m2"] == 0.0
    assert m0["amplifier_power_w"] == pytest.approx(1.6 * 0.8 / 30e3, rel=1e-12)
    assert m0["neuron_power_w"] == pytest.approx(0.64 / (4 * r_p), rel=1e-9)
    # the inverter bias adds to the neuron's resistor-path power: 1 uW more per neuron
    given = imac.simulate_layer(layer, IMACConfig(neuron_bias_power_w=1e-6)).metrics
    assert given["neuron_power_w"] - m0["neuron_power_w"] == pytest.approx(1e-6, rel=1e-9)


def test_user_errors_are_one_line_config_errors():
    cfg = IMACConfig()
    with pytest.raises(ConfigError, match="conv1.*cannot be mapped"):
        imac.simulate_layer(Layer.conv2d("conv1", (8, 8), 1, 4, 3), cfg)
    with pytest.raises(WeightLevelError, match="weight value 0.5"):
        imac.device_energy_j(Layer.linear("fc", 2, 1), cfg, weights=np.array([[0.5, 1]]))
    with pytest.raises(WeightLevelError, match="weight value 0.0 is not a binary level"):
        imac.device_energy_j(Layer.linear("fc", 2, 1), cfg, weights=np.array([[0, 1]]))
    with pytest.raises(ConfigError, match=r"shape \(2, 2\), expected \(1, 2\)"):
        imac.device_energy_j(Layer.linear("fc", 2, 1), cfg, weights=np.ones((2, 2)))
    with pytest.raises(ConfigError, match="rows = 1"):
        parse_config(IMACConfig, {"rows": 1}, source="imac.yaml")


def test_per_layer_sampling_times():
    cfg = IMACConfig(layer_sampling_times_s=(2e-9, 0.5e-9), peak_power_w=None)
    cost = imac.simulate_network(_mlp(), cfg)
    assert [c.metrics["sampling_time_s"] for c in cost.layers] == [2e-9, 0.5e-9, 1e-9]
    assert cost.latency_s == pytest.approx(cfg.dac.conversion_time_s + 3.5e-9 + cfg.adc.conversion_time_s)
    # device energy scales with the window
    one = imac.simulate_network(_mlp(), IMACConfig(peak_power_w=None))
    assert cost.layers[0].metrics["device_energy_j"] == pytest.approx(2 * one.layers[0].metrics["device_energy_j"])
    with pytest.raises(ConfigError, match="layer_sampling_times_s"):
        parse_config(IMACConfig, {"layer_sampling_times_s": [1e-9, 0]}, source="imac.yaml")


@settings(max_examples=15, deadline=None)
@given(n_in=st.integers(1, 70), n_out=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_wired_energy_tiles_the_layer_and_never_exceeds_the_ideal_figure(n_in, n_out, seed):
    from imcsim.config.wires import WireConfig

    rng = np.random.default_rng(seed)
    cfg = IMACConfig(weight_precision="ternary")
    layer = Layer.linear("fc", n_in, n_out)
    w = rng.integers(-1, 2, size=(n_out, n_in))
    b = rng.integers(-1, 2, size=n_out)
    v = rng.uniform(0, 0.8, size=(2, n_in))
    ideal = imac.device_energy_j(layer, cfg, w, b, v)
    wired = imac.device_energy_wired_j(layer, cfg, w, b, v)
    assert 0 < wired <= ideal * (1 + 1e-12)
    # with near-zero wire resistance (about 1e-5 ohm per segment) the tiled solve gives back the V^2 G sum
    no_wires = cfg.replace(wires=WireConfig(rho_bulk_ohm_m=1e-14))
    assert imac.device_energy_wired_j(layer, no_wires, w, b, v) == pytest.approx(ideal, rel=1e-6)


def test_wired_energy_of_a_single_tile_is_the_crossbar_power():
    cfg = IMACConfig()
    rng = np.random.default_rng(1)
    layer = Layer.linear("fc", 31, 32)                                    # 31 inputs + bias row = one 32 x 32 tile
    w = rng.choice((-1, 1), size=(32, 31))
    b = rng.choice((-1, 1), size=32)
    v = rng.uniform(0, 0.8, size=(4, 31))
    gp, gm = weights_to_conductances(np.vstack([w.T, b[None, :]]), cfg.device)
    ref = Crossbar(gp, gm, cfg.wires.r_in_ohm, cfg.wires.r_out_ohm).power(np.hstack([v, np.full((4, 1), 0.8)]))
    assert imac.device_energy_wired_j(layer, cfg, w, b, v) == pytest.approx(1e-9 * ref.mean(), rel=1e-12)
    with pytest.raises(ConfigError, match="needs the bias levels"):
        imac.device_energy_wired_j(layer, cfg, w)


def test_wired_device_energy_of_a_programmed_chip_is_the_circuit_networks_power():
    """arch/ costs the chip circuit/ programs: chip 4 (variation 0.2, 5% stuck-on) of a 2-layer network; the wired
    energy of layer 2 (IMAC layer index 1) is the sampling time times the crossbar power IMACNetwork computes for
    that layer's tiles with the same chip, and differs from the nominal devices' energy."""
    import numpy as np

    from imcsim.arch.imac import device_energy_wired_j
    from imcsim.circuit.network import IMACNetwork
    from imcsim.config.device import DeviceConfig
    from imcsim.config.imac import IMACConfig

    rng = np.random.default_rng(2)
    w1, b1 = rng.choice([-1.0, 1.0], (6, 9)), rng.choice([-1.0, 1.0], 6)
    w2, b2 = rng.choice([-1.0, 1.0], (5, 6)), rng.choice([-1.0, 1.0], 5)
    cfg = IMACConfig(rows=4, cols=3, device=DeviceConfig(variation=0.2, stuck_low_rate=0.05))
    net = IMACNetwork.from_config([(w1, b1), (w2, b2)], cfg, seed=4)
    x = rng.uniform(-0.8, 0.8, (7, 6))  # inputs of layer 2
    layer = Layer.linear("fc2", 6, 5)
    e = device_energy_wired_j(layer, cfg, w2, b2, inputs_v=x, seed=4, imac_index=1)
    assert e == pytest.approx(cfg.sampling_time_s * net.layers[1].power(x).mean(), rel=1e-10)
    assert abs(e - device_energy_wired_j(layer, cfg, w2, b2, inputs_v=x)) > 1e-3 * e
