"""One strategy object per systolic dataflow: what the array's rows, columns and time take, and which operand is
re-fetched per fold.

A layer is a GEMM of (M x K) ifmap by (K x N) filter (:meth:`imcsim.workload.layer.Layer.as_gemm`); an ``R x C``
array maps it by dataflow (read from SCALE-Sim 3.0.0's ``compute/systolic_compute_*.py``; Samajdar et al., ISPASS
2020):

==========  =========  ============  ==============  ===========================  ==========================
dataflow    rows (Sr)  columns (Sc)  streamed (T)    cycles per fold              compute-util denominator
==========  =========  ============  ==============  ===========================  ==========================
os          M          N             K               T + R + C - 2                T + R + C - 2
ws          K          N             M               2R + C + T - 2               2R + 2C + T - 3
is          K          M             N               2R + C + T - 2               2R + 2C + T - 3
==========  =========  ============  ==============  ===========================  ==========================

Folds run column folds outer, row folds inner (SCALE-Sim's order). What each fold fetches:

- ``os``: outputs stay in the PEs. The ifmap rows of a row fold (``ur`` of the M rows, all K) stream in; the whole
  ifmap is re-streamed by every column fold. The filter tile of a column fold (K x ``uc``) is reused by each of its
  row folds.
- ``ws``: the filter tile (``ur`` x ``uc`` of K x N) is loaded once. The ifmap's K-slice of a row fold (M x ``ur``)
  streams in; the whole ifmap is re-streamed by every column fold. Each row fold writes a partial-sum block
  (M x ``uc``).
- ``is``: the ifmap tile (``ur`` of K by ``uc`` of M) is loaded once. The filter's K-slice of a row fold
  (``ur`` x N) streams in; the whole filter is re-streamed by every column fold. Each row fold writes a partial-sum
  block (N x ``uc``).

Reuse through a window: a block of ``L`` words that is swept again in the same order (a filter tile per row fold, a
whole operand per column fold) stays on chip when ``L <= A``, the active half. When ``L > A`` the scratchpad keeps a
window of the ``A`` words last brought in, contiguous in the order the operand is swept; a sweep ends holding the
block's last ``A`` words, ``[L - A, L)``, so the next sweep's first words make the window move back to ``[0, A)``,
fetching ``min(A, L - A)`` words (what it still holds of ``[L - A, A)`` when ``L < 2A`` stays), and the sweep then
moves it forward again, fetching ``[A, L)``: each reuse re-fetches ``min(L, 2 (L - A))`` words
(:func:`window_refetch`), between the ``L - A`` of a scratchpad that pins ``A`` words of the block and streams the
rest through its other half, and the ``L`` of a least-recently-used cache (which misses every word of a cyclic
sweep longer than itself). It is the artefact-free counterpart of SCALE-Sim's prefetch
window (:mod:`imcsim.arch.scalesim_memory`, ``forward_only = False``), at word instead of set granularity.

A strategy is stateless; :func:`dataflow_strategy` returns the one for a name. Counts are words, per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["DataflowStrategy", "OutputStationary", "WeightStationary", "InputStationary", "DATAFLOWS",
           "dataflow_strategy", "FoldWords", "window_refetch"]


def window_refetch(block, active):
    """Words one reuse of a ``block``-word sweep re-fetches through a window of ``active`` words (the active half):
    0 when the block fits, else ``min(block, 2 (block - active))`` (see the module docstring). Vectorised."""
    block = np.asarray(block)
    return np.where(block <= active, 0, np.minimum(block, 2 * (block - active)))


def _restream_fold_words(u, active: int, ur: np.ndarray, sr: int, first_c: np.ndarray) -> np.ndarray:
    """Per-fold words of an operand of ``u`` words re-streamed by every column fold, in row-fold tiles of ``ur / sr``
    of it (shape (F,), column folds outer): the first column fold fetches every tile; a later one fetches what the
    window lacks, the window's move back ``[0, min(A, u - A))`` and the sweep forward ``[A, u)`` (nothing when
    ``u <= A``), split over the tiles by position."""
    hi = np.cumsum(ur) % sr
    hi = np.where(hi == 0, sr, hi) * (u / sr)   # tile ends, in words of the operand's order
    lo = hi - ur * (u / sr)
    if u <= active:
        again = np.zeros_like(lo)
    else:
        back = min(active, u - active)
        again = (np.clip(np.minimum(hi, back) - lo, 0, None) + np.clip(hi - np.maximum(lo, active), 0, None))
    return np.where(first_c, ur * (u / sr), again)


@dataclass(frozen=True)
class FoldWords:
    """DRAM words each fold of one group moves, and when (stall-free cycles after the fold starts) it needs them.

    Attributes:
        ifmap, filter, ofmap: shape (F,) words per fold (F = row folds x column folds, column folds outer).
        ifmap_span, filter_span, ofmap_span: (first, last) cycle of the fold at which the fold needs its first and
            last word of the operand (reads) or writes its first and last output word.
    """

    ifmap: np.ndarray
    filter: np.ndarray
    ofmap: np.ndarray
    ifmap_span: tuple[int, int]
    filter_span: tuple[int, int]
    ofmap_span: tuple[int, int]


class DataflowStrategy:
    """How one dataflow maps a GEMM on the array and what it fetches (see the module docstring).

    Arguments named ``m, n, k`` are the GEMM's dimensions (per group), ``rows, cols`` the array's, ``fr, fc`` the
    row and column fold counts, ``u_if`` the ifmap words one pass of the GEMM fetches (M x K, or fewer when a conv
    fetches pixels once).
    """

    name: ClassVar[str]
    #: The operand the column-fold loop re-streams in full ("ifmap" or "filter").
    restreamed: ClassVar[str]
    #: Whether each row fold writes a partial-sum block (the reduction is split over row folds).
    partial_sums: ClassVar[bool]

    def extents(self, m, n, k):
        """(Sr, Sc, T): the operand extents along array rows and columns and the streamed extent."""
        raise NotImplementedError

    def cycles_per_fold(self, t, rows: int, cols: int):
        """Stall-free cycles of one fold streaming ``t`` (SCALE-Sim's demand-matrix length)."""
        return 2 * rows + cols + t - 2

    def util_denominator(self, t, rows: int, cols: int):
        """SCALE-Sim's per-fold compute-utilization denominator (it counts the ws/is column skew twice)."""
        return 2 * rows + 2 * cols + t - 3

    def sram_accesses(self, m: int, n: int, k: int, fr: int, fc: int) -> tuple[int, int, int]:
        """(ifmap reads, filter reads, ofmap writes) of the array on its scratchpads (SCALE-Sim's SRAM counts)."""
        raise NotImplementedError

    def reuse_words(self, m: int, n: int, k: int, u_if: int, cols: int, active: tuple[int, int, int],
                    accumulate: bool) -> tuple:
        """DRAM words each reuse of an operand's reused data moves, given the active halves (``active`` words:
        ifmap, filter, ofmap): for a read operand, the words one more sweep of it re-fetches
        (:func:`window_refetch`: 0 when the data fit the active half); for the ofmap, the partial-sum words a row
        fold other than the last writes (0 when they accumulate on chip). A whole operand re-streamed per column
        fold gives a scalar; a tile reused within a column fold gives one entry per column fold (shape (Fc,)),
        since the last column fold's tile can be narrower."""
        raise NotImplementedError

    def dram_words(self, m: int, n: int, k: int, u_if: int, cols: int, fr: int, fc: int, reuse: tuple
                   ) -> tuple[int, int, int]:
        """(ifmap reads, filter reads, ofmap writes) over the DRAM ports of one group; equals the sums of
        :meth:`fold_words`."""
        raise NotImplementedError

    def fold_words(self, m: int, n: int, k: int, u_if: int, rows: int, cols: int, fr: int, fc: int,
                   reuse: tuple, active: tuple[int, int, int]) -> FoldWords:
        """Per-fold DRAM words of one group and the cycles each fold needs them (see :class:`FoldWords`)."""
        raise NotImplementedError


def _col_fold_widths(sc: int, cols: int) -> np.ndarray:
    """Columns each column fold uses, shape (Fc,)."""
    fc = -(-sc // cols)
    return np.minimum(cols, sc - cols * np.arange(fc))


def _per_col(x, fr: int, fc: int) -> np.ndarray:
    """A per-column-fold array (or bool) spread over the folds (column folds outer)."""
    return np.repeat(np.broadcast_to(np.asarray(x), (fc,)), fr)


def _fold_grid(sr: int, sc: int, rows: int, cols: int, fr: int, fc: int):
    """Per-fold (column folds outer) used rows, used columns, and first-column/first-row/last-row flags."""
    used_r = np.minimum(rows, sr - rows * np.arange(fr))
    used_c = np.minimum(cols, sc - cols * np.arange(fc))
    ur = np.tile(used_r, fc).astype(float)
    uc = np.repeat(used_c, fr).astype(float)
    first_c = np.repeat(np.arange(fc) == 0, fr)
    first_r = np.tile(np.arange(fr) == 0, fc)
    last_r = np.tile(np.arange(fr) == fr - 1, fc)
    return ur, uc, first_c, first_r, last_r


class OutputStationary(DataflowStrategy):
    name = "os"
    restreamed = "ifmap"
    partial_sums = False

    def extents(self, m, n, k):
        return m, n, k

    def cycles_per_fold(self, t, rows, cols):
        return t + rows + cols - 2

    def util_denominator(self, t, rows, cols):
        return t + rows + cols - 2

    def sram_accesses(self, m, n, k, fr, fc):
        return fc * m * k, fr * k * n, m * n

    def reuse_words(self, m, n, k, u_if, cols, active, accumulate):
        # Whole ifmap re-streamed per column fold; one K x (used columns) filter tile reused by every row fold.
        return window_refetch(u_if, active[0]), window_refetch(k * _col_fold_widths(n, cols), active[1]), 0

    def dram_words(self, m, n, k, u_if, cols, fr, fc, reuse):
        uc = _col_fold_widths(n, cols)
        return (u_if + (fc - 1) * int(reuse[0]), int((k * uc + (fr - 1) * reuse[1]).sum()), m * n)

    def fold_words(self, m, n, k, u_if, rows, cols, fr, fc, reuse, active):
        sr, sc, t = self.extents(m, n, k)
        ur, uc, first_c, first_r, _ = _fold_grid(sr, sc, rows, cols, fr, fc)
        w_if = _restream_fold_words(u_if, active[0], ur, sr, first_c)
        w_f = np.where(first_r, k * uc, _per_col(reuse[1], fr, fc))
        per = int(self.cycles_per_fold(t, rows, cols))
        # Outputs leave the array from cycle T - 1 of the fold to its end.
        return FoldWords(w_if, w_f, ur * uc, (0, t + rows - 2), (0, t + cols - 2), (t - 1, per - 1))


class WeightStationary(DataflowStrategy):
    name = "ws"
    restreamed = "ifmap"
    partial_sums = True

    def extents(self, m, n, k):
        return k, n, m

    def sram_accesses(self, m, n, k, fr, fc):
        return fc * m * k, k * n, fr * m * n

    def reuse_words(self, m, n, k, u_if, cols, active, accumulate):
        # Whole ifmap re-streamed per column fold; filters used once; an M x (used columns) partial-sum block per
        # row fold, kept on chip only when accumulating and it fits.
        block = m * _col_fold_widths(n, cols)
        return window_refetch(u_if, active[0]), 0, np.where(accumulate & (block <= active[2]), 0, block)

    def dram_words(self, m, n, k, u_if, cols, fr, fc, reuse):
        uc = _col_fold_widths(n, cols)
        return u_if + (fc - 1) * int(reuse[0]), k * n, int((m * uc + (fr - 1) * reuse[2]).sum())

    def fold_words(self, m, n, k, u_if, rows, cols, fr, fc, reuse, active):
        sr, sc, t = self.extents(m, n, k)
        ur, uc, first_c, _, last_r = _fold_grid(sr, sc, rows, cols, fr, fc)
        w_if = _restream_fold_words(u_if, active[0], ur, sr, first_c)
        w_o = np.where(last_r, m * uc, _per_col(reuse[2], fr, fc))
        per = int(self.cycles_per_fold(t, rows, cols))
        # Weights load in the first R cycles; inputs stream from cycle R; outputs leave from cycle 2R - 1.
        return FoldWords(w_if, ur * uc, w_o, (rows, 2 * rows + t - 2), (0, rows - 1), (2 * rows - 1, per - 1))


class InputStationary(DataflowStrategy):
    name = "is"
    restreamed = "filter"
    partial_sums = True

    def extents(self, m, n, k):
        return k, m, n

    def sram_accesses(self, m, n, k, fr, fc):
        return m * k, fc * k * n, fr * m * n

    def reuse_words(self, m, n, k, u_if, cols, active, accumulate):
        # Ifmaps used once; whole filter re-streamed per column fold; an N x (used columns) partial-sum block per
        # row fold, kept on chip only when accumulating and it fits.
        block = n * _col_fold_widths(m, cols)
        return 0, window_refetch(k * n, active[1]), np.where(accumulate & (block <= active[2]), 0, block)

    def dram_words(self, m, n, k, u_if, cols, fr, fc, reuse):
        uc = _col_fold_widths(m, cols)
        return u_if, k * n + (fc - 1) * int(reuse[1]), int((n * uc + (fr - 1) * reuse[2]).sum())

    def fold_words(self, m, n, k, u_if, rows, cols, fr, fc, reuse, active):
        sr, sc, t = self.extents(m, n, k)
        ur, uc, first_c, _, last_r = _fold_grid(sr, sc, rows, cols, fr, fc)
        w_f = _restream_fold_words(k * n, active[1], ur, sr, first_c)
        w_o = np.where(last_r, n * uc, _per_col(reuse[2], fr, fc))
        per = int(self.cycles_per_fold(t, rows, cols))
        # Inputs load in the first R cycles; filters stream from cycle R; outputs leave from cycle 2R - 1.
        return FoldWords(u_if * ur * uc / (k * m), w_f, w_o, (0, rows - 1), (rows, 2 * rows + t - 2),
                         (2 * rows - 1, per - 1))


#: The strategy of each dataflow name (SystolicConfig.dataflow).
DATAFLOWS: dict[str, DataflowStrategy] = {s.name: s for s in (OutputStationary(), WeightStationary(),
                                                               InputStationary())}


def dataflow_strategy(name: str) -> DataflowStrategy:
    """The strategy of dataflow ``name`` ("os", "ws" or "is"); ValueError otherwise (configs validate the name)."""
    try:
        return DATAFLOWS[name]
    except KeyError:
        raise ValueError(f"unknown dataflow {name!r}; expected one of {sorted(DATAFLOWS)}") from None
