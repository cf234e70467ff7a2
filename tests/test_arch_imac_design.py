"""IMAC costs that respond to the design: the ADC figure read off ISAAC's table, supply-derived ranges, the crossbar
settling window from its RC (checked against an ngspice transient), the analog power budget and converter sharing,
each against figures worked out by hand in the comments."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from imcsim.arch import imac
from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit import settling
from imcsim.config.adc import ADCConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.imc import IMCConfig
from imcsim.config.presets import load_preset
from imcsim.config.wires import WireConfig
from imcsim.workload.layer import Layer
from imcsim.workload.network import Network

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


# ----- the ADC ------------------------------------------------------------------------------------------------------
def test_adc_default_is_one_isaac_adc_and_shared_with_the_imc_cores():
    # ISAAC (Shafiee et al., ISCA 2016) Table 6, per in-situ multiply-accumulate unit: ADC, 8-bit, 1.28 GS/s,
    # number 8, power 16 mW, area 0.0096 mm^2. One ADC: 16 / 8 = 2 mW and 0.0096 / 8 = 0.0012 mm^2 = 1.2e-9 m^2;
    # a conversion at full rate: 2e-3 W / 1.28e9 /s = 1.5625e-12 J (not 16 mW / 1.28 GS/s = 12.5 pJ).
    adc = ADCConfig()
    assert adc.energy_per_conversion_j == pytest.approx(1.5625e-12, rel=1e-12)
    assert adc.area_m2 == pytest.approx(1.2e-9, rel=1e-12)
    assert adc.conversion_time_s == pytest.approx(1 / 1.28e9, rel=1e-12)
    # PUMA's split of the same ADC: 1.8 mW dynamic + 0.2 mW leakage
    assert adc.static_power_w == pytest.approx(0.2e-3, rel=1e-12)
    # one model for both analog units: the IMAC default and the ISAAC core read the same figure
    assert IMACConfig().adc.energy_per_conversion_j == IMCConfig().adc_energy_j == load_preset("isaac").adc_energy_j
    # Walden scaling 2^(bits - 8) with the 4-bit floor: 6 bits = 1.5625 / 4 pJ; 2 bits = the 4-bit 1.5625 / 16 pJ
    assert ADCConfig(bits=6).energy_per_conversion_j == pytest.approx(1.5625e-12 / 4, rel=1e-12)
    assert ADCConfig(bits=2).energy_per_conversion_j == pytest.approx(1.5625e-12 / 16, rel=1e-12)
    # a SAR converter takes bits + 2 clock cycles (MNSIM 2.0): 10 cycles in 0.78125 ns at 8 bits, 6 at 4 bits
    assert ADCConfig(bits=4).time_per_conversion_s == pytest.approx(0.78125e-9 * 6 / 10, rel=1e-12)
    # the earlier IMCConfig key still loads, into the shared model
    assert IMCConfig(adc_floor_bits=6, adc={"bits": 2}).adc_energy_j == pytest.approx(1.5625e-12 / 4, rel=1e-12)


def test_adc_energy_counts_idle_static_power():
    adc = ADCConfig()
    # 3 ADCs powered 10 ns each, 5 conversions of 0.78125 ns: 5 x 1.5625 pJ + 0.2 mW x (30 - 3.90625) ns
    assert adc.energy_j(3, 5, 10e-9) == pytest.approx(5 * 1.5625e-12 + 0.2e-3 * (30e-9 - 5 / 1.28e9), rel=1e-12)
    # converting back to back: exactly the full-rate energy, 2 mW x busy time
    assert adc.energy_j(1, 4, 4 / 1.28e9) == pytest.approx(2e-3 * 4 / 1.28e9, rel=1e-12)


# ----- supply-derived ranges ----------------------------------------------------------------------------------------
def test_neuron_and_adc_ranges_follow_the_supply_unless_set():
    cfg = IMACConfig(vdd_v=1.0)
    assert (cfg.vss_v, cfg.neuron.v_high, cfg.adc.full_scale_v) == (-1.0, 1.0, 1.0)
    assert cfg.adc.lsb_v == pytest.approx(1.0 / 256)
    # the amplifier's output-stage power follows: (Vdd - Vss) Vdd / 30 kOhm = 2 x 1 / 30e3
    assert cfg.amplifier_load_power_w(0) == pytest.approx(2.0 / 30e3)
    # a change of supply moves them again, also on a config that was built first
    moved = IMACConfig().replace(vdd_v=0.6)
    assert (moved.vss_v, moved.neuron.v_high, moved.adc.full_scale_v) == (-0.6, 0.6, 0.6)
    # explicit values stay put, and the ADC follows an explicit neuron rail
    pinned = IMACConfig(vdd_v=1.0, vss_v=-0.5, neuron={"v_high": 0.7})
    assert (pinned.vss_v, pinned.neuron.v_high, pinned.adc.full_scale_v) == (-0.5, 0.7, 0.7)
    assert IMACConfig(vdd_v=1.0, adc={"full_scale_v": 0.5}).adc.full_scale_v == 0.5
    assert pinned.replace(vdd_v=2.0).neuron.v_high == 0.7
    # through a dotted path (sweeps, CLI overrides), from the preset: the ranges follow as well
    swept = load_preset("tpu-imac").replace_path("imac.vdd_v", 1.2).imac
    assert (swept.vss_v, swept.neuron.v_high, swept.adc.full_scale_v) == (-1.2, 1.2, 1.2)
    # the defaults are IMAC-Sim's +-0.8 V
    d = IMACConfig()
    assert (d.vss_v, d.neuron.v_high, d.adc.full_scale_v) == (-0.8, 0.8, 0.8)


# ----- settling time from the crossbar's RC -------------------------------------------------------------------------
def test_settling_window_grows_with_crossbar_size():
    taus = [imac.elmore_tau_s(IMACConfig(rows=n, cols=n)) for n in (16, 32, 64)]
    # a distributed RC line's delay grows with the square of its length: about 4x per doubling of the array
    assert 3.0 < taus[1] / taus[0] < 4.5 and 3.0 < taus[2] / taus[1] < 4.5
    # an upper bound by hand for 32 x 32: the whole input line's R times the whole C of one input line and one
    # column line pair, 32 x 9.24 ohm x 3 x 32 x 0.048 fF = 1.4 ps; the Elmore delay is below it
    w = WireConfig()
    assert 0 < taus[1] < 32 * w.r_in_ohm * 3 * 32 * w.c_segment_f
    # the window is max(configured, k tau) with k = (8 + 1) ln 2 for the 8-bit ADC
    fast = IMACConfig(sampling_time_s=1e-15)
    assert imac.settling_time_s(fast) == pytest.approx(9 * math.log(2) * taus[1], rel=1e-12)
    cost = imac.simulate_layer(Layer.linear("fc", 31, 32), fast)
    assert cost.metrics["sampling_time_s"] == pytest.approx(9 * math.log(2) * taus[1], rel=1e-12)
    # at the 1 ns default the 32 x 32 array settles well inside the window
    assert imac.simulate_layer(Layer.linear("fc", 31, 32), IMACConfig()).metrics["sampling_time_s"] == 1e-9


def test_elmore_delay_of_an_rc_ladder_by_hand():
    # One input line of 4 cells, segments r = 10 ohm and c = 1 fF at each line node, no column-line capacitance and
    # devices of 1 Tohm (they draw the output current but do not load the line). An RC tree's Elmore delay at node k
    # is the sum over nodes m of the resistance shared by the paths to k and m times C_m: r c sum_m min(k+1, m+1), so
    # 4 rc at the first cell, (1 + 2 + 2 + 2) rc = 7 rc at the second, 9 rc, and (1 + 2 + 3 + 4) rc = 10 rc at the
    # last. A terminal current g v_node follows its node.
    r, c = 10.0, 1e-15
    xb = Crossbar(np.full((1, 4), 1e-12), np.full((1, 4), 1e-12), r, 1e-3)
    tau = settling.elmore_delays_s(xb, c, 0.0)
    assert tau[:4] == pytest.approx(np.array([4, 7, 9, 10]) * r * c, rel=1e-6)
    assert tau[4:] == pytest.approx(np.array([4, 7, 9, 10]) * r * c, rel=1e-6)


@needs_ngspice
@pytest.mark.ngspice
def test_elmore_delay_matches_an_ngspice_transient(tmp_path):
    # 8 x 8 crossbar, 9 nm wires (9.24 / 11.55 ohm, 0.048 fF per segment), 5 / 15 kOhm devices, random binary
    # weights and inputs: the first moment of each terminal current's step response, integrated from ngspice's
    # transient, equals the Elmore delay within 1%.
    rng = np.random.default_rng(3)
    w = WireConfig()
    xb = Crossbar.from_weights(rng.choice((-1, 1), size=(8, 8)), None, w.r_in_ohm, w.r_out_ohm)
    v = rng.uniform(0.2, 0.8, size=8)
    tau = settling.elmore_delays_s(xb, w.c_segment_f, w.c_segment_f, v)
    t_rise = 1e-17
    net = settling.transient_netlist(xb, v, w.c_segment_f, w.c_segment_f, t_stop_s=40 * tau.max(),
                                     t_step_s=tau.max() / 40, t_rise_s=t_rise)
    (tmp_path / "step.cir").write_text(net)
    subprocess.run([shutil.which("ngspice"), "-b", "step.cir"], cwd=tmp_path, capture_output=True, timeout=300)
    vec = settling.read_transient_raw((tmp_path / "tran.raw").read_text())
    for j in range(8):
        for line, k in (("p", j), ("m", 8 + j)):
            measured = settling.step_response_delay_s(vec["time"], vec[f"i(vt{line}{j})"], t_rise)
            assert measured == pytest.approx(tau[k], rel=0.01)


# ----- the analog budget --------------------------------------------------------------------------------------------
def _mlp() -> Network:
    return Network("mlp", (Layer.linear("fc1", 400, 120), Layer.linear("fc2", 120, 84), Layer.linear("fc3", 84, 10)))


def test_power_budget_time_multiplexes_crossbars_by_hand():
    # Default IMAC (5 / 15 kOhm, inputs at full swing 0.8 V), 32 x 32 arrays, 2 W budget.
    # fc1: 13 x 4 = 52 crossbars. Devices 401 rows x 120 columns x (1/5k + 1/15k) S x 0.64 V^2 = 8.2125 W;
    # amplifiers 13 x 120 x (1.6 x 0.8 / 30k) = 0.0666 W; neurons 120 x 0.64 / (4 x 8,488.26) = 0.0023 W: 8.2813 W.
    # floor(2 x 52 / 8.2813) = 12 crossbars per window < 13 per column group: 4 groups x ceil(13 / 12) = 8 windows.
    # fc2 (121 x 84 x 2.667e-4 x 0.64 = 1.73 W + 0.016 W) and fc3 (0.15 W) fit in one.
    # (The derived op-amp and inverter bias powers, tested in test_arch_imac_peripherals.py, are set to 0 here to
    # keep the budget arithmetic to the circuit's load powers.)
    cfg = IMACConfig(amplifier_bias_power_w=0, neuron_bias_power_w=0)
    cost = imac.simulate_network(_mlp(), cfg)
    p_fc1 = 401 * 120 * (1 / 5e3 + 1 / 15e3) * 0.64 + 13 * 120 * 1.6 * 0.8 / 30e3 + 120 * 0.64 / (4 * 8488.263)
    assert cost.layers[0].metrics["analog_power_w"] == pytest.approx(p_fc1, rel=1e-6)
    assert [c.metrics["crossbars_per_wave"] for c in cost.layers] == [12, 12, 3]
    assert [c.metrics["waves"] for c in cost.layers] == [8, 1, 1]
    assert cost.latency_s == pytest.approx(1e-9 + 10 * 1e-9 + 1 / 1.28e9, rel=1e-12)
    assert cost.layers[0].metrics["peak_power_w"] <= 2.0
    # the energy does not depend on the budget: every crossbar fires once
    free = imac.simulate_network(_mlp(), cfg.replace(peak_power_w=None))
    assert free.latency_s == pytest.approx(1e-9 + 3e-9 + 1 / 1.28e9, rel=1e-12)
    assert cost.energy_j == pytest.approx(free.energy_j, rel=1e-12)
    # a crossbar limit: 5 at once. fc1 13 per group > 5: 4 x ceil(13 / 5) = 12; fc2 4 per group: one group per
    # window, 3 windows; fc3 3 crossbars: 1.
    five = imac.simulate_network(_mlp(), cfg.replace(peak_power_w=None, active_crossbars=5))
    assert [c.metrics["waves"] for c in five.layers] == [12, 3, 1]
    assert [c.metrics["crossbars_per_wave"] for c in five.layers] == [5, 4, 3]
    # 30 at once: fc1 fits two 13-crossbar groups per window (26), ceil(4 / 2) = 2 windows
    thirty = imac.simulate_network(_mlp(), cfg.replace(peak_power_w=None, active_crossbars=30))
    assert thirty.layers[0].metrics["waves"] == 2 and thirty.layers[0].metrics["crossbars_per_wave"] == 26


def test_token_rows_repeat_the_windows_and_the_energy():
    # fc1 of the MLP on 3 token rows: three products back to back, each in 8 windows under the 2 W budget (as above)
    one = imac.simulate_layer(Layer.linear("fc1", 400, 120), IMACConfig())
    three = imac.simulate_layer(Layer.linear("fc1", 400, 120, tokens=3), IMACConfig())
    assert three.metrics["waves"] == 8 and three.metrics["mvms"] == 3
    assert three.latency_s == pytest.approx(3 * (1e-9 + 8e-9 + 1 / 1.28e9), rel=1e-12)
    assert three.energy_j == pytest.approx(3 * one.energy_j, rel=1e-12)
    assert three.metrics["area_m2"] == one.metrics["area_m2"]


def test_vgg16_first_dense_layer_under_the_budget():
    # VGG-16's 25088 x 4096 layer on sot-mram-imac (MTJ 50 x 30 nm ellipse, RA 10 ohm um^2: G_P = area / RA =
    # (pi / 4 x 0.0015 um^2) / 10 = 1.1781e-4 S, G_AP = G_P / 3, pair G_P + G_AP = pi / 2e4 S), 32 x 32 arrays:
    # h = ceil(25089 / 32) = 785, v = 128, 100,480 crossbars. Power with every input at 0.8 V:
    # devices 25089 x 4096 x pi / 2e4 x 0.64 = 10,331 W; amplifiers 785 x 4096 x 1.28 / 30e3 = 137.2 W;
    # neurons 4096 x 0.64 / 33,953 ohm = 0.08 W: 10,468 W, about 10 kW in one window without a budget.
    # 2 W budget: floor(2 x 100,480 / 10,468) = 19 crossbars per window; 785 > 19, so every column group takes
    # ceil(785 / 19) = 42 windows: 128 x 42 = 5,376 windows of 1 ns. (Bias powers set to 0, as above.)
    cfg = load_preset("sot-mram-imac").replace(amplifier_bias_power_w=0, neuron_bias_power_w=0)
    layer = Layer.linear("fc6", 25088, 4096)
    p = 25089 * 4096 * math.pi / 2e4 * 0.64 + 785 * 4096 * 1.28 / 30e3 + 4096 * 0.64 / (4 * 8488.263)
    c = imac.simulate_layer(layer, cfg, dac_in=False, adc_out=False)
    assert c.metrics["crossbars"] == 100_480
    assert c.metrics["analog_power_w"] == pytest.approx(p, rel=1e-5)
    assert c.metrics["crossbars_per_wave"] == 19 and c.metrics["waves"] == 5376
    assert c.latency_s == pytest.approx(5376e-9, rel=1e-12)
    unbounded = imac.simulate_layer(layer, cfg.replace(peak_power_w=None), dac_in=False, adc_out=False)
    assert unbounded.latency_s == pytest.approx(1e-9) and unbounded.metrics["peak_power_w"] > 1e4


# ----- converters ---------------------------------------------------------------------------------------------------
def test_converter_sharing_drives_latency_energy_and_area_by_hand():
    layer = Layer.linear("fc", 20, 10)   # one crossbar column group: h = 1, v = 1 on 32 x 32
    alone = imac.simulate_layer(layer, IMACConfig())
    shared = imac.simulate_layer(layer, IMACConfig(outputs_per_adc=4, inputs_per_dac=8))
    # counts: ceil(20 / 8) = 3 DACs, ceil(10 / 4) = 3 ADCs (10 and 20 unshared)
    assert (shared.metrics["dacs"], shared.metrics["adcs"]) == (3, 3)
    # latency: 8 DAC conversions of 1 ns, the 1 ns window, 4 ADC conversions of 0.78125 ns (unshared: 1 + 1 + 0.78)
    assert shared.latency_s == pytest.approx(8e-9 + 1e-9 + 4 / 1.28e9, rel=1e-12)
    assert alone.latency_s == pytest.approx(1e-9 + 1e-9 + 1 / 1.28e9, rel=1e-12)
    # area: 17 fewer DACs of 8 x 1.66e-13 m^2 and 7 fewer ADCs of 1.2e-9 m^2, but a sample-and-hold on each of the
    # 20 inputs and 10 outputs (ISAAC Table 6: 1,024 S+H in 0.00004 mm^2, 3.9e-14 m^2 each)
    dac_area, adc_area, sh_area = 8 * 0.00017e-6 / 1024, 0.0096e-6 / 8, 0.00004e-6 / 1024
    assert alone.metrics["area_m2"] - shared.metrics["area_m2"] == pytest.approx(
        17 * dac_area + 7 * adc_area - 30 * sh_area, rel=1e-9)
    # ADC energy: 10 conversions x 1.5625 pJ either way, plus 0.2 mW static while powered and idle. Unshared: 10
    # ADCs each powered 1 ns + 0.78125 ns, converting 0.78125 ns: 10 x 1 ns idle = 2 pJ. Shared: 3 ADCs powered
    # 1 ns + 4 x 0.78125 ns = 4.125 ns, 12.375 ns in all, less 10 x 0.78125 ns converting: 4.5625 ns idle = 0.9125 pJ.
    assert alone.metrics["adc_energy_j"] == pytest.approx(10 * 1.5625e-12 + 0.2e-3 * 10e-9, rel=1e-12)
    assert shared.metrics["adc_energy_j"] == pytest.approx(10 * 1.5625e-12 + 0.2e-3 * 4.5625e-9, rel=1e-12)
    # and 30 holds of ISAAC's S+H (10 uW for 1,024 of them at a 100 ns cycle: 0.98 fJ each)
    assert shared.metrics["sample_holds"] == 30 and alone.metrics["sample_holds"] == 0
    e_sh = 10e-6 * 100e-9 / 1024
    assert alone.energy_j - shared.energy_j == pytest.approx(0.2e-3 * (10e-9 - 4.5625e-9) - 30 * e_sh, rel=1e-9)
