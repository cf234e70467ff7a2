"""Systolic-array (TPU-class) performance and energy: closed forms that reproduce SCALE-Sim 3.0.0's cycle counts.

A layer is a GEMM (SCALE-Sim's im2col view, :meth:`imcsim.workload.layer.Layer.as_gemm`): M output pixels, K the
filter window, N filters; at batch B the GEMM has B x M rows. An ``R x C`` array maps it by dataflow; what the rows,
columns and time take, the cycles per fold and which operand each fold re-fetches are one strategy object per
dataflow in :mod:`imcsim.arch.dataflow` (read from SCALE-Sim 3.0.0's ``compute/systolic_compute_{os,ws,is}.py``;
Samajdar et al., ISPASS 2020).

Folds: ``ceil(Sr/R) * ceil(Sc/C)``, run one after another (column folds outer, row folds inner). Stall-free cycles
are ``folds * per_fold - 1`` (SCALE-Sim reports the index of the last cycle). Mapping efficiency is the mean over
folds of used PEs / (R C) = ``Sr Sc / (folds R C)``; compute utilization the mean over folds of
``used PEs * T / (R C * denominator)`` (SCALE-Sim divides by the demand matrix's rows plus columns minus one, which
for ws and is counts the column skew twice; we keep its convention so the figures match). Overall utilization is
``MACs / (total cycles * R C)``.

Grouped and depthwise convolutions, which SCALE-Sim lacks, run as ``groups`` independent GEMMs of
``(M, N/groups, K/groups)`` one after another (SCALE-Sim's own workaround for depthwise layers, the ``DP`` layer
name, does the same per channel). MAC-free layers (pooling, element-wise, reshape) never occupy the array, and
SCALE-Sim does not model them at all. Pooling layers and element-wise layers with a second operand (residual
additions) stream through a vector unit at one element per array column per cycle (TPU v1's activation/pooling
pipeline takes the 256 accumulator outputs per cycle, Jouppi et al. ISCA 2017), reading their operands from and
writing their result to the scratchpads; activations (the one list of :mod:`imcsim.workload.ops`,
``ACTIVATION_OPS``), batch norm, dropout and identity (:data:`FUSED_OPS`, matched on ``Layer.op``) cost nothing:
they are applied to outputs as they leave the array (TPU v1's activation pipeline; batch norm folded into the
preceding layer at inference). Reshapes are free views. Every such layer still gets its own LayerCost row.

Memory traffic and stalls: :mod:`imcsim.arch.memory`. Evidence: a register-level cycle-by-cycle simulator
(tests/test_systolic_bruteforce.py) agrees with these forms on random GEMMs and arrays; SCALE-Sim 3.0.0 agrees exactly
on the layers of tests/test_systolic_scalesim.py and, in benchmarks/systolic_vs_scalesim.py, on every ResNet-18 layer
it finished (32x32 os).

``LayerCost.weight_bits`` is the layer's weights times the bits of its typed ``Layer.precision`` when the workload
gives one ("int<N>", "binary", "ternary", "float32"), else times one word; ``activation_bytes`` is its input plus
output words.

``LayerCost.metrics`` keys (counts in words of ``cfg.word_bytes``, fractions in [0, 1]):

- ``compute_cycles``: stall-free cycles, equal to SCALE-Sim's "Total Cycles" with ideal memory.
- ``stall_cycles``: cycles the array waits for DRAM; ``total_cycles = compute_cycles + stall_cycles``.
- ``overall_util``, ``mapping_efficiency``, ``compute_util``: as above.
- ``folds``: array folds (all groups); ``macs``: multiply-accumulates.
- ``sram_ifmap_reads``, ``sram_filter_reads``: words the array reads (SCALE-Sim's SRAM reads);
  ``sram_ofmap_writes``: words the array writes (SCALE-Sim's count less its ``folds * (R + C)`` over-count on os).
- ``dram_ifmap_reads``, ``dram_filter_reads``, ``dram_ofmap_writes``: words moved over the DRAM ports.
- ``mac_energy_j``, ``sram_energy_j``, ``dram_energy_j``: the parts of ``energy_j``. SRAM energy counts the
  array's reads and writes plus the scratchpad side of every DRAM transfer (a fill is a write, a drain a read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcsim.arch.cost import LayerCost, NetworkCost
from imcsim.arch.dataflow import DataflowStrategy, dataflow_strategy
from imcsim.arch.memory import OperandStream, stall_cycles
from imcsim.arch.scalesim_memory import ALL_ARTEFACTS, Artefacts, ifmap_addresses, simulate_scalesim_memory
from imcsim.config.systolic import SystolicConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Gemm, Layer, LayerKind
from imcsim.workload.network import Network
from imcsim.workload.ops import ACTIVATION_OPS

__all__ = ["METRIC_KEYS", "FoldPlan", "fold_plan", "simulate_layer", "simulate_network", "gemm_cycles",
           "batched_gemm", "Traffic", "layer_traffic",
           "network_totals", "weight_bits_per_weight", "FUSED_OPS", "scalesim_memory_layer"]

METRIC_KEYS = (
    "compute_cycles", "stall_cycles", "total_cycles", "overall_util", "mapping_efficiency", "compute_util",
    "folds", "macs", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
    "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "mac_energy_j", "sram_energy_j", "dram_energy_j",
)


@dataclass(frozen=True)
class FoldPlan:
    """How one GEMM (of a group) maps on the array. Fields may be numpy arrays (one entry per GEMM).

    sr, sc: the operand extents along array rows and columns; t: the streamed extent; row_folds, col_folds: folds
    along rows and columns; per_fold: cycles per fold; util_den: SCALE-Sim's per-fold compute-util denominator.
    """

    sr: np.ndarray
    sc: np.ndarray
    t: np.ndarray
    row_folds: np.ndarray
    col_folds: np.ndarray
    per_fold: np.ndarray
    util_den: np.ndarray


#: The most folds (all groups) of one layer the finite-bandwidth stall model accepts: it keeps a few float64 arrays
#: of one entry per fold, about 1 GiB at this size. Ideal memory has no such limit.
MAX_STALL_FOLDS = 2**24


def fold_plan(m, n, k, rows: int, cols: int, dataflow: str) -> FoldPlan:
    """The fold plan of GEMM(s) of shape (M, N, K) on a ``rows x cols`` array (scalars or equal-shape arrays)."""
    m, n, k = (np.asarray(x, dtype=np.int64) for x in (m, n, k))
    flow = dataflow_strategy(dataflow)
    sr, sc, t = flow.extents(m, n, k)
    row_folds = -(-sr // rows)
    col_folds = -(-sc // cols)
    return FoldPlan(sr, sc, t, row_folds, col_folds, flow.cycles_per_fold(t, rows, cols),
                    flow.util_denominator(t, rows, cols))


def gemm_cycles(m, n, k, rows: int, cols: int, dataflow: str, groups=1) -> np.ndarray:
    """Stall-free cycles of ``groups`` GEMMs of (M, N, K) run back to back (SCALE-Sim's "Total Cycles")."""
    p = fold_plan(m, n, k, rows, cols, dataflow)
    return np.asarray(groups) * p.row_folds * p.col_folds * p.per_fold - 1


def batched_gemm(layer: Layer, batch: int = 1) -> Gemm:
    """The layer's GEMM at ``batch`` inputs: the batch multiplies M (a dense layer at batch 8 is an 8-row GEMM;
    a conv's M becomes batch x output pixels, as if the images were stacked)."""
    g = layer.as_gemm()
    return Gemm(g.m * batch, g.n, g.k, g.groups)


def _ifmap_words(layer: Layer, cfg: SystolicConfig, g: Gemm, batch: int) -> int:
    """Ifmap words one group fetches per pass: the padded input pixels of a conv when ``cfg.ifmap_pixels_once``,
    else the M x K im2col operand (SCALE-Sim's count)."""
    if layer.kind == LayerKind.CONV2D and cfg.ifmap_pixels_once:
        return min(batch * layer.padded_in_h * layer.padded_in_w * (layer.in_c // layer.groups), g.m * g.k)
    return g.m * g.k


@dataclass(frozen=True)
class Traffic:
    """What one layer moves on a systolic array: its GEMM (batched), fold plan, the active halves of the three
    scratchpads (words), the DRAM words each reuse of an operand's reused data moves
    (:meth:`~imcsim.arch.dataflow.DataflowStrategy.reuse_words`), SRAM and DRAM word counts (all groups), and the
    dataflow strategy that decided them."""

    gemm: Gemm
    ifmap_words: int
    plan: FoldPlan
    flow: DataflowStrategy
    active: tuple[int, int, int]
    reuse: tuple
    sram: tuple[float, float, float]
    dram: tuple[float, float, float]

    def streams(self, cfg: SystolicConfig) -> tuple[OperandStream, OperandStream, OperandStream]:
        """Per-fold DRAM words and need times of the three operands (all groups, SCALE-Sim fold order)."""
        g, p = self.gemm, self.plan
        fr, fc, per = int(p.row_folds), int(p.col_folds), int(p.per_fold)
        fw = self.flow.fold_words(g.m, g.n, g.k, self.ifmap_words, cfg.rows, cfg.cols, fr, fc, self.reuse,
                                  self.active)
        # Groups run back to back, each a fresh GEMM with its own operands.
        start = (np.arange(g.groups, dtype=float)[:, None] * (fr * fc) + np.arange(fr * fc)[None, :]).ravel() * per

        def stream(w: np.ndarray, span: tuple[int, int]) -> OperandStream:
            return OperandStream(np.tile(w, g.groups), start + span[0], start + span[1])

        return (stream(fw.ifmap, fw.ifmap_span), stream(fw.filter, fw.filter_span),
                stream(fw.ofmap, fw.ofmap_span))


def layer_traffic(layer: Layer, cfg: SystolicConfig, batch: int = 1) -> Traffic:
    """The :class:`Traffic` of a layer with weights at ``batch`` inputs (see :mod:`imcsim.arch.dataflow`)."""
    g = batched_gemm(layer, batch)
    flow = dataflow_strategy(cfg.dataflow)
    plan = fold_plan(g.m, g.n, g.k, cfg.rows, cfg.cols, cfg.dataflow)
    fr, fc = int(plan.row_folds), int(plan.col_folds)
    u_if = _ifmap_words(layer, cfg, g, batch)
    active = tuple(-(-(b // cfg.word_bytes) // 2)
                   for b in (cfg.ifmap_sram_bytes, cfg.filter_sram_bytes, cfg.ofmap_sram_bytes))
    reuse = flow.reuse_words(g.m, g.n, g.k, u_if, cfg.cols, active, cfg.accumulate_partial_sums)
    sram = tuple(float(x * g.groups) for x in flow.sram_accesses(g.m, g.n, g.k, fr, fc))
    dram = tuple(float(x * g.groups) for x in flow.dram_words(g.m, g.n, g.k, u_if, cfg.cols, fr, fc, reuse))
    return Traffic(g, u_if, plan, flow, active, reuse, sram, dram)


def weight_bits_per_weight(layer: Layer, cfg: SystolicConfig) -> int:
    """Bits a weight occupies: the typed ``Layer.precision`` when the workload gives one ("int<N>" -> N, "binary" ->
    1, "ternary" -> 2, "float32" -> 32; validated by :class:`~imcsim.workload.layer.Layer`), else one array word
    (``8 * word_bytes``)."""
    prec = layer.precision
    if prec is None:
        return 8 * cfg.word_bytes
    if prec.startswith("int"):
        return int(prec[3:])
    return {"binary": 1, "ternary": 2, "float32": 32}[prec]


# Element-wise ops applied to outputs as they leave the array: every activation of the workload's one list (the
# activation pipeline), plus batch norm (folded into the preceding layer's weights and bias for inference) and
# dropout/identity (no-ops at inference).
FUSED_OPS = ACTIVATION_OPS | frozenset({"batchnorm1d", "batchnorm2d", "dropout", "identity"})


def _mac_free_cost(layer: Layer, cfg: SystolicConfig, batch: int) -> LayerCost:
    wb = cfg.word_bytes
    fused = layer.kind == LayerKind.ELEMENTWISE and layer.op.lower().replace("_", "") in FUSED_OPS
    in_elems, out_elems = batch * layer.input_elems, batch * layer.output_elems
    if layer.kind == LayerKind.RESHAPE or fused:
        cycles, reads, writes = 0, 0, 0
    else:
        # Two operands for an element-wise op (a residual addition), one for pooling.
        reads = in_elems * (2 if layer.kind == LayerKind.ELEMENTWISE else 1)
        writes = out_elems
        cycles = -(-max(in_elems, writes) // cfg.cols)
    sram_e = reads * wb * cfg.sram_read_energy_j_per_byte + writes * wb * cfg.sram_write_energy_j_per_byte
    metrics = dict.fromkeys(METRIC_KEYS, 0.0)
    metrics.update(compute_cycles=float(cycles), total_cycles=float(cycles), sram_ifmap_reads=float(reads),
                   sram_ofmap_writes=float(writes), sram_energy_j=sram_e)
    return LayerCost(layer.name, "systolic", cycles / cfg.clock_hz, sram_e, 0, (in_elems + out_elems) * wb, metrics)


def _check_batch(batch: int) -> int:
    if int(batch) != batch or batch < 1:
        raise ConfigError(f"batch = {batch!r}: expected a positive integer")
    return int(batch)


#: The most array reads and writes (words, one group) the ``scalesim`` memory model materialises for one layer:
#: its address streams take a few int64 arrays of this length (about 2 GB at this size).
MAX_SCALESIM_WORDS = 5 * 10**7


def _scalesim_memory(layer: Layer, cfg: SystolicConfig, tr: Traffic, batch: int,
                     artefacts: Artefacts = ALL_ARTEFACTS) -> tuple[int, tuple[float, float, float]]:
    """Stall cycles and DRAM (ifmap, filter, ofmap) words of ``layer`` under SCALE-Sim 3.0.0's memory system
    (:mod:`imcsim.arch.scalesim_memory`, with ``artefacts``); groups run as independent layers, one after
    another."""
    bws = cfg.read_bandwidths()
    names = ("ifmap", "filter", "ofmap")
    for name, bw in zip(names, bws):
        if bw is None or bw != int(bw):
            raise ConfigError(f"memory_model = 'scalesim': the {name} DRAM port bandwidth = {bw!r}; SCALE-Sim "
                              "3.0.0 needs an integer words/cycle on every port (no ideal port beside a finite one)")
    g = tr.gemm
    words = sum(tr.sram) / g.groups
    if words > MAX_SCALESIM_WORDS:
        raise ConfigError(f"layer '{layer.name}': {words:,.0f} array reads and writes, more than the "
                          f"{MAX_SCALESIM_WORDS:,} memory_model = 'scalesim' materialises; use memory_model = "
                          "'physical'")
    conv = None
    if layer.kind == LayerKind.CONV2D:
        conv = (layer.padded_in_h, layer.padded_in_w, layer.in_c // layer.groups, layer.kernel_h, layer.kernel_w,
                layer.stride_h, layer.stride_w, layer.out_w)
    wb = cfg.word_bytes
    res = simulate_scalesim_memory(
        cfg.dataflow, ifmap_addresses(g.m, g.k, conv, batch), g.n, cfg.rows, cfg.cols,
        (cfg.ifmap_sram_bytes // wb, cfg.filter_sram_bytes // wb, cfg.ofmap_sram_bytes // wb),
        tuple(int(b) for b in bws), artefacts)
    per_group = int(tr.plan.row_folds * tr.plan.col_folds * tr.plan.per_fold)
    # Groups back to back: each ends at its own "Total Cycles" and the next starts on the following cycle.
    total = g.groups * (res.total_cycles + 1) - 1
    stalls = total - (g.groups * per_group - 1)
    return stalls, (float(res.dram_ifmap_reads * g.groups), float(res.dram_filter_reads * g.groups),
                    float(res.dram_ofmap_writes * g.groups))


def scalesim_memory_layer(layer: Layer, cfg: SystolicConfig, artefacts: Artefacts = ALL_ARTEFACTS,
                          batch: int = 1) -> tuple[int, tuple[float, float, float]]:
    """(total cycles, DRAM (ifmap, filter, ofmap) words) of a layer with weights under the ``scalesim`` memory model
    with only ``artefacts`` of SCALE-Sim's bookkeeping applied (:class:`~imcsim.arch.scalesim_memory.Artefacts`):
    the attribution of the gap between SCALE-Sim and the physical model, artefact by artefact."""
    batch = _check_batch(batch)
    tr = layer_traffic(layer, cfg, batch)
    stalls, dram = _scalesim_memory(layer, cfg, tr, batch, artefacts)
    compute = tr.gemm.groups * int(tr.plan.row_folds * tr.plan.col_folds * tr.plan.per_fold) - 1
    return compute + stalls, dram


def simulate_layer(layer: Layer, cfg: SystolicConfig, batch: int = 1) -> LayerCost:
    """Cycles, utilizations, memory traffic, latency (s) and energy (J) of one layer on a systolic array, for
    ``batch`` inputs processed together (the batch multiplies the GEMM's M; latency is that of the whole batch).

    Pure: no I/O. See the module docstring for the metrics and their definitions.
    """
    batch = _check_batch(batch)
    if not layer.kind.has_weights:
        return _mac_free_cost(layer, cfg, batch)
    tr = layer_traffic(layer, cfg, batch)
    g, plan = tr.gemm, tr.plan
    rr, cc = cfg.rows, cfg.cols
    fr, fc = int(plan.row_folds), int(plan.col_folds)
    folds = g.groups * fr * fc
    compute = folds * int(plan.per_fold) - 1
    mapping = int(plan.sr) * int(plan.sc) / (fr * fc * rr * cc)
    cutil = int(plan.sr) * int(plan.sc) * int(plan.t) / (fr * fc * rr * cc * int(plan.util_den))
    sram_if, sram_f, sram_o = tr.sram
    d_if, d_f, d_o = tr.dram

    wb = cfg.word_bytes
    words = (cfg.ifmap_sram_bytes // wb, cfg.filter_sram_bytes // wb, cfg.ofmap_sram_bytes // wb)
    # A port can stall only if its operand overflows what the scratchpad holds before cycle 0 (reads: the active
    # half) or at all (the ofmap); skipping the others keeps whole networks in milliseconds.
    limits = (-(-words[0] // 2), -(-words[1] // 2), words[2])
    bws = tuple(b if b is not None and total > lim else None
                for b, total, lim in zip(cfg.read_bandwidths(), (d_if, d_f, d_o), limits))
    stalls = 0
    if cfg.memory_model == "scalesim" and any(b is not None for b in cfg.read_bandwidths()):
        stalls, (d_if, d_f, d_o) = _scalesim_memory(layer, cfg, tr, batch)
    elif any(b is not None for b in bws):
        if folds > MAX_STALL_FOLDS:
            raise ConfigError(f"layer '{layer.name}': {folds:,} folds on a {rr}x{cc} array, more than the "
                              f"{MAX_STALL_FOLDS:,} the per-fold stall model holds in memory; use ideal memory (no "
                              f"DRAM bandwidth) or a larger array")
        stalls = stall_cycles(*tr.streams(cfg), words, bws)
    total = compute + stalls
    macs = g.macs
    mac_e = macs * cfg.mac_energy_j
    sram_e = ((sram_if + sram_f + d_o) * wb * cfg.sram_read_energy_j_per_byte
              + (sram_o + d_if + d_f) * wb * cfg.sram_write_energy_j_per_byte)
    dram_e = (d_if + d_f) * wb * cfg.dram_read_energy_j_per_byte + d_o * wb * cfg.dram_write_energy_j_per_byte
    metrics = {
        "compute_cycles": float(compute), "stall_cycles": float(stalls), "total_cycles": float(total),
        # SCALE-Sim counts cycles from 0; a one-fold, one-cycle layer reports 0 cycles, so guard the division.
        "overall_util": macs / (max(total, 1) * rr * cc), "mapping_efficiency": mapping, "compute_util": cutil,
        "folds": float(folds), "macs": float(macs),
        "sram_ifmap_reads": sram_if, "sram_filter_reads": sram_f, "sram_ofmap_writes": sram_o,
        "dram_ifmap_reads": d_if, "dram_filter_reads": d_f, "dram_ofmap_writes": d_o,
        "mac_energy_j": mac_e, "sram_energy_j": sram_e, "dram_energy_j": dram_e,
    }
    return LayerCost(layer.name, "systolic", total / cfg.clock_hz, mac_e + sram_e + dram_e,
                     weight_bits=layer.weights * weight_bits_per_weight(layer, cfg),
                     activation_bytes=batch * (layer.input_elems + layer.output_elems) * wb, metrics=metrics)


def simulate_network(network: Network, cfg: SystolicConfig, batch: int = 1) -> NetworkCost:
    """Every layer of ``network`` on the array, one after another (MAC-free layers included), each on ``batch``
    inputs at once: the latency is per batch; throughput is ``batch / latency_s`` inferences per second."""
    return NetworkCost(network.name, [simulate_layer(layer, cfg, batch) for layer in network.layers])


_SUMMED = ("compute_cycles", "stall_cycles", "total_cycles", "folds", "macs", "sram_ifmap_reads",
           "sram_filter_reads", "sram_ofmap_writes", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
           "mac_energy_j", "sram_energy_j", "dram_energy_j")


def network_totals(cost: NetworkCost, cfg: SystolicConfig, batch: int = 1) -> dict[str, float]:
    """Whole-network figures: sums of the counts, cycles, latency (s, per batch) and energy (J); overall utilization
    of the whole run (MACs / (total cycles * PEs)); mapping efficiency and compute utilization averaged over all folds
    of all layers (SCALE-Sim's per-layer definition extended to the network); ``batch`` (the batch ``cost`` was
    simulated at) and ``throughput_per_s`` (inferences per second, batch / latency)."""
    tot: dict[str, float] = {k: cost.total(k) for k in _SUMMED}
    folds = tot["folds"]
    tot["overall_util"] = tot["macs"] / (tot["total_cycles"] * cfg.pes) if tot["total_cycles"] else 0.0
    for key in ("mapping_efficiency", "compute_util"):
        tot[key] = (sum(c.metrics.get(key, 0.0) * c.metrics.get("folds", 0.0) for c in cost.layers) / folds
                    if folds else 0.0)
    tot.update(latency_s=cost.latency_s, energy_j=cost.energy_j, weight_bits=float(cost.weight_bits),
               activation_bytes=float(sum(c.activation_bytes for c in cost.layers)), batch=float(batch),
               throughput_per_s=batch / cost.latency_s if cost.latency_s > 0 else float("inf"))
    return tot
