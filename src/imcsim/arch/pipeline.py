"""Scheduling a network over IMC cores in time: layer by layer, or pixel by pixel with every layer resident on its own
arrays (Dazzi et al. 2021; ISAAC; MNSIM 2.0), with weight duplication (NeuroSim's rule, or greedy within a budget).

The canonical rule (issue 10), which ``tests/test_arch_pipeline.py`` checks against an event-driven simulator:

* layer l has ``pixel_time_s`` t_l (:func:`imcsim.arch.imc.imc_layer_cost`) and ``copies`` d_l; its P_l output pixels
  are produced in row-major order, pixel q on copy q mod d_l;
* ``pixel`` dataflow: pixel (i, j) may start when each producer has finished its input pixel at row
  min(s_h i + k_h - 1 - p_h, H_in - 1), column min(s_w j + k_w - 1 - p_w, W_in - 1) (clipped at 0; the bottom-right
  of the receptive field on the producer's output grid; activations, batch norm and residual additions are 1 x 1
  windows) and when pixel q - d_l of its own layer has finished; it finishes t_l later. A dense, GEMM or reshape
  layer waits for all of its producer's pixels; the network input is all present at time 0. First-image latency is
  the last finish; throughput is 1 / max_l ceil(P_l / d_l) t_l;
* ``layer`` dataflow: one layer at a time in network order, stage time ceil(P_l / d_l) t_l, latency their sum,
  throughput 1 / latency.

A batch of N images (:func:`schedule_rows`): ``layer`` runs each layer on the N images before the next (stage
N ceil(P_l / d_l) t_l); ``pixel`` streams image after image under the same rule, each copy's first pixel of image
b also waiting for its last pixel of image b - 1, so the batch takes the first image's latency plus about
(N - 1) / throughput (exactly that when the slowest stage stays busy; ``tests/test_arch_pipeline.py`` checks the
rule against the event-driven simulator extended to N images).

Producers come from ``Layer.extra["inputs"]`` (names of the layers whose outputs a layer reads, ``[]`` for the
network input; :func:`imcsim.workload.from_torch.from_torch` records them); a layer without that entry reads the
layer before it (a chain, as in topology files).

Activation memory: ``pixel`` holds a line buffer of ((k_h - 1) W_in + k_w) C_in values per windowed layer (the
whole input vector for a dense layer; nothing for a reshape); ``layer`` holds the largest input plus output map of
one layer (tensors kept alive for later residual additions are not counted). Duplication copies weights only: the
post-processing unit runs each MAC-free layer once. Energy depends on neither the dataflow nor the copies: the same
MVMs run and the same activations are read and written either way.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from imcsim.arch.cost import LayerCost
from imcsim.arch.imc import ENERGY_PARTS, imc_layer_cost
from imcsim.config.imc import IMCConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["DATAFLOWS", "StageResult", "PipelineResult", "producers", "dependency_pixels", "parse_duplication",
           "plan_copies", "schedule", "schedule_rows", "run_pipeline", "tradeoff", "tradeoff_rows",
           "line_buffer_values", "dependency_spec"]

DATAFLOWS = ("layer", "pixel")


def producers(network: Network) -> list[list[int]]:
    """For each layer, the indices of the layers it reads (``[]`` = the network input only)."""
    index = {lay.name: i for i, lay in enumerate(network.layers)}
    out: list[list[int]] = []
    for i, lay in enumerate(network.layers):
        names = lay.extra.get("inputs")
        if names is None:
            out.append([i - 1] if i > 0 else [])
            continue
        found = []
        for n in names:
            if n not in index or index[n] >= i:
                raise ConfigError(f"network '{network.name}': layer '{lay.name}' reads '{n}', which is not an "
                                  f"earlier layer")
            found.append(index[n])
        out.append(sorted(set(found)))
    return out


def _window(layer: Layer) -> tuple[int, int, int, int, int, int] | None:
    """(k_h, k_w, s_h, s_w, p_h, p_w) of a layer that reads a spatial window of its producer; None when it waits for
    its producer's whole output (dense, GEMM, reshape)."""
    if layer.kind in (LayerKind.CONV2D, LayerKind.POOL):
        return layer.kernel_h, layer.kernel_w, layer.stride_h, layer.stride_w, layer.pad_h, layer.pad_w
    if layer.kind == LayerKind.ELEMENTWISE:
        return 1, 1, 1, 1, 0, 0
    return None


def dependency_pixels(layer: Layer, producer: Layer) -> np.ndarray | None:
    """For each output pixel of ``layer`` (row-major), the index of the producer pixel it waits for; None when it
    waits for all of them."""
    win = _window(layer)
    if win is None or layer.kind == LayerKind.GEMM or producer.kind == LayerKind.GEMM:
        return None
    kh, kw, sh, sw, ph, pw = win
    h_in, w_in = producer.out_h, producer.out_w
    i = np.arange(layer.out_h, dtype=np.int64)
    j = np.arange(layer.out_w, dtype=np.int64)
    rows = np.clip(sh * i + kh - 1 - ph, 0, h_in - 1)
    cols = np.clip(sw * j + kw - 1 - pw, 0, w_in - 1)
    return (rows[:, None] * w_in + cols[None, :]).ravel()


def _finish_times(ready: np.ndarray, copies: int, t: float) -> np.ndarray:
    """finish[q] = max(ready[q], finish[q - copies]) + t, vectorised: along each copy's pixels j = 0, 1, ...
    finish_j = (j + 1) t + max_{i <= j} (ready_i - i t)."""
    p = ready.size
    if copies >= p:  # every pixel on its own copy
        return ready + t
    if copies == 1:
        j = np.arange(p, dtype=float)
        j *= t
        out = ready - j
        np.maximum.accumulate(out, out=out)
        out += j
        out += t
        return out
    rounds = math.ceil(p / copies)
    padded = np.full(rounds * copies, -np.inf)
    padded[:p] = ready
    grid = padded.reshape(rounds, copies)
    j = np.arange(rounds, dtype=float)[:, None]
    fin = (j + 1) * t + np.maximum.accumulate(grid - j * t, axis=0)
    return fin.ravel()[:p]


def parse_duplication(policy: str) -> tuple[str, int | None]:
    """``none`` / ``balanced`` / ``budget:N`` -> (name, N); ConfigError naming the value otherwise."""
    text = str(policy).strip()
    if text in ("none", "balanced"):
        return text, None
    if text.startswith("budget:"):
        try:
            n = int(text.partition(":")[2])
        except ValueError:
            n = 0
        if n >= 1:
            return "budget", n
    raise ConfigError(f"duplication = {policy!r}: expected none, balanced or budget:N with N a positive number of "
                      f"crossbar arrays")


def plan_copies(policy: str, arrays: Sequence[int], pixels: Sequence[int], pixel_time_s: Sequence[float],
                chip_arrays: int) -> np.ndarray:
    """Weight copies per layer (1 for layers without arrays).

    * ``none``: one copy each.
    * ``balanced``: copies in proportion to output pixels (NeuroSim's rule: feature-map area), d_l = ceil(P_l / q)
      for the smallest pixel quantum q whose copies fit ``chip_arrays``; one copy each when even that does not fit.
    * ``budget:N``: from one copy each, give the next copy to the slowest stage (ceil(P / d) t) while its arrays
      fit in N arrays in all; stop when the slowest stage cannot grow.
    """
    name, budget = parse_duplication(policy)
    a = np.asarray(arrays, dtype=np.int64)
    p = np.asarray(pixels, dtype=np.int64)
    t = np.asarray(pixel_time_s, dtype=float)
    d = np.ones(a.size, dtype=np.int64)
    dup = a > 0
    if name == "none" or not dup.any():
        return d
    if name == "balanced":
        limit = chip_arrays
        if int(a.sum()) > limit:
            return d
        lo, hi = 1, int(p[dup].max())  # S(q) = sum ceil(P / q) A is non-increasing in q; S(hi) = sum A fits
        while lo < hi:
            mid = (lo + hi) // 2
            if int(np.sum(-(-p[dup] // mid) * a[dup])) <= limit:
                hi = mid
            else:
                lo = mid + 1
        d[dup] = -(-p[dup] // lo)
        return d
    used = int(a.sum())
    if used > budget:
        return d
    heap = [(-float(p[i] * t[i]), i) for i in np.flatnonzero(dup)]
    heapq.heapify(heap)
    # a MAC-free stage slower than every weight stage caps throughput whatever the copies
    floor = max((float(p[i] * t[i]) for i in np.flatnonzero(~dup)), default=0.0)
    while heap:
        neg, i = heap[0]
        if -neg <= floor or used + a[i] > budget or d[i] >= p[i]:
            break
        d[i] += 1
        used += int(a[i])
        heapq.heapreplace(heap, (-float(math.ceil(p[i] / d[i]) * t[i]), i))
    return d


@dataclass(frozen=True)
class StageResult:
    """One layer in the schedule (SI units).

    Attributes:
        cost: the layer on one copy (:func:`imcsim.arch.imc.imc_layer_cost`); energy does not depend on copies.
        copies: weight copies d_l.
        stage_time_s: ceil(P / d) t, the time the layer is busy per image.
        start_s, finish_s: first pixel's start and last finish of the first image.
        buffer_bytes: activation memory this layer holds in the dataflow (line buffer or whole maps).
        wait_s: time from its producers' first output (time 0 for the network input) to its own start: the stall
            its buffer causes.
        inputs: names of the layers (or rows) it reads.
        depends: how its pixels wait for its producers (``kind`` ``window`` or ``all``).
        after: in a system's schedule, the row before it on the same digital unit or interface, or None.
    """

    cost: LayerCost
    copies: int
    stage_time_s: float
    start_s: float
    finish_s: float
    buffer_bytes: float
    wait_s: float
    inputs: tuple[str, ...]
    depends: dict = field(default_factory=dict)
    after: str | None = None

    @property
    def name(self) -> str:
        return self.cost.name

    @property
    def pipelined(self) -> bool:
        """Whether the row runs pixel by pixel (a layer on an IMC core); else it runs as a whole (one piece of work
        of its latency: a layer on a digital unit or on IMAC, a transfer)."""
        return "pixel_time_s" in self.cost.metrics

    @property
    def pixels(self) -> int:
        return int(self.cost.metrics["pixels"]) if self.pipelined else 1

    @property
    def pixel_time_s(self) -> float:
        return float(self.cost.metrics["pixel_time_s"]) if self.pipelined else self.cost.latency_s

    def to_dict(self) -> dict:
        """JSON-ready (SI units). A whole row has ``pixels`` 1, ``pixel_time_s`` its latency, ``engine`` its unit
        and ``after`` the row before it on the same unit (it starts after that row finishes)."""
        m = self.cost.metrics
        if self.pipelined:
            engine = "crossbar" if m["arrays"] else "post"
            split = {k: m[f"energy_{k}_j"] for k in ENERGY_PARTS}
        else:
            engine = self.cost.unit
            split = {self.cost.unit: self.cost.energy_j}
        return {"name": self.name, "unit": self.cost.unit, "engine": engine,
                "arrays": int(m.get("arrays", 0)) if self.pipelined else 0, "copies": self.copies,
                "pixels": self.pixels, "pixel_time_s": self.pixel_time_s, "stage_time_s": self.stage_time_s,
                "start_s": self.start_s, "finish_s": self.finish_s, "energy_j": self.cost.energy_j,
                "inputs": list(self.inputs), "after": self.after, "depends": self.depends,
                "buffer_bytes": self.buffer_bytes, "wait_s": self.wait_s,
                "cell_utilization": m.get("cell_utilization", 0.0), "wasted_cells": int(m.get("wasted_cells", 0)),
                "energy_split_j": split}


@dataclass(frozen=True)
class PipelineResult:
    """A network scheduled on an IMC core type (SI units)."""

    network: str
    arch: str
    dataflow: str
    duplication: str
    stages: tuple[StageResult, ...]
    latency_s: float
    throughput_ips: float
    energy_j: float
    area_m2: float
    activation_memory_bytes: float
    cores: int
    chip_arrays: int
    batch: int = 1
    first_latency_s: float | None = None

    @property
    def first_image_latency_s(self) -> float:
        """Latency of the batch's first image (s); the whole batch's ``latency_s`` at batch 1."""
        return self.latency_s if self.first_latency_s is None else self.first_latency_s

    @property
    def fits(self) -> bool:
        """Whether every copy of every layer's arrays fits on one chip (``chip_arrays``)."""
        return self.cores <= self.chip_arrays

    def energy_split(self) -> dict[str, float]:
        """Energy (J) by IMC part (:data:`~imcsim.arch.imc.ENERGY_PARTS`), then by the unit of every row that is
        not on an IMC core (in a system's schedule: ``systolic``, ``cpu``, ``imac``, ``transfer``)."""
        out = {k: 0.0 for k in ENERGY_PARTS}
        for s in self.stages:
            if s.pipelined:
                for k in ENERGY_PARTS:
                    out[k] += float(s.cost.metrics[f"energy_{k}_j"])
            else:
                out[s.cost.unit] = out.get(s.cost.unit, 0.0) + s.cost.energy_j
        return out

    def to_dict(self) -> dict:
        return {"network": self.network, "arch": self.arch, "pipeline": self.dataflow,
                "duplication": self.duplication, "batch": self.batch, "latency_s": self.latency_s,
                "first_image_latency_s": self.first_image_latency_s, "throughput_ips": self.throughput_ips,
                "energy_j": self.energy_j, "area_m2": self.area_m2,
                "activation_memory_bytes": self.activation_memory_bytes, "cores": self.cores,
                "chip_arrays": self.chip_arrays, "fits": self.fits, "energy_split_j": self.energy_split(),
                "layers": [s.to_dict() for s in self.stages]}


def dependency_spec(layer: Layer) -> dict:
    """How the layer's pixels wait for its producers (for scripts that recompute the schedule from JSON)."""
    win = _window(layer)
    if win is None or layer.kind == LayerKind.GEMM:
        return {"kind": "all", "out_hw": [layer.out_h, layer.out_w]}
    kh, kw, sh, sw, ph, pw = win
    return {"kind": "window", "kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw],
            "out_hw": [layer.out_h, layer.out_w]}


def line_buffer_values(layer: Layer) -> int:
    """Values a layer holds in the pixel dataflow before its first output: ((k_h - 1) W_in + k_w) C_in for a
    windowed layer, its whole input for a dense or GEMM layer, nothing for a reshape."""
    win = _window(layer)
    if layer.kind == LayerKind.RESHAPE:
        return 0
    if win is None:
        return layer.input_elems
    kh, kw = win[0], win[1]
    operands = int(layer.extra.get("operands", 1)) if layer.kind == LayerKind.ELEMENTWISE else 1
    return ((kh - 1) * layer.in_w + kw) * layer.in_c * max(operands, 1)


def schedule(network: Network, costs: Sequence[LayerCost], copies: Sequence[int], dataflow: str,
             prods: list[list[int]] | None = None, batch: int = 1
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """(start_s, finish_s, stage_time_s) per layer and each layer's pixel finish times, under ``dataflow``
    (``prods``: :func:`producers` of the network, when already known), for ``batch`` images (see
    :func:`schedule_rows`)."""
    t = np.array([c.metrics["pixel_time_s"] for c in costs], dtype=float)
    p = np.array([int(c.metrics["pixels"]) for c in costs], dtype=np.int64)
    prods = producers(network) if prods is None and dataflow == "pixel" else prods
    return schedule_rows(network.layers, prods or [], t, p, copies, dataflow, batch=batch)


def _check_batch(batch: int) -> int:
    if int(batch) != batch or batch < 1:
        raise ConfigError(f"batch = {batch!r}: expected a positive integer")
    return int(batch)


def _chain_heads(whole: Sequence[bool], after: Sequence[int | None]) -> dict[int, int]:
    """For each whole row, the first whole row on its unit (``after`` chains a unit's rows; the head names the
    unit)."""
    heads: dict[int, int] = {}
    for i, w in enumerate(whole):
        if w:
            heads[i] = i if after[i] is None else heads[after[i]]
    return heads


def schedule_rows(layers: Sequence[Layer | None], prods: Sequence[Sequence[int]], pixel_time_s: Sequence[float],
                  pixels: Sequence[int], copies: Sequence[int], dataflow: str,
                  whole: Sequence[bool] | None = None, after: Sequence[int | None] | None = None,
                  batch: int = 1, whole_batch_s: Sequence[float] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The canonical rule (module docstring) over rows that are layers pipelined pixel by pixel, or *whole* rows.

    A whole row (``whole[r]``: a layer on a digital unit, a transfer; ``layers[r]`` may be None) is one piece of work
    of ``pixel_time_s[r]`` (``pixels[r]`` = 1): it starts when each of its producers has finished all of its pixels
    and when the row ``after[r]`` (the previous row on the same unit, which runs one row at a time) has finished;
    a pixel row waits for a whole producer's finish. ``layer`` dataflow: rows one after another in order.

    Batch (``batch`` = N images): ``layer`` dataflow runs each row on the whole batch before the next: a pixel row
    takes its N x P pixels image after image (stage N ceil(P / d) t), a whole row takes ``whole_batch_s[r]`` (its
    unit's cost of the batch: one GEMM on a systolic array, N inputs in sequence elsewhere; default N times
    ``pixel_time_s[r]``). ``pixel`` dataflow streams image after image under the same rule extended to N images:
    image b's pixel q of a layer waits for image b's receptive-field pixels of its producers and for the previous
    pixel on its copy (pixel q - d of image b, or for q < d the last pixel on copy q mod d of image b - 1); a whole
    row of image b starts when its producers (image b) and the row before it on its unit (image b) have finished and
    its unit is free; a unit serves its rows in the order they became ready (ties: earlier image, then row order).

    Returns (start_s, finish_s, stage_time_s) per row and each row's pixel finish times (pixel dataflow only), and
    with ``batch`` > 1: ``finish_s`` of the whole batch, ``start_s`` of the first image, ``stage_time_s`` per image
    (pixel) or per batch (layer), and the pixel finish times of all images (image-major, shape (N P,)).
    """
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"pipeline = {dataflow!r}: expected one of {', '.join(DATAFLOWS)}")
    batch = _check_batch(batch)
    n = len(layers)
    t = np.asarray(pixel_time_s, dtype=float)
    p = np.asarray(pixels, dtype=np.int64)
    d = np.asarray(copies, dtype=np.int64)
    whole = [False] * n if whole is None else list(whole)
    after = [None] * n if after is None else list(after)
    stage = -(-p // d) * t
    if dataflow == "layer":
        wb = stage * batch if whole_batch_s is None else np.asarray(whole_batch_s, dtype=float)
        stage = np.where(np.asarray(whole, dtype=bool), wb, stage * batch)
        finish = np.cumsum(stage)
        start = finish - stage
        return start, finish, stage, []
    # An event-driven run over (image, row) items: a pixel row is computed (vectorised) as soon as its producers
    # (same image) and its own previous image are done, since its arrays are its own; whole rows go through their
    # unit in time order, a free unit taking, of the rows ready by then, the earliest image's first row. At batch 1
    # a unit never holds two ready rows (each waits for the one before it), so this is the canonical rule.
    heads = _chain_heads(whole, after)
    busy: dict[int, bool] = {}
    waiting: dict[int, list[tuple[int, int]]] = {}
    events: list[tuple[float, int, int, int]] = []   # (time, 0 = finish / 1 = ready, image, row)
    fins: list[list[np.ndarray | None]] = [[None] * n for _ in range(batch)]
    carry: list[np.ndarray | None] = [None] * n   # a pixel row's last finish per copy in the previous image
    first0 = np.empty(n)
    last = np.empty((batch, n))
    dependents: dict[tuple[int, int], list[tuple[int, int]]] = {}
    missing: dict[tuple[int, int], int] = {}
    for b in range(batch):
        for li in range(n):
            deps = [(b, pi) for pi in prods[li]]
            if whole[li] and after[li] is not None:
                deps.append((b, after[li]))
            if not whole[li] and b > 0:
                deps.append((b - 1, li))
            missing[(b, li)] = len(deps)
            for dep in deps:
                dependents.setdefault(dep, []).append((b, li))
    queue = [key for key, k in missing.items() if k == 0]

    def done(key: tuple[int, int]) -> None:
        for nxt in dependents.get(key, ()):
            missing[nxt] -= 1
            if missing[nxt] == 0:
                queue.append(nxt)

    now = 0.0
    while True:
        while queue:
            b, li = queue.pop()
            if whole[li]:
                waits = [last[b, pi] for pi in prods[li]] + ([last[b, after[li]]] if after[li] is not None else [])
                heapq.heappush(events, (max(waits, default=0.0), 1, b, li))
                continue
            lay = layers[li]
            win = _window(lay)
            ready = None
            for pi in prods[li]:
                prod = layers[pi]
                if (whole[pi] or fins[b][pi].size != prod.out_h * prod.out_w or win is None
                        or lay.kind == LayerKind.GEMM):
                    need = np.full(p[li], last[b, pi])
                elif win == (1, 1, 1, 1, 0, 0) and (prod.out_h, prod.out_w) == (lay.out_h, lay.out_w):
                    need = fins[b][pi]  # pixel for pixel (activations, residual additions)
                else:
                    need = fins[b][pi][dependency_pixels(lay, prod)]
                ready = need if ready is None else np.maximum(ready, need)
            ready = np.zeros(p[li]) if ready is None else ready
            dl, pl = int(d[li]), int(p[li])
            m = min(dl, pl)
            if b > 0:  # each copy's first pixel also waits for its last of the previous image
                ready = ready.copy()
                ready[:m] = np.maximum(ready[:m], carry[li])
            f = _finish_times(ready, dl, float(t[li]))
            fins[b][li] = f
            tail = np.arange(pl - m, pl)
            c = np.empty(m)
            c[tail % dl] = f[tail]
            carry[li] = c
            # f[q] >= f[q - d] + t: the earliest finish is among the first d pixels, the latest among the last d
            last[b, li] = f[-dl:].max()
            if b == 0:
                first0[li] = f[:dl].min()
            done((b, li))
        if events and events[0][0] <= now:  # every event at ``now`` before a unit picks its next row
            _, kind, b, li = heapq.heappop(events)
            if kind == 0:  # a whole row finished: its unit is free
                busy[heads[li]] = False
                done((b, li))
            else:
                heapq.heappush(waiting.setdefault(heads[li], []), (b, li))
            continue
        dispatched = False
        for unit, ready_rows in waiting.items():
            if ready_rows and not busy.get(unit, False):
                b, li = heapq.heappop(ready_rows)
                fin = now + float(stage[li])
                busy[unit] = dispatched = True
                fins[b][li] = np.array([fin])
                last[b, li] = fin
                if b == 0:
                    first0[li] = fin
                heapq.heappush(events, (fin, 0, b, li))
        if dispatched:
            continue
        if not events:
            break
        now = events[0][0]
    start = first0 - np.where(np.asarray(whole, dtype=bool), stage, t)
    if batch == 1:
        return start, last[0], stage, fins[0]
    return start, last.max(axis=0), stage, [np.concatenate([fins[b][li] for b in range(batch)]) for li in range(n)]


def run_pipeline(network: Network, cfg: IMCConfig, dataflow: str = "layer",
                 duplication: str = "none", batch: int = 1) -> PipelineResult:
    """Every layer of ``network`` on ``cfg``'s IMC core (weights on crossbars, the rest in post-processing),
    scheduled under ``dataflow`` (``layer`` or ``pixel``) with ``duplication`` (``none``, ``balanced``,
    ``budget:N``), for ``batch`` images (:func:`schedule_rows`).

    ``latency_s`` is the whole batch's (``first_image_latency_s`` its first image's); ``throughput_ips`` is images
    per second: ``batch / latency_s`` for ``layer``, the steady-state 1 / max_l ceil(P_l / d_l) t_l for ``pixel``.
    Energy is ``batch`` times one image's (analog units take the images in sequence); ``layer`` holds the whole
    batch's maps of one layer, ``pixel`` the same line buffers as for one image. The per-layer rows are the first
    image's under ``pixel`` and the batch's under ``layer``."""
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"pipeline = {dataflow!r}: expected one of {', '.join(DATAFLOWS)}")
    batch = _check_batch(batch)
    if not network.layers:
        raise ConfigError(f"network '{network.name}' has no layers")
    costs = [imc_layer_cost(lay, cfg) for lay in network.layers]
    arrays = [int(c.metrics["arrays"]) for c in costs]
    pix = [int(c.metrics["pixels"]) for c in costs]
    tpix = [float(c.metrics["pixel_time_s"]) for c in costs]
    copies = plan_copies(duplication, arrays, pix, tpix, cfg.chip_arrays)
    prods = producers(network)
    start, finish, stage, _ = schedule(network, costs, copies, dataflow, prods)
    first_latency = float(finish.max())
    if batch > 1:
        b_start, b_finish, b_stage, _ = schedule(network, costs, copies, dataflow, prods, batch)
        if dataflow == "layer":
            start, finish, stage = b_start, b_finish, b_stage
        batch_latency = float(b_finish.max())
    else:
        batch_latency = first_latency
    act = cfg.activation_bytes
    tiny = 1e-12 * float(finish.max())  # waits below this are rounding in the sums of start times
    stages = []
    for li, (lay, cost) in enumerate(zip(network.layers, costs)):
        if dataflow == "pixel":
            buf = line_buffer_values(lay) * act
            first = min((start[pi] + costs[pi].metrics["pixel_time_s"] for pi in prods[li]), default=0.0)
        else:
            buf = (sum(network.layers[pi].output_elems for pi in prods[li]) if prods[li] else lay.input_elems)
            buf = (buf + lay.output_elems) * act * batch
            first = min((start[pi] for pi in prods[li]), default=0.0)
        names = tuple(network.layers[pi].name for pi in prods[li])
        stages.append(StageResult(cost, int(copies[li]), float(stage[li]), float(start[li]), float(finish[li]),
                                  float(buf), float(wait if (wait := start[li] - first) > tiny else 0.0), names,
                                  dependency_spec(lay)))
    if dataflow == "pixel":
        memory = float(sum(s.buffer_bytes for s in stages))
        bottleneck = float(stage.max())
        throughput = 1.0 / bottleneck if bottleneck > 0 else math.inf
    else:
        memory = float(max(s.buffer_bytes for s in stages))
        throughput = batch / batch_latency if batch_latency > 0 else math.inf
    cores = int(np.sum(np.asarray(arrays) * copies))
    area = cores * cfg.array_area_m2 + cfg.post_area_m2 + memory * cfg.memory_area_per_byte_m2
    return PipelineResult(network.name, cfg.name, dataflow, str(duplication), tuple(stages), batch_latency,
                          float(throughput), batch * float(sum(c.energy_j for c in costs)), float(area), memory,
                          cores, cfg.chip_arrays, batch, first_latency)


def tradeoff(network: Network, cfg: IMCConfig, duplication: str = "none", batch: int = 1) -> list[dict]:
    """The memory-versus-latency trade-off as data: per layer and dataflow, the activation memory the layer holds
    (``buffer_bytes``) and the stall it causes (``wait_s``), with each dataflow's latency and throughput."""
    return tradeoff_rows([run_pipeline(network, cfg, flow, duplication, batch) for flow in DATAFLOWS])


def tradeoff_rows(results: Sequence[PipelineResult]) -> list[dict]:
    """The rows of :func:`tradeoff` from one result per dataflow."""
    rows = []
    for res in results:
        for s in res.stages:
            rows.append({"pipeline": res.dataflow, "layer": s.name, "buffer_bytes": s.buffer_bytes,
                         "wait_s": s.wait_s, "latency_s": res.latency_s, "throughput_ips": res.throughput_ips,
                         "activation_memory_bytes": res.activation_memory_bytes})
    return rows
