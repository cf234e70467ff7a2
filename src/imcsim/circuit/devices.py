"""Synapse devices: weights to differential conductance pairs, and the device non-idealities.

One model for circuit/ (the crossbar solver and SPICE export) and nn/ (training with non-idealities), driven by
:class:`imcsim.config.device.DeviceConfig`. A weight is a pair of devices on the I+ and I- column lines
(IMAC-Sim, GLSVLSI 2023, its mapWB.py): +1 = (R_low, R_high), -1 = (R_high, R_low), 0 = (R_low, R_low).

Non-idealities, each drawn from a caller-supplied :class:`numpy.random.Generator` so runs are reproducible:

* device-to-device variation, fixed once a chip is programmed: R' = R (1 + U(-v, v)) (IMAC-Sim's ``weight_var``) or
  R (1 + N(0, v));
* stuck-at faults, fixed per chip: a device is stuck at R_low (stuck-on) or R_high (stuck-off) whatever it was
  programmed to; variation applies to stuck devices too (it is a property of the physical device);
* read noise, drawn anew for every input vector: G' = G (1 + N(0, sigma)).
"""

from __future__ import annotations

import numpy as np

from imcsim.config.device import DeviceConfig
from imcsim.errors import WeightLevelError

__all__ = ["weights_to_conductances", "sample_conductances", "read_noise", "check_ternary"]


def check_ternary(w: np.ndarray, source: str = "weights") -> np.ndarray:
    """Return ``w`` as a float array, raising :class:`WeightLevelError` naming the first value not in {-1, 0, +1}."""
    arr = np.asarray(w, dtype=float)
    bad = ~np.isin(arr, (-1.0, 0.0, 1.0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WeightLevelError(f"{source}: value {float(arr[idx]):g} at index {idx} is not one of -1, 0, +1")
    return arr


def weights_to_conductances(w: np.ndarray, device: DeviceConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nominal conductances (S) of the I+ and I- devices for ternary weights ``w`` of any shape.

    Returns ``(g_plus, g_minus)``, each the shape of ``w``: +1 -> (G_on, G_off), -1 -> (G_off, G_on),
    0 -> (G_on, G_on), with G_on = 1/R_low and G_off = 1/R_high.
    """
    device = device or DeviceConfig()
    arr = check_ternary(w)
    g_on, g_off = device.conductances
    g_plus = np.where(arr < 0, g_off, g_on)
    g_minus = np.where(arr > 0, g_off, g_on)
    return g_plus, g_minus


def sample_conductances(g: np.ndarray, device: DeviceConfig, rng: np.random.Generator) -> np.ndarray:
    """One programmed chip: conductances ``g`` (S) with stuck-at faults and device variation applied.

    Stuck devices take the nominal G_on (stuck at R_low) or G_off (stuck at R_high); then every resistance is
    scaled by (1 + U(-v, v)) or (1 + N(0, v)) with v = ``device.variation``. Gaussian factors are truncated to
    [max(1 - 3v, 0.05), 1 + 3v]: a program-and-verify loop rejects devices beyond three sigma, and an untruncated
    tail at large v would put a few devices near zero resistance, i.e. near-infinite conductance, which no
    programmed device has. Returns a new array of ``g``'s shape.
    """
    g = np.asarray(g, dtype=float)
    g_on, g_off = device.conductances
    out = g.copy()
    if device.stuck_low_rate > 0 or device.stuck_high_rate > 0:
        u = rng.random(g.shape)
        out = np.where(u < device.stuck_low_rate, g_on, out)
        out = np.where((u >= device.stuck_low_rate) & (u < device.stuck_low_rate + device.stuck_high_rate),
                       g_off, out)
    if device.variation > 0:
        if device.variation_kind == "uniform":
            factor = 1.0 + rng.uniform(-device.variation, device.variation, g.shape)
        else:
            v = device.variation
            factor = np.clip(1.0 + rng.normal(0.0, v, g.shape), max(1.0 - 3.0 * v, 0.05), 1.0 + 3.0 * v)
        out = out / factor  # R' = R * factor  ->  G' = G / factor
    return out


def read_noise(g: np.ndarray, device: DeviceConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` noisy reads of conductances ``g`` (S): shape (n, *g.shape), each G (1 + N(0, device.read_noise)),
    clipped at 1e-3 G so no conductance becomes non-positive. With zero read noise the reads equal ``g``."""
    g = np.asarray(g, dtype=float)
    reads = np.broadcast_to(g, (n, *g.shape))
    if device.read_noise == 0:
        return reads.copy()
    factor = np.maximum(1.0 + rng.normal(0.0, device.read_noise, reads.shape), 1e-3)
    return reads * factor
