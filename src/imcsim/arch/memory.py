"""The physical scratchpad and DRAM model of a systolic array (``memory_model = "physical"``, the default): DRAM
traffic per fold and the stalls a finite bandwidth causes. ``memory_model = "scalesim"`` replaces it with SCALE-Sim
3.0.0's own bookkeeping, artefacts included (:mod:`imcsim.arch.scalesim_memory`).

Pure numpy functions over the fold schedule built by :mod:`imcsim.arch.systolic` (folds in SCALE-Sim's order:
column folds outer, row folds inner); which operand each fold fetches is the dataflow's strategy
(:mod:`imcsim.arch.dataflow`). Counts are in words.

Traffic (what DRAM must deliver): an operand tile that the inner (row-fold) loop reuses is fetched once per column
fold when it fits in the active half ``A`` of its scratchpad (decided per column fold: the last one's tile can be
narrower); an operand re-streamed by every column fold is fetched once when the whole operand fits. A block of ``L >
A`` words swept again goes through a window of the ``A`` words last brought in, contiguous in the order the operand
is swept, which moves back to the block's start and forward again: each reuse re-fetches ``min(L, 2 (L - A))``
words (the part of the block the window had not yet overwritten stays; :func:`imcsim.arch.dataflow.window_refetch`).
A convolution's ifmap is by default its im2col operand (each window's copy of a pixel is fetched, as SCALE-Sim counts
it); with ``ifmap_pixels_once`` each padded input pixel is fetched once per pass (the scratchpad holds pixels and the
feeder forms the windows). Outputs go to DRAM once; under ws and is the
array writes a partial sum per row fold; by default every partial sum is drained to DRAM, as SCALE-Sim does, and
with ``accumulate_partial_sums`` they accumulate in the ofmap scratchpad when the partial-sum block fits in its
active half (an accumulator memory, as in TPU v1), so only final outputs are written. Evidence: a brute-force
simulator that passes every demanded address, cycle by cycle, through a window of the active half over each read
operand's first-demand order (address by address) and a least-recently-used write-back cache for partial sums counts
the same DRAM words (tests/test_scratchpad_bruteforce.py; 1,500 random GEMMs, arrays and scratchpads checked while
writing it).

Stalls (double buffering as in SCALE-Sim 3.0.0's ``read_buffer``/``write_buffer``): each scratchpad is an active half
(``ceil(S/2)`` words, filled before cycle 0, as SCALE-Sim does) and a prefetch half of ``P = S - ceil(S/2)`` words.
Each operand has its own DRAM port of ``B`` words/cycle; prefetches are issued back to back, one half-buffer at a
time, each taking ``ceil(P/B) + 1`` cycles (transfer plus one cycle of latency), so the cumulative word count ``W``
is on chip at ``1 + ceil((W - A)/P) (ceil(P/B) + 1)``. A fold whose words arrive later than the (stall-shifted)
cycle the array needs them stalls the whole array. Because stalls shift every later demand by the same amount, the
read stall of a layer is the largest lateness over all words and read operands, ``max(0, max_w (ready_w -
need_w))``; a fold needs its words at cycles linear between its first and last need and arrivals step up a half at a
time, so the lateness can peak only at a fold's first or last word or at the first word of a prefetched half, and it
is checked there. The ofmap side stalls when the words produced exceed the scratchpad plus what its port has
drained: a half drains once it is full and the previous drain has ended, frees its rows as they leave, and waits for
words that read stalls hold back (:func:`write_lateness`); the layer's stall is the larger of the two.

Where this differs from SCALE-Sim 3.0.0 (``memory_model = "scalesim"`` reproduces each of these exactly; the
figures are from benchmarks/systolic_vs_scalesim.py and tests/test_systolic_scalesim.py):
- SCALE-Sim counts a positive read stall twice (``offset += stall`` then again ``if stall > 0``) and lets a
  negative one pull the request earlier; over many prefetches these oscillate around the rate limit, which is what
  we compute (short layers can differ by about one prefetch).
- Read side, when an operand is larger than the active half: SCALE-Sim keeps the operand's addresses in sets of 1%
  of the scratchpad, in an order that unrolls the fold tiles along anti-diagonals, and slides a window of half the
  scratchpad over them, wrapping round the operand. A fold's first words share sets with the previous fold's last
  words; once the window has left those sets the next fold misses and the window travels once round the whole
  operand to find them. SCALE-Sim thus re-reads such an operand about once per fold: the 400 -> 120 dense layer
  under ws on 8x8 with 2 kB scratchpads at 4 words/cycle costs it 5,923,840 filter reads (123 per filter word) and
  1,486,713 cycles; we charge 48,000 reads and 17,249 cycles (no stalls: each fold's 64 filter words take 16 cycles
  at 4 words/cycle while it computes for 23). It is the common regime for full-size layers with small scratchpads:
  on LeNet-5 on 8x8 os with 2 kB at 4 words/cycle SCALE-Sim's total is 3.0x ours (81,159 against 27,095 cycles,
  DRAM reads 3.2x). Where stalls come from the ofmap drain, or from an im2col ifmap streamed once per pass, the two
  agree within 5% on the layers in tests/test_systolic_scalesim.py.
- DRAM read counts: SCALE-Sim counts whole request lines of ``B`` words (the initial fill of the active half and
  ``ceil(P/B) B`` per prefetch, new words or not); ours are exact word counts of the traffic model above.
- Ofmap drains: SCALE-Sim credits a drain's space when it starts and counts a partially filled row as full when it
  is not the drain's last; we free each row's words as the row leaves.

Each of these can be switched off in the ``scalesim`` model (:class:`imcsim.arch.scalesim_memory.Artefacts`, with
one more: SCALE-Sim's prefetch order interleaves adjacent fold tiles); with all of them off it agrees with this
model within 5% in cycles and DRAM reads on every LeNet-5 layer with weights in the three settings of
:mod:`imcsim.arch.scalesim_memory` (the table and figures are there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OperandStream", "ready_cycles", "read_lateness", "write_lateness", "stall_cycles"]


@dataclass(frozen=True)
class OperandStream:
    """One operand's DRAM words per fold and when, in stall-free cycles, each fold needs them.

    Attributes:
        words: shape (F,), DRAM words the fold brings in (reads) or produces (ofmap writes).
        first_need: shape (F,), stall-free cycle at which the fold needs its first word (reads) / produces its first.
        last_need: shape (F,), stall-free cycle at which the fold needs its last word / produces its last.
    """

    words: np.ndarray
    first_need: np.ndarray
    last_need: np.ndarray

    @property
    def total(self) -> float:
        return float(self.words.sum())


def ready_cycles(cum_words: np.ndarray, sram_words: int, bandwidth: float) -> np.ndarray:
    """Cycle at which ``cum_words`` words of an operand are on chip (vectorised).

    ``sram_words``: scratchpad size in words (both halves); ``bandwidth``: DRAM port words/cycle. The active half is
    filled before cycle 0; then half-buffers arrive back to back (see the module docstring).
    """
    active = -(-sram_words // 2)
    prefetch = max(sram_words - active, 1)
    per_prefetch = np.ceil(prefetch / bandwidth) + 1.0
    extra = np.maximum(cum_words - active, 0.0)
    chunks = np.ceil(extra / prefetch)
    return np.where(extra > 0, 1.0 + chunks * per_prefetch, 0.0)


def _read_late(stream: OperandStream, sram_words: int, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """Per fold, the largest number of cycles by which a read operand's words arrive after the array needs them,
    up to the fold's first word and over all its words (may be <= 0; -inf for a fold that fetches nothing).

    The ``w``-th word of a fold is needed at a cycle linear between the fold's first and last need; arrivals step up
    by a prefetched half at a time. So the lateness is checked at each fold's first and last word and at the first
    word of every prefetched half (``w = A + j P + 1``), the only places it can peak."""
    words = stream.words
    cum_end = np.cumsum(words)
    cum_start = cum_end - words + np.minimum(words, 1.0)
    has = words > 0
    late_first = np.where(has, ready_cycles(cum_start, sram_words, bandwidth) - stream.first_need, -np.inf)
    late_last = np.where(has, ready_cycles(cum_end, sram_words, bandwidth) - stream.last_need, -np.inf)
    active = -(-sram_words // 2)
    prefetch = max(sram_words - active, 1)
    if cum_end[-1] > active:
        # Half j (0-based) starts at word w_j = A + j P + 1 and is on chip at 1 + (j + 1) (ceil(P/B) + 1): both are
        # linear in j, and so is a fold's need, so within a fold the lateness at half starts peaks at the first or
        # the last half that starts in it.
        n_halves = int(np.ceil((cum_end[-1] - active) / prefetch))
        lo = np.maximum(np.ceil((cum_end - words - active) / prefetch), 0)
        hi = np.minimum(np.floor((cum_end - active - 1) / prefetch), n_halves - 1)
        some = has & (lo <= hi)
        span = np.maximum(words - 1, 1)
        for j in (lo, hi):
            w = active + j * prefetch + 1.0
            need = stream.first_need + (w - (cum_end - words) - 1) / span * (stream.last_need - stream.first_need)
            late = ready_cycles(w, sram_words, bandwidth) - need
            late_last = np.where(some, np.maximum(late_last, late), late_last)
    return late_first, np.maximum(late_first, late_last)


def read_lateness(stream: OperandStream, sram_words: int, bandwidth: float) -> float:
    """Largest number of cycles by which a read operand's words arrive after the array needs them (may be <= 0)."""
    if stream.words.size == 0 or stream.total == 0:
        return 0.0
    return float(_read_late(stream, sram_words, bandwidth)[1].max())


def write_lateness(stream: OperandStream, sram_words: int, bandwidth: float,
                   shift: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Largest number of cycles by which the ofmap scratchpad overflows: the array must wait for the drain port.

    A ping-pong drain, as in SCALE-Sim's ``write_buffer``: the scratchpad drains one half-buffer at a time
    (``D = S - ceil(S/2)`` words, ``d = ceil(D/B)`` cycles each). The ``k``-th drain starts once the ``k``-th half
    is full (its ``k D``-th word written) and the previous drain has ended: ``s_k = max(s_{k-1} + d, q(k D))``,
    ``q(w)`` being the cycle the ``w``-th output word is written, stall-free (linear between each fold's first and
    last output) plus ``shift``, the stalls the read ports have caused by then (per fold, at its first and last
    output): a drain waits for words a read stall holds back. A drain frees its space as its rows leave, ``B`` words
    a cycle: the ``x``-th drained word is gone at ``s_k + ceil((x - (k - 1) D)/B)``, ``k = ceil(x/D)``, and the
    ``w``-th output word fits the ``S``-word scratchpad once the ``(w - S)``-th has gone. The lateness (that cycle
    less the stall-free ``t(w)``) is piecewise linear between the ends of each drain's words and of each fold's
    outputs, so it is checked exactly there. The ofmap's own waits do not delay a drain's start: a write waits only
    when the scratchpad is full, and then the half that the next drain takes is already full. The final drain after
    the last write is not part of the layer's cycles (as in SCALE-Sim).
    """
    if stream.words.size == 0:
        return 0.0
    drain = max(sram_words - (-(-sram_words // 2)), 1)
    per_drain = float(np.ceil(drain / bandwidth))
    words = stream.words
    cum_end = np.cumsum(words)
    over = cum_end[-1] - sram_words
    if over <= 0:
        return -np.inf
    n_drains = int(np.ceil(over / drain))

    # The w-th (1-based) output word is written at base[f] + slope[f] w in fold f (cum_end[f-1] < w <= cum_end[f]),
    # stall-free, and at sbase[f] + sslope[f] w shifted by the read stalls.
    span = np.maximum(words - 1.0, 1.0)
    w0 = cum_end - words + 1.0
    slope = (stream.last_need - stream.first_need) / span
    base = stream.first_need - slope * w0
    if shift is None:
        sslope, sbase = slope, base
    else:
        sslope = slope + (shift[1] - shift[0]) / span
        sbase = stream.first_need + shift[0] - sslope * w0

    def written(w: np.ndarray, shifted: bool) -> np.ndarray:
        f = np.minimum(np.searchsorted(cum_end, w, "left"), words.size - 1)
        return sbase[f] + sslope[f] * w if shifted else base[f] + slope[f] * w

    k = np.arange(1, n_drains + 1, dtype=float)
    # s_k = max(s_{k-1} + d, full_k) unrolls to max_{i <= k} (full_i + (k - i) d).
    starts = np.maximum.accumulate(written(k * drain, True) - k * per_drain) + k * per_drain
    # Checkpoints x (drained words waited for): each drain's first and last word, each fold's first and last output.
    fold_w = np.concatenate([cum_end - words + np.minimum(words, 1.0), cum_end]) - sram_words
    x = np.concatenate([(k - 1) * drain + 1, k * drain, fold_w[(fold_w >= 1) & (fold_w <= over)]])
    x = x[x <= over]
    kk = np.ceil(x / drain).astype(np.int64)
    gone = starts[kk - 1] + np.ceil((x - (kk - 1) * drain) / bandwidth)
    return float((gone - written(x + sram_words, False)).max())


def stall_cycles(ifmap: OperandStream, filt: OperandStream, ofmap: OperandStream,
                 sram_words: tuple[int, int, int], bandwidths: tuple[float | None, float | None, float | None]
                 ) -> int:
    """Stall cycles of a layer: the largest lateness over the three scratchpads, or 0 (ideal ports are None).

    The read ports' lateness does not depend on the other ports (prefetches run back to back); the stall they have
    caused by a fold (the running maximum of their lateness) delays the fold's outputs, and so the drains
    (:func:`write_lateness`)."""
    late = [0.0]
    n = ofmap.words.size
    read_first = np.full(n, -np.inf)
    read_last = np.full(n, -np.inf)
    for stream, words, bw in ((ifmap, sram_words[0], bandwidths[0]), (filt, sram_words[1], bandwidths[1])):
        if bw is None or stream.words.size == 0 or stream.total == 0:
            continue
        lf, ll = _read_late(stream, words, bw)
        read_first = np.maximum(read_first, lf)
        read_last = np.maximum(read_last, ll)
    if n:
        # Stall the reads have caused by each fold's first and last output (they come after the fold's reads start
        # and after its last read, respectively).
        by_last = np.maximum(np.maximum.accumulate(np.maximum(read_first, read_last)), 0.0)
        by_first = np.maximum(np.concatenate([[0.0], by_last[:-1]]), np.maximum(read_first, 0.0))
        late.append(float(by_last[-1]))
        if bandwidths[2] is not None:
            late.append(write_lateness(ofmap, sram_words[2], bandwidths[2], (by_first, by_last)))
    return int(max(0.0, max(late)))
