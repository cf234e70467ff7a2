"""Analog convolution and dense layers on a mixed-signal IMC core, with ADC-quantised partial sums in the loop.

The arithmetic of one layer (issue 11), mapped exactly as the cost model maps it (:func:`imcsim.arch.imc.map_layer`):

1. **Weights.** Per output channel symmetric ``weight_bits`` quantisation (:func:`imcsim.nn.quant.quantize_symmetric`):
   integer codes k in [-(2^(b-1) - 1), 2^(b-1) - 1]. ``offset`` encoding stores u = k + 2^(b-1) (all b bits as
   magnitude, the offset is subtracted digitally), ``differential`` stores |k| on the G+ (k > 0) or G- (k < 0)
   device of a pair. The stored magnitude is cut into ``slices`` digits of ``cell_bits`` bits, least significant
   first; channel n's slice s sits in column n * slices + s of the (K x N slices) matrix (K = k_h k_w C_in rows,
   im2col order of :func:`torch.nn.functional.unfold`).
2. **Cells.** A digit l in [0, L], L = 2^cell_bits - 1, is programmed to G = G_off + l (G_on - G_off) / L; the chip's
   stuck-at faults and programming variation (:func:`imcsim.nn.nonideal.sample_chip`, the project's one device model)
   and PCM drift G (t / t0)^-nu (``DeviceConfig.drift_*``) act on G. The periphery removes the nominal G_off
   baseline (a reference column: its known current G_off sum(inputs) for offset cells; the pair difference for
   differential cells), so a column reads in *level units*: e = (G - G_off) / ((G_on - G_off) / L), e = l when ideal.
   With ``nonideal.ir_drop = "exact"`` the wires of every array act too: each (row tile, column tile) array is a
   full R x C crossbar of the core's ``wires`` (:class:`imcsim.circuit.crossbar.Crossbar`: input lines driven at
   their left end, columns ending at the ADC's virtual-ground input at the bottom; a pair of lines per column for
   differential cells, one line for offset cells), the tile's rows and columns from its top left, level-0 cells
   (G_off) in the unused ones. Its transfer matrix T(G) (the circuit solver's, one nodal solve per chip and weights)
   gives the column currents exactly, I = T(G) v for any inputs v, so T takes G's place in the level units above
   (the offset reference stays the nominal G_off sum(inputs): the baseline's own IR drop is part of the error).
   Read noise keeps the programmed conductances' magnitudes.
3. **Inputs.** Activations are quantised to ``input_bits`` by the layer's :class:`~imcsim.nn.quant.ActQuant`
   (unsigned after a ReLU, symmetric signed otherwise) and cut into ``input_cycles`` digits of ``dac.bits`` bits,
   least significant first, the top digit signed for signed inputs (two's complement, so shift-and-add restores
   the value). ``dac.bits = 1`` is bit-serial; ``dac.bits = input_bits`` one multi-level (or pulse-width) read.
4. **Tiles and ADCs.** The K rows are cut into row tiles of R (``rows``) and the columns into column tiles of C
   (``cols``): one R x C array per (row tile, column tile), ``adcs_per_array`` ADCs per array, ADC a of an array
   serving its columns a k .. a k + k - 1 (k = ``cols_per_adc``). Every column output of every array, per input
   cycle, is one ADC conversion through that ADC instance's static transfer curve (:func:`imcsim.nn.adc.sample_adc`:
   INL, DNL, offset, gain error; one curve per physical ADC, shared by its k columns). An ADC has 2^bits codes of
   ``step`` level units each, from 0 (unsigned columns) or from -2^(bits-1) step (signed columns: differential cells
   or signed inputs); outside the range it clips.
   The code-to-voltage scale of :class:`~imcsim.config.adc.ADCConfig` maps onto that range: code c reads c step.
5. **Digital.** Shift-and-add over slices (2^(cell_bits s)) and input cycles (2^(dac.bits c)), the sum over row
   tiles, minus 2^(b-1) sum(x) for offset encoding, times the input and weight scales, plus the (digital) bias.

``step`` is one number per layer, fixed once (never per chip): ``adc_step = "lossless"`` is 1 level unit (an ADC
that resolves every integer column sum inside its range), otherwise the layer calibrates it on its first batch so
the top code sits at the ``adc_quantile`` of the |column sums| (the ADC reference a designer sets per layer).

Gradients are straight-through: the forward value is the analog result, the backward pass that of the
fake-quantised layer with the chip's effective weights (device effects included, ADC and read noise passed
through), so training costs one extra digital layer beyond the analog forward, computed as one batched matmul per
layer (all row tiles, slices and input cycles together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imcsim.arch.imc import map_layer
from imcsim.config.imc import IMCConfig
from imcsim.errors import ModelError
from imcsim.nn.adc import ADCInstances, ideal_adc, sample_adc
from imcsim.nn.nonideal import NonIdealities, effect_rng, ir_drop_exact, sample_chip
from imcsim.nn.quant import ActQuant, quantize_symmetric, ste_round, weight_scale_per_channel
from imcsim.workload.layer import Layer

__all__ = ["ADCTable", "IMCLayerMixin", "IMCConv2d", "IMCLinear", "input_digits", "weight_digits", "adc_convert",
           "instance_of_column"]


# ----- pure pieces of the arithmetic (shared by the layers and the tests' references) ----------------------------
def input_digits(q: torch.Tensor, bits: int, dac_bits: int) -> torch.Tensor:
    """Digits (cycles, *q.shape) of integer input codes ``q`` (float tensor of integers), ``dac_bits`` each, least
    significant first: every digit but the top one in [0, 2^dac_bits - 1] (floor division), the top one what
    remains, negative for negative codes (two's complement), so sum_c digit_c 2^(dac_bits c) = q."""
    cycles = math.ceil(bits / dac_bits)
    base = float(2**dac_bits)
    out = []
    rest = q
    for c in range(cycles):
        if c == cycles - 1:
            out.append(rest)
        else:
            d = torch.remainder(rest, base)
            out.append(d)
            rest = torch.div(rest - d, base)
    return torch.stack(out)


def weight_digits(k: torch.Tensor, cfg: IMCConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Cell digits of integer weight codes ``k`` (N, K): (positive, negative) digit tensors (N, K, slices) in
    [0, 2^cell_bits - 1]; ``negative`` is None for offset encoding (one device per cell)."""
    base = float(2**cfg.cell_bits)
    s = cfg.slices
    if cfg.encoding == "offset":
        mags = [k + 2.0 ** (cfg.weight_bits - 1)]
    else:
        mags = [torch.clamp(k, min=0), torch.clamp(-k, min=0)]
    # digit s of a magnitude m >= 0 is q - base floor(q / base), q = floor(m / base^s): exact in floating point, as
    # the divisors are powers of two (and cheaper than floor division or remainder, which are per-element slow)
    pw = base ** torch.arange(s, dtype=k.dtype)
    out = []
    for m in mags:
        q = torch.floor(m[..., None] / pw)
        out.append(q - base * torch.floor(q / base))
    return out[0], (out[1] if len(out) > 1 else None)


def instance_of_column(row_tiles: int, n_cols: int, cfg: IMCConfig) -> np.ndarray:
    """ADC instance (row_tiles, n_cols) converting column j of row tile t: array (t, j // C), ADC (j % C) // k."""
    col_tiles = math.ceil(n_cols / cfg.cols)
    j = np.arange(n_cols)
    t = np.arange(row_tiles)[:, None]
    return (t * col_tiles + j // cfg.cols) * cfg.adcs_per_array + (j % cfg.cols) // cfg.cols_per_adc


@dataclass(frozen=True)
class ADCTable:
    """Exact lookup form of ADC transfer curves, for converting millions of column sums fast.

    Cells of 1 / ``grid`` LSB (``grid`` a power of two, so x * grid is exact in floating point); cell c of instance
    i starts at a = (g0 + c) / grid. ``below[i, c]`` counts the thresholds < a and ``inside[i, c, :]`` lists the
    thresholds in [a, a + 1 / grid) (+inf padded), so the code #{t <= x} is below + #{inside <= x}: exactly
    :func:`torch.searchsorted` (right) of the thresholds, with one gather per threshold a cell can hold.
    """

    g0: int
    cells: int
    grid: float
    below: torch.Tensor    # (instances cells,) float
    inside: torch.Tensor   # (P, instances cells) float, +inf where empty

    @classmethod
    def build(cls, adc: ADCInstances, dtype: torch.dtype = torch.float32) -> "ADCTable":
        th = adc.thresholds_v / adc.lsb_v                                                  # (n, m) in LSB
        n, m = th.shape
        grid = 4.0
        while True:  # the finest grid up to 64 cells per LSB that leaves at most one threshold per cell
            g0 = int(np.floor(th.min() * grid)) - 1
            cells = int(np.ceil(th.max() * grid)) - g0 + 2
            cell = np.floor(th * grid).astype(np.int64) - g0                               # (n, m)
            first = np.zeros_like(cell)
            for j in range(1, m):  # index of the first threshold of the same cell (thresholds are sorted)
                first[:, j] = np.where(cell[:, j] == cell[:, j - 1], first[:, j - 1], j)
            rank = np.arange(m)[None, :] - first
            if rank.max() == 0 or grid >= 64:
                break
            grid *= 2
        a = (g0 + np.arange(cells)) / grid
        below = np.stack([np.searchsorted(th[i], a, side="left") for i in range(n)])       # (n, cells)
        p = int(rank.max()) + 1
        inside = np.full((p, n, cells), np.inf)
        inside[rank, np.arange(n)[:, None], cell] = th
        return cls(g0, cells, grid, torch.as_tensor(below.reshape(-1), dtype=dtype),
                   torch.as_tensor(inside.reshape(p, -1), dtype=dtype))

    def codes(self, x: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        """Codes of ADC inputs ``x`` (n_cols, M) (LSB) read by instance ``inst[j]`` for row j."""
        cell = torch.mul(x, self.grid).floor_().clamp_(self.g0, self.g0 + self.cells - 1)   # g0 + cell index
        # the flat index (instance, cell), added while still floating point (integers, exact below 2^mantissa bits)
        # and converted to int32: half the bytes of int64; then flat gathers (index_select on 1-D tables) of the
        # count below and of each threshold the cell can hold (measured 6.7 ms against 17 ms for gathering rows of a
        # (cells, P + 1) table, 1.2 M inputs, one thread)
        exact = 2.0 / torch.finfo(x.dtype).eps  # 2^24 in float32
        if self.below.numel() < exact:
            idx = cell.add_((inst * self.cells - self.g0).to(x.dtype)[:, None]).to(torch.int32).reshape(-1)
        else:
            idx = cell.to(torch.int64).add_((inst * self.cells - self.g0)[:, None]).reshape(-1)
        xf = x.reshape(-1)
        code = self.below.to(x.dtype).index_select(0, idx)
        for p in range(self.inside.shape[0]):
            code.add_(self.inside[p].to(x.dtype).index_select(0, idx) <= xf)
        return code.reshape(x.shape)
        return code


def adc_convert(y: torch.Tensor, adc: ADCInstances, inst: torch.Tensor, step: float, signed: bool,
                uniform: bool = False, table: ADCTable | None = None) -> torch.Tensor:
    """Column sums ``y`` (n_cols, M) (level units) through ADC instance ``inst[j]`` for column j; returns the level
    the code stands for, ``lo + code * step`` with lo = 0 or -2^(bits-1) step.

    The curve of :func:`~imcsim.nn.adc.sample_adc` (thresholds, gain and offset in volts over [0, full scale]) is
    used in code units: the input lo + x step reads as x LSB, so a threshold t (V) sits at lo + (t / lsb) step.
    ``uniform``: the thresholds are the ideal (k - 1/2) LSB (no INL or DNL), so the code is a clamped rounding
    (the same count of thresholds, computed without a search); ``table``: :class:`ADCTable` of ``adc`` (the same
    codes as the search, faster).
    """
    m = adc.thresholds_v.shape[1]
    lo = -(m + 1) / 2 * step if signed else 0.0
    gain = torch.as_tensor(adc.gain, dtype=y.dtype)[inst][:, None]
    off = torch.as_tensor(adc.offset_v / adc.lsb_v, dtype=y.dtype)[inst][:, None]
    x = torch.addcmul(off, y - lo, gain, value=1.0 / step)                          # ADC input in LSB
    if uniform:
        codes = torch.clamp(torch.floor(x + 0.5), 0, m)
    elif table is not None:
        codes = table.codes(x, inst)
    else:
        th = torch.as_tensor(adc.thresholds_v / adc.lsb_v, dtype=y.dtype)[inst]     # (n_cols, m) in LSB
        codes = torch.searchsorted(th, x, right=True).to(y.dtype)
    return codes.mul_(step).add_(lo)


def _quantile(y: torch.Tensor, q: float) -> float:
    """``torch.quantile(y, q)`` (linear interpolation between the order statistics around q (n - 1)) of a 1-D
    tensor, from two selections (:func:`torch.kthvalue`, linear time) instead of a full sort."""
    pos = q * (y.numel() - 1)
    lo = math.floor(pos)
    a = float(torch.kthvalue(y, lo + 1).values)
    if pos == lo:
        return a
    b = float(torch.kthvalue(y, lo + 2).values)
    return a + (b - a) * (pos - lo)


def _tile_products(e: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per row tile t, e[t]^T d[rows of t]: (T, cols, X) for levels e (T, R, cols) and inputs d (K, X); the last
    tile's rows beyond K are skipped rather than padded."""
    rt, r = e.shape[0], e.shape[1]
    kk = d.shape[0]
    y = torch.empty(rt, e.shape[2], d.shape[1], dtype=d.dtype)
    for t in range(rt):
        r1 = min(kk, (t + 1) * r)
        torch.mm(e[t, : r1 - t * r].T, d[t * r:r1], out=y[t])
    return y


class IMCLayerMixin:
    """What :class:`IMCConv2d` and :class:`IMCLinear` share: the core config, the chip, the analog forward."""

    imc: IMCConfig
    nonideal: NonIdealities
    layer_index: int

    def _init_imc(self, imc: IMCConfig, layer_index: int, nonideal: NonIdealities | None, adc_step: str | float,
                  adc_quantile: float) -> None:
        if imc.input_bits < 2:
            raise ModelError(f"IMC layers need input_bits >= 2, got {imc.input_bits}")
        if imc.weight_bits > 24 or imc.input_bits > 24:
            raise ModelError("IMC layers compute exact integers in float64: weight_bits and input_bits must be at "
                             "most 24")
        if isinstance(adc_step, str) and adc_step not in ("lossless", "calibrate"):
            raise ModelError(f"adc_step = {adc_step!r}: 'lossless', 'calibrate' or a number of level units")
        self.imc = imc
        self.layer_index = int(layer_index)
        self.nonideal = nonideal or NonIdealities()
        self.act_quant = ActQuant(imc.input_bits)
        self.adc_quantile = float(adc_quantile)
        fixed = 1.0 if adc_step == "lossless" else None if adc_step == "calibrate" else float(adc_step)
        # level units per ADC code, one per layer; "calibrate" sets it on the first batch (calibrate_adc_)
        self.register_buffer("adc_step", torch.tensor(fixed or 0.0, dtype=torch.float64))
        self.register_buffer("adc_calibrated", torch.tensor(fixed is not None))
        self._chip: tuple | None = None
        # exact wire IR drop (nonideal.ir_drop = "exact"): factors G_eff / G per device, solved for the weight codes
        # kept with them; training reuses them for ir_refresh_steps forward passes (as the IMAC layers do)
        self.ir_refresh_steps = 50
        self._ir_cache: tuple | None = None
        self._ir_age = 0
        self.set_chip(None)

    # ----- mapping ----------------------------------------------------------------------------------------------------
    def workload_layer(self) -> Layer:
        raise NotImplementedError

    @property
    def k_rows(self) -> int:
        raise NotImplementedError

    @property
    def n_out(self) -> int:
        raise NotImplementedError

    def tiling(self) -> tuple[int, int, int]:
        """(row tiles, columns N slices, arrays) from the cost model's mapping (:func:`imcsim.arch.imc.map_layer`)."""
        m = map_layer(self.workload_layer(), self.imc)
        rt = math.ceil(m.rows / self.imc.rows)
        if rt * math.ceil(m.cols / self.imc.cols) != m.arrays:
            raise ModelError("IMC layer tiling disagrees with the cost model's mapping")
        return rt, m.cols, m.arrays

    def _exact_dtype(self) -> torch.dtype:
        """float32 while every integer partial sum stays below 2^24 (exact), float64 otherwise."""
        cfg = self.imc
        bound = self.k_rows * 2.0 ** (cfg.weight_bits + cfg.input_bits + 1)
        return torch.float32 if bound < 2**24 else torch.float64

    # ----- non-idealities ---------------------------------------------------------------------------------------------
    def set_chip(self, seed: int | None) -> None:
        """Fix one chip drawn with ``seed`` (devices, ADC instances, read-noise stream), or None: ideal devices and
        ideal ADCs of ``adc.bits``."""
        cfg, ni = self.imc, self.nonideal
        rt, ncols, arrays = self.tiling()
        n_adc = arrays * cfg.adcs_per_array
        dev = cfg.device
        chip = None
        if seed is not None and ni.device and (dev.variation > 0 or dev.stuck_low_rate > 0 or dev.stuck_high_rate > 0):
            chip = sample_chip((self._rows_padded(rt), ncols), dev, seed, self.layer_index)
        if seed is None or not ni.adc:
            adc = ideal_adc(cfg.adc, n_adc)
        else:
            adc = sample_adc(cfg.adc, n_adc, effect_rng(seed, "adc", self.layer_index))
        uniform = seed is None or (cfg.adc.inl_lsb == 0 and cfg.adc.dnl_lsb == 0)
        gen = None
        if seed is not None and ni.read_noise and dev.read_noise > 0:
            gen = torch.Generator()
            gen.manual_seed(int(effect_rng(seed, "read", self.layer_index).integers(2**62)))
        inst = torch.as_tensor(instance_of_column(rt, ncols, cfg).reshape(-1))
        self._chip = (chip, adc, gen, inst, rt, ncols, uniform)
        self._adc_table = None if uniform else ADCTable.build(adc)
        self._ir_cache, self._ir_age = None, 0

    def _rows_padded(self, rt: int) -> int:
        """Rows of the tile stack: R per row tile, or just K when one tile holds them all (the unused rows of that
        array carry no input and add nothing)."""
        return self.k_rows if rt == 1 else rt * self.imc.rows

    # ----- weights ----------------------------------------------------------------------------------------------------
    def weight_codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, scale): integer codes (N, K) with straight-through gradients and per-channel scales (N, 1)."""
        w = self.weight.reshape(self.weight.shape[0], -1)
        scale = weight_scale_per_channel(w, self.imc.weight_bits)
        q = 2 ** (self.imc.weight_bits - 1) - 1
        return torch.clamp(ste_round(w / scale), -q, q), scale

    @torch.no_grad()
    def cell_levels(self, k: torch.Tensor, squares: bool = False):
        """Effective cell levels e (row tiles, R, N slices) of the programmed chip, in level units; with ``squares``
        also the sum over the cell's devices of (G / unit)^2 (same shape), for the read noise."""
        cfg = self.imc
        chip, rt = self._chip[0], self._chip[4]
        pos, neg = weight_digits(k.detach().double(), cfg)       # (N, K, S)
        n, kk, s = pos.shape
        rows = self._rows_padded(rt)
        g_on, g_off = cfg.device.conductances
        unit = (g_on - g_off) / (2**cfg.cell_bits - 1)

        def lay(d):  # (N, K, S) -> (rows, N S), column n S + s
            return F.pad(d.permute(1, 0, 2).reshape(kk, n * s), (0, 0, 0, rows - kk))

        wires = self.nonideal.ir_drop == "exact"
        if chip is None and cfg.device.drift_nu == 0 and not (squares and self._chip[2] is not None) and not wires:
            e = lay(pos) - lay(neg) if neg is not None else lay(pos)
            e = e.reshape(rt, rows // rt, n * s)
            return (e, None) if squares else e
        gp = g_off + lay(pos) * unit
        gm = g_off + lay(neg) * unit if neg is not None else torch.full_like(gp, g_off)
        if chip is not None:
            gp, gm = chip.apply(gp, gm, g_on, g_off)
        dev = cfg.device
        if dev.drift_nu > 0:
            f = (dev.drift_time_s / dev.drift_t0_s) ** (-dev.drift_nu)
            gp, gm = gp * f, gm * f
        if wires:  # the arrays' column currents through the wires: I = T(G) v, T in place of G
            tp, tm = self._wire_drop(k, gp, gm if neg is not None else None)
            e = (tp - tm) / unit if neg is not None else (tp - g_off) / unit
        else:
            e = (gp - gm) / unit if neg is not None else (gp - g_off) / unit
        e[kk:] = 0.0  # rows beyond K carry no input
        e = e.reshape(rt, rows // rt, n * s)
        if not squares:
            return e
        if self._chip[2] is None:  # no read noise: the squares are not needed
            return e, None
        sq = (gp / unit) ** 2 + ((gm / unit) ** 2 if neg is not None else 0.0)
        return e, sq.reshape(rt, rows // rt, n * s)

    def _wire_drop(self, k: torch.Tensor, gp: torch.Tensor, gm: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Effective conductances (rows, N S) (S) of programmed ``gp`` / ``gm`` (None: offset cells, one device)
        through the arrays' wires: :func:`imcsim.nn.nonideal.ir_drop_exact` per (row tile, column tile) array, each
        a full ``rows`` x ``cols`` crossbar (:class:`imcsim.circuit.crossbar.Crossbar`, ``wires`` of the core,
        column terminals at virtual ground) holding its tile at the top left and level-0 cells (G_off) elsewhere.

        Solved once per chip and weight codes ``k``, and kept as factors G_eff / G per device: exact whenever the
        codes are those solved for (evaluation); in training the factors are reused for ``ir_refresh_steps``
        forward passes, then re-solved."""
        cache = self._ir_cache
        stale = cache is None or (self._ir_age >= self.ir_refresh_steps if self.training
                                  else not torch.equal(cache[0], k.detach()))
        if stale:
            cfg = self.imc
            gp_np = gp.numpy()
            gm_np = None if gm is None else gm.numpy()
            tp, tm = ir_drop_exact(gp_np, gm_np, cfg.rows, cfg.cols, cfg.wires.r_in_ohm, cfg.wires.r_out_ohm,
                                   unused_s=cfg.device.conductances[1])
            self._ir_cache = (k.detach().clone(), torch.as_tensor(tp / gp_np),
                              None if gm is None else torch.as_tensor(tm / gm_np))
            self._ir_age = 0
        if self.training:
            self._ir_age += 1
        _, fp, fm = self._ir_cache
        return gp * fp, (None if gm is None else gm * fm)

    # ----- the analog matrix product ------------------------------------------------------------------------------
    def _column_sums(self, xq: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, d): column sums y (T, N S, cycles M) in level units and the input digits d (K, cycles M)."""
        cfg = self.imc
        mrows, kk = xq.shape
        d = xq.T if cfg.input_cycles == 1 else \
            input_digits(xq, cfg.input_bits, cfg.dac.bits).permute(2, 0, 1).reshape(kk, -1)  # (K, Cy M)
        return _tile_products(e, d), d

    @torch.no_grad()
    def analog_mvm(self, xq: torch.Tensor, k: torch.Tensor, signed_in: bool, levels=None) -> torch.Tensor:
        """Integer-domain result (M, N) of input codes ``xq`` (M, K) times weight codes ``k`` (N, K) as the core
        computes it: tiles, slices, input cycles, ADC instances, shift-and-add (see the module docstring).
        ``levels``: :meth:`cell_levels` of ``k`` with squares, when already computed."""
        cfg = self.imc
        chip, adc, gen, inst, rt, ncols, uniform = self._chip
        dtype = self._exact_dtype()
        sigma = cfg.device.read_noise if gen is not None else 0.0
        e, sq = levels if levels is not None else self.cell_levels(k, squares=True)
        sq = sq if sigma > 0 else None
        xq = xq.to(dtype)
        y, d = self._column_sums(xq, e.to(dtype))                     # (T, NS, Cy M)
        if sq is not None:
            # relative gaussian noise on every device's G per read: the column's std is sigma sqrt(sum_r d_r^2
            # sum_devices G_r^2) (as nonideal.read_noise_current), here in level units
            var = _tile_products(sq.to(dtype), d * d)
            y = y + sigma * torch.sqrt(var) * torch.randn(y.shape, generator=gen, dtype=y.dtype)
        signed = cfg.encoding == "differential" or signed_in
        cy, mrows = cfg.input_cycles, xq.shape[0]
        yq = y.reshape(rt * ncols, cy * mrows)
        if self.nonideal.adc:
            yq = adc_convert(yq, adc, inst, float(self.adc_step), signed, uniform, self._adc_table)
        yq = yq.reshape(rt, self.n_out, cfg.slices, cy, mrows)
        # shift-and-add: slice s weighs 2^(cell_bits s), input cycle c 2^(dac bits c); then the sum over row tiles
        shift = (2.0 ** (cfg.cell_bits * torch.arange(cfg.slices, dtype=dtype))[:, None]
                 * 2.0 ** (cfg.dac.bits * torch.arange(cy, dtype=dtype))[None, :]).reshape(-1)
        out = torch.matmul(shift, yq.reshape(rt, self.n_out, cfg.slices * cy, mrows)).sum(0).T
        if cfg.encoding == "offset":
            out = out - 2.0 ** (cfg.weight_bits - 1) * xq.sum(1, keepdim=True)
        return out

    @torch.no_grad()
    def calibrate_adc_(self, xq: torch.Tensor, k: torch.Tensor, signed_in: bool) -> None:
        """Set the ADC step so the top code sits at the ``adc_quantile`` of |column sums| on this batch (ideal chip
        columns, before the ADC)."""
        cfg = self.imc
        y, _ = self._column_sums(xq.double(), self.cell_levels(k).double())
        y = y.abs().flatten()
        if y.numel() > 1_000_000:  # torch.quantile's size limit; a fixed subsample is plenty for a quantile
            y = y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        top = _quantile(y, self.adc_quantile)
        signed = cfg.encoding == "differential" or signed_in
        codes = 2 ** (cfg.adc.bits - 1) - 1 if signed else 2**cfg.adc.bits - 1
        self.adc_step.fill_(max(top, 1e-6) / codes)
        self.adc_calibrated.fill_(True)

    def effective_weight(self, k: torch.Tensor, s_w: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        """Weights (N, K) the programmed cells represent (device effects included), with the gradient of k s_w;
        ``e``: :meth:`cell_levels` of ``k`` when already computed."""
        cfg = self.imc
        n, kk = k.shape
        with torch.no_grad():
            e = (self.cell_levels(k) if e is None else e).reshape(-1, n, cfg.slices)[:kk]   # (K, N, S)
            ws = 2.0 ** (cfg.cell_bits * torch.arange(cfg.slices, dtype=e.dtype))
            keff = (e * ws).sum(-1).T                                             # (N, K)
            if cfg.encoding == "offset":
                keff = keff - 2.0 ** (cfg.weight_bits - 1)
            keff = keff.to(k.dtype)
        return (k + (keff - k).detach()) * s_w

    def _imc_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output (before bias, in the layout of :meth:`_digital`) for its input ``x``."""
        if not bool(self.act_quant.initialized):  # first use in eval mode: take the range of this batch
            with torch.no_grad():
                self.act_quant.train()(x)
                self.act_quant.train(self.training)
        xq_f = self.act_quant(x)
        s_x, signed_in = self.act_quant.scale()
        k, s_w = self.weight_codes()
        with torch.no_grad():
            rows = self._rows(torch.round(xq_f / s_x))                               # (M, K) integer codes
            if not bool(self.adc_calibrated):
                self.calibrate_adc_(rows, k, signed_in)
            levels = self.cell_levels(k, squares=True)
            analog = self.analog_mvm(rows, k, signed_in, levels).to(x.dtype).mul_(s_w.detach().T * s_x)
            analog = self._from_rows(analog, x)
        if not torch.is_grad_enabled():
            return analog
        # straight-through: the value of the analog core, the gradient of the fake-quantised layer with the chip's
        # effective weights (device effects; the ADC and read noise pass straight through)
        ideal = self._digital(xq_f, self.effective_weight(k, s_w, levels[0]))
        return ideal + (analog - ideal).detach()


class IMCConv2d(IMCLayerMixin, nn.Conv2d):
    """A convolution on IMC crossbars (see the module docstring); groups = 1, zero padding."""

    def __init__(self, *args, imc: IMCConfig, layer_index: int = 0, nonideal: NonIdealities | None = None,
                 adc_step: str | float = "calibrate", adc_quantile: float = 0.999, **kwargs):
        nn.Conv2d.__init__(self, *args, **kwargs)
        if self.groups != 1 or self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ModelError("IMC convolutions support groups = 1 and zero padding given as numbers")
        self._init_imc(imc, layer_index, nonideal, adc_step, adc_quantile)

    @classmethod
    def from_float(cls, conv: nn.Conv2d, imc: IMCConfig, layer_index: int = 0, **kw) -> "IMCConv2d":
        """An IMC copy of ``conv`` holding the same weights."""
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                dilation=conv.dilation, bias=conv.bias is not None, imc=imc, layer_index=layer_index, **kw)
        with torch.no_grad():
            m.weight.copy_(conv.weight)
            if conv.bias is not None:
                m.bias.copy_(conv.bias)
        return m

    @property
    def k_rows(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    @property
    def n_out(self) -> int:
        return self.out_channels

    def workload_layer(self) -> Layer:
        # the mapping depends on K and N only (the spatial size sets the pixel count, not the tiling)
        return Layer.conv2d("imc", self.kernel_size, self.in_channels, self.out_channels, self.kernel_size)

    def _rows(self, codes: torch.Tensor) -> torch.Tensor:
        if tuple(self.dilation) != (1, 1):
            cols = F.unfold(codes, self.kernel_size, self.dilation, self.padding, self.stride)   # (B, K, L)
            return cols.transpose(1, 2).reshape(-1, self.k_rows)
        # the windows as a strided view (B, C, oh, ow, kh, kw) copied once into rows (B oh ow, C kh kw) (the im2col
        # order of F.unfold): one copy instead of unfold's plus a transposing one (2.2x faster on LeNet-5's conv1)
        ph, pw = self.padding
        xp = F.pad(codes, (pw, pw, ph, ph)) if ph or pw else codes
        v = xp.unfold(2, self.kernel_size[0], self.stride[0]).unfold(3, self.kernel_size[1], self.stride[1])
        return v.permute(0, 2, 3, 1, 4, 5).reshape(-1, self.k_rows)

    def _from_rows(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        kh, kw = self.kernel_size
        oh = (h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        ow = (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        return out.reshape(b, oh * ow, self.out_channels).transpose(1, 2).reshape(b, self.out_channels, oh, ow)

    def _digital(self, xq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(xq, w.reshape(self.weight.shape), None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._imc_forward(x)
        return out if self.bias is None else out + self.bias[:, None, None]


class IMCLinear(IMCLayerMixin, nn.Linear):
    """A dense layer on IMC crossbars (see the module docstring)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, imc: IMCConfig,
                 layer_index: int = 0, nonideal: NonIdealities | None = None, adc_step: str | float = "calibrate",
                 adc_quantile: float = 0.999):
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._init_imc(imc, layer_index, nonideal, adc_step, adc_quantile)

    @classmethod
    def from_float(cls, lin: nn.Linear, imc: IMCConfig, layer_index: int = 0, **kw) -> "IMCLinear":
        """An IMC copy of ``lin`` holding the same weights."""
        m = cls(lin.in_features, lin.out_features, bias=lin.bias is not None, imc=imc, layer_index=layer_index, **kw)
        with torch.no_grad():
            m.weight.copy_(lin.weight)
            if lin.bias is not None:
                m.bias.copy_(lin.bias)
        return m

    @property
    def k_rows(self) -> int:
        return self.in_features

    @property
    def n_out(self) -> int:
        return self.out_features

    def workload_layer(self) -> Layer:
        return Layer.linear("imc", self.in_features, self.out_features, self.bias is not None)

    def _rows(self, codes: torch.Tensor) -> torch.Tensor:
        return codes.reshape(-1, self.in_features)

    def _from_rows(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return out.reshape(*x.shape[:-1], self.out_features)

    def _digital(self, xq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(xq, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._imc_forward(x)
        return out if self.bias is None else out + self.bias
