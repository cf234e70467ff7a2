"""One programmed chip: the single place where an IMAC chip's random state is drawn.

A chip is the nominal device pair of every weight (:func:`imcsim.circuit.devices.weights_to_conductances`) with
stuck-at faults and device-to-device variation (:func:`imcsim.circuit.devices.sample_conductances`), plus the static
transfer curve of every output ADC instance (:mod:`imcsim.circuit.adc`). nn/ (evaluation and noise-aware training),
circuit/ (``IMACNetwork``: ``xbar evaluate``, the SPICE export) and arch/ all get their chip from here, so chip
``seed`` is the same chip in every command: Monte Carlo sample k of ``imcsim evaluate --seed s`` is the chip
``imcsim xbar evaluate --seed s+k`` builds.

Random streams. Every effect draws from its own stream, ``SeedSequence([seed, effect id, IMAC layer index])``
(:func:`effect_rng`, ids in :data:`EFFECTS`), so changing one effect's setting leaves the others' draws untouched:

* ``stuck`` (layer i): one uniform number per device of layer i, drawn over the array (2, n_out, n_in + 1) (I+
  devices then I- devices, each (outputs, inputs + the bias row)): below ``stuck_low_rate`` the device is stuck at
  R_low, in the next ``stuck_high_rate`` at R_high;
* ``variation`` (layer i): one factor per device over the same array; R' = R * factor;
* ``read`` (layer i): per-vector read noise, drawn at read time (not part of the static chip) by
  :func:`read_noise_normals`: one N(0, 1) per (input vector, horizontal partition, output) of layer i, consumed in
  that order, so circuit/ and nn/ reading the same vectors of chip ``seed`` see the same noise whatever their batch
  sizes. Both scale it to the column current with :func:`read_noise_sigma`;
* ``adc``: the output ADC instances of the last layer (one per output).

``seed = None`` is the nominal chip: nominal devices and ideal ADCs of the configured resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imcsim.circuit.adc import ADCInstances, ideal_adc, sample_adc
from imcsim.circuit.devices import check_ternary, sample_conductances, weights_to_conductances
from imcsim.config.adc import ADCConfig
from imcsim.config.device import DeviceConfig
from imcsim.errors import DataError

__all__ = ["EFFECTS", "effect_rng", "read_noise_normals", "read_noise_sigma", "DeviceDraws", "draw_devices", "program_conductances", "ChipLayer", "Chip",
           "draw_chip", "program_chip", "effects", "describe_effects"]

#: Stable ids of the random streams (part of the seed derivation: never renumber).
EFFECTS = {"variation": 1, "stuck": 2, "read": 3, "adc": 4}


def effect_rng(seed: int, effect: str, layer: int = 0) -> np.random.Generator:
    """The random stream of ``effect`` (a key of :data:`EFFECTS`) for IMAC layer ``layer`` under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), EFFECTS[effect], int(layer)]))


def read_noise_normals(rng: np.random.Generator, n_vectors: int, n_partitions: int, n_out: int) -> np.ndarray:
    """The read-noise draws of ``n_vectors`` reads of one layer: N(0, 1) of shape (n_vectors, n_partitions, n_out),
    the next values of the layer's ``read`` stream (:func:`effect_rng`). Drawn row-major, so reading a set of vectors
    in any batches consumes the stream identically."""
    return rng.standard_normal((int(n_vectors), int(n_partitions), int(n_out)))


def read_noise_sigma(v2_dot_g2: np.ndarray, sigma: float) -> np.ndarray:
    """Standard deviation (A) of the read noise on a differential column current I+ - I-, given
    ``v2_dot_g2 = v^2 @ (G+^2 + G-^2)`` (V^2 S^2) over the partition's rows: with every device read as
    G (1 + N(0, sigma)) independently, I+ - I- gains a sum of independent gaussians, one gaussian of standard deviation
    sigma * sqrt(sum_r (G+_r^2 + G-_r^2) v_r^2). Works on numpy arrays and torch tensors alike."""
    return sigma * v2_dot_g2 ** 0.5


def _has_device_effects(device: DeviceConfig) -> bool:
    return device.variation > 0 or device.stuck_low_rate > 0 or device.stuck_high_rate > 0


@dataclass(frozen=True)
class DeviceDraws:
    """The static device state of one layer of a chip, for devices of shape (2, *shape) (I+ then I-).

    Attributes:
        stuck_low: devices stuck at R_low (conductance G_on), bool.
        stuck_high: devices stuck at R_high (conductance G_off), bool.
        inv_factor: 1 / (1 + variation draw): the conductance multiplier of each device.
    """

    stuck_low: np.ndarray
    stuck_high: np.ndarray
    inv_factor: np.ndarray

    def program(self, g_plus: np.ndarray, g_minus: np.ndarray, g_on: float, g_off: float
                ) -> tuple[np.ndarray, np.ndarray]:
        """Programmed conductances (S) from nominal ``g_plus``, ``g_minus`` (each ``shape``): stuck devices take
        G_on / G_off, then every device is scaled by its variation factor."""
        out = []
        for i, g in enumerate((np.asarray(g_plus, float), np.asarray(g_minus, float))):
            g = np.where(self.stuck_low[i], g_on, np.where(self.stuck_high[i], g_off, g))
            out.append(g * self.inv_factor[i])
        return out[0], out[1]


def draw_devices(shape: tuple[int, ...], device: DeviceConfig, seed: int, layer: int = 0) -> DeviceDraws:
    """Draw one layer's stuck-at faults and variation for devices of ``shape`` (per line) from the ``stuck`` and
    ``variation`` streams of ``seed``, through :func:`sample_conductances` (stuck-at faults: on a sentinel
    conductance, a device left at the sentinel is not stuck; variation: on unit conductances, giving 1 / factor)."""
    full = (2, *shape)
    g_on, g_off = device.conductances
    stuck_low = np.zeros(full, bool)
    stuck_high = np.zeros(full, bool)
    if device.stuck_low_rate > 0 or device.stuck_high_rate > 0:
        sentinel = 0.5 * (g_on + g_off)
        s = sample_conductances(np.full(full, sentinel), device.replace(variation=0.0),
                                effect_rng(seed, "stuck", layer))
        stuck_low, stuck_high = s == g_on, s == g_off
    inv = np.ones(full)
    if device.variation > 0:
        inv = sample_conductances(np.ones(full), device.replace(stuck_low_rate=0.0, stuck_high_rate=0.0),
                                  effect_rng(seed, "variation", layer))
    return DeviceDraws(stuck_low, stuck_high, inv)


def program_conductances(g_plus: np.ndarray, g_minus: np.ndarray, device: DeviceConfig, seed: int,
                         layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Nominal conductances (S, any shape) with stuck-at faults, then variation, applied directly by
    :func:`sample_conductances` on the same streams as :func:`draw_devices` (an independent route to the same chip,
    which the tests compare against)."""
    g = np.stack([np.asarray(g_plus, float), np.asarray(g_minus, float)])
    if device.stuck_low_rate > 0 or device.stuck_high_rate > 0:
        g = sample_conductances(g, device.replace(variation=0.0), effect_rng(seed, "stuck", layer))
    if device.variation > 0:
        g = sample_conductances(g, device.replace(stuck_low_rate=0.0, stuck_high_rate=0.0),
                                effect_rng(seed, "variation", layer))
    return g[0], g[1]


@dataclass(frozen=True)
class ChipLayer:
    """One programmed IMAC layer.

    Attributes:
        weight: (n_out, n_in) nominal levels in {-1, 0, +1}; bias: (n_out,).
        g_plus, g_minus: (n_out, n_in + 1) programmed conductances (S), bias row last.
        draws: the layer's device draws (None: nominal devices).
    """

    weight: np.ndarray
    bias: np.ndarray
    g_plus: np.ndarray
    g_minus: np.ndarray
    draws: DeviceDraws | None


@dataclass(frozen=True)
class Chip:
    """A programmed chip: its layers, its output ADC instances (None: the analog voltages are read) and its seed."""

    layers: tuple[ChipLayer, ...]
    adc: ADCInstances | None
    seed: int | None


def draw_chip(shapes: Sequence[tuple[int, int]], device: DeviceConfig, adc: ADCConfig | None, seed: int | None,
              device_effects: bool = True, first_layer: int = 0
              ) -> tuple[list[DeviceDraws | None], ADCInstances | None]:
    """The random state of chip ``seed`` for layers of ``shapes`` [(n_out, n_in + 1), ...] (IMAC layers
    ``first_layer``, ``first_layer + 1``, ...): each layer's device draws (None when ``seed`` is None,
    ``device_effects`` is off or the device has no variation or faults) and the output ADC instances of the last
    shape (None without ``adc``; ideal when ``seed`` is None)."""
    on = seed is not None and device_effects and _has_device_effects(device)
    draws = [draw_devices(tuple(s), device, seed, first_layer + i) if on else None for i, s in enumerate(shapes)]
    if adc is None:
        inst = None
    elif seed is None:
        inst = ideal_adc(adc, shapes[-1][0])
    else:
        inst = sample_adc(adc, shapes[-1][0], effect_rng(seed, "adc"))
    return draws, inst


def program_chip(weights: Sequence[tuple[np.ndarray, np.ndarray | None]], device: DeviceConfig,
                 adc: ADCConfig | None, seed: int | None, device_effects: bool = True, first_layer: int = 0) -> Chip:
    """Program chip ``seed`` with ``weights`` [(W (n_out, n_in), b (n_out,) or None), ...] in {-1, 0, +1}.

    ``device`` gives R_low / R_high and the variation and fault rates, ``adc`` the output converters (None: no ADC).
    A deployment's weights come from ``[(l.weight, l.bias) for l in dep.imac_layers()]`` and its hardware from
    ``dep.imac_config()`` (``.device``, ``.adc``). ``first_layer`` is the IMAC layer index of ``weights[0]`` (to
    program one layer of a network, as arch/ does).
    """
    g_on, g_off = device.conductances
    nominal = []
    for k, (w, b) in enumerate(weights):
        w = check_ternary(np.atleast_2d(w), f"layer {k + 1} weights")
        b = np.zeros(w.shape[0]) if b is None else check_ternary(np.asarray(b).reshape(-1), f"layer {k + 1} bias")
        if b.shape != (w.shape[0],):
            raise DataError(f"layer {k + 1}: bias has {b.size} values for {w.shape[0]} outputs")
        nominal.append((w, b))
    shapes = [(w.shape[0], w.shape[1] + 1) for w, _ in nominal]
    draws, inst = draw_chip(shapes, device, adc, seed, device_effects, first_layer)
    layers = []
    for (w, b), d in zip(nominal, draws):
        gp, gm = weights_to_conductances(np.concatenate([w, b[:, None]], axis=1), device)
        if d is not None:
            gp, gm = d.program(gp, gm, g_on, g_off)
        layers.append(ChipLayer(w, b, gp, gm, d))
    return Chip(tuple(layers), inst, seed)


def effects(device: DeviceConfig, adc: ADCConfig | None, ir_drop: str, *, chip: bool, read_noise: bool = True,
            device_effects: bool = True, dac_bits: int | None = None, wires: tuple[float, float] | None = None,
            clipping: str = "none", readout: str = "virtual-ground") -> dict:
    """The physical effects an accuracy result includes, for reports (JSON-ready, SI units).

    Args:
        device, adc: the hardware simulated (``adc=None``: the analog voltages are read).
        ir_drop: the wire model, ``off``, ``first-order`` or ``exact``.
        chip: True for a programmed (seeded) chip, False for the nominal one (no random effects).
        read_noise, device_effects: whether those effects are simulated at all.
        dac_bits: input DAC resolution, None when the inputs are not quantized.
        wires: (input-line, column-line) resistance per cell (ohm) when ``ir_drop`` is not off.
        clipping: how amplifier outputs are bounded (e.g. ``"rails [-0.8, 0.8] V"`` or ``"none"``).
        readout: the partition read-out, ``amplifier.readout`` (:mod:`imcsim.config.amplifier`).
    """
    on = chip and device_effects
    return {
        "devices": f"{device.kind} R_low {device.resistances[0]:.6g} ohm, R_high {device.resistances[1]:.6g} ohm",
        "variation": (device.variation if on else 0.0),
        "variation_kind": device.variation_kind,
        "stuck_low": device.stuck_low_rate if on else 0.0,
        "stuck_high": device.stuck_high_rate if on else 0.0,
        "read_noise": device.read_noise if chip and read_noise else 0.0,
        "adc_bits": None if adc is None else adc.bits,
        "adc_errors": None if adc is None or not chip else {"inl_lsb": adc.inl_lsb, "dnl_lsb": adc.dnl_lsb,
                                                             "offset_sigma_lsb": adc.offset_sigma_lsb,
                                                             "gain_sigma": adc.gain_sigma},
        "dac_bits": dac_bits,
        "ir_drop": ir_drop,
        "wire_ohm_per_cell": None if ir_drop == "off" or wires is None else list(wires),
        "amplifier_clipping": clipping,
        "readout": readout,
    }


def describe_effects(eff: dict) -> str:
    """One line for people from :func:`effects`."""
    parts = [eff["devices"]]
    if eff["variation"]:
        parts.append(f"variation {eff['variation']:g} ({eff['variation_kind']})")
    if eff["stuck_low"] or eff["stuck_high"]:
        parts.append(f"stuck-at {eff['stuck_low']:g} low / {eff['stuck_high']:g} high")
    if eff["read_noise"]:
        parts.append(f"read noise {eff['read_noise']:g}")
    if eff["adc_bits"] is None:
        parts.append("analog read-out (no ADC)")
    else:
        errs = eff["adc_errors"]
        bad = {k: v for k, v in (errs or {}).items() if v}
        parts.append(f"{eff['adc_bits']}-bit ADC" + (" with " + ", ".join(f"{k} {v:g}" for k, v in bad.items())
                                                     if bad else " (ideal)"))
    if eff["dac_bits"] is not None:
        parts.append(f"{eff['dac_bits']}-bit DAC")
    ir = eff["ir_drop"]
    parts.append("ideal wires" if ir == "off" else f"IR drop {ir}" + (
        f" ({eff['wire_ohm_per_cell'][0]:.4g} / {eff['wire_ohm_per_cell'][1]:.4g} ohm per cell)"
        if eff["wire_ohm_per_cell"] else ""))
    parts.append(f"amplifier clipping: {eff['amplifier_clipping']}")
    if eff.get("readout", "virtual-ground") != "virtual-ground":
        parts.append(f"{eff['readout']} read-out (difference amplifiers, partitions averaged)")
    return "; ".join(parts)
