"""ADC accuracy model: ideal rounding by hand, and each static non-ideality's defining property."""

import numpy as np
import torch

from imcsim.config.adc import ADCConfig
from imcsim.nn.adc import adc_read, ideal_adc, sample_adc


def test_ideal_adc_rounds_to_the_lsb_grid():
    cfg = ADCConfig(bits=3, full_scale_v=0.8)  # LSB 0.1 V, codes 0..7
    adc = ideal_adc(cfg, 2)
    v = torch.tensor([[0.0, 0.149], [0.151, 0.74], [0.76, 5.0], [-1.0, 0.349]])
    out = adc_read(v, adc)
    assert torch.allclose(out, torch.tensor([[0.0, 0.1], [0.2, 0.7], [0.7, 0.7], [0.0, 0.3]]))


def test_adc_gradient_is_straight_through():
    v = torch.tensor([[0.33, 0.5]], requires_grad=True)
    adc_read(v, ideal_adc(ADCConfig(bits=4), 2)).sum().backward()
    assert v.grad.tolist() == [[1.0, 1.0]]


def test_inl_bow_peak_equals_the_configured_lsb_and_dnl_pins_end_points():
    cfg = ADCConfig(bits=6, inl_lsb=0.5)
    rng = np.random.default_rng(0)
    adc = sample_adc(cfg, 50, rng)
    ideal = ideal_adc(cfg, 50).thresholds_v
    dev = (adc.thresholds_v - ideal) / cfg.lsb_v
    # non-decreasing thresholds may clip a little below the bow, never above its peak
    assert np.all(np.abs(dev).max(axis=1) <= 0.5 + 1e-9)
    assert np.all(np.abs(dev).max(axis=1) >= 0.45)
    dnl = sample_adc(ADCConfig(bits=6, dnl_lsb=0.3), 20, np.random.default_rng(1))
    d = (dnl.thresholds_v - ideal[:20]) / cfg.lsb_v
    assert np.allclose(d[:, 0], 0) and np.allclose(d[:, -1], 0) and np.abs(d).max() > 0.3
    assert np.all(np.diff(dnl.thresholds_v, axis=1) >= 0)


def test_offset_and_gain_errors_statistics():
    cfg = ADCConfig(bits=8, offset_sigma_lsb=2.0, gain_sigma=0.05)
    adc = sample_adc(cfg, 4000, np.random.default_rng(2))
    assert abs(adc.offset_v.std() / cfg.lsb_v - 2.0) < 0.1
    assert abs(adc.gain.std() - 0.05) < 0.003
    # an instance with a known offset reads a mid-range input shifted by that many LSB (up to rounding)
    one = sample_adc(ADCConfig(bits=8, offset_sigma_lsb=3.0), 1, np.random.default_rng(3))
    v = torch.tensor([[0.4]], dtype=torch.float64)
    shift = (float(adc_read(v, one)) - float(adc_read(v, ideal_adc(ADCConfig(bits=8), 1)))) / cfg.lsb_v
    assert abs(shift - one.offset_v[0] / cfg.lsb_v) <= 1.0


def test_same_seed_same_converter():
    cfg = ADCConfig(bits=5, inl_lsb=1.0, dnl_lsb=0.2, offset_sigma_lsb=1.0, gain_sigma=0.01)
    a = sample_adc(cfg, 3, np.random.default_rng(9))
    b = sample_adc(cfg, 3, np.random.default_rng(9))
    assert np.array_equal(a.thresholds_v, b.thresholds_v) and np.array_equal(a.offset_v, b.offset_v)
