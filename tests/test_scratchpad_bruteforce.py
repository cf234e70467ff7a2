"""A brute-force scratchpad simulator, independent of imcsim.arch: every operand address the array demands, fold by
fold and cycle by cycle, goes through the scratchpad's active half; DRAM traffic is what it misses (reads) or evicts
(partial sums). The physical memory model must equal it.

Reads: the active half is a window over the operand's words in the order the array first demands them (its
layout in DRAM, which the prefetcher walks): it holds up to ``A`` words contiguous in that order, and a demanded word
outside it moves the window by the fewest words that bring it in, forward or back, fetching only the words that
enter (a word jumped over is not fetched). Partial sums: a write-back cache of the active half, least recently used
out.

The demand order is written out from the dataflows' definitions (which PE holds what, and what streams past it each
cycle), not from the model's formulas: os keeps outputs in the PEs and streams an ifmap row block and a filter
column block through them; ws holds a K x N filter tile and streams the ifmap's K-slice, writing a partial sum per
row fold; is holds a K x M ifmap tile and streams the filter's K-slice, writing a partial sum per row fold. Folds run
column folds outer, row folds inner. Ifmap words are im2col words (``ifmap_pixels_once = False``), one address per
(m, k). With ``accumulate_partial_sums`` the ofmap scratchpad is a write-back cache (a partial sum that stays is
accumulated on chip); without it every partial sum goes to DRAM.
"""

from __future__ import annotations

from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.arch.systolic import simulate_layer
from imcsim.config.systolic import SystolicConfig
from imcsim.workload.layer import Layer


def demand(m: int, n: int, k: int, rows: int, cols: int, dataflow: str):
    """Per cycle of the stall-free schedule: (ifmap addresses, filter addresses, ofmap addresses written)."""
    if dataflow == "os":
        sr, sc = m, n
    elif dataflow == "ws":
        sr, sc = k, n
    else:
        sr, sc = k, m
    for c0 in range(0, sc, cols):
        cb = range(c0, min(c0 + cols, sc))
        for r0 in range(0, sr, rows):
            rb = range(r0, min(r0 + rows, sr))
            if dataflow == "os":      # PE (i, j) accumulates out[i, j]; step t brings in[i, t] and w[t, j]
                for t in range(k):
                    yield [("i", i, t) for i in rb], [("w", t, j) for j in cb], []
                yield [], [], [("o", i, j) for i in rb for j in cb]
            elif dataflow == "ws":    # PE (kk, j) holds w[kk, j]; step t brings in[t, kk], adds into out[t, j]
                yield [], [("w", kk, j) for kk in rb for j in cb], []
                for t in range(m):
                    yield [("i", t, kk) for kk in rb], [], [("o", t, j) for j in cb]
            else:                     # PE (kk, i) holds in[i, kk]; step t brings w[kk, t], adds into out[i, t]
                yield [("i", i, kk) for kk in rb for i in cb], [], []
                for t in range(n):
                    yield [], [("w", kk, t) for kk in rb], [("o", i, t) for i in cb]


def read_misses(stream, capacity: int) -> int:
    """Words fetched by a window of ``capacity`` words over the stream's first-demand order, address by address."""
    stream = list(stream)
    pos: dict = {}
    for addr in stream:
        pos.setdefault(addr, len(pos))
    lo = hi = 0  # the window holds the words at positions [lo, hi)
    fetched = 0
    for addr in stream:
        p = pos[addr]
        if lo <= p < hi:
            continue
        if p >= hi:  # forward: the window ends at p; what it kept of [lo, hi) stays, [max(hi, new lo), p] enters
            new_lo = max(lo, p + 1 - capacity)
            fetched += p + 1 - max(hi, new_lo)
            lo, hi = new_lo, p + 1
        else:        # back: the window starts at p; [p, min(lo, p + capacity)) enters
            new_hi = min(hi, p + capacity)
            fetched += min(lo, new_hi) - p
            lo, hi = p, new_hi
    return fetched


def write_backs(stream, capacity: int, accumulate: bool) -> int:
    if not accumulate:
        return sum(1 for _ in stream)
    cache: OrderedDict = OrderedDict()
    writes = 0
    for addr in stream:
        if addr in cache:
            cache.move_to_end(addr)
            continue
        cache[addr] = True
        if len(cache) > capacity:
            cache.popitem(last=False)
            writes += 1
    return writes + len(cache)


def brute_force_dram(m, n, k, rows, cols, dataflow, sram_words, accumulate):
    cycles = list(demand(m, n, k, rows, cols, dataflow))
    active = [-(-s // 2) for s in sram_words]
    d_if = read_misses((a for c in cycles for a in c[0]), active[0])
    d_f = read_misses((a for c in cycles for a in c[1]), active[1])
    outs = [a for c in cycles for a in c[2]]
    d_o = len(outs) if dataflow == "os" else write_backs(outs, active[2], accumulate)
    return d_if, d_f, d_o


@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 24), n=st.integers(1, 24), k=st.integers(1, 24), rows=st.integers(1, 6),
       cols=st.integers(1, 6), dataflow=st.sampled_from(["os", "ws", "is"]),
       sram=st.tuples(st.integers(2, 700), st.integers(2, 700), st.integers(2, 700)), acc=st.booleans())
def test_physical_dram_traffic_equals_bruteforce_cache(m, n, k, rows, cols, dataflow, sram, acc):
    cfg = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow, ifmap_sram_bytes=sram[0],
                         filter_sram_bytes=sram[1], ofmap_sram_bytes=sram[2], accumulate_partial_sums=acc)
    met = simulate_layer(Layer.gemm("g", m, n, k), cfg).metrics
    assert (met["dram_ifmap_reads"], met["dram_filter_reads"], met["dram_ofmap_writes"]) == \
        brute_force_dram(m, n, k, rows, cols, dataflow, sram, acc)


def test_bruteforce_hand_case():
    # os, M=4, N=3, K=2 on 2x2: 2 row folds x 2 column folds; active halves of 3 words.
    # Ifmap: 8 words in demand order 0..7. Column fold 0 fetches all 8 and ends holding [5, 8). Column fold 1 starts
    # at 0: the window moves back to [0, 3) (3 words), then forward one word at a time over 3..7 (5 words): 8 again,
    # min(8, 2 (8 - 3)) = 8. Total 16.
    # Filter: column fold 0's K x 2 tile is 4 words, in order (t, j) = (0,0), (0,1), (1,0), (1,1). Row fold 0
    # fetches 4 and ends holding positions [1, 4); row fold 1 moves back to [0, 3) (1 word: position 0) and forward
    # to [1, 4) (1 word: position 3): 2 = min(4, 2 (4 - 3)), not the 4 an LRU cache would miss. Column fold 1's
    # 2 x 1 tile (2 words) fits: 2. Total 4 + 2 + 2 = 8. Outputs: 12 written once.
    assert brute_force_dram(4, 3, 2, 2, 2, "os", (6, 6, 6), False) == (16, 8, 12)


def test_window_read_misses_by_hand():
    # A 5-word block swept 3 times through a 3-word window: 5, then min(5, 2 (5 - 3)) = 4 per sweep: 13 (an LRU
    # cache would miss all 15). Sweep 2: back to [0, 3) fetches positions 0, 1 (2 is still held), forward over 3, 4.
    assert read_misses([0, 1, 2, 3, 4] * 3, 3) == 13
    # A 7-word block, 3-word window: 7 > 2 x 3, the window holds nothing of the next sweep's start: 7 per sweep.
    assert read_misses(list(range(7)) * 2, 3) == 14
    # A block that fits is fetched once.
    assert read_misses([5, 6, 7] * 4, 3) == 3
