"""A heterogeneous system's layers scheduled in time: place with the system's policy (:class:`~imcsim.arch.system.System`),
then run the layers on IMC cores through the pipeline of :mod:`imcsim.arch.pipeline` and every other row as a whole.

The rows are those of :meth:`System.run` in its order: each layer on the unit the policy chose, and the transfers
between units (``"<from>-><to>"``, right after the producing layer; ``input->...`` first when the first layer is not
on the host, ``...->output`` last when the last is not). Then:

* a layer on an IMC core (:class:`~imcsim.arch.imc.IMCUnit`) is a *pixel row*: ``pixel_time_s`` and ``pixels`` from its
  cost, ``copies`` from the duplication policy (the IMC unit's ``chip_arrays`` for ``balanced``);
* every other row (a layer on a digital unit or on IMAC, a transfer) is a *whole row*: one piece of work of its
  latency (``pixels`` 1, ``copies`` 1). A unit runs one whole row at a time, in row order: a whole row starts after
  its producers have finished and after the previous whole row on the same unit (``after``); transfers share the
  one interface the same way;
* a row reads its network producers (:func:`imcsim.arch.pipeline.producers`); where a producer sits on another unit
  and a transfer carries its output (the transfer right after it, or after the layer an absorbed layer follows), the
  row reads the transfer instead; a layer that reads the network input on a unit other than the host reads the input
  transfer.

``layer`` dataflow: every row one after another, stage time ceil(P / d) t for a pixel row and the latency for a whole
row; with duplication ``none`` the latency and energy equal :meth:`System.compare`'s heterogeneous run. ``pixel``
dataflow: the canonical rule of :mod:`imcsim.arch.pipeline`, whole rows as above; throughput is one over the busiest
resource's time per image (a pixel row's ceil(P / d) t, or the sum of a unit's whole rows).

Batch (N images, :func:`~imcsim.arch.pipeline.schedule_rows`): ``layer`` dataflow runs each row on the whole batch
in turn: a pixel row's N x P pixels image after image, a whole row at its unit's cost of the batch
(:meth:`System.run` at ``batch``: one GEMM of N M rows on a systolic array, the N inputs in sequence on IMAC, a CPU
and the interface); latency is per batch and throughput N / latency; energy is :meth:`System.run`'s at ``batch``.
``pixel`` dataflow streams image after image, every row (whole rows included, at their one-image cost) taking the
images in order; latency is the batch's last finish and throughput the steady-state rate above.

Activation memory and ``cores`` count the IMC units only (a digital unit's scratchpads are part of its own config).
Area by unit: an IMC unit's arrays with their copies, its post-processing unit and its activation memory (as
:func:`~imcsim.arch.pipeline.run_pipeline`); any other unit as :meth:`System.area` sizes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from imcsim.arch.imc import IMCUnit
from imcsim.arch.pipeline import (DATAFLOWS, PipelineResult, StageResult, dependency_spec, line_buffer_values,
                                  plan_copies, producers, schedule_rows, tradeoff_rows)
from imcsim.arch.system import System
from imcsim.errors import ConfigError
from imcsim.workload.network import Network

__all__ = ["SystemPipelineResult", "run_system_pipeline", "system_tradeoff"]

_WHOLE = {"kind": "all", "out_hw": [1, 1]}


@dataclass(frozen=True)
class SystemPipelineResult(PipelineResult):
    """A network scheduled on a system (SI units): :class:`PipelineResult` with the host and the area per unit."""

    host: str = ""
    area_by_unit_m2: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "host": self.host, "area_by_unit_m2": dict(self.area_by_unit_m2)}


def _row_inputs(rows, network: Network, system: System, prods: list[list[int]]) -> list[list[int]]:
    """For each row, the rows it reads (see the module docstring); ``prods``: :func:`producers` of the network."""
    row_of = {r.name: i for i, r in enumerate(rows) if r.unit != "transfer"}
    index = {lay.name: i for i, lay in enumerate(network.layers)}
    # A transfer right after a row carries that row's output, and the output of the layers absorbed after it (an
    # IMAC neuron or flatten that costs nothing and follows the transfer in row order).
    carried: dict[int, int] = {}
    for i, r in enumerate(rows):
        if r.unit == "transfer" and i > 0:
            carried[i - 1] = i
            j = i + 1
            while j < len(rows) and rows[j].metrics.get("absorbed"):
                carried[j] = i
                j += 1
    out: list[list[int]] = []
    for i, r in enumerate(rows):
        if r.unit == "transfer":
            out.append([] if i == 0 else [i - 1])  # the input transfer is first; others follow their producer
            continue
        li = index[r.name]
        reads = []
        for pi in prods[li]:
            a = row_of[network.layers[pi].name]
            reads.append(carried[a] if rows[a].unit != r.unit and a in carried else a)
        if not prods[li] and r.unit != system.config.host and rows[0].unit == "transfer" and i > 0:
            reads.append(0)
        out.append(sorted(set(reads)))
    return out


def run_system_pipeline(network: Network, system: System, dataflow: str = "layer",
                        duplication: str = "none", batch: int = 1) -> SystemPipelineResult:
    """``network`` placed on ``system`` by its policy, then scheduled under ``dataflow`` (``layer`` or ``pixel``) with
    ``duplication`` (``none``, ``balanced``, ``budget:N``) of the layers on IMC cores, for ``batch`` images (module
    docstring)."""
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"pipeline = {dataflow!r}: expected one of {', '.join(DATAFLOWS)}")
    if not network.layers:
        raise ConfigError(f"network '{network.name}' has no layers")
    if int(batch) != batch or batch < 1:
        raise ConfigError(f"batch = {batch!r}: expected a positive integer")
    batch = int(batch)
    het = system.run(network)
    het_batch = system.run(network, batch=batch) if batch > 1 else het
    if [(r.name, r.unit) for r in het_batch.layers] != [(r.name, r.unit) for r in het.layers]:
        raise ConfigError(f"system '{system.config.name}': its placement policy places '{network.name}' differently "
                          f"at batch {batch} than at batch 1; the pipeline needs one placement for both")
    rows = list(het.layers)
    imc = {k: u for k, u in system.units.items() if isinstance(u, IMCUnit)}
    pixel_row = [r.unit in imc for r in rows]
    layers = [None if r.unit == "transfer" else network[r.name] for r in rows]
    arrays = [int(r.metrics["arrays"]) if px else 0 for r, px in zip(rows, pixel_row)]
    pix = [int(r.metrics["pixels"]) if px else 1 for r, px in zip(rows, pixel_row)]
    tpix = [float(r.metrics["pixel_time_s"]) if px else r.latency_s for r, px in zip(rows, pixel_row)]
    chip_arrays = int(sum(u.config.chip_arrays for u in imc.values()))
    copies = plan_copies(duplication, arrays, pix, tpix, chip_arrays)
    prods = producers(network)
    reads = _row_inputs(rows, network, system, prods)
    after: list[int | None] = []
    last_on: dict[str, int] = {}
    for i, (r, px) in enumerate(zip(rows, pixel_row)):
        after.append(None if px else last_on.get(r.unit))
        if not px:
            last_on[r.unit] = i
    whole = [not px for px in pixel_row]
    start, finish, stage, _ = schedule_rows(layers, reads, tpix, pix, copies, dataflow, whole, after)
    first_latency = float(finish.max())
    latency = first_latency
    if batch > 1:
        whole_batch = [r.latency_s for r in het_batch.layers]
        b_start, b_finish, b_stage, _ = schedule_rows(layers, reads, tpix, pix, copies, dataflow, whole, after,
                                                      batch, whole_batch)
        if dataflow == "layer":
            start, finish, stage = b_start, b_finish, b_stage
        latency = float(b_finish.max())

    position = {lay.name: i for i, lay in enumerate(network.layers)}
    stages = []
    tiny = 1e-12 * float(finish.max()) if finish.size else 0.0
    for i, r in enumerate(rows):
        lay = layers[i]
        buf = 0.0
        if pixel_row[i]:
            act = imc[r.unit].config.activation_bytes
            if dataflow == "pixel":
                buf = line_buffer_values(lay) * act
            else:
                li = position[lay.name]
                read = sum(network.layers[pi].output_elems for pi in prods[li]) if prods[li] else lay.input_elems
                buf = (read + lay.output_elems) * act * batch
        if dataflow == "pixel":
            first = min((start[a] + tpix[a] for a in reads[i]), default=0.0)
        else:
            first = min((start[a] for a in reads[i]), default=0.0)
        wait = start[i] - first
        stages.append(StageResult(r, int(copies[i]), float(stage[i]), float(start[i]), float(finish[i]), float(buf),
                                  float(wait if wait > tiny else 0.0), tuple(rows[a].name for a in reads[i]),
                                  dependency_spec(lay) if lay is not None and pixel_row[i] else dict(_WHOLE),
                                  None if after[i] is None else rows[after[i]].name))
    bufs = [s.buffer_bytes for s, px in zip(stages, pixel_row) if px]
    memory = float(sum(bufs) if dataflow == "pixel" else max(bufs, default=0.0))
    if dataflow == "pixel":
        busy: dict[str, float] = {}
        for r, px, st in zip(rows, pixel_row, stage):
            if not px:
                busy[r.unit] = busy.get(r.unit, 0.0) + float(st)
        bottleneck = max([float(st) for st, px in zip(stage, pixel_row) if px] + list(busy.values()), default=0.0)
        throughput = 1.0 / bottleneck if bottleneck > 0 else math.inf
    else:
        throughput = batch / latency if latency > 0 else math.inf

    area = dict(system.area(het, network))
    cores = 0
    for kind, unit in imc.items():
        mine = [i for i, r in enumerate(rows) if r.unit == kind]
        n_arrays = int(sum(arrays[i] * int(copies[i]) for i in mine))
        mem = [stages[i].buffer_bytes for i in mine]
        mem_u = float(sum(mem) if dataflow == "pixel" else max(mem, default=0.0))
        cfg = unit.config
        area[kind] = n_arrays * cfg.array_area_m2 + cfg.post_area_m2 + mem_u * cfg.memory_area_per_byte_m2
        cores += n_arrays
    return SystemPipelineResult(network.name, system.config.name, dataflow, str(duplication), tuple(stages),
                                latency, float(throughput), het_batch.energy_j, float(sum(area.values())), memory,
                                cores, chip_arrays, batch, first_latency, host=system.config.host,
                                area_by_unit_m2=area)


def system_tradeoff(network: Network, system: System, duplication: str = "none", batch: int = 1) -> list[dict]:
    """:func:`imcsim.arch.pipeline.tradeoff` for a system: per row and dataflow, the IMC activation memory it holds
    and the stall it causes."""
    return tradeoff_rows([run_system_pipeline(network, system, flow, duplication, batch) for flow in DATAFLOWS])
