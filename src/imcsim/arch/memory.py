"""The physical scratchpad and DRAM model of a systolic array (``memory_model = "physical"``, the default): DRAM
traffic per fold and the stalls a finite bandwidth causes. ``memory_model = "scalesim"`` replaces it with SCALE-Sim
3.0.0's own bookkeeping, artefacts included (:mod:`imcsim.arch.scalesim_memory`).

Pure numpy functions over the fold schedule built by :mod:`imcsim.arch.systolic` (folds in SCALE-Sim's order:
column folds outer, row folds inner); which operand each fold fetches is the dataflow's strategy
(:mod:`imcsim.arch.dataflow`). Counts are in words.

Traffic (what DRAM must deliver): an operand tile that the inner (row-fold) loop reuses is fetched once per column
fold when it fits in the active half of its scratchpad and once per reuse otherwise (decided per column fold: the
last one's tile can be narrower); an operand re-streamed by every column fold is fetched once when the whole operand
fits, else once per column fold. A convolution's ifmap is by default its im2col operand (each window's copy of a
pixel is fetched, as SCALE-Sim counts it); with ``ifmap_pixels_once`` each padded input pixel is fetched once per
pass (the scratchpad holds pixels and the feeder forms the windows). Outputs go to DRAM once; under ws and is the
array writes a partial sum per row fold; by default every partial sum is drained to DRAM, as SCALE-Sim does, and
with ``accumulate_partial_sums`` they accumulate in the ofmap scratchpad when the partial-sum block fits in its
active half (an accumulator memory, as in TPU v1), so only final outputs are written. Evidence: a brute-force
simulator that passes every demanded address, cycle by cycle, through least-recently-used caches of the active
halves counts the same DRAM words (tests/test_scratchpad_bruteforce.py, 1,500 random GEMMs, arrays and scratchpads
checked while writing it).

Stalls (double buffering as in SCALE-Sim 3.0.0's ``read_buffer``/``write_buffer``): each scratchpad is an active half
(``ceil(S/2)`` words, filled before cycle 0, as SCALE-Sim does) and a prefetch half of ``P = S - ceil(S/2)`` words.
Each operand has its own DRAM port of ``B`` words/cycle; prefetches are issued back to back, one half-buffer at a
time, each taking ``ceil(P/B) + 1`` cycles (transfer plus one cycle of latency), so the cumulative word count ``W``
is on chip at ``1 + ceil((W - A)/P) (ceil(P/B) + 1)``. A fold whose words arrive later than the (stall-shifted)
cycle the array needs them stalls the whole array; the ofmap side stalls when the words produced exceed the
scratchpad plus what its port has drained. Because stalls shift every later demand by the same amount, the stall
count of a layer is the largest lateness over all folds and operands: ``max(0, max_f (ready_f - need_f))``.

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
  on LeNet-5 on 8x8 os with 2 kB at 4 words/cycle SCALE-Sim's total is 3.0x ours (81,159 against 27,089 cycles,
  DRAM reads 2.8x). Where stalls come from the ofmap drain, or from an im2col ifmap streamed once per pass, the two
  agree within 5% on the layers in tests/test_systolic_scalesim.py.
- DRAM read counts: SCALE-Sim counts whole request lines of ``B`` words (the initial fill of the active half and
  ``ceil(P/B) B`` per prefetch, new words or not); ours are exact word counts of the traffic model above.
- Ofmap drains: SCALE-Sim credits a drain's space when it starts and counts a partially filled row as full when it
  is not the drain's last; we drain the words produced.

Each of these can be switched off in the ``scalesim`` model (:class:`imcsim.arch.scalesim_memory.Artefacts`); with
all of them off it agrees with this model within 5% on most LeNet-5 layers, and the one gap left is something this
model does not have: a tile larger than the active half is re-fetched whole here, where a scratchpad that keeps the
active half's worth resident re-fetches only the excess (the table and figures are in
:mod:`imcsim.arch.scalesim_memory`).
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


def read_lateness(stream: OperandStream, sram_words: int, bandwidth: float) -> float:
    """Largest number of cycles by which a read operand's words arrive after the array needs them (may be <= 0)."""
    if stream.words.size == 0 or stream.total == 0:
        return 0.0
    cum_end = np.cumsum(stream.words)
    cum_start = cum_end - stream.words + np.minimum(stream.words, 1.0)
    late_first = ready_cycles(cum_start, sram_words, bandwidth) - stream.first_need
    late_last = ready_cycles(cum_end, sram_words, bandwidth) - stream.last_need
    has = stream.words > 0
    late = np.maximum(late_first, late_last)[has]
    return float(late.max()) if late.size else 0.0


def write_lateness(stream: OperandStream, sram_words: int, bandwidth: float) -> float:
    """Largest number of cycles by which the ofmap scratchpad overflows: the array must wait for the drain port.

    As in SCALE-Sim's ``write_buffer``, the scratchpad drains one half-buffer at a time (``D = S - ceil(S/2)``
    words, ``ceil(D/B)`` cycles each), back to back; ``W`` produced words fit in the ``S``-word scratchpad once
    ``ceil((W - S)/D)`` drains are done, at cycle ``ceil((W - S)/D) ceil(D/B)``. (SCALE-Sim credits a drain's space
    when it starts; counting it when it ends matched its totals better on the cases in tests/, within 5% on most.)
    Each fold's writes are checked where its output phase starts and ends; the final drain after the last write is
    not part of the layer's cycles (as in SCALE-Sim).
    """
    if stream.words.size == 0:
        return 0.0
    drain = max(sram_words - (-(-sram_words // 2)), 1)
    per_drain = np.ceil(drain / bandwidth)

    def ready(cum: np.ndarray) -> np.ndarray:
        over = cum - sram_words
        return np.where(over > 0, np.ceil(over / drain) * per_drain, -np.inf)

    cum_end = np.cumsum(stream.words)
    cum_start = cum_end - stream.words + np.minimum(stream.words, 1.0)
    late = np.maximum(ready(cum_start) - stream.first_need, ready(cum_end) - stream.last_need)
    return float(late.max())


def stall_cycles(ifmap: OperandStream, filt: OperandStream, ofmap: OperandStream,
                 sram_words: tuple[int, int, int], bandwidths: tuple[float | None, float | None, float | None]
                 ) -> int:
    """Stall cycles of a layer: the largest lateness over the three scratchpads, or 0 (ideal ports are None)."""
    late = [0.0]
    bw_i, bw_f, bw_o = bandwidths
    if bw_i is not None:
        late.append(read_lateness(ifmap, sram_words[0], bw_i))
    if bw_f is not None:
        late.append(read_lateness(filt, sram_words[1], bw_f))
    if bw_o is not None:
        late.append(write_lateness(ofmap, sram_words[2], bw_o))
    return int(max(0.0, max(late)))
