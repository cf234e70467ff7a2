"""Mobile CPU model: a CPU-only LeNet-5 checked layer by layer against a hand calculation."""

from __future__ import annotations

import pytest

from imcsim.arch import cpu
from imcsim.config.base import parse_config
from imcsim.config.cpu import CPUConfig
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

# Round numbers so that the hand calculation is easy to follow: 1 GHz x 1 core x 4 lanes x 1 issue = 4e9 MAC/s;
# 8 pJ per instruction / 4 lanes + 1 pJ = 3 pJ per MAC; 1 pJ per cache byte, 10 pJ per DRAM byte, 1 GB/s DRAM;
# a 4 KiB cache (activations of more than 4096 bytes spill to DRAM) moving 8 bytes/cycle (8 GB/s): no LeNet layer is
# cache-bound (pool2 moves 2,000 B in 0.25 us < 0.4 us of compute; fc1 48,640 B in 6.08 us < 48.12 us of DRAM).
CFG = CPUConfig(clock_hz=1e9, cores=1, simd_lanes=4, simd_issue_per_cycle=1.0, energy_per_instruction_j=8e-12,
                energy_per_mac_op_j=1e-12, cache_bytes=4096, cache_bandwidth_bytes_per_cycle=8.0,
                cache_energy_per_byte_j=1e-12,
                dram_energy_per_byte_j=10e-12, dram_bandwidth_bytes_per_s=1e9)


def _lenet5() -> Network:
    pool = LayerKind.POOL
    return Network("lenet5", (
        Layer.conv2d("conv1", (28, 28), 1, 6, 5, padding=2, bias=True),
        Layer("pool1", pool, 28, 28, 6, 14, 14, 6, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2),
        Layer.conv2d("conv2", (14, 14), 6, 16, 5, bias=True),
        Layer("pool2", pool, 10, 10, 16, 5, 5, 16, kernel_h=2, kernel_w=2, stride_h=2, stride_w=2),
        Layer("flatten", LayerKind.RESHAPE, 5, 5, 16, 1, 1, 400),
        Layer.linear("fc1", 400, 120), Layer.linear("fc2", 120, 84), Layer.linear("fc3", 84, 10)))


# Per layer by hand: (ops, latency s, energy J).
#  conv1: 28*28*6*25 = 117,600 MACs -> 29.4 us; weights 156 B + activations 784 + 4,704 = 5,488 B (> 4 KiB: spill),
#         DRAM 5,644 B -> 5.644 us; energy 117,600*3 pJ + 5,644*1 pJ + 5,644*10 pJ = 414.884 nJ
#  pool1: 1,176 outputs * 4 = 4,704 ops -> 1.176 us; activations 5,880 B spill -> 5.88 us (memory bound);
#         energy 14.112 + 5.88 + 58.8 = 78.792 nJ
#  conv2: 10*10*16*150 = 240,000 MACs -> 60 us; weights 2,416 B from DRAM (2.416 us); activations 2,776 B stay;
#         energy 720 + 5.192 + 24.16 = 749.352 nJ
#  pool2: 400 * 4 = 1,600 ops -> 0.4 us; 2,000 B stay; energy 4.8 + 2.0 = 6.8 nJ
#  flatten: a view, free
#  fc1: 48,000 MACs -> 12 us; 48,120 B of weights from DRAM -> 48.12 us; energy 144 + 48.64 + 481.2 = 673.84 nJ
#  fc2: 10,080 MACs -> 2.52 us; 10,164 B -> 10.164 us; energy 30.24 + 10.368 + 101.64 = 142.248 nJ
#  fc3: 840 MACs -> 0.21 us; 850 B -> 0.85 us; energy 2.52 + 0.944 + 8.5 = 11.964 nJ
HAND = {
    "conv1": (117_600, 29.4e-6, 414.884e-9),
    "pool1": (4_704, 5.88e-6, 78.792e-9),
    "conv2": (240_000, 60e-6, 749.352e-9),
    "pool2": (1_600, 0.4e-6, 6.8e-9),
    "flatten": (0, 0.0, 0.0),
    "fc1": (48_000, 48.12e-6, 673.84e-9),
    "fc2": (10_080, 10.164e-6, 142.248e-9),
    "fc3": (840, 0.85e-6, 11.964e-9),
}


def test_cpu_only_lenet5_by_hand():
    cost = cpu.simulate_network(_lenet5(), CFG)
    for c in cost.layers:
        ops, lat, energy = HAND[c.name]
        assert c.unit == "cpu"
        assert c.metrics["ops"] == ops, c.name
        assert c.latency_s == pytest.approx(lat, rel=1e-12, abs=1e-18), c.name
        assert c.energy_j == pytest.approx(energy, rel=1e-12, abs=1e-21), c.name
    assert cost.latency_s == pytest.approx(154.814e-6, rel=1e-12)
    assert cost.energy_j == pytest.approx(2077.88e-9, rel=1e-12)
    assert cost.weight_bits == 8 * 61_706                        # int8, published LeNet-5 parameter count


def test_weights_resident_in_cache_skip_dram():
    c = cpu.simulate_layer(Layer.linear("fc1", 400, 120), CFG.replace(weight_source="cache"))
    assert c.metrics["dram_bytes"] == 0
    assert c.latency_s == pytest.approx(12e-6)                   # compute bound now
    assert c.energy_j == pytest.approx(144e-9 + 48.64e-9)


def test_preset_derived_figures():
    cfg = CPUConfig()                                            # Snapdragon 855 performance cluster, Horowitz energies
    assert cfg.macs_per_second == pytest.approx(2.42e9 * 4 * 16 * 2)
    assert cfg.energy_per_mac_j == pytest.approx(70e-12 / 16 + 0.23e-12)


def test_bad_field_is_a_one_line_config_error():
    from imcsim.errors import ConfigError

    with pytest.raises(ConfigError, match="cpu.yaml: field 'cores' = 0"):
        parse_config(CPUConfig, {"cores": 0}, source="cpu.yaml")


def test_cache_bandwidth_bounds_a_layer_when_it_is_the_slowest():
    # 1,000 x 1,000 dense layer with its weights cached: 1,001,000 B of weights + 2,000 B of activations through a
    # 1 byte/cycle cache at 1 GHz = 1.003 ms, slower than 1e6 MACs / 4e9 MAC/s = 0.25 ms (no DRAM traffic)
    cfg = CFG.replace(weight_source="cache", cache_bandwidth_bytes_per_cycle=1.0, cache_bytes=10**7)
    c = cpu.simulate_layer(Layer.linear("fc", 1000, 1000), cfg)
    assert c.latency_s == pytest.approx(1.003e-3, rel=1e-12)
    assert c.metrics["compute_time_s"] == pytest.approx(0.25e-3)


def test_zoo_lenet5_layers_cost_what_the_hand_calculation_says():
    from imcsim.workload.zoo import load_network

    net = load_network("lenet5")
    for c in cpu.simulate_network(net, CFG).layers:
        if c.name in HAND and c.name != "flatten":
            ops, lat, energy = HAND[c.name]
            assert (c.metrics["ops"], c.latency_s, c.energy_j) == pytest.approx((ops, lat, energy), rel=1e-12), c.name
