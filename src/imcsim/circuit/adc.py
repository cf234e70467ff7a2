"""ADC instances of a programmed chip: quantization plus the static non-idealities of each converter, as a random
transfer curve (numpy; :mod:`imcsim.nn.adc` reads them in torch with straight-through gradients).

An ADC reads a neuron output voltage in [0, full_scale_v] (:class:`imcsim.config.adc.ADCConfig`) and returns a code
k in [0, 2^bits - 1]; we hand back the voltage ``k * lsb`` the code stands for. The ideal converter rounds: its code
thresholds are t_k = (k - 1/2) LSB, k = 1 .. 2^bits - 1. Each instance (one per neuron output, IMACConfig's
``outputs_per_adc = 1``) gets its own static errors (Ghosh et al., arXiv 2408.06390, train with them in the loop):

* DNL: code widths of LSB (1 + dnl_lsb N(0, 1)); their running sum is pinned at both ends (an endpoint-fit INL, the
  usual datasheet convention), so DNL alone leaves the end points where they were;
* INL: a smooth bow added to the thresholds, a1 sin(pi u) + a2 sin(2 pi u) with u the position in the range and
  (a1, a2) gaussian, scaled so its peak is exactly ``inl_lsb`` LSB;
* offset: an input-referred shift of N(0, offset_sigma_lsb) LSB;
* gain error: the input is multiplied by 1 + N(0, gain_sigma).

Thresholds are made non-decreasing (a real converter has no negative code widths; a missing code is allowed).
The code of an input is the number of thresholds at or below ``gain * v + offset`` (:func:`adc_codes`), the one
read-out both circuit/ and nn/ use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcsim.config.adc import ADCConfig

__all__ = ["ADCInstances", "ideal_adc", "sample_adc", "adc_codes"]


@dataclass(frozen=True)
class ADCInstances:
    """Static transfer curves of ``n`` ADC instances.

    Attributes:
        thresholds_v: (n, 2^bits - 1) input voltages (V) at which the code steps up, non-decreasing per row.
        offset_v: (n,) input-referred offset (V).
        gain: (n,) gain factor (1 = ideal).
        lsb_v: one LSB (V).
    """

    thresholds_v: np.ndarray
    offset_v: np.ndarray
    gain: np.ndarray
    lsb_v: float

    @property
    def n(self) -> int:
        return int(self.thresholds_v.shape[0])


def ideal_adc(cfg: ADCConfig, n: int) -> ADCInstances:
    """``n`` ideal rounding converters of ``cfg.bits`` bits over [0, cfg.full_scale_v]."""
    lsb = cfg.lsb_v
    t = (np.arange(1, 2**cfg.bits) - 0.5) * lsb
    return ADCInstances(np.tile(t, (n, 1)), np.zeros(n), np.ones(n), lsb)


def sample_adc(cfg: ADCConfig, n: int, rng: np.random.Generator) -> ADCInstances:
    """``n`` ADC instances with DNL, INL, offset and gain errors drawn from ``rng`` (see the module docstring)."""
    base = ideal_adc(cfg, n)
    lsb = base.lsb_v
    t = base.thresholds_v.copy()
    m = t.shape[1]
    u = (np.arange(m) + 0.5) / m  # position of each threshold in the range, (0, 1)
    if cfg.dnl_lsb > 0 and m > 1:
        walk = np.cumsum(rng.normal(0.0, cfg.dnl_lsb, (n, m)), axis=1)
        walk -= walk[:, :1] + (walk[:, -1:] - walk[:, :1]) * (np.arange(m) / (m - 1))  # pin both end points
        t += walk * lsb
    if cfg.inl_lsb > 0:
        a = rng.normal(0.0, 1.0, (n, 2))
        bow = a[:, :1] * np.sin(np.pi * u) + a[:, 1:] * np.sin(2 * np.pi * u)
        peak = np.abs(bow).max(axis=1, keepdims=True)
        t += np.where(peak > 0, bow / np.where(peak > 0, peak, 1.0), 0.0) * cfg.inl_lsb * lsb
    t = np.maximum.accumulate(t, axis=1)
    offset = rng.normal(0.0, cfg.offset_sigma_lsb, n) * lsb if cfg.offset_sigma_lsb > 0 else np.zeros(n)
    gain = 1.0 + rng.normal(0.0, cfg.gain_sigma, n) if cfg.gain_sigma > 0 else np.ones(n)
    return ADCInstances(t, offset, gain, lsb)


def adc_codes(v: np.ndarray, adc: ADCInstances) -> np.ndarray:
    """Codes (batch, n) (integers as float) of voltages ``v`` (batch, n) (V), instance j reading column j: the number
    of instance j's thresholds at or below ``gain_j * v + offset_j``."""
    v = np.asarray(v, dtype=float)
    if v.shape[-1] != adc.n:
        raise ValueError(f"adc_codes: {v.shape[-1]} outputs but {adc.n} ADC instances")
    x = v * adc.gain + adc.offset_v
    codes = np.empty(x.shape)
    for j in range(adc.n):
        codes[:, j] = np.searchsorted(adc.thresholds_v[j], x[:, j], side="right")
    return codes
