"""``memory_model = "scalesim"``: SCALE-Sim 3.0.0's double-buffered scratchpads (USER bandwidth mode), artefacts
included, re-implemented as an event-driven state machine over operand address streams.

The physical model (:mod:`imcsim.arch.memory`) charges what a double buffer needs. SCALE-Sim 3.0.0 differs where its
bookkeeping, not the hardware, decides; this module reproduces that bookkeeping so that sizing runs can be compared
with SCALE-Sim's numbers. What it reproduces (read from SCALE-Sim's ``memory/read_buffer.py``, ``write_buffer.py``,
``double_buffered_scratchpad_mem.py`` and ``compute/systolic_compute_{os,ws,is}.py``; our own code):

1. **Operand order.** Each read operand has a *prefetch order*: the fold tiles stacked (os: ifmap per row fold and
   filter per column fold; ws: ifmap per row fold and filter per column fold; is: ifmap per column fold and filter per
   row fold) and, for os (both), ws (ifmap) and is (filter), unrolled along anti-diagonals of the stacked matrix, so
   that one fold's last words and the next fold's first words are interleaved.
2. **Sets and a sliding window.** The prefetch order is cut into sets of ``ceil(S/100)`` words (1% of the
   scratchpad, duplicates counted). ``ceil(A/set)`` sets (A = ``ceil(S/2)`` words) form the active window; a demanded
   address that is in no set of the window makes the window slide forward by ``ceil(P/set)`` sets (P = S - A),
   wrapping round the operand, one prefetch per slide, until it is. Because of (1), a fold's first words can sit in a
   set the window has already left: the window then travels once round the whole operand to find them. SCALE-Sim
   thus re-reads an operand larger than half its scratchpad about once per fold. Figure: the 400 -> 120 dense layer
   under ws on 8x8 with 2 kB scratchpads and 4 words/cycle. SCALE-Sim 3.0.0 (and this mode): 1,486,713 cycles and
   5,923,840 filter words read from DRAM for a 48,000-word filter (123 reads of each word). Physical: 17,249 cycles
   without stalls, 48,000 filter words (each 8x8 fold needs 64 new filter words, 16 cycles at 4 words/cycle, while
   it computes for 23). tests/test_scalesim_memory.py checks both.
3. **Prefetch timing.** A prefetch issues ``ceil(P/B)`` request lines at one per cycle after the previous prefetch's
   last response, each answered one cycle later. A demand line that waits for a prefetch adds the wait to its offset
   twice (``offset += stall`` and again ``if stall > 0``); an early prefetch (negative wait) pulls the offset back.
4. **DRAM reads** count whole request lines: ``min(ceil(A/B), lines) B`` to fill the active half, then
   ``ceil(P/B) B`` per prefetch, whether or not the words are new.
5. **Write side.** Outputs enter rows of ``B`` words; once more than ``D = S - ceil(S/2)`` words are held and no
   drain is running, the partial row is closed and a drain of ``ceil(D/B)`` rows starts, one row per cycle. Its words
   are credited as free space when it starts (counting a partial row that is not the drain's last as full); the array
   waits only when the scratchpad is full during a drain. The final drain after the last output is not counted in the
   layer's cycles.
6. **Stalls** add up per demand line: each cycle's stall is the largest of the three operands' waits, and the layer's
   total is the last output line's cycle.

Artefacts, one by one (:class:`Artefacts`; all on is SCALE-Sim, the default of ``memory_model = "scalesim"``).
Items 2 to 5 are bookkeeping, not hardware; each can be switched off. Item 1 is not an artefact as far as it is the
order in which the array consumes a fold's tile (skewed along anti-diagonals): prefetching it row by row instead
costs far more (the "row by row" row of the table). Unrolling the *stacked* tiles is (``interleaved_tiles``): folds
do not overlap in time, yet the next tile's first ``C (C - 1) / 2`` words (C-wide tiles) sit among this tile's last,
so a window that must hold a whole tile spans them too. Switching off ``forward_only`` replaces SCALE-Sim's window
(moving forward only, a half scratchpad per prefetch, round the ring of sets) by one that moves along the operand's
order (a line) by the fewest sets, forward or back, fetching only the sets that enter it, at the rate the physical
model's port delivers; switching off ``write_credit_at_start``
frees each drained row's words as the row leaves. Figure: LeNet-5's five layers with weights on 8x8, the same
scratchpad size for the three operands, total cycles / DRAM reads (ifmap + filter) as ratios to the physical model
(``python benchmarks/systolic_vs_scalesim.py --artefacts --model lenet5 --array 8x8``; each row removes one more
artefact; the first row is SCALE-Sim 3.0.0's own: the same benchmark with ``--model lenet5 --array 8x8 --dataflow
os --sram-kb 2 --bandwidth 4`` and the other two settings gives 81,159 / 593,135 / 1,615,149 cycles and 387,880 /
654,536 / 6,443,816 DRAM reads for both SCALE-Sim and this mode, every layer equal):

=====================================  ================  ================  ================
artefacts                              os 2 kB, 4 w/c    os 1 kB, 1 w/c    ws 2 kB, 4 w/c
=====================================  ================  ================  ================
all (SCALE-Sim 3.0.0)                  2.995 / 3.229     5.460 / 4.659     46.598 / 57.702
  - forward_only (wrap round operand)  1.003 / 1.132     1.021 / 1.013     1.003 / 1.079
  - double_stall                       0.998 / 1.132     1.009 / 1.013     0.999 / 1.079
  - line_reads                         0.998 / 1.018     1.009 / 1.007     0.999 / 1.000
  - write_credit_at_start              0.998 / 1.018     1.009 / 1.007     1.000 / 1.000
  - interleaved_tiles (none left)      0.998 / 1.004     1.004 / 1.002     1.000 / 1.000
all, prefetch order row by row         65.253 / 60.054   277.451 / 216.743 46.815 / 57.968
physical: cycles / DRAM reads          27,095 / 120,122  108,626 / 140,474 34,661 / 111,674
=====================================  ================  ================  ================

So the wrap round the operand (item 2, forced by the forward-only window and the interleaved order of item 1) is
where SCALE-Sim's 3x to 47x come from; the stall double count moves cycles by under 2% and whole request lines move
reads by under 12% of the physical count (fc2/fc3 ifmaps of 120/84 words count as 960/672 on os). With every
artefact out, each of the 15 layers agrees with the physical model within 2% in cycles and DRAM reads (largest
gaps: os conv2 at 1 kB, cycles 1.015x; os conv2 at 2 kB, reads 1.011x). On the 72 layer/setting pairs of
tests/test_systolic_scalesim.py (where this mode with all artefacts equals SCALE-Sim), the two agree within 5% on
60; the other 12 are one layer, ``f2``, whose windows run past its input (SCALE-Sim's rounded-up output size): the
physical model counts its M x K im2col words, this mode only the addresses inside the input (reads 1.085x).

The reused filter tile of os conv2 (M = 100, K = 150, N = 16; two column folds of a 1,200-word tile, each reused by
13 row folds) is where the window matters. SCALE-Sim 3.0.0 itself, instrumented (its ``read_buffer.new_prefetch``
counted per fold), re-reads the whole 2,400-word filter operand for every reuse: the window has moved past the
fold's first sets and must travel forward round the operand to them, 2.3 prefetches of 1,024 words per fold at 2
kB (58 in all, 60,416 filter reads) and 4.6 of 512 at 1 kB (116, 59,904 reads), against 1,200 words of tile: no
scratchpad needs that (``forward_only``; SCALE-Sim is not physical on this layer). The artefact-free window re-reads
about ``min(L, 2 (L - A))`` words of an L-word tile per reuse: at 2 kB 420 to 447 with ``interleaved_tiles`` (2 (1,228 -
1,029) plus set rounding: the tile spans 1,228 words of the interleaved order, the window 49 sets of 21 words) and
363 to 378 without, against the physical model's 352 = 2 (1,200 - 1,024), which it charges for the same reason
(:mod:`imcsim.arch.dataflow`); at 1 kB the tile is more than twice the 512-word half, nothing of a fold's start is
still held when the next begins, and both re-read the whole tile (1,201 to 1,210 against 1,200 per reuse; 1,232
with ``interleaved_tiles``).

Groups run as independent layers (fresh scratchpads; SCALE-Sim's ``DP`` layers). Run time grows with the number of
stall events, not with the cycles, but the address streams are materialised: this mode is for parity runs on
layers of moderate size, not for sweeps (use the physical model there).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from imcsim.arch.dataflow import dataflow_strategy

__all__ = ["ScaleSimResult", "Artefacts", "ALL_ARTEFACTS", "NO_ARTEFACTS", "simulate_scalesim_memory",
           "ifmap_addresses"]


@dataclass(frozen=True)
class Artefacts:
    """Which of SCALE-Sim 3.0.0's bookkeeping artefacts the ``scalesim`` model applies (all True: SCALE-Sim).

    Attributes:
        antidiagonal: the prefetch order unrolls the stacked fold tiles along anti-diagonals (item 1 of the module
            docstring); False: fold after fold, each tile row by row.
        forward_only: the window moves forward only, half a scratchpad per prefetch, so that a demanded word
            behind it is found by travelling round the whole operand (item 2); False: the window moves along the
            operand's order (a line, not a ring) by the fewest sets that bring the word in, forward or back, fetching
            just the sets that enter it (a double buffer that keeps a window of the active half over the operand's
            order, :mod:`imcsim.arch.dataflow`'s rule at set granularity), at the times the physical model's port
            delivers them (back-to-back half-buffer prefetches ahead of need).
        double_stall: a positive prefetch wait is added to the line's offset twice and a negative one pulls it
            earlier (item 3); False: the line waits for the prefetch once, never earlier than requested.
        line_reads: DRAM reads count whole request lines of B words per prefetch and for the initial fill (item 4);
            False: the words of the prefetched sets (and of the filled active half).
        write_credit_at_start: a drain's space is credited when it starts, a partial row not last counted full
            (item 5); False: each row's words credited as the row leaves (one row per cycle).
        interleaved_tiles: the anti-diagonal unroll runs over the stacked fold tiles, so that one tile's last
            anti-diagonals interleave with the next tile's first, ``C (C - 1) / 2`` words of a ``C``-wide tile at each
            boundary (item 1); False: each tile unrolled on its own, in the order the array consumes it (folds do
            not overlap in time). A window that must hold a whole tile spans those words too: on LeNet-5's os conv2
            (2 kB, 8x8) they add 56 filter words to each of the 24 reuses (see the module docstring).
    """

    antidiagonal: bool = True
    forward_only: bool = True
    double_stall: bool = True
    line_reads: bool = True
    write_credit_at_start: bool = True
    interleaved_tiles: bool = True


ALL_ARTEFACTS = Artefacts()
NO_ARTEFACTS = Artefacts(False, False, False, False, False, False)


@dataclass(frozen=True)
class ScaleSimResult:
    """SCALE-Sim 3.0.0's memory-system figures for one GEMM (one group).

    Attributes:
        total_cycles: SCALE-Sim's "Total Cycles" (the cycle of the last output line, stalls included).
        stall_cycles: SCALE-Sim's "Stall Cycles".
        dram_ifmap_reads, dram_filter_reads, dram_ofmap_writes: words over the DRAM ports as SCALE-Sim counts them.
    """

    total_cycles: int
    stall_cycles: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int


def ifmap_addresses(m: int, k: int, conv: tuple[int, int, int, int, int, int, int, int] | None = None,
                    batch: int = 1) -> np.ndarray:
    """The (M x K) ifmap address matrix as SCALE-Sim lays it out (row-major pixels, channels innermost; -1 where a
    window leaves the input).

    ``conv`` = (H, W, C, kernel_h, kernel_w, stride_h, stride_w, out_w) of a (pre-padded) convolution, M = batch x
    output pixels; None for a GEMM (address ``m K + k``). Images of a batch follow each other in memory.
    """
    if conv is None:
        return np.arange(m * k, dtype=np.int64).reshape(m, k)
    h, w, c, kh, kw, sh, sw, ow = conv
    per_img = m // batch
    i = np.arange(m, dtype=np.int64)[:, None]
    j = np.arange(k, dtype=np.int64)[None, :]
    img, pix = np.divmod(i, per_img)
    orow, ocol = np.divmod(pix, ow)
    r0, c0 = orow * sh, ocol * sw
    crow, rem = np.divmod(j, kw * c)
    ccol, ch = np.divmod(rem, c)
    valid = (crow + r0 < h) & (ccol + c0 < w)
    addr = ((r0 + crow) * w + (c0 + ccol)) * c + ch + img * (h * w * c)
    return np.where(valid, addr, -1)


def _antidiagonal(mat: np.ndarray) -> np.ndarray:
    """``mat`` read along anti-diagonals (row + col ascending), each from its highest row down (SCALE-Sim's unroll)."""
    r, c = np.indices(mat.shape)
    order = np.lexsort((-r.ravel(), (r + c).ravel()))
    return mat.ravel()[order]


def _unroll_stacked(tiles: list[np.ndarray]) -> np.ndarray:
    """Fold tiles stacked and read along anti-diagonals (SCALE-Sim's order: adjacent tiles interleave)."""
    return _antidiagonal(np.vstack(tiles))


def _unroll_per_tile(tiles: list[np.ndarray]) -> np.ndarray:
    """Each fold tile read along its own anti-diagonals, tile after tile (without ``interleaved_tiles``)."""
    return np.concatenate([_antidiagonal(t) for t in tiles])


def _row_major(tiles: list[np.ndarray]) -> np.ndarray:
    """Fold tiles one after another, each row by row (the order without the anti-diagonal unroll)."""
    return np.vstack(tiles).ravel()


def _pad_cols(mat: np.ndarray, width: int) -> np.ndarray:
    if mat.shape[1] == width:
        return mat
    return np.hstack([mat, np.full((mat.shape[0], width - mat.shape[1]), -1, dtype=mat.dtype)])


@dataclass(frozen=True)
class _Stream:
    """One read operand: its prefetch order (addresses, -1 = none) and its demand (line, address) in order."""

    prefetch: np.ndarray
    lines: np.ndarray
    addrs: np.ndarray


def _demand(per_fold_fn, fr: int, fc: int, per: int):
    """Concatenate per-fold (line offset, column, value) triples over folds (column folds outer), sorted by line then
    column; entries with value -1 dropped."""
    lines, vals = [], []
    for f_c in range(fc):
        for f_r in range(fr):
            ln, col, v = per_fold_fn(f_r, f_c)
            keep = v.ravel() >= 0
            ln = ln.ravel()[keep]
            col = col.ravel()[keep]
            v = v.ravel()[keep]
            order = np.lexsort((col, ln))
            lines.append(ln[order] + (f_c * fr + f_r) * per)
            vals.append(v[order])
    return np.concatenate(lines), np.concatenate(vals)


@dataclass(frozen=True)
class _Geometry:
    """One GEMM on the array, as the dataflow strategy maps it: extents (Sr, Sc, T), folds and lines per fold."""

    rows: int
    cols: int
    sr: int
    sc: int
    t: int
    fr: int
    fc: int
    per: int

    def rsl(self, f: int) -> slice:
        """The operand rows of row fold ``f``."""
        return slice(f * self.rows, min(f * self.rows + self.rows, self.sr))

    def csl(self, f: int) -> slice:
        """The operand columns of column fold ``f``."""
        return slice(f * self.cols, min(f * self.cols + self.cols, self.sc))

    def used(self, f_r: int, f_c: int) -> tuple[int, int]:
        return min(self.rows, self.sr - f_r * self.rows), min(self.cols, self.sc - f_c * self.cols)


# SCALE-Sim's operand layouts, one function per dataflow: (ifmap prefetch order, filter prefetch order, and per-fold
# (line, column, address) of ifmap reads, filter reads and output writes). ``ifm`` is M x K, ``filt`` K x N.

def _os_layout(g: _Geometry, ifm: np.ndarray, filt: np.ndarray, unroll=_unroll_stacked):
    R, C, t = g.rows, g.cols, g.t
    ift = ifm.T  # K x M
    if_pref = unroll([_pad_cols(ift[:, g.rsl(f)], R) for f in range(g.fr)])
    f_pref = unroll([_pad_cols(filt[:, g.csl(f)], C) for f in range(g.fc)])

    def if_fold(f_r, f_c):  # T x ur, skewed: (t, j) at line t + j
        x = ift[:, g.rsl(f_r)]
        tt, jj = np.indices(x.shape)
        return tt + jj, jj, x

    def f_fold(f_r, f_c):  # T x uc, skewed: (t, c) at line t + c
        y = filt[:, g.csl(f_c)]
        tt, cc = np.indices(y.shape)
        return tt + cc, cc, y

    def o_fold(f_r, f_c):  # R x C outputs, flipped, after T - 1 lines, skewed
        jj, cc = np.indices(g.used(f_r, f_c))
        return (t - 1) + (R - 1 - jj) + cc, cc, np.zeros(jj.shape, dtype=np.int64)

    return if_pref, f_pref, if_fold, f_fold, o_fold


def _ws_layout(g: _Geometry, ifm: np.ndarray, filt: np.ndarray, unroll=_unroll_stacked):
    R, C, t = g.rows, g.cols, g.t
    if_pref = unroll([_pad_cols(ifm[:, g.rsl(f)], R) for f in range(g.fr)])
    f_pref = np.vstack([_pad_cols(filt[:, g.csl(f)], C) for f in range(g.fc)]).ravel()

    def if_fold(f_r, f_c):  # M x ur after R lines, skewed: (m, j) at line R + m + j
        x = ifm[:, g.rsl(f_r)]
        mm, jj = np.indices(x.shape)
        return R + mm + jj, jj, x

    def f_fold(f_r, f_c):  # ur x uc tile, flipped, not skewed: (j, c) at line R - 1 - j
        y = filt[g.rsl(f_r), g.csl(f_c)]
        jj, cc = np.indices(y.shape)
        return R - 1 - jj, cc, y

    def o_fold(f_r, f_c):  # M x uc partial sums after 2R - 1 lines, skewed
        mm, cc = np.indices((t, g.used(f_r, f_c)[1]))
        return 2 * R - 1 + mm + cc, cc, np.zeros(mm.shape, dtype=np.int64)

    return if_pref, f_pref, if_fold, f_fold, o_fold


def _is_layout(g: _Geometry, ifm: np.ndarray, filt: np.ndarray, unroll=_unroll_stacked):
    R, C, t = g.rows, g.cols, g.t
    ift = ifm.T  # K x M
    if_pref = np.vstack([_pad_cols(ift[:, g.csl(f)], C) for f in range(g.fc)]).ravel()
    f_pref = unroll([_pad_cols(filt[g.rsl(f), :].T, R) for f in range(g.fr)])

    def if_fold(f_r, f_c):  # ur x uc tile, flipped, not skewed: (j, c) at line R - 1 - j
        x = ift[g.rsl(f_r), g.csl(f_c)]
        jj, cc = np.indices(x.shape)
        return R - 1 - jj, cc, x

    def f_fold(f_r, f_c):  # N x ur after R lines, skewed: (n, j) at line R + n + j
        y = filt[g.rsl(f_r), :].T
        nn, jj = np.indices(y.shape)
        return R + nn + jj, jj, y

    def o_fold(f_r, f_c):  # N x uc partial sums after 2R - 1 lines, skewed
        nn, cc = np.indices((t, g.used(f_r, f_c)[1]))
        return 2 * R - 1 + nn + cc, cc, np.zeros(nn.shape, dtype=np.int64)

    return if_pref, f_pref, if_fold, f_fold, o_fold


_LAYOUTS = {"os": _os_layout, "ws": _ws_layout, "is": _is_layout}


def _build(dataflow: str, ifm: np.ndarray, n: int, rows: int, cols: int, art: Artefacts = ALL_ARTEFACTS):
    """(ifmap stream, filter stream, output-write lines, lines in all) of the GEMM with ifmap addresses ``ifm``
    (M x K) and ``n`` filters (addresses ``n K + k`` past an offset, as SCALE-Sim lays them out)."""
    m, k = ifm.shape
    filt = (np.arange(n, dtype=np.int64)[None, :] * k + np.arange(k, dtype=np.int64)[:, None]) + 10_000_000
    flow = dataflow_strategy(dataflow)
    sr, sc, t = (int(x) for x in flow.extents(m, n, k))
    g = _Geometry(rows, cols, sr, sc, t, -(-sr // rows), -(-sc // cols), int(flow.cycles_per_fold(t, rows, cols)))
    unroll = (_row_major if not art.antidiagonal else _unroll_stacked if art.interleaved_tiles
              else _unroll_per_tile)
    if_pref, f_pref, if_fold, f_fold, o_fold = _LAYOUTS[dataflow](g, ifm, filt, unroll)
    if_lines, if_addrs = _demand(if_fold, g.fr, g.fc, g.per)
    f_lines, f_addrs = _demand(f_fold, g.fr, g.fc, g.per)
    o_lines, _ = _demand(o_fold, g.fr, g.fc, g.per)
    return _Stream(if_pref, if_lines, if_addrs), _Stream(f_pref, f_lines, f_addrs), o_lines, g.fr * g.fc * g.per


def _prefetches(x: int, last: int, step: int, j: int, double_stall: bool = True) -> tuple[int, int]:
    """The service cycle ``x`` of a demand line and the last prefetch response ``last`` after ``j`` prefetches of
    ``step`` cycles each, with SCALE-Sim's rule per prefetch: ``wait = last - x``; ``x += wait``, and again if the
    wait is positive. The slack ``x - last`` settles into a cycle of period at most 2 within a few prefetches, so
    long runs (an operand wrapped round) cost O(1). Without ``double_stall``: prefetches follow each other and the
    line waits for the last one, ``x = max(x, last)``."""
    if not double_stall:
        last += j * step
        return max(x, last), last
    head = min(j, 4)
    for _ in range(head):
        last += step
        wait = last - x
        x += wait + max(wait, 0)
    rest = j - head
    if rest == 0:
        return x, last
    slack = [x - last]
    xx, ll = x, last
    for _ in range(2):
        ll += step
        wait = ll - xx
        xx += wait + max(wait, 0)
        slack.append(xx - ll)
    if slack[2] != slack[0]:  # not yet periodic (cannot happen after 4 steps; keep exact regardless)
        for _ in range(rest):
            last += step
            wait = last - x
            x += wait + max(wait, 0)
        return x, last
    last += rest * step
    return last + slack[rest % 2], last


_NO_SET = np.iinfo(np.int64).max  # a padding entry of the set table: never the nearest set


class _ReadBuffer:
    """SCALE-Sim's read buffer (USER mode) over one operand: the set window and the prefetch clock."""

    def __init__(self, stream: _Stream, size_words: int, bw: int, art: Artefacts = ALL_ARTEFACTS):
        self.bw = bw
        self.art = art
        active = math.ceil(size_words * 0.5)
        prefetch = size_words - active
        eps = math.ceil(size_words / 100)
        pref = stream.prefetch
        valid = pref >= 0
        addrs = pref[valid]
        set_id = np.arange(addrs.size, dtype=np.int64) // eps
        self.n_sets = addrs.size // eps + 1  # SCALE-Sim keeps a trailing (possibly empty) set
        self.a_sets = min(math.ceil(active / eps), self.n_sets)
        self.p_sets = min(math.ceil(prefetch / eps), self.n_sets - self.a_sets)
        self.lines_per_prefetch = math.ceil(prefetch / bw)
        fetch_rows = math.ceil(pref.size / bw)
        if art.line_reads:
            self.dram_reads = min(math.ceil(active / bw), fetch_rows) * bw
        else:  # the words of the sets in the active half
            self.dram_reads = min(self.a_sets * eps, int(addrs.size))
        self.eps = eps
        self.n_words = int(addrs.size)
        self.prefetch_words = max(prefetch, 1)
        self.fetched = 0    # words fetched after the initial fill (without the forward-only window)
        # Each address's sets (an im2col address can sit in several): a padded (unique address, dup) table, and
        # each demand element's row in it.
        order = np.argsort(addrs, kind="stable")
        sa, ss = addrs[order], set_id[order]
        uniq, first = np.unique(sa, return_index=True)
        counts = np.diff(np.append(first, sa.size))
        width = int(counts.max()) if counts.size else 1
        idx = first[:, None] + np.arange(width)[None, :]
        self.table = np.where(idx < (first + counts)[:, None], ss[np.minimum(idx, sa.size - 1)], -1)
        self.row = np.searchsorted(uniq, stream.addrs)
        self.lines = stream.lines
        self.start = 0      # first set of the active window
        self.last = -1      # cycle of the last prefetch response (the initial fill ends at -1)
        self.ptr = 0        # next demand element to check

    def advances(self, sl: slice) -> np.ndarray:
        """Window slides each demand element in ``sl`` needs from the current window (0 = a hit)."""
        s = self.table[self.row[sl]]
        if self.p_sets == 0:
            return np.zeros(s.shape[0], dtype=np.int64)
        if self.art.forward_only:  # prefetches of p_sets forward, round the ring of sets
            d = (s - self.start) % self.n_sets
            j = np.where(d < self.a_sets, 0, (d - self.a_sets) // self.p_sets + 1)
        else:  # sets to move along the operand's order (a line, not a ring): forward (> 0) or back (< 0)
            d = s - self.start
            j = np.where(d < 0, d, np.where(d < self.a_sets, 0, d - self.a_sets + 1))
        j = np.where(s >= 0, j, _NO_SET)
        k = np.abs(j).argmin(axis=1)
        return j[np.arange(j.shape[0]), k]

    def next_event_line(self) -> int | None:
        """The line of the next demand element that misses the current window, or None."""
        n = self.lines.size
        step = 256
        p = self.ptr
        while p < n:
            q = min(n, p + step)
            miss = np.flatnonzero(self.advances(slice(p, q)) != 0)  # < 0: behind the window
            if miss.size:
                return int(self.lines[p + miss[0]])
            p = q
            step = min(step * 4, 1 << 16)
        return None

    def service_line(self, line: int, cycle: int) -> int:
        """Serve demand line ``line`` at ``cycle``; returns its stall (may be negative). Advances the pointer."""
        lo = self.ptr
        hi = int(np.searchsorted(self.lines, line, "right"))
        x = cycle + 1  # the line's service cycle: request cycle plus the hit latency
        e = lo
        while e < hi:  # the line's words in order; each miss slides the window until that word is in it
            need = self.advances(slice(e, hi))
            miss = np.flatnonzero(need)
            if not miss.size:
                break
            e += int(miss[0])
            j = int(need[miss[0]])
            if self.art.forward_only:
                self.start = (self.start + j * self.p_sets) % self.n_sets
                self.dram_reads += (j * self.lines_per_prefetch * self.bw if self.art.line_reads
                                    else self._set_words(j * self.p_sets))
                x, self.last = _prefetches(x, self.last, self.lines_per_prefetch + 1, j, self.art.double_stall)
            else:
                # Just the sets that enter the window, fetched ahead as the physical model's port delivers: back
                # to back half-buffers of ceil(P/B) + 1 cycles, so the operand's W-th fetched word (past the
                # initial fill) is on chip at 1 + ceil(W / P) (ceil(P/B) + 1).
                # A jump past more sets than the window holds brings in only the window's sets: those jumped
                # over are never needed and a real window does not fetch them.
                self.start = (self.start + j) % self.n_sets
                words = self._set_words(int(np.sign(j)) * min(abs(j), self.a_sets))
                self.fetched += words
                self.dram_reads += math.ceil(words / self.bw) * self.bw if self.art.line_reads else words
                ready = 1 + math.ceil(self.fetched / self.prefetch_words) * (self.lines_per_prefetch + 1)
                wait = ready - x
                x += (wait + max(wait, 0)) if self.art.double_stall else max(wait, 0)
            e += 1
        self.ptr = hi
        return x - cycle - 1

    def _set_words(self, moved: int) -> int:
        """Words in the sets that entered the window when it moved by ``moved`` sets (negative: back; sets wrap
        round the operand), counted after the move."""
        start = self.start
        laps, n = divmod(abs(moved), self.n_sets)
        if n == 0:
            return laps * self.n_words
        first = (start + self.a_sets - n) if moved > 0 else start
        ids = (first + np.arange(n)) % self.n_sets
        return laps * self.n_words + int(np.clip(self.n_words - ids * self.eps, 0, self.eps).sum())

    def skip_to(self, line: int) -> None:
        """Mark every demand element before ``line`` as served (all hits)."""
        self.ptr = int(np.searchsorted(self.lines, line, "left"))


class _WriteBuffer:
    """SCALE-Sim's ofmap write buffer: rows of ``bw`` words, drains of ``ceil(D/bw)`` rows credited at start
    (without ``write_credit_at_start``: each row's words credited as the row leaves, one row per cycle)."""

    def __init__(self, lines: np.ndarray, size_words: int, bw: int, art: Artefacts = ALL_ARTEFACTS):
        self.bw = bw
        self.at_start = art.write_credit_at_start
        self.pending = 0                # words of the running drain not yet credited (without the artefact)
        self.drain_start = 0
        self.drain_rows = np.zeros(0, dtype=np.int64)   # cumulative words of the running drain's rows
        self.size = size_words
        self.drain = size_words - math.ceil(size_words * 0.5)
        self.rows_per_drain = math.ceil(self.drain / bw)
        self.free = size_words
        self.drain_end = 0
        self.line_idx = 0               # words in the open row
        self.rows: deque[list[int]] = deque()   # closed rows not yet drained: [words per row, count]
        self.writes = 0
        self.lines = lines
        self.ptr = 0

    def _store(self, n: int) -> None:
        self.free -= n
        total = self.line_idx + n
        full, self.line_idx = divmod(total, self.bw)
        if full:
            self._push(self.bw, full)

    def _push(self, words: int, count: int) -> None:
        if self.rows and self.rows[-1][0] == words:
            self.rows[-1][1] += count
        else:
            self.rows.append([words, count])

    def _start_drain(self, cycle: int) -> int:
        if self.line_idx:
            self._push(self.line_idx, 1)
            self.line_idx = 0
        take = self.rows_per_drain
        words_sum = 0
        n = 0
        last = 0
        taken = []
        while take and self.rows:
            words, count = self.rows[0]
            k = min(take, count)
            taken.append((words, k))
            words_sum += k * words
            n += k
            take -= k
            last = words
            if k == count:
                self.rows.popleft()
            else:
                self.rows[0][1] -= k
        data = (n - 1) * self.bw + last if n else 0
        if self.at_start:
            self.writes += data
            self.free += data
        else:  # the words the rows hold, each row's free once it has left
            self.writes += words_sum
            self.pending += words_sum
            self.drain_start = cycle
            self.drain_rows = np.cumsum(np.repeat([w for w, _ in taken], [c for _, c in taken]).astype(np.int64))
        return cycle + n - 1

    def _credit(self, cycle: int) -> None:
        """Credit the words of the running drain's rows that have left by ``cycle`` (one row per cycle)."""
        if not self.pending:
            return
        n = min(cycle - self.drain_start + 1, self.drain_rows.size)
        gone = int(self.drain_rows[n - 1]) if n > 0 else 0
        new = gone - (int(self.drain_rows[-1]) - self.pending)
        if new > 0:
            self.free += new
            self.pending -= new

    def _wait_for_space(self) -> int:
        """The cycle at which the running drain has freed enough rows for ``free`` to be positive."""
        need = int(self.drain_rows[-1]) - self.pending + 1 - self.free   # words gone by then
        row = int(np.searchsorted(self.drain_rows, need, "left"))
        return self.drain_start + min(row, self.drain_rows.size - 1)

    def next_event_line(self, stall: int) -> int | None:
        """The line of the next output word that starts a drain or waits for one, given the current stall.

        Both conditions are monotone along the stream (free space only falls between events, cycles only rise), so
        the first event is found by position: while a drain runs, the word that fills the scratchpad; after it, the
        word that takes the held words past D."""
        n = self.lines.size
        p = self.ptr
        if p >= n:
            return None
        # First word (relative to p) whose cycle is at or after the running drain's end.
        k_a = max(int(np.searchsorted(self.lines, self.drain_end - stall, "left")) - p, 0)
        cands = []
        fill = max(self.free - 1, 0)                      # word after which free space is <= 0
        if fill < k_a:
            cands.append(fill)
        cands.append(max(k_a, self.free + self.pending - (self.size - self.drain), 0))  # free after < size - D
        e = min(cands)
        return int(self.lines[p + e]) if e < n - p else None

    def skip_to(self, line: int) -> None:
        q = int(np.searchsorted(self.lines, line, "left"))
        self._store(q - self.ptr)
        self.ptr = q

    def service_line(self, line: int, cycle: int) -> int:
        """Write demand line ``line`` at ``cycle``; returns its stall (>= 0)."""
        lo = self.ptr
        hi = int(np.searchsorted(self.lines, line, "right"))
        cur = cycle
        for _ in range(lo, hi):
            self._store(1)
            if cur < self.drain_end:
                if not self.at_start:
                    self._credit(cur)
                if self.free <= 0:
                    cur = self.drain_end if self.at_start else self._wait_for_space()
                    self._credit(cur)
            else:
                self.free += self.pending
                self.pending = 0
                if self.free < self.size - self.drain:
                    self.drain_end = self._start_drain(cur)
        self.ptr = hi
        return cur - cycle

    def finish(self) -> None:
        """The drains after the last output (counted in DRAM writes, not in cycles)."""
        if self.line_idx:
            self._push(self.line_idx, 1)
            self.line_idx = 0
        while self.rows:
            self._start_drain(0)


def simulate_scalesim_memory(dataflow: str, ifmap: np.ndarray, n: int, rows: int, cols: int,
                             sram_words: tuple[int, int, int], bandwidths: tuple[int, int, int],
                             artefacts: Artefacts = ALL_ARTEFACTS) -> ScaleSimResult:
    """SCALE-Sim 3.0.0's memory system for one GEMM: ``ifmap`` is the (M x K) address matrix
    (:func:`ifmap_addresses`), ``n`` the filters, ``sram_words`` the (ifmap, filter, ofmap) scratchpad sizes in
    words and ``bandwidths`` their DRAM ports (integer words/cycle, as SCALE-Sim reads them). ``artefacts``: which of
    SCALE-Sim's artefacts to apply (all by default; switching them off is for attributing the gap to the physical
    model, :mod:`imcsim.arch.memory`)."""
    if_s, f_s, o_lines, n_lines = _build(dataflow, ifmap, n, rows, cols, artefacts)
    rd_if = _ReadBuffer(if_s, sram_words[0], bandwidths[0], artefacts)
    rd_f = _ReadBuffer(f_s, sram_words[1], bandwidths[1], artefacts)
    wr = _WriteBuffer(o_lines, sram_words[2], bandwidths[2], artefacts)
    stall = 0
    line = 0
    last_out = None
    while line < n_lines:
        events = [e for e in (rd_if.next_event_line(), rd_f.next_event_line(), wr.next_event_line(stall))
                  if e is not None]
        nxt = min(events) if events else n_lines - 1
        nxt = max(nxt, line)
        rd_if.skip_to(nxt)
        rd_f.skip_to(nxt)
        wr.skip_to(nxt)
        cycle = nxt + stall
        s_if = rd_if.service_line(nxt, cycle)
        s_f = rd_f.service_line(nxt, cycle)
        s_o = wr.service_line(nxt, cycle)
        if nxt == n_lines - 1:
            last_out = cycle + s_o
        stall += int(max(s_if, s_f, s_o))
        line = nxt + 1
    wr.finish()
    total = last_out if last_out is not None else n_lines - 1 + stall
    return ScaleSimResult(int(total), int(stall), int(rd_if.dram_reads), int(rd_f.dram_reads), int(wr.writes))
