"""The heterogeneous system: placement, boundaries, totals = parts + transfers, and the digital-only baseline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from imcsim.arch import cpu, imac, systolic
from imcsim.arch.system import System, weights_from_deployment
from imcsim.report.compare import comparison_dict
from imcsim.config.cpu import CPUConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.system import SystemConfig
from imcsim.config.systolic import SystolicConfig
from imcsim.errors import ConfigError
from imcsim.workload.network import Network

from hand_nets import TPU, ew, lenet5





def test_default_placement_conv_digital_dense_imac():
    units = System(SystemConfig(systolic=TPU)).place(lenet5())
    assert units == ["digital"] * 7 + ["imac"] * 5


def _hetero_by_hand(net: Network, cfg: SystemConfig) -> tuple[float, float]:
    """(latency s, energy J) of LeNet-5 on ``cfg`` composed by hand: the seven digital layers on the systolic array,
    the three dense layers as one analog segment (DACs before fc1, ADCs after fc3), and two transfers: 400 int8
    activations in and 10 ADC bytes out, over 8 GB/s at 2.5 pJ/byte."""
    parts = [systolic.simulate_layer(net[n], TPU) for n in ("conv1", "act1", "pool1", "conv2", "act2", "pool2",
                                                            "flatten")]
    parts += [imac.simulate_layer(net["fc1"], cfg.imac, imac_index=0, dac_in=True, adc_out=False),
              imac.simulate_layer(net["fc2"], cfg.imac, imac_index=1, dac_in=False, adc_out=False),
              imac.simulate_layer(net["fc3"], cfg.imac, imac_index=2, dac_in=False, adc_out=True)]
    t_lat = 400 / 8e9 + 10 / 8e9
    t_en = (400 + 10) * 2.5e-12
    return sum(p.latency_s for p in parts) + t_lat, sum(p.energy_j for p in parts) + t_en


def test_totals_are_the_parts_plus_transfers():
    net = lenet5()
    cfg = SystemConfig(systolic=TPU)
    het = System(cfg).run(net)
    latency, energy = _hetero_by_hand(net, cfg)
    assert het.latency_s == pytest.approx(latency, rel=1e-12)
    assert het.energy_j == pytest.approx(energy, rel=1e-12)
    transfers = [c for c in het.layers if c.unit == "transfer"]
    assert [(t.name, t.activation_bytes) for t in transfers] == [("flatten->fc1", 400), ("fc3->output", 10)]
    # analog interior: the activations between the dense layers are the neurons, free
    assert [c.energy_j for c in het.layers if c.name in ("act3", "act4")] == [0.0, 0.0]


def test_digital_baseline_equals_the_systolic_only_result():
    net = lenet5()
    cmp = System(SystemConfig(systolic=TPU)).compare(net)
    ref = systolic.simulate_network(net, TPU)
    assert cmp.baseline.latency_s == ref.latency_s and cmp.baseline.energy_j == ref.energy_j
    assert [c.to_dict() for c in cmp.baseline.layers] == [c.to_dict() for c in ref.layers]
    latency, energy = _hetero_by_hand(net, SystemConfig(systolic=TPU))  # not the system's own totals
    assert cmp.speedup == pytest.approx(ref.latency_s / latency, rel=1e-12)
    assert cmp.energy_saving == pytest.approx(1 - energy / ref.energy_j, rel=1e-12)


def test_cpu_baseline_equals_the_cpu_only_result():
    net = lenet5()
    cmp = System(SystemConfig(digital="cpu")).compare(net)
    ref = cpu.simulate_network(net, CPUConfig())
    assert cmp.baseline.latency_s == ref.latency_s and cmp.baseline.energy_j == ref.energy_j


def test_memory_reduction_by_hand():
    cmp = System(SystemConfig(systolic=TPU)).compare(lenet5())
    conv_w = 156 + 2_416
    dense_w = 48_120 + 10_164 + 850
    assert cmp.baseline.weight_bits == 8 * (conv_w + dense_w)
    assert cmp.hetero.weight_bits == 8 * conv_w + 1 * dense_w          # binary IMAC weights: one bit each
    # (8 x 2,572 + 59,134) / (8 x 61,706) = 79,710 / 493,648
    assert cmp.memory_reduction == pytest.approx(1 - 79_710 / 493_648, rel=1e-12)


def test_all_digital_policy_reproduces_the_baseline():
    net = lenet5()
    cmp = System(SystemConfig(systolic=TPU, dense_to_imac=False)).compare(net)
    assert cmp.hetero.latency_s == cmp.baseline.latency_s and cmp.hetero.energy_j == cmp.baseline.energy_j
    assert cmp.speedup == 1.0 and cmp.memory_reduction == 0.0


def test_override_splits_the_analog_segment():
    net = lenet5()
    sys_ = System(SystemConfig(systolic=TPU, overrides={"fc2": "digital"}))
    assert sys_.place(net)[7:] == ["imac", "imac", "digital", "digital", "imac"]
    het = sys_.run(net)
    by = {c.name: c for c in het.layers}
    assert by["fc1"].metrics["dac_conversions"] == 400 and by["fc1"].metrics["adc_conversions"] == 120
    assert by["fc2"].unit == "systolic"
    assert by["fc3"].metrics["dac_conversions"] == 84 and by["fc3"].metrics["adc_conversions"] == 10
    assert [c.name for c in het.layers if c.unit == "transfer"] == ["flatten->fc1", "fc1->act3", "act4->fc3",
                                                                    "fc3->output"]


def test_placement_errors_name_the_layer():
    net = lenet5()
    with pytest.raises(ConfigError, match="conv1.*cannot be mapped to the IMAC unit"):
        System(SystemConfig(systolic=TPU, overrides={"conv1": "imac"})).run(net)
    with pytest.raises(ConfigError, match="no layer named 'fc9'"):
        System(SystemConfig(overrides={"fc9": "imac"})).place(net)


def test_actual_weights_from_a_deployment_drive_the_device_energy():
    # ternary weights that are all zero: every pair is (G_on, G_on), more current than the expected mix
    net = lenet5()
    cfg = SystemConfig(systolic=TPU, imac=IMACConfig(weight_precision="ternary"))
    dep = SimpleNamespace(imac_layers=lambda: [
        SimpleNamespace(name="fc1", weight=np.zeros((120, 400)), bias=np.zeros(120)),
        SimpleNamespace(name="fc2", weight=np.zeros((84, 120)), bias=np.array([0.3] * 84))])  # real bias: ignored
    w = weights_from_deployment(dep)
    assert w["fc2"][1] is None
    het = System(cfg).run(net, weights=w)
    fc1 = {c.name: c for c in het.layers}["fc1"]
    expected = 1e-9 * (400 + 1) * 120 * 0.8**2 * 2 / 5e3                # all rows full swing, both devices G_on
    assert fc1.metrics["device_energy_j"] == pytest.approx(expected, rel=1e-12)


def test_a_deployments_placement_is_followed_unless_overridden():
    import dataclasses

    net = lenet5()
    layers = [dataclasses.replace(lay, extra={"unit": "digital"}) if lay.name == "fc3" else lay for lay in net]
    dep_net = Network(net.name, tuple(layers))
    assert System(SystemConfig(systolic=TPU)).place(dep_net)[-1] == "digital"
    assert System(SystemConfig(systolic=TPU, overrides={"fc3": "imac"})).place(dep_net)[-1] == "imac"


def test_sensitivity_rows_are_direct_runs_and_slower_sampling_never_helps():
    from imcsim.report.reproduce import sensitivity

    net = lenet5()
    cfg = SystemConfig(systolic=TPU)
    rows = sensitivity(cfg, net, array_sizes=(8, 32), sampling_times_s=(1e-9, 1e-6))
    for row, size in zip(rows, (8, 32)):
        sized = cfg.replace(systolic=TPU.replace(rows=size, cols=size))
        slow = sized.replace(imac=sized.imac.replace(sampling_time_s=1e-6))
        assert row["speedup@1e-09"] == pytest.approx(System(sized).compare(net).speedup, rel=1e-12)
        assert row["speedup@1e-06"] == pytest.approx(System(slow).compare(net).speedup, rel=1e-12)
        assert row["speedup@1e-06"] < row["speedup@1e-09"]
        # ten analog windows, 999 ns longer each. The default IMAC (5 / 15 kOhm, 0.8 V inputs at full swing) draws
        # at fc1 401 x 120 x (1/5k + 1/15k) x 0.64 = 8.21 W in its devices, + 13 x 120 amplifiers x 1.6 x 0.8 / 30k
        # = 0.067 W + 120 neurons x 0.64 / (4 x 8,488 ohm) = 0.002 W: 8.28 W over 52 crossbars, so the 2 W budget fires
        # floor(2 x 52 / 8.28) = 12 at once; a column group is 13 crossbars, so each of the 4 groups takes 2 windows:
        # 8. fc2 (1.75 W) and fc3 (0.15 W) fit in one window each.
        base = System(sized).baseline(net).latency_s
        assert base / row["speedup@1e-06"] - base / row["speedup@1e-09"] == pytest.approx(10 * 999e-9, rel=1e-9)


def test_energy_saving_is_undefined_without_a_digital_energy_model():
    # SystolicConfig's defaults carry no per-access energies: the saving is None (JSON null), not a made-up number
    cmp = System(SystemConfig()).compare(lenet5())
    assert cmp.baseline.energy_j == 0.0 and cmp.energy_saving is None
    assert comparison_dict(cmp, layers=False)["energy_saving"] is None


def test_a_mac_free_layer_on_imac_needs_an_imac_layer_before_it():
    with pytest.raises(ConfigError, match="'act2' .*no IMAC dense layer precedes it"):
        System(SystemConfig(systolic=TPU, overrides={"act2": "imac"})).run(lenet5())
