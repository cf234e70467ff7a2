"""The heterogeneous system: place each layer on one of the system's units, cost it there through the unit protocol
(:mod:`imcsim.arch.unit`), add the transfers between units, and compare with the host-only baseline.

The system names no unit: it builds the units its config lists (``build_unit``) and knows them only as
:class:`~imcsim.arch.unit.Unit` objects. The first unit is the host (the network's input and output live there; it
runs the baseline and every layer no other unit takes).

Placement (:meth:`System.assign`, unit kinds in network order):

* a layer with weights goes where the policy puts it (``dense-to-analog``: a dense layer, ``linear`` or ``gemm`` with
  M = 1, on the first analog unit that can run it; ``all-analog``: any layer with weights on the first analog unit
  that can run it; ``all-digital``: the host; ``auto``: see below), else on the host;
* a layer whose :attr:`Layer.unit` names a unit of the system (``Deployment.to_network()`` sets it; ``"digital"`` is
  the host) goes where its deployment put it; ``placement.layers`` pins layers by name over both (ConfigError, with
  the unit's reason, when the unit cannot run the layer);
* a MAC-free layer follows the unit of the layer before it: after a layer on an analog chain (IMAC) an activation is
  the analog neuron itself and a flatten or dropout is wiring, so it costs nothing there (``metrics["absorbed"] = 1``;
  :func:`absorbable` says which); after a digital unit it runs there if that unit can run it, else on the host;
  pooling, normalisations, softmax, residual additions, concatenations, means and resizing never run on an analog
  chain (they go to the host).

``auto`` minimises latency, energy or energy-delay product over every placement of the layers with weights on units
that can run them, under an analog area and crossbar budget, exactly: a dynamic programme over the layers whose state
is what the next costs depend on (the unit and converters of the pending layer, how many layers each unit holds) and
that keeps, per state, the Pareto set of (latency, energy, analog area, crossbars) partial sums.

Boundaries (:meth:`System.run`): consecutive layers on an analog-chain unit, with only absorbed layers between them,
form one analog segment; the unit converts only where data enter it (``Placement.convert_in``) and leave it
(``Placement.convert_out``). Data crossing from one unit to another cost a transfer of the producing layer's
``output_bytes`` (the consumer's ``input_bytes`` when the network input enters a unit other than the host) at the
configured interface bandwidth and energy per byte. Transfers are :class:`LayerCost` rows with ``unit = "transfer"``
and name ``"<from>-><to>"``, placed right after the producing layer (``input`` / ``output`` at the network's ends).

Totals are sums over rows (layers run one after another). Batch (``batch`` argument, default 1): a unit whose
``batches`` attribute is True (the systolic array) costs each layer on the whole batch at once (the batch multiplies
the GEMM's M); every other unit, and every transfer, takes the batch's inputs one after another, so its rows cost
``batch`` times one input's. Latencies are per batch; :attr:`Comparison.hetero_throughput` and
:attr:`Comparison.baseline_throughput` are inferences per second. The baseline runs every layer on the host with
no transfers, as the digital model of the network: a layer deployed to an analog unit (binary or ternary weights)
counts at the host's native precision there (int8 on the edge TPU), so a deployment and the zoo model of the same
network have the same baseline; for a systolic host it is exactly the systolic model's ``simulate_network``. Area
(:meth:`System.area`) is per unit: a unit whose rows report ``metrics["area_m2"]`` (an analog unit sized by what it
maps) sums them, any other unit is sized by ``Unit.area_m2``; every unit of the system counts, used or not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imcsim.arch.cost import LayerCost, NetworkCost
from imcsim.arch.unit import LayerWeights, Placement, Unit, build_unit, is_analog
from imcsim.config.system import HOST_ALIAS, SystemConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network
from imcsim.workload.ops import ACTIVATION_OPS

__all__ = ["System", "Comparison", "weights_from_deployment", "is_dense", "absorbable"]

DIGITAL = HOST_ALIAS


#: Element-wise ops an analog neuron implements (the activations nn.convert replaces by the neuron), and no-ops.
ANALOG_ACTIVATIONS = ACTIVATION_OPS | {"clip", "dropout", "identity"}  # ONNX writes ReLU6 as Clip
_MIXING_RESHAPES = frozenset({"cat", "concat", "stack"})


def absorbable(layer: Layer) -> bool:
    """Whether a MAC-free layer after a layer on an analog chain is part of the chain at no cost: an activation the
    neuron implements (:data:`ANALOG_ACTIVATIONS`; a layer that names no op is taken for one) or a reshape that is
    wiring (not a concatenation, which mixes in other data). Normalisations, softmax, residual additions, means,
    resizing and pooling are not."""
    op = layer.op.lower().replace("_", "")
    if layer.kind == LayerKind.ELEMENTWISE:
        return op in ANALOG_ACTIVATIONS or not op
    return layer.kind == LayerKind.RESHAPE and op not in _MIXING_RESHAPES


def is_dense(layer: Layer) -> bool:
    """Matrix-vector products with stored weights at batch 1: a linear layer (one product per token row) or a GEMM
    of weights with M = 1 and one group. A product of two activations (``dynamic``) is not dense."""
    return layer.kind == LayerKind.LINEAR or (layer.kind == LayerKind.GEMM and layer.m == 1 and layer.groups == 1
                                              and not layer.dynamic)


def weights_from_deployment(deployment: Any) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """{layer name: (weight levels (out, in), bias or None)} of a Deployment's IMAC layers, for :meth:`System.run`.

    Layer names match ``deployment.to_network()``. Biases that are not weight levels (real-valued) are left out, so
    the bias row uses the expected weight mix.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for lay in deployment.imac_layers():
        w = np.asarray(lay.weight)
        b = None if lay.bias is None else np.asarray(lay.bias)
        if b is not None and not np.isin(b, (-1.0, 0.0, 1.0)).all():
            b = None
        out[lay.name] = (w, b)
    return out


@dataclass(frozen=True)
class Comparison:
    """A heterogeneous run against the host-only baseline on the same workload.

    Attributes:
        system: the system's name; model: the workload's name.
        baseline, hetero: per-layer costs (hetero includes transfer rows).
        speedup: baseline latency / hetero latency.
        energy_saving: 1 - hetero energy / baseline energy (fraction); None when the baseline has no energy model.
        memory_reduction: 1 - hetero weight bits / baseline weight bits (fraction).
        area_by_unit_m2: area of each unit of the system (m^2) in the heterogeneous run (:meth:`System.area`).
        baseline_area_m2: area of the host alone (m^2).
        batch: inputs per run; latencies and energies are per batch.

    Reports (totals per unit, breakdowns, JSON, tables) are in :mod:`imcsim.report.compare`.
    """

    system: str
    model: str
    baseline: NetworkCost
    hetero: NetworkCost
    speedup: float
    energy_saving: float | None
    memory_reduction: float
    area_by_unit_m2: Mapping[str, float] = field(default_factory=dict)
    baseline_area_m2: float | None = None
    batch: int = 1

    @property
    def baseline_throughput(self) -> float:
        """Inferences per second of the host alone (batch / latency per batch)."""
        return self.batch / self.baseline.latency_s if self.baseline.latency_s > 0 else math.inf

    @property
    def hetero_throughput(self) -> float:
        """Inferences per second of the heterogeneous system (batch / latency per batch)."""
        return self.batch / self.hetero.latency_s if self.hetero.latency_s > 0 else math.inf

    @property
    def area_m2(self) -> float:
        """Total area of the heterogeneous system (m^2): the sum of :attr:`area_by_unit_m2`."""
        return float(sum(self.area_by_unit_m2.values()))


WeightsArg = Mapping[str, tuple[np.ndarray, np.ndarray | None]]


def _check_batch(batch: int) -> int:
    if int(batch) != batch or batch < 1:
        raise ConfigError(f"batch = {batch!r}: expected a positive integer")
    return int(batch)


def _in_sequence(cost: LayerCost, batch: int) -> LayerCost:
    """``cost`` for ``batch`` inputs taken one after another: latency, energy, and the per-input metrics (energies
    ``*_j``, times ``*_s``, byte counts, conversions, operations) times ``batch``; weights, hardware counts and
    areas unchanged."""
    if batch == 1:
        return cost
    per_input = ("_j", "_s", "bytes", "_conversions", "ops")
    metrics = {k: (v * batch if k.endswith(per_input) else v) for k, v in cost.metrics.items()}
    return LayerCost(cost.name, cost.unit, cost.latency_s * batch, cost.energy_j * batch, cost.weight_bits,
                     cost.activation_bytes * batch, metrics)


def _unit_cost(unit: Unit, layer: Layer, placement: Placement, weights: LayerWeights | None, batch: int
               ) -> LayerCost:
    """``layer`` on ``unit`` for ``batch`` inputs: batched by the unit when it ``batches``, else in sequence."""
    if batch > 1 and getattr(unit, "batches", False):
        return unit.layer_cost(layer, placement, weights, batch=batch)
    return _in_sequence(unit.layer_cost(layer, placement, weights), batch)


def _digital(layer: Layer) -> Layer:
    """``layer`` as the digital baseline runs it: a layer deployed to an analog unit loses its deployment fields
    (unit and binary/ternary precision; also their copies in ``extra``), so the host costs it at its native
    precision. Digital layers keep theirs."""
    if layer.unit is None or layer.unit == DIGITAL:
        return layer
    extra = {k: v for k, v in layer.extra.items() if k not in ("unit", "precision")}
    return dataclasses.replace(layer, unit=None, precision=None, extra=extra)


@dataclass(frozen=True)
class _Step:
    """The last placed layer that is not absorbed. Its row waits for the next step, which decides whether the data
    stay analog (no output converters) and whether a transfer follows."""

    index: int          # position in the network
    unit: str           # its unit's kind
    convert_in: bool    # its Placement.convert_in
    slot: int           # its Placement.index: layers with weights on its unit before it


@dataclass(frozen=True)
class _Label:
    """Partial sums of one placement of a prefix of the network (for ``auto``) and the choices that led to it."""

    latency_s: float
    energy_j: float
    area_m2: float          # on analog units
    crossbars: float        # on analog units
    choice: tuple[tuple[int, str], ...]   # (layer position, unit kind) of the layers with weights

    def key(self, dims: tuple[str, ...]) -> tuple[float, ...]:
        return tuple(getattr(self, d) for d in dims)


class System:
    """The units of a :class:`SystemConfig`, placed on by its policy (see the module docstring)."""

    def __init__(self, config: SystemConfig | None = None):
        self.config = config or SystemConfig()
        self.units: dict[str, Unit] = {k: build_unit(k, self.config.unit_config(k)) for k in self.config.units}
        self.host: Unit = self.units[self.config.host]
        chains = [k for k, u in self.units.items() if u.analog_chain]
        self._first_chain = chains[0] if chains else None

    # ----- the host -------------------------------------------------------------------------------------------------
    @property
    def digital_unit(self) -> str:
        """The host unit's kind, as in :class:`LayerCost.unit` (``"systolic"`` or ``"cpu"`` in the two-unit
        systems)."""
        return self.host.kind

    def digital_layer(self, layer: Layer, batch: int = 1) -> LayerCost:
        """One layer on the host for ``batch`` inputs."""
        return _unit_cost(self.host, layer, Placement(), None, _check_batch(batch))

    def baseline(self, network: Network, batch: int = 1) -> NetworkCost:
        """Every layer on the host for ``batch`` inputs, no transfers (the host-only reference): the digital model
        of the network, with layers deployed to analog units at the host's native precision (see the module
        docstring)."""
        batch = _check_batch(batch)
        return NetworkCost(network.name, [_unit_cost(self.host, _digital(lay), Placement(), None, batch)
                                          for lay in network])

    # ----- placement ----------------------------------------------------------------------------------------------
    def _kind(self, name: str) -> str:
        return self.config.host if name == DIGITAL else name

    def _check_runs(self, layer: Layer, kind: str) -> None:
        reason = self.units[kind].why_not(layer)
        if reason is not None:
            raise ConfigError(f"layer '{layer.name}': a {layer.kind.value} layer cannot be mapped to the "
                              f"{kind.upper()} unit ({reason})")

    def _pinned(self, network: Network) -> dict[int, str]:
        """Layers placed by name (``placement.layers``) or by their deployment (:attr:`Layer.unit`), by position."""
        pins = self.config.placement.layers
        names = {lay.name for lay in network}
        for name in pins:
            if name not in names:
                raise ConfigError(f"placement.layers: no layer named '{name}' in network '{network.name}'")
        out = {}
        for i, lay in enumerate(network):
            deployed = lay.unit
            if lay.name in pins:
                out[i] = self._kind(pins[lay.name])
            elif isinstance(deployed, str) and self._kind(deployed) in self.units and lay.kind.has_weights:
                out[i] = self._kind(deployed)
        return out

    def _candidates(self, network: Network) -> list[tuple[str, ...]]:
        """The units each layer with weights may go to (one unless the policy is ``auto``); () for MAC-free layers."""
        policy = self.config.placement.policy
        pins = self._pinned(network)
        analog = [k for k, u in self.units.items() if is_analog(u)]
        out: list[tuple[str, ...]] = []
        for i, lay in enumerate(network):
            if not lay.kind.has_weights:
                out.append(())
                continue
            if i in pins:
                self._check_runs(lay, pins[i])
                out.append((pins[i],))
                continue
            able = [k for k, u in self.units.items() if u.why_not(lay) is None]
            if self.config.host not in able:
                raise ConfigError(f"layer '{lay.name}': the host unit ({self.config.host}) cannot run it "
                                  f"({self.host.why_not(lay)})")
            first_analog = next((k for k in analog if k in able), None)
            if policy == "auto":
                out.append(tuple(able))
            elif first_analog is not None and (policy == "all-analog" or (policy == "dense-to-analog"
                                                                           and is_dense(lay))):
                out.append((first_analog,))
            else:
                out.append((self.config.host,))
        return out

    def _free_unit(self, layer: Layer, pinned: str | None, pending: _Step | None) -> tuple[str, bool]:
        """(unit kind, absorbed) of a MAC-free layer after ``pending`` (see the module docstring)."""
        prev = pending.unit if pending is not None else self.config.host
        prev_chain = pending is not None and self.units[prev].analog_chain
        if pinned is not None:
            if self.units[pinned].analog_chain and layer.kind != LayerKind.POOL:
                if not (prev_chain and prev == pinned):
                    raise ConfigError(f"placement.layers: layer '{layer.name}' ({layer.kind.value}) is placed on the "
                                      f"{pinned.upper()} unit but no {pinned.upper()} dense layer precedes it")
                return pinned, True
            self._check_runs(layer, pinned)
            return pinned, False
        if prev_chain and absorbable(layer):
            return prev, True
        if not prev_chain and self.units[prev].why_not(layer) is None:
            return prev, False
        return self.config.host, False

    # ----- costing ------------------------------------------------------------------------------------------------
    def _transfer(self, src: str, dst: str, n_bytes: int) -> LayerCost:
        cfg = self.config
        return LayerCost(name=f"{src}->{dst}", unit="transfer",
                         latency_s=n_bytes / cfg.interface_bandwidth_bytes_per_s,
                         energy_j=n_bytes * cfg.interface_energy_per_byte_j, activation_bytes=n_bytes,
                         metrics={"bytes": n_bytes})

    def _coster(self, layers: list[Layer], weights: WeightsArg, inputs_v: np.ndarray | None,
                digital_costs: Mapping[str, LayerCost], batch: int = 1):
        """A cached ``cost(position, kind, placement) -> LayerCost`` for ``batch`` inputs (also ``cost.batch``). A
        digital unit's cost does not depend on the placement (it converts nothing), so its rows are computed once per
        layer, or taken from ``digital_costs``."""
        cache: dict[tuple, LayerCost] = {}

        def cost(i: int, kind: str, placement: Placement) -> LayerCost:
            unit = self.units[kind]
            digital = not is_analog(unit) and not unit.analog_chain
            key = (i, kind) if digital else (i, kind, placement)
            hit = cache.get(key)
            if hit is not None:
                return hit
            lay = layers[i]
            done = digital_costs.get(lay.name) if digital else None
            if done is not None and done.unit == kind:
                row = done
            else:
                w, b = weights.get(lay.name, (None, None))
                v = inputs_v if (kind == self._first_chain and placement.convert_in and placement.index == 0) else None
                lw = LayerWeights(w, b, v) if unit.analog_chain or is_analog(unit) else None
                row = _unit_cost(unit, lay, placement, lw, batch)
            cache[key] = row
            return row

        cost.batch = batch  # transfers carry the batch's inputs one after another
        return cost

    def _finish(self, layers: list[Layer], cost, pending: _Step, nxt_unit: str | None, nxt_index: int
                ) -> tuple[list[LayerCost], bool]:
        """Rows of ``pending`` once the next step is known (``nxt_unit`` None: the network ends): its own row, a
        transfer if the data change units, then the absorbed layers after it. Also whether the data stay analog."""
        unit = self.units[pending.unit]
        chain = unit.analog_chain and nxt_unit == pending.unit
        placement = (Placement(pending.convert_in, not chain, pending.slot) if unit.analog_chain
                     else Placement(True, True, pending.slot))
        lay = layers[pending.index]
        rows = [cost(pending.index, pending.unit, placement)]
        dest = self.config.host if nxt_unit is None else nxt_unit
        if dest != pending.unit:
            after = layers[pending.index + 1].name if pending.index + 1 < len(layers) else "output"
            rows.append(self._transfer(lay.name, after, int(unit.output_bytes(lay)) * cost.batch))
        rows += [LayerCost(name=layers[j].name, unit=pending.unit, latency_s=0.0, energy_j=0.0,
                           metrics={"absorbed": 1}) for j in range(pending.index + 1, nxt_index)]
        return rows, chain

    def _advance(self, layers: list[Layer], cost, pending: _Step | None, counts: dict[str, int] | tuple,
                 i: int, kind: str) -> tuple[list[LayerCost], _Step, tuple[int, ...]]:
        """Place layer ``i`` (not absorbed) on ``kind`` after ``pending``: the rows this settles, the new pending
        step and the new per-unit counts of layers with weights (in ``config.units`` order)."""
        kinds = self.config.units
        if pending is None:
            rows = []
            if kind != self.config.host:
                rows.append(self._transfer("input", layers[i].name,
                                           int(self.units[kind].input_bytes(layers[i])) * cost.batch))
            chain = False
        else:
            rows, chain = self._finish(layers, cost, pending, kind, i)
        k = kinds.index(kind)
        slot = counts[k]
        if layers[i].kind.has_weights:
            counts = (*counts[:k], slot + 1, *counts[k + 1:])
        return rows, _Step(i, kind, not chain, slot), tuple(counts)

    def _walk(self, layers: list[Layer], cost, choice: Mapping[int, str], pins: Mapping[int, str]
              ) -> tuple[list[LayerCost], list[str]]:
        """Rows and units of the placement that puts each layer with weights on ``choice[i]``."""
        rows: list[LayerCost] = []
        assigned: list[str] = []
        pending: _Step | None = None
        counts = (0,) * len(self.config.units)
        for i, lay in enumerate(layers):
            if lay.kind.has_weights:
                kind, absorbed = choice[i], False
            else:
                kind, absorbed = self._free_unit(lay, pins.get(i), pending)
            assigned.append(kind)
            if absorbed:
                continue
            new, pending, counts = self._advance(layers, cost, pending, counts, i, kind)
            rows += new
        if pending is not None:
            rows += self._finish(layers, cost, pending, None, len(layers))[0]
        return rows, assigned

    # ----- auto ---------------------------------------------------------------------------------------------------
    def _search(self, layers: list[Layer], cost, cands: list[tuple[str, ...]], pins: Mapping[int, str]
                ) -> dict[int, str]:
        """The choice of units for the layers with weights that minimises the objective under the budget (exact:
        see the module docstring)."""
        pl = self.config.placement
        budget = pl.budget
        dims = {"latency": ("latency_s",), "energy": ("energy_j",), "edp": ("latency_s", "energy_j")}[pl.objective]
        dims += (("area_m2",) if budget.area_m2 is not None else ()) + (
            ("crossbars",) if budget.crossbars is not None else ())

        def add(label: _Label, rows: list[LayerCost], pick: tuple[tuple[int, str], ...] = ()) -> _Label:
            lat, en, area, xb = label.latency_s, label.energy_j, label.area_m2, label.crossbars
            for r in rows:
                lat += r.latency_s
                en += r.energy_j
                u = self.units.get(r.unit)
                if u is not None and (is_analog(u) or u.analog_chain):
                    area += float(r.metrics.get("area_m2", 0.0))
                    xb += float(r.metrics.get("crossbars", 0.0))
            return _Label(lat, en, area, xb, label.choice + pick)

        def feasible(label: _Label) -> bool:
            return ((budget.area_m2 is None or label.area_m2 <= budget.area_m2 * (1 + 1e-12))
                    and (budget.crossbars is None or label.crossbars <= budget.crossbars))

        def pareto(labels: list[_Label]) -> list[_Label]:
            """The labels no other label matches or beats in every dimension (one per key when keys tie)."""
            labels = sorted(labels, key=lambda lab: lab.key(dims))
            if len(dims) == 1:
                return labels[:1]
            kept: list[_Label] = []
            if len(dims) == 2:  # sorted by the first dimension: keep a label only if it improves the second
                best = math.inf
                for lab in labels:
                    if lab.key(dims)[1] < best:
                        kept.append(lab)
                        best = lab.key(dims)[1]
                return kept
            for lab in labels:
                k = lab.key(dims)
                if not any(all(a <= b for a, b in zip(other.key(dims), k)) for other in kept):
                    kept.append(lab)
            return kept

        start = _Label(0.0, 0.0, 0.0, 0.0, ())
        states: dict[tuple, tuple[_Step | None, tuple[int, ...], list[_Label]]] = {
            (None, (0,) * len(self.config.units)): (None, (0,) * len(self.config.units), [start])}
        for i, lay in enumerate(layers):
            nxt: dict[tuple, list] = {}
            refused: ConfigError | None = None
            for pending, counts, labels in states.values():
                if lay.kind.has_weights:
                    options = [(kind, False) for kind in cands[i]]
                else:
                    try:  # a pinned MAC-free layer may fit some prefixes and not others: drop those
                        options = [self._free_unit(lay, pins.get(i), pending)]
                    except ConfigError as exc:
                        refused = exc
                        continue
                for kind, absorbed in options:
                    if absorbed:
                        new_rows, new_pending, new_counts = [], pending, counts
                    else:
                        new_rows, new_pending, new_counts = self._advance(layers, cost, pending, counts, i, kind)
                    pick = ((i, kind),) if lay.kind.has_weights else ()
                    grown = [add(lab, new_rows, pick) for lab in labels]
                    grown = [lab for lab in grown if feasible(lab)]
                    if not grown:
                        continue
                    slot = nxt.setdefault((new_pending, new_counts), [new_pending, new_counts, []])
                    slot[2].extend(grown)
            if not nxt and refused is not None:
                raise refused
            states = {key: (p, c, pareto(labs)) for key, (p, c, labs) in nxt.items()}
        best: _Label | None = None
        best_value = math.inf
        for pending, _, labels in states.values():
            tail = [] if pending is None else self._finish(layers, cost, pending, None, len(layers))[0]
            for lab in labels:
                done = add(lab, tail)
                if not feasible(done):
                    continue
                value = {"latency": done.latency_s, "energy": done.energy_j,
                         "edp": done.latency_s * done.energy_j}[pl.objective]
                if value < best_value:
                    best, best_value = done, value
        if best is None:
            raise ConfigError(f"placement.budget: no placement of the network with its pinned layers fits "
                              f"area_m2 = {budget.area_m2!r}, crossbars = {budget.crossbars!r}")
        return dict(best.choice)

    # ----- the heterogeneous run ----------------------------------------------------------------------------------
    def _plan(self, network: Network, weights: WeightsArg | None = None, inputs_v: np.ndarray | None = None,
              digital_costs: Mapping[str, LayerCost] | None = None, batch: int = 1
              ) -> tuple[list[LayerCost], list[str]]:
        layers = list(network)
        cost = self._coster(layers, weights or {}, inputs_v, digital_costs or {}, _check_batch(batch))
        cands = self._candidates(network)
        pins = self._pinned(network)
        if any(len(c) > 1 for c in cands):
            choice = self._search(layers, cost, cands, pins)
        else:
            choice = {i: c[0] for i, c in enumerate(cands) if c}
        return self._walk(layers, cost, choice, pins)

    def assign(self, network: Network, *, weights: WeightsArg | None = None,
               inputs_v: np.ndarray | None = None) -> list[str]:
        """The unit kind of each layer, in network order (``auto`` searches; the costs it compares use ``weights``
        and ``inputs_v`` as :meth:`run` does)."""
        return self._plan(network, weights, inputs_v)[1]

    def place(self, network: Network) -> list[str]:
        """The placement in the two-unit systems' labels: ``"digital"`` for the host, else the unit kind (e.g.
        ``"imac"``), in network order."""
        return [DIGITAL if k == self.config.host else k for k in self.assign(network)]

    def run(self, network: Network, *, weights: WeightsArg | None = None, inputs_v: np.ndarray | None = None,
            digital_costs: Mapping[str, LayerCost] | None = None, batch: int = 1) -> NetworkCost:
        """Per-layer costs of ``network`` on the system for ``batch`` inputs, transfers included.

        Args:
            network: the workload.
            weights: actual weight levels of analog layers by layer name (see :func:`weights_from_deployment`);
                layers not listed use the expected weight mix.
            inputs_v: input voltages (V) of the first layer on the first analog-chain unit (IMAC), shape
                (batch, n_in), e.g. ``Deployment.frontend(x)``; used for that layer's device energy.
            digital_costs: costs of layers on a digital unit already computed at the same ``batch`` (by layer name,
                e.g. the baseline's rows), reused when their unit matches instead of simulated again.
            batch: inputs per run (see the module docstring).
        """
        return NetworkCost(network.name, self._plan(network, weights, inputs_v, digital_costs, batch)[0])

    def area(self, cost: NetworkCost, network: Network) -> dict[str, float]:
        """Area (m^2) of each unit of the system in run ``cost`` of ``network``, by kind: the sum of its rows'
        ``metrics["area_m2"]`` when they report one (analog units, sized by what they map), else
        ``Unit.area_m2`` of the layers placed on it (digital units, fixed size)."""
        out = {}
        for kind, unit in self.units.items():
            rows = [c for c in cost.layers if c.unit == kind]
            if any("area_m2" in c.metrics for c in rows):
                out[kind] = float(sum(c.metrics.get("area_m2", 0.0) for c in rows))
            else:
                out[kind] = float(unit.area_m2([network[c.name] for c in rows]))
        return out

    def compare(self, network: Network, *, weights: WeightsArg | None = None,
                inputs_v: np.ndarray | None = None, batch: int = 1) -> Comparison:
        """The heterogeneous run against the host-only baseline for ``batch`` inputs (speedup, energy saving, memory
        reduction, area, throughputs)."""
        base = self.baseline(network, batch)
        het = self.run(network, weights=weights, inputs_v=inputs_v,
                       digital_costs={c.name: c for c in base.layers}, batch=batch)
        speedup = base.latency_s / het.latency_s if het.latency_s > 0 else math.inf
        saving = 1.0 - het.energy_j / base.energy_j if base.energy_j > 0 else None
        mem = 1.0 - het.weight_bits / base.weight_bits if base.weight_bits > 0 else 0.0
        base_area = float(self.host.area_m2(list(network)))
        return Comparison(self.config.name, network.name, base, het, float(speedup), saving, float(mem),
                          self.area(het, network), base_area, batch)
