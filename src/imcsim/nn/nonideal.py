"""Crossbar non-idealities for the IMAC layers: which are on, their seeds, and the models nn/ adds to circuit/'s.

Magnitudes live in the one hardware config the simulator uses, :class:`imcsim.config.imac.IMACConfig`
(``device.variation``, ``device.stuck_*_rate``, ``device.read_noise``, ``wires``, ``adc.*``);
:class:`NonIdealities` only says which effects are simulated. Every effect draws from its own random stream,
``SeedSequence([seed, effect id, layer index])`` (:func:`effect_rng`), so changing one effect's setting leaves the
others' draws untouched.

Models:

* device variation and stuck-at faults: :func:`imcsim.circuit.devices.sample_conductances` (the circuit solver's own
  model), called once per effect so each has its own stream; fixed per programmed chip (one Monte Carlo sample);
* read noise, G (1 + N(0, sigma)) per device and per input vector: on the column current this is exactly a gaussian
  of standard deviation sigma * sqrt(sum_r (G+_rj^2 + G-_rj^2) v_r^2) (a sum of independent gaussians), which
  :func:`read_noise_current` draws directly instead of sampling batch x rows x cols conductances;
* wire IR drop: first order (:func:`ir_drop_factors`, cheap, valid while r G n^2 << 1) or exact
  (:func:`ir_drop_exact`, the circuit solver's transfer matrix per crossbar; in training the IMAC layer refreshes
  it every ``ir_refresh_steps`` batches). At IMAC-Sim's 9 nm wires on 32 x 32 crossbars the exact effective
  |G+ - G-| of a LeNet-5 dense part is only 40-64% of the nominal (measured here), far outside first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from imcsim.circuit.devices import sample_conductances
from imcsim.config.device import DeviceConfig
from imcsim.config.wires import IR_DROP_MODES, IRDrop
from imcsim.errors import ConfigError

__all__ = ["NonIdealities", "EFFECTS", "IRDrop", "IR_DROP_MODES", "Chip", "effect_rng", "program_chip", "sample_chip",
           "ir_drop_factors", "ir_drop_exact", "read_noise_current"]


#: Stable ids of the random streams (part of the seed derivation: never renumber).
EFFECTS = {"variation": 1, "stuck": 2, "read": 3, "adc": 4}


@dataclass(frozen=True)
class NonIdealities:
    """Which non-idealities an IMAC model simulates (magnitudes come from the IMACConfig).

    Attributes:
        device: device variation and stuck-at faults (``device.variation``, ``stuck_low_rate``, ``stuck_high_rate``).
        read_noise: per-vector read noise (``device.read_noise``).
        ir_drop: wire IR drop with the config's wire resistances: ``off``, ``first-order`` or ``exact``.
        adc: the output ADC (``adc.bits`` quantization, INL/DNL, offset and gain error).
        dac: DAC quantization of the first IMAC layer's input voltages (``dac.bits``).
    """

    device: bool = True
    read_noise: bool = True
    ir_drop: IRDrop = "off"
    adc: bool = True
    dac: bool = True

    def __post_init__(self) -> None:
        if self.ir_drop not in IR_DROP_MODES:
            raise ConfigError(f"ir_drop = {self.ir_drop!r}: choose one of {', '.join(IR_DROP_MODES)}")


def effect_rng(seed: int, effect: str, layer: int = 0) -> np.random.Generator:
    """The random stream of ``effect`` (a key of :data:`EFFECTS`) for IMAC layer ``layer`` under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), EFFECTS[effect], int(layer)]))


def program_chip(g_plus: np.ndarray, g_minus: np.ndarray, device: DeviceConfig, seed: int,
                 layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One programmed chip: nominal conductances (S, any shape) with stuck-at faults, then variation.

    Uses circuit/'s :func:`sample_conductances`; stuck-at faults and variation draw from separate streams. I+ and I-
    devices are drawn together (stacked on a leading axis) so each has an independent sample.
    """
    g = np.stack([np.asarray(g_plus, float), np.asarray(g_minus, float)])
    stuck_only = device.replace(variation=0.0)
    var_only = device.replace(stuck_low_rate=0.0, stuck_high_rate=0.0)
    if device.stuck_low_rate > 0 or device.stuck_high_rate > 0:
        g = sample_conductances(g, stuck_only, effect_rng(seed, "stuck", layer))
    if device.variation > 0:
        g = sample_conductances(g, var_only, effect_rng(seed, "variation", layer))
    return g[0], g[1]


def _blocks(n_rows: int, n_out: int, rows: int, cols: int):
    """(row slice, column slice) of every crossbar of a layer: rows dealt out as in
    :func:`imcsim.circuit.partition.row_slices` (bias row last), columns ``cols`` at a time."""
    for r0 in range(0, n_rows, rows):
        for c0 in range(0, n_out, cols):
            yield slice(r0, min(r0 + rows, n_rows)), slice(c0, min(c0 + cols, n_out))


def ir_drop_factors(g_plus: np.ndarray, g_minus: np.ndarray, rows: int, cols: int, r_in_ohm: float,
                    r_out_ohm: float) -> tuple[np.ndarray, np.ndarray]:
    """First-order IR-drop attenuation of every device: G_eff = G * factor, for conductances (n_rows, n_out) (S).

    Geometry of :class:`imcsim.circuit.crossbar.Crossbar` (one crossbar per partition block): input line r is
    driven at its left end and the I+ and I- devices of pair j hang from its node x_j = j + 1 segments from the
    source; each column line ends at the amplifier's virtual ground one segment below the block's last row, so row r
    is y_r = (rows in block) - r segments from it. ``r_in_ohm`` / ``r_out_ohm`` are one segment of input / column line.

    With the column lines at 0 V and the input lines at v_r to zeroth order, the current through a segment is the
    sum of the device currents beyond it. To first order in the wire resistances the effective conductance of each
    device is G_rj (1 - a_rj - b_rj) with

        a_rj = r_in  * sum_m (G+_rm + G-_rm) min(x_j, x_m)     (drop along the input line)
        b_rj = r_out * sum_r' G_r'j min(y_r, y_r')             (rise along the device's own column line)

    summing over the devices of the same crossbar: the first term of the nodal solution's expansion in the wire
    resistances (error O((r G n^2)^2)). It is accurate only while r G n^2 << 1; at IMAC-Sim's 9 nm wires on 32 x 32
    arrays (r G n^2 ~ 1) use :func:`ir_drop_exact`. Returns (factor_plus, factor_minus), each (n_rows, n_out),
    clipped at 0.
    """
    gp = np.asarray(g_plus, float)
    gm = np.asarray(g_minus, float)
    fp = np.ones_like(gp)
    fm = np.ones_like(gm)
    for rs, cs in _blocks(*gp.shape, rows, cols):
        bp, bm = gp[rs, cs], gm[rs, cs]
        nr, nc = bp.shape
        x = np.arange(1, nc + 1, dtype=float)
        y = np.arange(nr, 0, -1, dtype=float)
        a = r_in_ohm * (bp + bm) @ np.minimum.outer(x, x)
        dmin = np.minimum.outer(y, y)
        fp[rs, cs] = 1.0 - a - r_out_ohm * dmin @ bp
        fm[rs, cs] = 1.0 - a - r_out_ohm * dmin @ bm
    return np.clip(fp, 0.0, None), np.clip(fm, 0.0, None)


def ir_drop_exact(g_plus: np.ndarray, g_minus: np.ndarray, rows: int, cols: int, r_in_ohm: float,
                  r_out_ohm: float, r_amp_ohm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact effective conductances (n_rows, n_out) (S) of a partitioned layer with wire resistances: per crossbar
    block the transfer matrix of :class:`imcsim.circuit.crossbar.Crossbar` (nodal solve), so that
    I+ = V @ result_plus exactly. Blocks are independent circuits (each has its own amplifiers)."""
    from imcsim.circuit.crossbar import Crossbar

    gp = np.asarray(g_plus, float)
    gm = np.asarray(g_minus, float)
    tp = np.empty_like(gp)
    tm = np.empty_like(gm)
    for rs, cs in _blocks(*gp.shape, rows, cols):
        xb = Crossbar(gp[rs, cs], gm[rs, cs], r_in_ohm, r_out_ohm, r_amp_ohm)
        t_plus, t_minus = xb.transfer_matrix()
        tp[rs, cs], tm[rs, cs] = t_plus.T, t_minus.T
    return tp, tm


def read_noise_current(v: torch.Tensor, g_plus: torch.Tensor, g_minus: torch.Tensor, sigma: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Read-noise current (A) to add to I+ - I-, shape (batch, n_out), for voltages ``v`` (batch, n_rows) (V) and
    conductances (n_out, n_rows) (S): N(0, 1) * sigma * sqrt(v^2 @ (G+^2 + G-^2).T) (see the module docstring)."""
    var = (v * v) @ (g_plus * g_plus + g_minus * g_minus).T
    z = torch.randn(var.shape, generator=generator, dtype=v.dtype, device=v.device)
    return z * sigma * torch.sqrt(var)


@dataclass(frozen=True)
class Chip:
    """The static state of one programmed chip for one layer, for devices of shape (2, *shape) (I+ then I-).

    Attributes:
        stuck_low: devices stuck at R_low (conductance G_on).
        stuck_high: devices stuck at R_high (conductance G_off).
        inv_factor: 1 / (1 + variation draw): the conductance multiplier of each device.

    :meth:`apply` maps nominal conductances to programmed ones exactly as :func:`program_chip` does for the same
    seed (same streams, same draws), but keeps the weights free to change, which noise-aware training needs.
    """

    stuck_low: np.ndarray
    stuck_high: np.ndarray
    inv_factor: np.ndarray

    def apply(self, g_plus: torch.Tensor, g_minus: torch.Tensor, g_on: float, g_off: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Programmed conductances (S) from nominal ``g_plus``, ``g_minus`` (torch, differentiable where not stuck)."""
        out = []
        for i, g in enumerate((g_plus, g_minus)):
            lo = torch.as_tensor(self.stuck_low[i], device=g.device)
            hi = torch.as_tensor(self.stuck_high[i], device=g.device)
            f = torch.as_tensor(self.inv_factor[i], dtype=g.dtype, device=g.device)
            g = torch.where(lo, torch.full_like(g, g_on), torch.where(hi, torch.full_like(g, g_off), g))
            out.append(g * f)
        return out[0], out[1]


def sample_chip(shape: tuple[int, ...], device: DeviceConfig, seed: int, layer: int = 0) -> Chip:
    """Draw one chip's stuck-at faults and variation for devices of ``shape`` (per line), via circuit/'s model.

    The draws are those :func:`program_chip` makes for the same seed and layer: stuck-at faults come from calling
    :func:`sample_conductances` on a sentinel conductance (a device left at the sentinel is not stuck), variation
    from calling it on unit conductances (the result is 1 / factor).
    """
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
    return Chip(stuck_low, stuck_high, inv)
