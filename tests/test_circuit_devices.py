"""Weights to conductance pairs and the device non-idealities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.circuit.devices import read_noise, sample_conductances, weights_to_conductances
from imcsim.config.device import DeviceConfig
from imcsim.errors import DataError


def test_mapping_of_ternary_weights():
    gp, gm = weights_to_conductances(np.array([[1, -1, 0]]), DeviceConfig(r_low_ohm=5e3, r_high_ohm=15e3))
    np.testing.assert_allclose(gp, [[1 / 5e3, 1 / 15e3, 1 / 5e3]])
    np.testing.assert_allclose(gm, [[1 / 15e3, 1 / 5e3, 1 / 5e3]])


def test_mtj_device():
    gp, gm = weights_to_conductances(np.array([1]), DeviceConfig(kind="mtj"))
    assert 1 / gp[0] == pytest.approx(8488.26, abs=0.01)
    assert 1 / gm[0] == pytest.approx(25464.79, abs=0.01)


def test_bad_weight_names_value():
    with pytest.raises(DataError, match=r"0\.5 at index \(1, 0\)"):
        weights_to_conductances(np.array([[1, 0], [0.5, 1]]))


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 0.5), st.integers(0, 2**31))
def test_uniform_variation_bounds(v, seed):
    dev = DeviceConfig(variation=v)
    g = np.full(2000, 1 / 5e3)
    r = 1 / sample_conductances(g, dev, np.random.default_rng(seed))
    assert np.all(r >= 5e3 * (1 - v) - 1e-9) and np.all(r <= 5e3 * (1 + v) + 1e-9)


@pytest.mark.parametrize("v, seed", [(0.01, 0), (0.1, 1), (0.5, 2)])
def test_uniform_variation_mean(v, seed):
    # A statistical check, on fixed seeds: under hypothesis (any seed) a 4-sigma bound fails by chance now and then.
    dev = DeviceConfig(variation=v)
    r = 1 / sample_conductances(np.full(2000, 1 / 5e3), dev, np.random.default_rng(seed))
    assert abs(r.mean() / 5e3 - 1) < 4 * v / np.sqrt(3 * 2000)  # mean of U(-v, v) is 0, sigma v / sqrt(3 n)


def test_variation_is_seeded():
    dev = DeviceConfig(variation=0.1, variation_kind="gaussian")
    g = np.full((4, 4), 1e-4)
    a = sample_conductances(g, dev, np.random.default_rng(3))
    b = sample_conductances(g, dev, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, g)


def test_stuck_at_rates():
    dev = DeviceConfig(stuck_low_rate=0.2, stuck_high_rate=0.3)
    g_on, g_off = dev.conductances
    g = np.full(100_000, 0.5 * (g_on + g_off))  # neither state, so every stuck device is visible
    out = sample_conductances(g, dev, np.random.default_rng(0))
    assert (out == g_on).mean() == pytest.approx(0.2, abs=0.005)
    assert (out == g_off).mean() == pytest.approx(0.3, abs=0.005)


def test_read_noise_per_vector():
    g = np.full((3, 2), 1e-4)
    assert np.array_equal(read_noise(g, DeviceConfig(), np.random.default_rng(0), 5), np.broadcast_to(g, (5, 3, 2)))
    r = read_noise(g, DeviceConfig(read_noise=0.05), np.random.default_rng(0), 4000)
    assert r.shape == (4000, 3, 2)
    assert np.std(r / g) == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize("v", [0.1, 0.5])
def test_gaussian_variation_is_truncated_at_three_sigma(v):
    dev = DeviceConfig(variation=v, variation_kind="gaussian")
    r = 1 / sample_conductances(np.full(200_000, 1 / 5e3), dev, np.random.default_rng(1))
    lo, hi = max(1 - 3 * v, 0.05), 1 + 3 * v
    assert r.min() >= 5e3 * lo - 1e-6 and r.max() <= 5e3 * hi + 1e-6
    # 0.27% of a normal lies beyond 3 sigma: the truncation moves the spread only slightly.
    if v == 0.1:
        assert np.std(r / 5e3) == pytest.approx(v, rel=0.02)
