"""Crossbar non-idealities for the IMAC layers: which are on, their seeds, and the models nn/ adds to circuit/'s.

Magnitudes live in the one hardware config the simulator uses, :class:`imcsim.config.imac.IMACConfig`
(``device.variation``, ``device.stuck_*_rate``, ``device.read_noise``, ``wires``, ``adc.*``);
:class:`NonIdealities` only says which effects are simulated. The chip itself (device faults and variation, ADC
instances) is drawn by :mod:`imcsim.circuit.chip`, one stream per effect (``SeedSequence([seed, effect id, layer
index])``, :func:`effect_rng`), the same chip circuit/ programs for the same seed.

Models:

* device variation and stuck-at faults: :func:`imcsim.circuit.chip.draw_devices`; fixed per programmed chip (one
  Monte Carlo sample) and applied in torch by :meth:`Chip.apply` so the weights stay trainable;
* read noise, G (1 + N(0, sigma)) per device and per input vector: on the column current this is exactly a gaussian
  of standard deviation sigma * sqrt(sum_r (G+_rj^2 + G-_rj^2) v_r^2) (a sum of independent gaussians), which
  :func:`read_noise_current` draws directly instead of sampling batch x rows x cols conductances; the draws are the
  chip's ``read`` stream (:func:`imcsim.circuit.chip.read_noise_normals`), the very draws circuit/ adds for the same
  chip and vectors;
* wire IR drop: first order (:func:`ir_drop_factors`, cheap, valid while r G n^2 << 1: refused beyond
  :data:`FIRST_ORDER_MAX_DROP`, see :func:`first_order_drop`) or exact
  (:func:`ir_drop_exact`, the circuit solver's transfer matrix per crossbar; in training the IMAC layer refreshes
  it every ``ir_refresh_steps`` batches). At IMAC-Sim's 9 nm wires on 32 x 32 crossbars the exact effective
  |G+ - G-| of a LeNet-5 dense part is only 40-64% of the nominal (measured here), far outside first order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from imcsim.circuit.chip import (EFFECTS, DeviceDraws, draw_devices, effect_rng, program_conductances,
                                 read_noise_sigma)
from imcsim.circuit.partition import tile_slices
from imcsim.config.device import DeviceConfig
from imcsim.config.wires import IR_DROP_MODES, IRDrop
from imcsim.errors import ConfigError

__all__ = ["NonIdealities", "EFFECTS", "IRDrop", "IR_DROP_MODES", "Chip", "effect_rng", "program_chip", "sample_chip",
           "draw_training_devices",
           "ir_drop_factors", "ir_drop_exact", "read_noise_current", "FIRST_ORDER_MAX_DROP", "first_order_drop",
           "check_first_order"]




@dataclass(frozen=True)
class NonIdealities:
    """Which non-idealities an IMAC model simulates (magnitudes come from the IMACConfig).

    Attributes:
        device: device variation and stuck-at faults (``device.variation``, ``stuck_low_rate``, ``stuck_high_rate``).
        read_noise: per-vector read noise (``device.read_noise``).
        ir_drop: wire IR drop with the config's wire resistances: ``off``, ``first-order`` or ``exact``.
        adc: the output ADC (``adc.bits`` quantization, INL/DNL, offset and gain error).
        dac: DAC quantization of the first IMAC layer's input voltages (``dac.bits``).
        check_first_order: with ``ir_drop = "first-order"``, refuse hardware outside the approximation's validity
            bound (:func:`check_first_order`); off only to measure the bound.
    """

    device: bool = True
    read_noise: bool = True
    ir_drop: IRDrop = "off"
    adc: bool = True
    dac: bool = True
    check_first_order: bool = True  # refuse first-order IR drop beyond its validity bound (FIRST_ORDER_MAX_DROP)

    def __post_init__(self) -> None:
        if self.ir_drop not in IR_DROP_MODES:
            raise ConfigError(f"ir_drop = {self.ir_drop!r}: choose one of {', '.join(IR_DROP_MODES)}")




#: Largest worst-case first-order IR drop (:func:`first_order_drop`) at which the first-order model is used. Measured
#: by benchmarks/ir_drop_first_order_validity.py on a LeNet-5 Fashion-MNIST run (MTJ devices, 1,000 test images,
#: crossbars 8..32 and wire resistance x0.1..x1): first order is within 0.2 points of exact up to eps = 0.149 and
#: 2.9 points off at eps = 0.383 (24 points off at IMAC-Sim's 9 nm wires on 32 x 32, eps = 1.49).
FIRST_ORDER_MAX_DROP = 0.15


def first_order_drop(rows: int, cols: int, r_in_ohm: float, r_out_ohm: float, g_on: float, g_off: float) -> float:
    """Worst-case relative IR drop of a ``rows`` x ``cols`` crossbar to first order (dimensionless): the largest
    a_rj + b_rj of :func:`ir_drop_factors` with binary pairs (G_on + G_off per pair on the input line) and every
    device on the column line at G_on,

        eps = r_in (G_on + G_off) cols (cols + 1) / 2 + r_out G_on rows (rows + 1) / 2        (the r G n^2 terms).

    First order neglects terms of order eps^2, so it is accurate only while eps << 1."""
    return (r_in_ohm * (g_on + g_off) * cols * (cols + 1) / 2 + r_out_ohm * g_on * rows * (rows + 1) / 2)


def check_first_order(hw) -> float:
    """``eps`` (:func:`first_order_drop`) of the IMACConfig ``hw``; ConfigError when it exceeds
    :data:`FIRST_ORDER_MAX_DROP`, where the first-order model is more than about 1 accuracy point off exact."""
    eps = first_order_drop(hw.rows, hw.cols, hw.wires.r_in_ohm, hw.wires.r_out_ohm, *hw.device.conductances)
    if eps > FIRST_ORDER_MAX_DROP:
        raise ConfigError(f"ir_drop = 'first-order': a {hw.rows}x{hw.cols} crossbar with these wires and devices has "
                          f"a first-order IR drop of up to {eps:.3g} (r G n^2), beyond {FIRST_ORDER_MAX_DROP} where "
                          "first order stays within about 1 accuracy point of exact; use exact")
    return eps


def _blocks(n_rows: int, n_out: int, rows: int, cols: int):
    """(row slice, column slice) of every crossbar of a layer with ``n_rows`` = inputs + 1 rows
    (:func:`imcsim.circuit.partition.tile_slices`)."""
    return tile_slices(n_rows - 1, n_out, rows, cols).values()


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


def ir_drop_exact(g_plus: np.ndarray, g_minus: np.ndarray | None, rows: int, cols: int, r_in_ohm: float,
                  r_out_ohm: float, r_amp_ohm: float = 0.0, diff_amp: tuple[float, float] | None = None,
                  unused_s: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact effective conductances (n_rows, n_out) (S) of a layer tiled onto ``rows`` x ``cols`` crossbars with
    wire resistances: per crossbar block the transfer matrix of :class:`imcsim.circuit.crossbar.Crossbar` (nodal
    solve), so that I+ = V @ result_plus exactly. Blocks are independent circuits (each has its own amplifiers);
    ``diff_amp`` (R1 = R2, R3 = R4 in ohm) ends them in IMAC-Sim's difference amplifier instead of ``r_amp_ohm``.

    The blocks are ``rows`` consecutive rows by ``cols`` consecutive columns from the top left (IMAC's partitions,
    :func:`imcsim.circuit.partition.tile_slices`, bias row included, and an IMC core's arrays alike). A partial
    block is a crossbar of its own size, or, with ``unused_s``, sits at the top left of a full ``rows`` x ``cols``
    array whose other cells are devices of conductance ``unused_s`` (S) (unused rows undriven at 0 V, unused columns
    terminated like the used ones: they load the input lines). ``g_minus=None``: single-ended columns (one device
    per cell); the second result is then None.
    """
    from imcsim.circuit.crossbar import Crossbar

    gp = np.asarray(g_plus, float)
    gm = None if g_minus is None else np.asarray(g_minus, float)
    tp = np.empty_like(gp)
    tm = None if gm is None else np.empty_like(gm)
    for rs, cs in _blocks(*gp.shape, rows, cols):
        bp = gp[rs, cs]
        bm = None if gm is None else gm[rs, cs]
        nr, nc = bp.shape
        if unused_s is not None and (nr, nc) != (rows, cols):
            full = np.full((rows, cols), float(unused_s))
            bp = _embed(full, bp)
            bm = None if bm is None else _embed(full, bm)
        xb = Crossbar(bp, bm, r_in_ohm, r_out_ohm, r_amp_ohm, diff_amp=diff_amp)
        t_plus, t_minus = xb.transfer_matrix()
        tp[rs, cs] = t_plus.T[:nr, :nc]
        if tm is not None:
            tm[rs, cs] = t_minus.T[:nr, :nc]
    return tp, tm


def _embed(full: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``block`` written over the top-left corner of a copy of ``full``."""
    out = full.copy()
    out[: block.shape[0], : block.shape[1]] = block
    return out


def read_noise_current(v: torch.Tensor, g_plus: torch.Tensor, g_minus: torch.Tensor, sigma: float,
                       generator: torch.Generator | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """Read-noise current (A) to add to I+ - I-, shape (batch, n_out), for voltages ``v`` (batch, n_rows) (V) and
    conductances (n_out, n_rows) (S): N(0, 1) * sigma * sqrt(v^2 @ (G+^2 + G-^2).T) (see the module docstring,
    :func:`imcsim.circuit.chip.read_noise_sigma`). ``z``: the N(0, 1) draws (batch, n_out) (the chip's, from
    :func:`imcsim.circuit.chip.read_noise_normals`); without, drawn from the torch ``generator``."""
    var = (v * v) @ (g_plus * g_plus + g_minus * g_minus).T
    if z is None:
        z = torch.randn(var.shape, generator=generator, dtype=v.dtype, device=v.device)
    return z.to(v.dtype) * read_noise_sigma(var, sigma)


class Chip(DeviceDraws):
    """The static device state of one layer of a chip (:class:`imcsim.circuit.chip.DeviceDraws`), applied in torch.

    :meth:`apply` maps nominal conductances to programmed ones exactly as :meth:`DeviceDraws.program` does (the
    conductances circuit/ programs for the same seed), but keeps the weights free to change, which noise-aware
    training needs.
    """

    def apply(self, g_plus: torch.Tensor, g_minus: torch.Tensor, g_on: float, g_off: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Programmed conductances (S) from nominal ``g_plus``, ``g_minus`` (torch, differentiable where not stuck)."""
        out = []
        for i, g in enumerate((g_plus, g_minus)):
            f = torch.as_tensor(self.inv_factor[i], dtype=g.dtype, device=g.device)
            if self.stuck_low[i].any() or self.stuck_high[i].any():  # (skipped on fault-free chips: per-batch cost)
                lo = torch.as_tensor(self.stuck_low[i], device=g.device)
                hi = torch.as_tensor(self.stuck_high[i], device=g.device)
                g = torch.where(lo, torch.full_like(g, g_on), torch.where(hi, torch.full_like(g, g_off), g))
            out.append(g * f)
        return out[0], out[1]

    @classmethod
    def of(cls, draws: DeviceDraws | None) -> "Chip | None":
        """The torch view of circuit/'s draws (None stays None)."""
        return None if draws is None else cls(draws.stuck_low, draws.stuck_high, draws.inv_factor)


def sample_chip(shape: tuple[int, ...], device: DeviceConfig, seed: int, layer: int = 0) -> Chip:
    """One layer's stuck-at faults and variation for devices of ``shape`` (per line):
    :func:`imcsim.circuit.chip.draw_devices`."""
    return Chip.of(draw_devices(shape, device, seed, layer))


def draw_training_devices(shape: tuple[int, ...], device: DeviceConfig, generator: torch.Generator,
                          dtype: torch.dtype = torch.float64) -> Chip:
    """Stuck-at faults and variation of devices (2, *shape) drawn in torch from ``generator``, for the fresh chip of
    every noise-aware training batch: the distributions of :func:`imcsim.circuit.devices.sample_conductances`
    (stuck at G_on below ``stuck_low_rate``, at G_off in the next ``stuck_high_rate`` of one uniform draw; R scaled
    by 1 + U(-v, v), or by 1 + N(0, v) truncated to [max(1 - 3v, 0.05), 1 + 3v]), without numpy's float64 draws
    and their copy into torch on every batch. A training chip is no seeded chip: :func:`sample_chip` (the chip
    ``seed`` names everywhere) is unchanged. Returns a :class:`Chip` of torch tensors."""
    full = (2, *shape)
    v = device.variation
    low, high = device.stuck_low_rate, device.stuck_high_rate
    if low > 0 or high > 0:
        u = torch.rand(full, generator=generator, dtype=dtype)
        stuck_low, stuck_high = u < low, (u >= low) & (u < low + high)
    else:
        stuck_low = stuck_high = torch.zeros(full, dtype=torch.bool)
    if v > 0 and device.variation_kind == "uniform":
        factor = torch.rand(full, generator=generator, dtype=dtype).mul_(2 * v).add_(1.0 - v)
    elif v > 0:
        factor = torch.randn(full, generator=generator, dtype=dtype).mul_(v).add_(1.0)
        factor.clamp_(max(1.0 - 3.0 * v, 0.05), 1.0 + 3.0 * v)
    else:
        factor = torch.ones(full, dtype=dtype)
    return Chip(stuck_low, stuck_high, factor.reciprocal_())


#: Former name of :func:`imcsim.circuit.chip.program_conductances`.
program_chip = program_conductances
