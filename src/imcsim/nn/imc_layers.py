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

**Grouped and depthwise convolutions** sit block-diagonally, as :func:`~imcsim.arch.imc.map_layer` places them
(:class:`GroupLayout`): group g's K / groups rows (its input channels' im2col rows, so the rows are the whole
input's im2col rows) by its N / groups channels' columns, in one (K) x (N S) matrix cut into R x C arrays, an array
allocated only where a block reaches into it (its ADC instances numbered over the allocated arrays alone). The
cells outside the blocks are unprogrammed (level 0, G_off, with their device draws); a row is driven only into the
arrays its group's columns reach, so inside such an array the other groups' rows read their level-0 cells' errors
(stuck-at, variation, read noise); a column is converted only in the row tiles its group's rows reach. Per row
tile the layer computes and converts just those groups' columns (a convolution over the tile's input channels),
and offset encoding subtracts each group's own window sums.

``step`` is one number per layer, fixed once (never per chip): ``adc_step = "lossless"`` is 1 level unit (an ADC
that resolves every integer column sum inside its range), otherwise the layer calibrates it on its first batch so
the top code sits at the ``adc_quantile`` of the |column sums| (the ADC reference a designer sets per layer).

Gradients are straight-through: the forward value is the analog result, the backward pass that of the
fake-quantised layer with the chip's effective weights (device effects included, ADC and read noise passed
through), computed by :class:`_StraightThrough` from the saved input codes without a second (digital) forward.

How it is computed (the speed target: an ADC-aware LeNet-5 training epoch within 3x the float one). Per row tile,
one convolution of the input digits (dense layers: one batched product over all row tiles) gives every column sum,
with each column's ADC gain, offset and step folded into its weights and bias, so the result is already the ADC
input in the units of the conversion; columns are ordered slice-major (s N + n), so shift-and-add is a few exact
additions of whole (B, N, P) slices. The conversion is an exact table lookup (:class:`ADCTable`: an ideal rounding
when the thresholds are ideal; one gather, floor(z + jump), when no table cell holds two thresholds) done in place in
scratch tensors the layer keeps; signed columns' code offset c0 is subtracted once from the shift-and-add's sums
rather than from every code, where those integer sums stay exact (:meth:`IMCLayerMixin._fold_c0`). A seeded chip (:meth:`set_chip`) is
drawn as :mod:`imcsim.circuit.chip` draws chip ``seed``; the fresh chip of every noise-aware training batch
(:meth:`resample_chip`) draws its devices in torch, with the same distributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imcsim.arch.imc import map_layer
from imcsim.config.imc import IMCConfig
from imcsim.errors import ModelError
from imcsim.nn.adc import ADCInstances, ideal_adc, sample_adc
from imcsim.nn.nonideal import Chip, NonIdealities, draw_training_devices, effect_rng, ir_drop_exact, sample_chip
from imcsim.nn.quant import ActQuant, quantize_symmetric, ste_round, weight_scale_per_channel
from imcsim.workload.layer import Layer

__all__ = ["ADCTable", "ChipState", "GroupLayout", "group_layout", "IMCLayerMixin", "IMCConv2d", "IMCLinear", "input_digits", "weight_digits",
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
    """Cell digits of integer weight codes ``k`` (float tensor of integers, any shape, e.g. (N, K)): (positive,
    negative) digit tensors (*k.shape, slices) in [0, 2^cell_bits - 1], of k's dtype; ``negative`` is None for
    offset encoding (one device per cell). Digit s of a magnitude m is floor(m / 2^(cell_bits s)) mod 2^cell_bits."""
    m = k + 2.0 ** (cfg.weight_bits - 1) if cfg.encoding == "offset" else k.abs()
    base = 2.0**cfg.cell_bits
    d = torch.empty(*k.shape, cfg.slices, dtype=k.dtype)
    for s in range(cfg.slices):  # floor(m / base^s) - base floor(m / base^(s+1)): exact (powers of two)
        q = torch.floor(m * base ** -(s + 1))
        torch.sub(torch.floor(m * base**-s) if s else m, q, alpha=base, out=d[..., s])
    if cfg.encoding == "offset":
        return d, None
    pos = d * (k > 0).unsqueeze(-1)
    return pos, d - pos


def instance_of_column(row_tiles: int, n_cols: int, cfg: IMCConfig) -> np.ndarray:
    """ADC instance (row_tiles, n_cols) converting column j of row tile t: array (t, j // C), ADC (j % C) // k."""
    col_tiles = math.ceil(n_cols / cfg.cols)
    j = np.arange(n_cols)
    t = np.arange(row_tiles)[:, None]
    return (t * col_tiles + j // cfg.cols) * cfg.adcs_per_array + (j % cfg.cols) // cfg.cols_per_adc


@dataclass(frozen=True)
class GroupLayout:
    """Where a grouped layer's weights sit on the arrays: :func:`imcsim.arch.imc.map_layer`'s block-diagonal mapping.

    Group g's K rows are rows g K .. g K + K - 1 of the (groups K) x (groups N S) matrix (im2col order of the whole
    input, so they are the group's input channels) and its N S columns are g N S .. g N S + N S - 1 (physical
    column n S + s of output channel n); the matrix is cut into R x C arrays and an array is allocated where a
    diagonal block reaches into it, numbered row tile by row tile, column tiles in order.

    Attributes:
        row_tiles: row tiles of the groups K rows.
        n_cols: groups N S columns.
        arrays: allocated arrays.
        inst: (row tiles, columns) the ADC instance converting column j of row tile t: allocated array (t, j // C),
            ADC (j % C) // k (0 where the column is not converted).
        converted: (row tiles, columns) whether the column's group has rows in the tile (its arrays there convert
            it; otherwise it adds nothing to that tile's partial sum).
        driven: (rows, columns) whether row r is driven into the array holding column j: the row's group reaches
            that column tile (the cells of other groups' rows in the same array are level-0 cells that read their
            device error; rows not driven read nothing).
        block: (rows, N) whether row r and output channel n are in one group (the programmed cells).
        channels: per row tile, the output channels (n0, n1) of the groups with rows in it (the converted ones).
    """

    row_tiles: int
    n_cols: int
    arrays: int
    inst: np.ndarray
    converted: np.ndarray
    driven: np.ndarray
    block: np.ndarray
    channels: tuple[tuple[int, int], ...]


def group_layout(groups: int, k: int, n: int, cfg: IMCConfig) -> GroupLayout:
    """The :class:`GroupLayout` of ``groups`` blocks of ``k`` rows by ``n`` output channels on ``cfg``'s arrays."""
    r, c, s = cfg.rows, cfg.cols, cfg.slices
    nw = n * s
    rows, ncols = groups * k, groups * nw
    rt = math.ceil(rows / r)
    g = np.arange(groups)
    t_lo, t_hi = g * k // r, ((g + 1) * k - 1) // r          # row tiles of each group
    c_lo, c_hi = g * nw // c, ((g + 1) * nw - 1) // c        # column tiles of each group
    alloc = np.zeros((rt, math.ceil(ncols / c)), bool)
    for gi in range(groups):
        alloc[t_lo[gi]:t_hi[gi] + 1, c_lo[gi]:c_hi[gi] + 1] = True
    index = np.cumsum(alloc.reshape(-1)).reshape(alloc.shape) - 1
    j = np.arange(ncols)
    gj = j // nw
    t = np.arange(rt)[:, None]
    converted = (t >= t_lo[gj]) & (t <= t_hi[gj])
    arr = np.where(alloc[t, j // c], index[t, j // c], 0)
    inst = arr * cfg.adcs_per_array + (j % c) // cfg.cols_per_adc
    gr = np.arange(rows) // k
    driven = (j // c >= c_lo[gr][:, None]) & (j // c <= c_hi[gr][:, None])
    block = gr[:, None] == (np.arange(groups * n) // n)[None, :]
    channels = tuple((int(gr[t * r]) * n, (int(gr[min(rows, t * r + r) - 1]) + 1) * n) for t in range(rt))
    return GroupLayout(rt, ncols, int(alloc.sum()), inst, converted, driven, block, channels)


@dataclass(frozen=True)
class ADCTable:
    """Exact lookup form of ADC transfer curves, for converting millions of column sums fast.

    Works on ADC inputs in *cell units* z = grid x - g0 (x in LSB of the converter's input; ``grid`` a power of two,
    so grid x is exact in floating point, and g0 an integer): cell c is z in [c, c + 1). ``below[i cells + c]``
    counts instance i's thresholds below the cell and ``inside[p, i cells + c]`` is the p-th threshold inside it (in
    cell units, +inf where the cell holds fewer), so the code #{t <= x} is below + #{inside <= z}: exactly
    :func:`torch.searchsorted` (right) of the thresholds, with one gather per threshold a cell can hold. The first
    and the last cell hold no threshold, so inputs beyond them can be clamped into them.

    When every cell holds at most one threshold (the usual case), one gather does: ``jump[i cells + c]`` is
    below + 1 - t for a cell holding threshold t, below - c for an empty one, and the code is floor(z + jump), exact
    in floating point: z and t lie in [c, c + 1), one binade (c >= 1; cell 0 holds none), so both are multiples of
    its unit u, and so are jump and z + jump, whose magnitudes stay below c + 1 <= 2^(e + 1) (below <= c - 1, one
    threshold per cell from cell 1 on): representable, no rounding. ``c0`` is the shift :meth:`shifted` applies.
    """

    g0: int
    cells: int
    grid: float
    below: torch.Tensor    # (instances cells,) float
    inside: torch.Tensor   # (P, instances cells) float, +inf where empty
    jump: torch.Tensor | None = None   # (instances cells,) float, when P = 1
    c0: float = 0.0

    @classmethod
    def build(cls, adc: ADCInstances, dtype: torch.dtype = torch.float32) -> "ADCTable":
        th = adc.thresholds_v / adc.lsb_v                                                  # (n, m) in LSB
        n, m = th.shape
        j = np.arange(m)
        grid = 4.0
        while True:  # the finest grid up to 64 cells per LSB that leaves at most one threshold per cell
            g0 = int(np.floor(th.min() * grid)) - 1
            cells = int(np.ceil(th.max() * grid)) - g0 + 2
            cell = np.floor(th * grid).astype(np.int64) - g0                               # (n, m), sorted rows
            new = np.ones((n, m), bool)
            new[:, 1:] = cell[:, 1:] != cell[:, :-1]
            rank = j - np.maximum.accumulate(np.where(new, j, 0), axis=1)  # index among the thresholds of its cell
            if rank.max() == 0 or grid >= 64:
                break
            grid *= 2
        # below[i, c] = #{t < (g0 + c) / grid} = #{cell(t) < c} (grid t is exact, g0 + c an integer)
        flat = (np.arange(n)[:, None] * cells + cell).ravel()                              # (n m) table index
        counts = np.bincount(flat, minlength=n * cells).reshape(n, cells)
        below = (np.cumsum(counts, axis=1) - counts).reshape(-1)
        p = int(rank.max()) + 1
        z = (th * grid - g0).ravel()
        inside = np.full((p, n * cells), np.inf)
        inside[rank.ravel(), flat] = z
        inside_t = torch.as_tensor(inside, dtype=dtype)
        jump = None
        if p == 1:  # from the stored (rounded) thresholds, so the one gather agrees with the two exactly
            t = z.astype(torch.empty(0, dtype=dtype).numpy().dtype).astype(np.float64)
            jump = below - np.tile(np.arange(cells, dtype=np.float64), n)                # empty cells
            jump[flat] = below[flat] + 1.0 - t
            jump = torch.as_tensor(jump, dtype=dtype)
        return cls(g0, cells, grid, torch.as_tensor(below, dtype=dtype), inside_t, jump)

    def shifted(self, c0: float) -> "ADCTable":
        """The same table giving code - ``c0`` (an integer: exact in floating point)."""
        return ADCTable(self.g0, self.cells, self.grid, self.below - c0, self.inside, self.jump, self.c0 + c0)

    def codes_(self, z: torch.Tensor, inst: torch.Tensor | int, work=None) -> torch.Tensor:
        """Codes of ADC inputs ``z`` (contiguous, cell units; clamped in place into the table) read by instance
        ``inst``: one instance index for all of ``z``, or each instance's offset into the tables (instance index
        times ``cells``, int32, broadcasting against ``z``). ``work(name, dtype)``: scratch tensors of z's size to
        compute in (the result is one of them), else new ones."""
        def scratch(name, dtype):
            return torch.empty(z.shape, dtype=dtype) if work is None else work(name, dtype).view(z.shape)

        z = z.clamp_(0.0, self.cells - 0.5)
        idx = scratch("idx", torch.int32).copy_(z)             # floor, as z >= 0; int32: half the bytes of int64
        below, inside = self.below, self.inside
        if isinstance(inst, int):  # that instance's tables
            below, inside = below[inst * self.cells:(inst + 1) * self.cells], \
                inside[:, inst * self.cells:(inst + 1) * self.cells]
        else:
            idx.add_(inst)
        idx, zf = idx.view(-1), z.view(-1)
        if self.jump is not None:  # floor(z + jump): one gather (exact, see the class docstring)
            jump = self.jump if isinstance(inst, torch.Tensor) else self.jump[inst * self.cells:(inst + 1) * self.cells]
            code = torch.index_select(jump, 0, idx, out=scratch("code", z.dtype).view(-1)).add_(zf).floor_()
            return (code.sub_(self.c0) if self.c0 else code).view(z.shape)
        code = torch.index_select(below, 0, idx, out=scratch("code", z.dtype).view(-1))
        th = scratch("threshold", z.dtype).view(-1)
        for p in range(inside.shape[0]):
            code.add_(torch.index_select(inside[p], 0, idx, out=th).le_(zf))
        return code.view(z.shape)


@dataclass(frozen=True)
class ChipState:
    """The chip a layer computes on: its devices, ADC instances and read-noise stream.

    Attributes:
        devices: stuck-at faults and variation of the (2, rows, N S) devices (row r of the K rows, then a seeded
            chip's unused rows of its last row tile; column n S + s), as torch tensors:
            :func:`~imcsim.nn.nonideal.sample_chip`'s draws (float64) for a seeded chip,
            :func:`~imcsim.nn.nonideal.draw_training_devices`' (float32) for a training draw; None: nominal devices.
        adc: the ADC instances (ideal ones for the ideal chip).
        read_gen: the read-noise stream (None: no read noise).
        inst: (row tiles, N S) ADC instance converting each column (:func:`instance_of_column`).
        uniform: the instances have ideal thresholds (no INL or DNL): the code is a clamped rounding.
        table: :class:`ADCTable` of ``adc`` when not ``uniform``.
        seed: the chip's seed (None: the ideal chip or a training draw).
        stuck: some device is stuck.
    """

    devices: Chip | None
    adc: ADCInstances
    read_gen: torch.Generator | None
    inst: np.ndarray
    uniform: bool
    table: ADCTable | None
    seed: int | None = None
    stuck: bool = False
    _shifted: dict = field(default_factory=dict, repr=False, compare=False)
    cache: dict = field(default_factory=dict, repr=False, compare=False)   # IMCLayerMixin._adc_setup's

    def table_minus(self, c0: float) -> ADCTable:
        """:attr:`table` giving code - ``c0`` (made once per ``c0``)."""
        if c0 not in self._shifted:
            self._shifted[c0] = self.table.shifted(c0) if c0 else self.table
        return self._shifted[c0]

    @property
    def row_tiles(self) -> int:
        return int(self.inst.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.inst.shape[1])


#: ADC conversions per tile computed at once, at most (larger batches are split: a bound on memory; chunks in
#: cache measured no faster, the convolutions' fixed costs outweigh it).
_CHUNK = 1 << 22


def _quantile(y: torch.Tensor, q: float) -> float:
    """``torch.quantile(y, q)`` (linear interpolation between the order statistics around q (n - 1)) of a 1-D
    tensor, without its size limit: two selections (:func:`torch.kthvalue`, linear time) instead of a full sort, or
    for a quantile in the top eighth, the largest n - lo values, which hold both (:func:`_largest`)."""
    n = y.numel()
    pos = q * (n - 1)
    lo = math.floor(pos)
    if n - lo <= n // 8:
        top = _largest(y, n - lo)                    # descending: [-1] is order statistic lo, [-2] lo + 1
        a, b = float(top[-1]), float(top[-2]) if n - lo >= 2 else float(top[-1])
    else:
        a = float(torch.kthvalue(y, lo + 1).values)
        b = float(torch.kthvalue(y, lo + 2).values) if pos != lo else a
    return a if pos == lo else a + (b - a) * (pos - lo)


def _largest(y: torch.Tensor, m: int) -> torch.Tensor:
    """The ``m`` largest values of a 1-D tensor, descending (:func:`torch.topk`), from the values at or above a
    threshold that a strided sample puts a little below the m-th largest: exact, as the threshold is checked to
    leave at least m values (else all of ``y`` is searched)."""
    n = y.numel()
    stride = max(1, n // 65536)
    if stride > 1:
        sample = y[::stride].contiguous()
        ns = sample.numel()
        k = ns - min(ns, 4 * m * ns // n + 64)      # about 4x the sample's expected share of the top m, below them
        if k > 0:
            sel = y[y >= torch.kthvalue(sample, k).values]
            if sel.numel() >= m:
                return torch.topk(sel, m).values
    return torch.topk(y, m).values


class _StraightThrough(torch.autograd.Function):
    """The analog core's output forward, the digital layer's gradients backward: the layer computed with the
    fake-quantised input (``codes`` = clamp(r, lo, hi) times the input scale ``s``, r = round(x / s)), the chip's
    effective weights ``w`` (device effects in; ADC and read noise pass straight through) and ``bias``, without
    computing that digital layer forward (``analog`` holds the bias already). The input's gradient is
    :class:`~imcsim.nn.quant.ActQuant`'s straight-through one: passed where the clamp left r unchanged, else 0."""

    @staticmethod
    def forward(ctx, x, w, bias, analog, layer, r, codes, s):
        ctx.save_for_backward(r, codes, w)
        ctx.layer, ctx.s = layer, s
        return analog

    @staticmethod
    def backward(ctx, grad):
        r, codes, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xq = codes * ctx.s if need_w else codes
        gx, gw = ctx.layer._digital_grads(grad, xq, w, need_x, need_w)
        if gx is not None:
            gx = gx.masked_fill_(r != codes, 0.0)
        gb = ctx.layer._bias_grad(grad) if need_b else None
        return gx, gw, gb, None, None, None, None, None


class IMCLayerMixin:
    """What :class:`IMCConv2d` and :class:`IMCLinear` share: the core config, the chip, the analog forward."""

    imc: IMCConfig
    nonideal: NonIdealities
    layer_index: int

    def _copy_parameters(self, src: nn.Module):
        """Take ``src``'s weight and bias (the float layer this IMC layer replaces); returns ``self``."""
        with torch.no_grad():
            self.weight.copy_(src.weight)
            if src.bias is not None:
                self.bias.copy_(src.bias)
        return self

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
        self._chip: ChipState | None = None
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

    @property
    def n_groups(self) -> int:
        """Convolution groups (1 for dense layers)."""
        return int(getattr(self, "groups", 1))

    def tiling(self) -> tuple[int, int, int]:
        """(row tiles, columns N slices, arrays) from the cost model's mapping (:func:`imcsim.arch.imc.map_layer`);
        for a grouped layer, of its block-diagonal (groups K) x (groups N slices) matrix (:meth:`group_layout`)."""
        if self.n_groups > 1:
            lay = self.group_layout()
            return lay.row_tiles, lay.n_cols, lay.arrays
        # kept per (frozen) config and layer shape: every training batch's fresh chip asks for it
        key = (self.imc, self.k_rows, self.n_out)
        cached = self.__dict__.get("_tiling")
        if cached is not None and cached[0][0] is key[0] and cached[0][1:] == key[1:]:
            return cached[1]
        m = map_layer(self.workload_layer(), self.imc)
        rt = math.ceil(m.rows / self.imc.rows)
        if rt * math.ceil(m.cols / self.imc.cols) != m.arrays:
            raise ModelError("IMC layer tiling disagrees with the cost model's mapping")
        self.__dict__["_tiling"] = (key, (rt, m.cols, m.arrays))
        return rt, m.cols, m.arrays

    def group_layout(self) -> "GroupLayout":
        """The block-diagonal placement of a grouped layer's arrays (made once per core geometry)."""
        cfg = self.imc
        key = (cfg.rows, cfg.cols, cfg.slices, cfg.adcs_per_array, cfg.cols_per_adc)
        cache = self.__dict__.setdefault("_group_layout", {})
        if key not in cache:
            cache.clear()
            lay = group_layout(self.n_groups, self.k_rows // self.n_groups, self.n_out // self.n_groups, cfg)
            m = map_layer(self.workload_layer(), cfg)
            if lay.arrays != m.arrays or int(lay.converted.sum()) != m.cols_read:
                raise ModelError("IMC layer tiling disagrees with the cost model's mapping")
            cache[key] = lay
        return cache[key]

    def tile_rows(self, rt: int) -> list[tuple[int, int]]:
        """[(first row, end row), ...] of the ``rt`` row tiles: R rows each (``rows``), the last one what remains."""
        r = self.imc.rows
        return [(t * r, min(self.k_rows, (t + 1) * r)) for t in range(rt)]

    def _exact_dtype(self) -> torch.dtype:
        """float32 while every integer partial sum stays below 2^24 (exact), float64 otherwise."""
        cfg = self.imc
        bound = self.k_rows * 2.0 ** (cfg.weight_bits + cfg.input_bits + 1)
        return torch.float32 if bound < 2**24 else torch.float64

    # ----- non-idealities ---------------------------------------------------------------------------------------------
    def set_chip(self, seed: int | None) -> None:
        """Fix one chip drawn with ``seed`` (devices, ADC instances, read-noise stream), or None: ideal devices and
        ideal ADCs of ``adc.bits``. The devices are drawn over the (2, rows, N S) stack of the layer's row tiles (R
        rows per tile, or K when one tile holds them all), :func:`~imcsim.nn.nonideal.sample_chip`'s chip ``seed``;
        the rows beyond K carry no input (their devices only load the wires, ``ir_drop = "exact"``)."""
        cfg, ni = self.imc, self.nonideal
        rt, ncols, arrays = self.tiling()
        dev = cfg.device
        chip = None
        if seed is not None and ni.device and (dev.variation > 0 or dev.stuck_low_rate > 0 or dev.stuck_high_rate > 0):
            chip = sample_chip((self._rows_padded(rt), ncols), dev, seed, self.layer_index)
        n_adc = arrays * cfg.adcs_per_array
        if seed is None or not ni.adc:
            adc = ideal_adc(cfg.adc, n_adc)
        else:
            adc = sample_adc(cfg.adc, n_adc, effect_rng(seed, "adc", self.layer_index))
        gen = None
        if seed is not None and ni.read_noise and dev.read_noise > 0:
            gen = torch.Generator()
            gen.manual_seed(int(effect_rng(seed, "read", self.layer_index).integers(2**62)))
        self._set_state(chip, adc, gen, seed is None, seed)

    def resample_chip(self, generator: torch.Generator, rng: np.random.Generator) -> None:
        """A fresh chip for one noise-aware training batch: devices drawn in torch from ``generator``
        (:func:`~imcsim.nn.nonideal.draw_training_devices`: the distributions of a seeded chip, not its draws),
        ADC instances from ``rng`` (:func:`~imcsim.nn.adc.sample_adc`), read noise from ``generator``."""
        cfg, ni = self.imc, self.nonideal
        rt, ncols, arrays = self.tiling()
        dev = cfg.device
        chip = None
        if ni.device and (dev.variation > 0 or dev.stuck_low_rate > 0 or dev.stuck_high_rate > 0):
            chip = draw_training_devices((self.k_rows, ncols), dev, generator, torch.float32)
        n_adc = arrays * cfg.adcs_per_array
        adc = sample_adc(cfg.adc, n_adc, rng) if ni.adc else ideal_adc(cfg.adc, n_adc)
        gen = generator if ni.read_noise and dev.read_noise > 0 else None
        self._set_state(chip, adc, gen, False, None, dev.stuck_low_rate > 0 or dev.stuck_high_rate > 0)

    def _rows_padded(self, rt: int) -> int:
        """Rows of the tile stack: R per row tile, or just K when one tile holds them all (the unused rows of that
        array carry no input and add nothing)."""
        return self.k_rows if rt == 1 else rt * self.imc.rows

    def _set_state(self, chip: Chip | None, adc: ADCInstances, gen: torch.Generator | None, ideal: bool,
                   seed: int | None, stuck: bool | None = None) -> None:
        cfg = self.imc
        self._ir_cache, self._ir_age = None, 0
        rt, ncols, _ = self.tiling()
        uniform = ideal or (cfg.adc.inl_lsb == 0 and cfg.adc.dnl_lsb == 0)
        table = ADCTable.build(adc, self._exact_dtype()) if self.nonideal.adc and not uniform else None
        if chip is not None:
            chip = Chip(*(torch.as_tensor(x) for x in (chip.stuck_low, chip.stuck_high, chip.inv_factor)))
            if stuck is None:
                stuck = bool(chip.stuck_low.any() or chip.stuck_high.any())
        stuck = bool(stuck)
        inst = self.group_layout().inst if self.n_groups > 1 else instance_of_column(rt, ncols, cfg)
        self._chip = ChipState(chip, adc, gen, inst, uniform, table, seed, stuck)

    # ----- weights ----------------------------------------------------------------------------------------------------
    def weight_codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, scale): integer codes (N, K) with straight-through gradients and per-channel scales (N, 1)."""
        w = self.weight.reshape(self.weight.shape[0], -1)
        scale = weight_scale_per_channel(w, self.imc.weight_bits)
        q = 2 ** (self.imc.weight_bits - 1) - 1
        return torch.clamp(ste_round(w / scale), -q, q), scale

    @torch.no_grad()
    def cell_levels(self, k: torch.Tensor, squares: bool = False):
        """Effective cell levels e (K, N slices) of the programmed chip, in level units (row r of the layer's K,
        column n S + s); with ``squares`` also the sum over the cell's devices of (G / unit)^2 (same shape), for
        the read noise. float64 on seeded chips, float32 on training chips."""
        cfg = self.imc
        chip, gen = self._chip.devices, self._chip.read_gen
        dtype = torch.float64 if chip is None else chip.inv_factor.dtype
        lay = self.group_layout() if self.n_groups > 1 else None
        if lay is not None and k.shape[1] != self.k_rows:  # (N, K / groups) -> the block-diagonal (N, K)
            k = torch.block_diag(*k.detach().reshape(self.n_groups, -1, k.shape[1]))
        pos, neg = weight_digits(k.detach().T.to(dtype), cfg)    # (K, N, S): row r, column n S + s
        kk, n, s = pos.shape
        if lay is not None:  # cells outside the diagonal blocks stay unprogrammed (level 0, G_off)
            pos.mul_(torch.as_tensor(lay.block, dtype=dtype).unsqueeze(-1))
        pos = pos.reshape(kk, n * s)
        neg = None if neg is None else neg.reshape(kk, n * s)
        g_on, g_off = cfg.device.conductances
        unit = (g_on - g_off) / (2**cfg.cell_bits - 1)
        wires = self.nonideal.ir_drop == "exact"
        if chip is None and cfg.device.drift_nu == 0 and not (squares and gen is not None) and not wires:
            e = pos - neg if neg is not None else pos   # (off-block cells read 0: the undriven rows need no mask)
            return (e, None) if squares else e
        if wires:  # every row of the arrays (the last tile's unused ones at level 0) loads the wires
            pad = self._rows_padded(self._chip.row_tiles) - kk
            pos = F.pad(pos, (0, 0, 0, pad))
            neg = None if neg is None else F.pad(neg, (0, 0, 0, pad))
        # programmed conductances (S) of the G+ devices and, for differential pairs, the G- devices (offset cells
        # read against the periphery's nominal G_off reference)
        gp = pos.mul_(unit).add_(g_off)
        gm = None if neg is None else neg.mul_(unit).add_(g_off)
        if chip is not None:
            gp, gm = self._program(gp, gm)
        dev = cfg.device
        if dev.drift_nu > 0:
            f = (dev.drift_time_s / dev.drift_t0_s) ** (-dev.drift_nu)
            gp, gm = gp.mul_(f), (None if gm is None else gm.mul_(f))
        if wires:  # the arrays' column currents through the wires: I = T(G) v, T in place of G
            tp, tm = self._wire_drop(k, gp, gm)
            e = ((tp - tm) / unit if gm is not None else (tp - g_off) / unit)[:kk]
            gp, gm = gp[:kk], (None if gm is None else gm[:kk])
        else:
            e = (gp - gm).div_(unit) if gm is not None else (gp - g_off).div_(unit)
        driven = None
        if lay is not None:  # a row is driven only into the arrays its group's columns reach: elsewhere it reads 0
            driven = torch.as_tensor(lay.driven, dtype=e.dtype)
            e = e.mul_(driven)
        if not squares:
            return e
        if gen is None:  # no read noise: the squares are not needed
            return e, None
        sq = (gp / unit).square_() + ((gm / unit).square_() if gm is not None else 0.0)
        return e, (sq if driven is None else sq.mul_(driven))

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

    def _program(self, gp: torch.Tensor, gm: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The chip's devices applied in place to nominal conductances (K, N S) (S) as
        :meth:`imcsim.circuit.chip.DeviceDraws.program` applies them: stuck devices at G_on / G_off, then every
        device times its variation factor (device 0: G+, device 1: G-)."""
        st = self._chip
        chip = st.devices
        g_on, g_off = self.imc.device.conductances
        out = []
        for i, g in enumerate((gp, gm)):
            if g is not None:
                rows = g.shape[0]
                if st.stuck:
                    g = g.masked_fill_(chip.stuck_high[i][:rows], g_off).masked_fill_(chip.stuck_low[i][:rows], g_on)
                g = g.mul_(chip.inv_factor[i][:rows])
            out.append(g)
        return out[0], out[1]

    def effective_weight(self, k: torch.Tensor, s_w: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        """Weights (N, K) the programmed cells represent (device effects included) times the scales ``s_w`` (N, 1),
        with the straight-through gradient of k s_w: the identity to the layer's weights (|w / s_w| <= 2^(b-1) - 1
        by the choice of s_w, so the clamp never cuts); ``e``: :meth:`cell_levels` of ``k`` when already computed."""
        cfg = self.imc
        n, kk = k.shape
        g = self.n_groups
        with torch.no_grad():
            e = (self.cell_levels(k) if e is None else e).reshape(self.k_rows, n, cfg.slices)   # (K, N, S)
            ws = torch.tensor([2.0 ** (cfg.cell_bits * s) for s in range(cfg.slices)], dtype=e.dtype)
            keff = torch.matmul(e, ws).T                                          # (N, K)
            if g > 1 and keff.shape[1] != kk:  # the diagonal blocks (N, K / groups)
                keff = torch.diagonal(keff.reshape(g, n // g, g, kk), dim1=0, dim2=2).permute(2, 0, 1).reshape(n, kk)
            if cfg.encoding == "offset":
                keff = keff - 2.0 ** (cfg.weight_bits - 1)
            target = keff.to(k.dtype).mul_(s_w.detach())
        w = self.weight.reshape(n, kk)
        return w + (target - w).detach()

    # ----- the analog matrix product ------------------------------------------------------------------------------
    def _analog_input(self, codes: torch.Tensor) -> torch.Tensor:
        """The digits the arrays read: ``codes`` (integer input codes in the layer's input layout, batch first) for
        one read per input, else the ``input_cycles`` digits stacked along the batch (cycle-major)."""
        cfg = self.imc
        if cfg.input_cycles == 1:
            return codes
        return input_digits(codes, cfg.input_bits, cfg.dac.bits).flatten(0, 1)

    def _adc_setup(self, signed: bool) -> tuple:
        """The ADC read-out of the current chip, in the slice-major column order q = s N + n the analog forward
        computes in (physical column n S + s): (a, b, base, c0, step) with

        * ``a`` (K, S N) float64, ``b`` (row tiles, S N): per column of each row tile, the ADC input z = a y + b of
          a column sum y (level units), in the units the conversion works in (``a`` repeated over the tile's rows);
        * ``base``: per row tile, the ADC instance (an int) when one serves the whole tile, else each column's
          offset into the :class:`ADCTable` (int32 (1, S N, 1)); then the same for all row tiles at once (an
          int, or int32 (row tiles, 1, S N)); None without a table;
        * a code c stands for the level (c - c0) ``step``.

        With instance gain g and offset o (LSB), the converter reads x = g (y - lo) / step + o LSB (code c spans
        lo + c step, lo = -c0 step for signed columns, else 0); its code is #{thresholds <= x}: :class:`ADCTable`
        in cell units z = grid x - g0, or, for ideal thresholds, floor(x + 1/2) clamped, from z = x + 1/2.
        Without the ADC, z = y. Codes are shifted by c0 before the shift-and-add (exact integers), so no large
        constant cancels. Made once per chip, step and signedness."""
        st = self._chip
        step = float(self.adc_step) if self.nonideal.adc else 1.0
        key = (signed, step, self.nonideal.adc)
        if key in st.cache:
            return st.cache[key]
        cfg = self.imc
        n, s = self.n_out, cfg.slices
        perm = (np.arange(n)[None, :] * s + np.arange(s)[:, None]).reshape(-1)      # q -> physical column
        inst = st.inst[:, perm]                                                        # (row tiles, S N)
        if not self.nonideal.adc:
            a, b, c0 = np.ones(inst.shape), np.zeros(inst.shape), 0.0
        else:
            adc = st.adc
            m = adc.thresholds_v.shape[1]
            lo = -(m + 1) / 2 * step if signed else 0.0
            gain = adc.gain[inst]
            off = (adc.offset_v / adc.lsb_v)[inst]
            g, shift = (1.0, -0.5) if st.uniform else (st.table.grid, float(st.table.g0))
            a, b, c0 = gain * (g / step), g * (off - lo * gain / step) - shift, -lo / step
        sizes = [r1 - r0 for r0, r1 in self.tile_rows(st.row_tiles)]
        base = None
        if self.nonideal.adc and not st.uniform:
            off = inst * st.table.cells
            base = ([int(i[0]) if (i == i[0]).all() else torch.as_tensor(o, dtype=torch.int32).reshape(1, -1, 1)
                     for i, o in zip(inst, off)],
                    int(inst.flat[0]) if (inst == inst.flat[0]).all() else
                    torch.as_tensor(off, dtype=torch.int32).reshape(len(inst), 1, -1))
        out = (torch.as_tensor(np.repeat(a, sizes, axis=0)), torch.as_tensor(b, dtype=self._exact_dtype()), base,
               c0, step)
        st.cache[key] = out
        return out

    def _convert_(self, z: torch.Tensor, base, c0: float) -> torch.Tensor:
        """Codes minus ``c0`` of the ADC inputs ``z`` (overwritten), ``base`` the instance(s) (:meth:`_adc_setup`)."""
        st = self._chip
        if not self.nonideal.adc:
            return z
        if st.uniform:
            m = st.adc.thresholds_v.shape[1]
            z = z.clamp_(0.0, m + 0.5).trunc_()
            return z.sub_(c0) if c0 else z
        return st.table_minus(c0).codes_(z, base, lambda name, dtype: self._scratch(name, z.numel(), dtype))

    def _scratch(self, name: str, numel: int, dtype: torch.dtype) -> torch.Tensor:
        """A flat scratch tensor of ``numel`` elements kept by the layer between calls (grown as needed): the ADC
        conversion's large temporaries, allocated once instead of on every batch (fresh multi-megabyte tensors
        cost page faults: measured 7 ms against 3 ms for LeNet-5's first convolution's conversions)."""
        work = self.__dict__.setdefault("_work", {})
        buf = work.get((name, dtype))
        if buf is None or buf.numel() < numel:
            buf = work[(name, dtype)] = torch.empty(numel, dtype=dtype)
        return buf[:numel]

    def _shift_add(self, code: torch.Tensor, out: torch.Tensor | None, c0: float = 0.0) -> torch.Tensor:
        """Add the codes ``code`` (cycles, B, slices, N, P) of one row tile, shifted and added, into ``out``
        (B, N, P) (None: a new tensor): slice s weighs 2^(cell_bits s), input cycle c 2^(dac bits c) (exact).
        ``c0``: subtract c0 from every code (once, from the sum; exact where :meth:`_fold_c0` allows it)."""
        cfg = self.imc
        parts = [(code[c, :, s], 2.0 ** (cfg.dac.bits * c + cfg.cell_bits * s))
                 for c in range(code.shape[0]) for s in range(code.shape[2])]
        weight = sum(w for _, w in parts)
        if out is None:  # the first two in one pass (the first weighs 1)
            out = torch.add(parts[0][0], parts[1][0], alpha=parts[1][1]) if len(parts) > 1 else parts[0][0].clone()
            parts = parts[2:]
        for part, w in parts:
            out.add_(part, alpha=w)
        return out.sub_(c0 * weight) if c0 else out

    def _fold_c0(self, c0: float, row_tiles: int, dtype: torch.dtype) -> bool:
        """Whether the codes' shift ``c0`` can be subtracted after the shift-and-add (one pass over the smaller
        sum instead of one over every code) with the same, exact result: every sum on the way is an integer below
        (row tiles + 1) 2^bits sum(weights) (codes in [0, 2^bits - 1]), which must stay below 2^24 (float32) or
        2^53 (float64) to be exact, as the shifted codes' sums are."""
        if not c0 or not self.nonideal.adc:
            return False
        cfg = self.imc
        weight = sum(2.0 ** (cfg.dac.bits * c + cfg.cell_bits * s)
                     for c in range(cfg.input_cycles) for s in range(cfg.slices))
        top = (row_tiles + 1) * (self._chip.adc.thresholds_v.shape[1] + 1) * weight
        return top < 2.0 ** (24 if dtype == torch.float32 else 53)

    def _slice_major_perm(self) -> np.ndarray:
        """Physical column n S + s of each slice-major column q = s N + n."""
        n, s = self.n_out, self.imc.slices
        return (np.arange(n)[None, :] * s + np.arange(s)[:, None]).reshape(-1)

    @staticmethod
    def _slice_major(e: torch.Tensor, n: int, s: int) -> torch.Tensor:
        """Columns (K, N S) in physical order n S + s -> slice-major order s N + n."""
        return e.reshape(e.shape[0], n, s).transpose(1, 2).reshape(e.shape[0], s * n)

    @torch.no_grad()
    def analog_forward(self, codes: torch.Tensor, k: torch.Tensor, signed_in: bool, scale: torch.Tensor | None = None,
                       levels=None) -> torch.Tensor:
        """The core's result for integer input codes ``codes`` (the layer's input layout) and weight codes ``k``
        (N, K): tiles, slices, input cycles, ADC instances, shift-and-add (see the module docstring), in the layout
        of the digital layer (before bias), each output channel n times ``scale[n]`` (None: 1, the integer domain).
        ``levels``: :meth:`cell_levels` of ``k`` with squares, when already computed.

        Per row tile, one convolution (dense layers: one batched product over all row tiles) of the digits with
        the cell levels gives every column sum, each column's ADC gain, offset and step folded into its weights
        and bias, columns slice-major; the codes come in place, in chunks of at most ``_CHUNK``; shift-and-add
        is a few exact additions of whole slices."""
        cfg, st = self.imc, self._chip
        dtype = self._exact_dtype()
        sigma = cfg.device.read_noise if st.read_gen is not None else 0.0
        e, sq = levels if levels is not None else self.cell_levels(k, squares=True)
        shape = codes.shape
        codes = self._flat(codes.to(dtype))
        n, s, cy = self.n_out, cfg.slices, cfg.input_cycles
        rt, ncols = st.row_tiles, st.n_cols
        n_in, pixels = codes.shape[0], self._pixels(codes)
        signed = cfg.encoding == "differential" or signed_in
        a, b, base, c0, step = self._adc_setup(signed)
        fold = self._fold_c0(c0, rt, dtype)   # codes unshifted, c0 subtracted from the shift-and-add's sums
        w = (self._slice_major(e, n, s) * a.to(e.dtype)).to(dtype)                 # (K, S N)
        noise = w_sq = None
        if sigma > 0 and sq is not None:
            # relative gaussian noise on every device's G per read: the column's std is sigma sqrt(sum_r d_r^2
            # sum_devices G_r^2) (as nonideal.read_noise_current), in level units, times the column's a. Drawn
            # in one go in the order (tile, physical column, cycle, input, pixel), then put slice-major.
            noise = torch.randn((rt, ncols, cy, n_in, pixels), generator=st.read_gen, dtype=dtype)
            noise = self._slice_major(noise.reshape(rt, ncols, -1).transpose(1, 2).reshape(-1, ncols), n, s)
            noise = noise.reshape(rt, cy, n_in, pixels, s * n).permute(0, 1, 2, 4, 3)  # (rt, cy, B, S N, P)
            w_sq = self._slice_major(sq, n, s).to(dtype)
            w_sq_scale = (sigma * a).to(dtype)
        out = None
        # grouped layers: per row tile, only the output channels n0 .. n1 - 1 of the groups with rows there have
        # their columns converted (the others add nothing to that tile's partial sum): computed alone
        spans = self.group_layout().channels if self.n_groups > 1 else [(0, n)] * rt
        cols = [None if (n0, n1) == (0, n) else
                (torch.arange(s)[:, None] * n + torch.arange(n0, n1)[None, :]).reshape(-1) for n0, n1 in spans]
        if pixels == 1:  # dense layers: every row tile at once
            inp = self._analog_input(codes)                                             # (cy M, K)
            r = cfg.rows if rt > 1 else self.k_rows
            pad = rt * r - self.k_rows                                                  # the last tile's unused rows

            def tiled(m):  # (K, S N) -> (rt, R, S N)
                return F.pad(m, (0, 0, 0, pad)).reshape(rt, r, -1)

            x = F.pad(inp, (0, pad)).reshape(-1, rt, r).transpose(0, 1)                 # (rt, cy M, R)
            z = torch.baddbmm(b.unsqueeze(1), x, tiled(w))                              # (rt, cy M, S N)
            if noise is not None:
                var = torch.bmm(x * x, tiled(w_sq)).sqrt_().mul_(tiled(w_sq_scale)[:, :1])
                z.addcmul_(var, noise.reshape(rt, -1, s * n))
            code = self._convert_(z, None if base is None else base[1], 0.0 if fold else c0)
            out = self._shift_add((code.sum(0) if rt > 1 else code[0]).reshape(cy, n_in, s, n, 1), None,
                                  c0 * rt if fold else 0.0)
        else:
            # inputs in chunks of at most _CHUNK ADC conversions per tile (bounds the memory of large batches)
            chunk = max(1, _CHUNK // (ncols * pixels * cy))
            parts = []
            for i in range(0, n_in, chunk):
                j = min(n_in, i + chunk)
                inp = self._analog_input(codes[i:j])
                o = None
                for t, (r0, r1) in enumerate(self.tile_rows(rt)):
                    q = cols[t]                                                         # None: every column
                    wt, bt = (w[r0:r1], b[t]) if q is None else (w[r0:r1][:, q], b[t][q])
                    z = self._tile_sums(inp, r0, r1, wt, bt)                            # (cy b, S N, P)
                    if noise is not None:
                        sq_t, sc = (w_sq[r0:r1], w_sq_scale[r0]) if q is None else \
                            (w_sq[r0:r1][:, q], w_sq_scale[r0][q])
                        var = self._tile_sums(inp * inp, r0, r1, sq_t, None)
                        var.sqrt_().mul_(sc.reshape(1, -1, 1))
                        nz = noise[t, :, i:j] if q is None else noise[t, :, i:j][:, :, q]
                        z.addcmul_(var, nz.reshape(z.shape))
                    bs = None if base is None else base[0][t]
                    if q is not None and isinstance(bs, torch.Tensor):
                        bs = bs[:, q]
                    code = self._convert_(z, bs, 0.0 if fold else c0)
                    if q is None:
                        o = self._shift_add(code.reshape(cy, j - i, s, n, pixels), o, c0 if fold else 0.0)
                    else:
                        n0, n1 = spans[t]
                        if o is None:
                            o = code.new_zeros(j - i, n, pixels)
                        self._shift_add(code.reshape(cy, j - i, s, n1 - n0, pixels), o[:, n0:n1],
                                        c0 if fold else 0.0)
                parts.append(o)
            out = parts[0] if len(parts) == 1 else torch.cat(parts)
        scale = torch.ones(n, dtype=dtype) if scale is None else scale.detach().reshape(-1).to(dtype)
        if cfg.encoding == "offset":  # stored u = k + 2^(b-1): subtract 2^(b-1) sum(x) digitally
            if step != 1.0:
                out.mul_(step)
            out.sub_(self._window_sums(codes), alpha=2.0 ** (cfg.weight_bits - 1))
            out.mul_(scale.reshape(1, -1, 1))
        else:
            out.mul_((scale * step).reshape(1, -1, 1))
        return self._from_analog(out, shape)

    @torch.no_grad()
    def calibrate_adc_(self, codes: torch.Tensor, k: torch.Tensor, signed_in: bool) -> None:
        """Set the ADC step so the top code sits at the ``adc_quantile`` of |column sums| on this batch (the chip's
        columns, before the ADC)."""
        cfg = self.imc
        dtype = self._exact_dtype()
        e = self.cell_levels(k).to(dtype)
        codes = self._flat(codes.to(dtype))
        inp = self._analog_input(codes)
        ys = [self._tile_sums(inp, r0, r1, e[r0:r1], None).abs_()
              for r0, r1 in self.tile_rows(self._chip.row_tiles)]
        if self.n_groups > 1:  # only the columns each tile's ADCs convert
            conv = self.group_layout().converted
            ys = [y[:, torch.as_tensor(conv[t])] for t, y in enumerate(ys)]
        ys = [y.reshape(-1) for y in ys]
        top = _quantile(ys[0] if len(ys) == 1 else torch.cat(ys), self.adc_quantile)
        signed = cfg.encoding == "differential" or signed_in
        n_codes = 2 ** (cfg.adc.bits - 1) - 1 if signed else 2**cfg.adc.bits - 1
        self.adc_step.fill_(max(top, 1e-6) / n_codes)
        self.adc_calibrated.fill_(True)

    def _imc_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output (bias included, in the layout of the digital layer) for its input ``x``."""
        aq = self.act_quant
        if self.training or not bool(aq.initialized):  # (first use in eval mode: take the range of this batch)
            aq.observe_(x)
        s_x, signed_in = aq.scale()
        lo, hi = aq.code_range(signed_in)
        with torch.no_grad():
            k, s_w = self.weight_codes()
            # the input codes of the layer's ActQuant (clamp(round(x / s))), without its fake-quantised copy
            r = torch.div(x, s_x).round_()
            codes = r.clamp(lo, hi)
            if not bool(self.adc_calibrated):
                self.calibrate_adc_(codes, k, signed_in)
            levels = self.cell_levels(k, squares=True)
            analog = self.analog_forward(codes, k, signed_in, s_w.reshape(-1) * s_x, levels)
            analog = analog.to(x.dtype)
            if self.bias is not None:  # the digital bias, added in place (its gradient comes from _StraightThrough)
                analog.add_(self._bias_view())
        if not torch.is_grad_enabled():
            return analog
        # straight-through: the value of the analog core, the gradient of the fake-quantised layer with the chip's
        # effective weights (device effects; the ADC and read noise pass straight through)
        w = self.effective_weight(k, s_w, levels[0]).reshape(self.weight.shape)
        return _StraightThrough.apply(x, w, self.bias, analog, self, r, codes, s_x)


class IMCConv2d(IMCLayerMixin, nn.Conv2d):
    """A convolution on IMC crossbars (see the module docstring); zero padding. A grouped (or depthwise) convolution
    sits block-diagonally on the arrays as the cost model places it (:class:`GroupLayout`)."""

    def __init__(self, *args, imc: IMCConfig, layer_index: int = 0, nonideal: NonIdealities | None = None,
                 adc_step: str | float = "calibrate", adc_quantile: float = 0.999, **kwargs):
        nn.Conv2d.__init__(self, *args, **kwargs)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ModelError("IMC convolutions support zero padding given as numbers")
        self._init_imc(imc, layer_index, nonideal, adc_step, adc_quantile)

    @classmethod
    def from_float(cls, conv: nn.Conv2d, imc: IMCConfig, layer_index: int = 0, **kw) -> "IMCConv2d":
        """An IMC copy of ``conv`` holding the same weights."""
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None, imc=imc,
                layer_index=layer_index, **kw)
        return m._copy_parameters(conv)

    @property
    def k_rows(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    @property
    def n_out(self) -> int:
        return self.out_channels

    def workload_layer(self) -> Layer:
        # the mapping depends on K and N only (the spatial size sets the pixel count, not the tiling)
        return Layer.conv2d("imc", self.kernel_size, self.in_channels, self.out_channels, self.kernel_size,
                            groups=self.groups)

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        kh, kw = self.kernel_size
        return ((h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1,
                (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1)

    def _flat(self, codes: torch.Tensor) -> torch.Tensor:
        return codes

    def _pixels(self, codes: torch.Tensor) -> int:
        oh, ow = self._out_hw(*codes.shape[-2:])
        return oh * ow

    def _tile_sums(self, inp: torch.Tensor, r0: int, r1: int, w: torch.Tensor, bias: torch.Tensor | None
                   ) -> torch.Tensor:
        """Column sums (cycles B, columns, oh ow) of rows r0 .. r1 - 1 (im2col order, (C, kh, kw)) with weights
        ``w`` (r1 - r0, columns): one convolution over the input channels those rows touch, the kernel taps of
        the channels' other rows zero."""
        kh, kw = self.kernel_size
        kk = kh * kw
        c0, c1 = r0 // kk, (r1 - 1) // kk + 1
        wt = w.T
        if (r0, r1) != (c0 * kk, c1 * kk):
            wt = w.new_zeros(w.shape[1], (c1 - c0) * kk)
            wt[:, r0 - c0 * kk:r1 - c0 * kk] = w.T
        x = inp if (c0, c1) == (0, self.in_channels) else inp[:, c0:c1]
        y = F.conv2d(x, wt.reshape(w.shape[1], c1 - c0, kh, kw), bias, self.stride, self.padding, self.dilation)
        return y.flatten(2)

    def _window_sums(self, codes: torch.Tensor) -> torch.Tensor:
        """sum of the input codes under every window (B, 1, oh ow); grouped: of each output channel's group
        (B, N, oh ow)."""
        g = self.groups
        ones = codes.new_ones(1 if g == 1 else self.out_channels, self.in_channels // g, *self.kernel_size)
        return F.conv2d(codes, ones, None, self.stride, self.padding, self.dilation, g).flatten(2)

    def _from_analog(self, out: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return out.reshape(out.shape[0], out.shape[1], *self._out_hw(*shape[-2:]))

    def _digital_grads(self, grad: torch.Tensor, xq: torch.Tensor, w: torch.Tensor, need_x: bool, need_w: bool):
        """Gradients of F.conv2d(xq, w) (no bias) for the output gradient ``grad``."""
        gx, gw, _ = torch.ops.aten.convolution_backward(
            grad, xq, w, None, list(self.stride), list(self.padding), list(self.dilation), False, [0, 0],
            self.groups, [need_x, need_w, False])
        return gx, gw

    def _bias_view(self) -> torch.Tensor:
        return self.bias.detach()[:, None, None]

    def _bias_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sum((0, 2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._imc_forward(x)


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
        return m._copy_parameters(lin)

    @property
    def k_rows(self) -> int:
        return self.in_features

    @property
    def n_out(self) -> int:
        return self.out_features

    def workload_layer(self) -> Layer:
        return Layer.linear("imc", self.in_features, self.out_features, self.bias is not None)

    def _flat(self, codes: torch.Tensor) -> torch.Tensor:
        return codes.reshape(-1, self.in_features)

    def _pixels(self, codes: torch.Tensor) -> int:
        return 1

    def _tile_sums(self, inp: torch.Tensor, r0: int, r1: int, w: torch.Tensor, bias: torch.Tensor | None
                   ) -> torch.Tensor:
        """Column sums (cycles M, columns, 1) of rows r0 .. r1 - 1 with weights ``w`` (r1 - r0, columns)."""
        x = inp[:, r0:r1]
        y = torch.mm(x, w) if bias is None else torch.addmm(bias, x, w)
        return y.unsqueeze(-1)

    def _window_sums(self, codes: torch.Tensor) -> torch.Tensor:
        return codes.sum(1, keepdim=True).unsqueeze(-1)

    def _from_analog(self, out: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return out.reshape(*shape[:-1], self.out_features)

    def _digital_grads(self, grad: torch.Tensor, xq: torch.Tensor, w: torch.Tensor, need_x: bool, need_w: bool):
        """Gradients of F.linear(xq, w) (no bias) for the output gradient ``grad``."""
        gx = grad @ w if need_x else None
        gw = grad.reshape(-1, w.shape[0]).T @ xq.reshape(-1, w.shape[1]) if need_w else None
        return gx, gw

    def _bias_view(self) -> torch.Tensor:
        return self.bias.detach()

    def _bias_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(-1, grad.shape[-1]).sum(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._imc_forward(x)
