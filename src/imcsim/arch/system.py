"""The heterogeneous system: place each layer on the digital unit or the IMAC unit, cost it there, add the transfers
between units, and compare with the all-digital baseline on the same workload.

Placement (:meth:`System.place`):

* conv2d layers and GEMMs with M > 1 go to the digital unit (a systolic array or a CPU);
* dense layers (``linear``, ``gemm`` with M = 1) go to IMAC when ``dense_to_imac`` (the default), else digital;
* a layer whose ``extra["unit"]`` is set (``Deployment.to_network()`` sets it) goes where its deployment put it;
* ``overrides`` in the config move single layers by name (a convolution cannot go to IMAC: ConfigError);
* MAC-free layers follow the unit of the most recent layer with weights: after an IMAC layer an activation is the
  analog neuron itself and a flatten or dropout is wiring, so they cost nothing there (``metrics["absorbed"] = 1``);
  pooling always runs on the digital unit.

Boundaries (:meth:`System.run`): a run of IMAC dense layers with only absorbed layers between them is one analog
segment. Its first layer gets DACs (``dac_in``), its last ADCs (``adc_out``); a transfer across the interface
carries the int8 input activations in (n_in bytes) and the ADC codes out (n_out * ceil(adc_bits / 8) bytes), each
costing bytes / bandwidth seconds and bytes * energy-per-byte joules. Transfers are :class:`LayerCost` rows with
``unit = "transfer"`` and name ``"<from>-><to>"`` (``input`` / ``output`` at the network's ends).

Totals are sums over rows (layers run one after another at batch 1). The baseline runs every layer on the digital
unit with no transfers; for a systolic digital unit it is exactly the systolic model's ``simulate_network``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from imcsim.arch import cpu as cpu_model
from imcsim.arch import imac as imac_model
from imcsim.arch.cost import LayerCost, NetworkCost
from imcsim.config.system import SystemConfig
from imcsim.errors import ConfigError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["System", "Comparison", "summarize", "breakdown", "weights_from_deployment", "is_dense", "CATEGORIES"]

CATEGORIES = ("conv (digital)", "dense (digital)", "dense (IMAC)", "other (digital)", "transfers")
"""The categories of :func:`breakdown`, in plotting order."""

DIGITAL = "digital"
IMAC = "imac"


def is_dense(layer: Layer) -> bool:
    """A matrix-vector product at batch 1: a linear layer or a GEMM with M = 1."""
    return layer.kind == LayerKind.LINEAR or (layer.kind == LayerKind.GEMM and layer.m == 1)


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
    """A heterogeneous run against the all-digital baseline on the same workload.

    Attributes:
        system: the system's name; model: the workload's name.
        baseline, hetero: per-layer costs (hetero includes transfer rows).
        speedup: baseline latency / hetero latency.
        energy_saving: 1 - hetero energy / baseline energy (fraction); None when the baseline has no energy model.
        memory_reduction: 1 - hetero weight bits / baseline weight bits (fraction).
    """

    system: str
    model: str
    baseline: NetworkCost
    hetero: NetworkCost
    speedup: float
    energy_saving: float | None
    memory_reduction: float

    def to_dict(self, layers: bool = True) -> dict:
        """JSON-ready: ``{"baseline": {...}, "hetero": {...}, "speedup", "energy_saving", "memory_reduction"}``."""
        return {"system": self.system, "model": self.model,
                "baseline": summarize(self.baseline, layers), "hetero": summarize(self.hetero, layers),
                "speedup": self.speedup, "energy_saving": self.energy_saving,
                "memory_reduction": self.memory_reduction}


def summarize(cost: NetworkCost, layers: bool = True) -> dict:
    """Totals of a run (SI units) with per-unit breakdowns, and optionally the per-layer rows."""
    by_unit: dict[str, dict[str, float]] = {}
    for c in cost.layers:
        u = by_unit.setdefault(c.unit, {"latency_s": 0.0, "energy_j": 0.0, "weight_bits": 0})
        u["latency_s"] += c.latency_s
        u["energy_j"] += c.energy_j
        u["weight_bits"] += c.weight_bits
    d = {"latency_s": cost.latency_s, "energy_j": cost.energy_j, "weight_bits": cost.weight_bits,
         "weight_bytes": cost.weight_bits / 8, "activation_bytes": int(sum(c.activation_bytes for c in cost.layers)),
         "transfer_bytes": int(sum(c.activation_bytes for c in cost.layers if c.unit == "transfer")),
         "imac_area_m2": cost.total("area_m2"), "by_unit": by_unit}
    if layers:
        d["layers"] = [c.to_dict() for c in cost.layers]
    return d


def breakdown(cost: NetworkCost, network: Network, field: str = "latency_s") -> dict[str, float]:
    """Sum ``field`` (``latency_s`` or ``energy_j``) of a run over :data:`CATEGORIES`: layers with weights that are
    not dense (convolutions, GEMMs), dense layers on the digital unit, dense layers on IMAC (absorbed layers
    included), MAC-free layers on the digital unit, and transfers."""
    out = dict.fromkeys(CATEGORIES, 0.0)
    for c in cost.layers:
        if c.unit == "transfer":
            key = "transfers"
        elif c.unit == "imac":
            key = "dense (IMAC)"
        else:
            lay = network[c.name]
            if not lay.kind.has_weights:
                key = "other (digital)"
            else:
                key = "dense (digital)" if is_dense(lay) else "conv (digital)"
        out[key] += float(getattr(c, field))
    return out


class System:
    """A digital unit beside an IMAC unit, as configured by a :class:`SystemConfig`."""

    def __init__(self, config: SystemConfig | None = None):
        self.config = config or SystemConfig()

    # ----- the digital unit -------------------------------------------------------------------------------------
    @property
    def digital_unit(self) -> str:
        """The digital unit's name in :class:`LayerCost.unit`: ``"systolic"`` or ``"cpu"``."""
        return self.config.digital

    def digital_layer(self, layer: Layer) -> LayerCost:
        """One layer on the digital unit."""
        if self.config.digital == "cpu":
            return cpu_model.simulate_layer(layer, self.config.cpu)
        from imcsim.arch import systolic

        return systolic.simulate_layer(layer, self.config.systolic)

    def baseline(self, network: Network) -> NetworkCost:
        """Every layer on the digital unit, no transfers (the digital-only reference)."""
        if self.config.digital == "cpu":
            return cpu_model.simulate_network(network, self.config.cpu)
        from imcsim.arch import systolic

        return systolic.simulate_network(network, self.config.systolic)

    # ----- placement ----------------------------------------------------------------------------------------------
    def place(self, network: Network) -> list[str]:
        """The unit of each layer, ``"digital"`` or ``"imac"``, in network order (see the module docstring)."""
        cfg = self.config
        names = {lay.name for lay in network}
        for name in cfg.overrides:
            if name not in names:
                raise ConfigError(f"overrides: no layer named '{name}' in network '{network.name}'")
        units: list[str] = []
        last = DIGITAL
        for lay in network:
            if lay.kind.has_weights:
                unit = IMAC if (cfg.dense_to_imac and is_dense(lay)) else DIGITAL
                if lay.extra.get("unit") in (DIGITAL, IMAC):  # a Deployment's placement (Deployment.to_network)
                    unit = lay.extra["unit"]
                unit = cfg.overrides.get(lay.name, unit)
                if unit == IMAC:
                    imac_model.dense_shape(lay)  # raises for a convolution forced onto IMAC
                last = unit
            elif lay.kind == LayerKind.POOL:
                unit = cfg.overrides.get(lay.name, DIGITAL)
                if unit == IMAC:
                    raise ConfigError(f"overrides: layer '{lay.name}' (pool) cannot run on the IMAC unit")
            else:
                unit = cfg.overrides.get(lay.name, last)
            units.append(unit)
        return units

    # ----- the heterogeneous run ----------------------------------------------------------------------------------
    def _transfer(self, src: str, dst: str, n_bytes: int) -> LayerCost:
        cfg = self.config
        return LayerCost(name=f"{src}->{dst}", unit="transfer",
                         latency_s=n_bytes / cfg.interface_bandwidth_bytes_per_s,
                         energy_j=n_bytes * cfg.interface_energy_per_byte_j, activation_bytes=n_bytes,
                         metrics={"bytes": n_bytes})

    def run(self, network: Network, *,
            weights: Mapping[str, tuple[np.ndarray, np.ndarray | None]] | None = None,
            inputs_v: np.ndarray | None = None,
            digital_costs: Mapping[str, LayerCost] | None = None) -> NetworkCost:
        """Per-layer costs of ``network`` on the heterogeneous system, transfers included.

        Args:
            network: the workload.
            weights: actual IMAC weight levels by layer name (see :func:`weights_from_deployment`); layers not
                listed use the expected weight mix.
            inputs_v: input voltages (V) of the first IMAC layer, shape (batch, n_in), e.g.
                ``Deployment.frontend(x)``; used for that layer's device energy.
            digital_costs: costs of layers on this system's digital unit already computed (by layer name, e.g. the
                baseline's rows), reused instead of simulated again.
        """
        cfg = self.config
        weights = weights or {}
        digital_costs = digital_costs or {}
        layers = list(network)
        units = self.place(network)
        # A layer "carries analog data" if it is an IMAC dense layer or an absorbed layer after one.
        analog_dense = [u == IMAC and is_dense(lay) for lay, u in zip(layers, units)]

        def next_dense_on_imac(i: int) -> bool:
            """Whether the next non-absorbed layer after i is an IMAC dense layer (the segment continues)."""
            for j in range(i + 1, len(layers)):
                if units[j] == IMAC and not layers[j].kind.has_weights:
                    continue  # absorbed: activation/flatten/dropout inside the analog segment
                return analog_dense[j]
            return False

        act_bytes = self.config.cpu.bytes_per_activation if cfg.digital == "cpu" else cfg.systolic.word_bytes
        adc_bytes = math.ceil(cfg.imac.adc.bits / 8)
        rows: list[LayerCost] = []
        analog = False          # the data in flight are analog voltages (no ADC yet)
        after_imac = False      # the last layer that ran was on IMAC (absorbed layers may follow it)
        imac_index = 0
        prev_name = "input"
        for i, (lay, unit) in enumerate(zip(layers, units)):
            if unit == IMAC and is_dense(lay):
                dac_in = not analog
                adc_out = not next_dense_on_imac(i)
                n_in, n_out = imac_model.dense_shape(lay)
                if dac_in:
                    rows.append(self._transfer(prev_name, lay.name, n_in * act_bytes))
                w, b = weights.get(lay.name, (None, None))
                rows.append(imac_model.simulate_layer(
                    lay, cfg.imac, imac_index=imac_index, dac_in=dac_in, adc_out=adc_out, weights=w, bias=b,
                    inputs_v=inputs_v if (dac_in and imac_index == 0) else None))
                imac_index += 1
                analog = not adc_out
                after_imac = True
                if adc_out:
                    nxt = layers[i + 1].name if i + 1 < len(layers) else "output"
                    rows.append(self._transfer(lay.name, nxt, n_out * adc_bytes))
            elif unit == IMAC:
                if not after_imac:
                    raise ConfigError(f"overrides: layer '{lay.name}' ({lay.kind.value}) is placed on the IMAC unit "
                                      "but no IMAC dense layer precedes it")
                rows.append(LayerCost(name=lay.name, unit="imac", latency_s=0.0, energy_j=0.0,
                                      metrics={"absorbed": 1}))
            else:
                done = digital_costs.get(lay.name)
                rows.append(done if done is not None and done.unit == self.digital_unit else self.digital_layer(lay))
                analog = after_imac = False
            prev_name = lay.name
        return NetworkCost(network.name, rows)

    def compare(self, network: Network, *,
                weights: Mapping[str, tuple[np.ndarray, np.ndarray | None]] | None = None,
                inputs_v: np.ndarray | None = None) -> Comparison:
        """The heterogeneous run against the all-digital baseline (speedup, energy saving, memory reduction)."""
        base = self.baseline(network)
        het = self.run(network, weights=weights, inputs_v=inputs_v,
                       digital_costs={c.name: c for c in base.layers})
        speedup = base.latency_s / het.latency_s if het.latency_s > 0 else math.inf
        saving = 1.0 - het.energy_j / base.energy_j if base.energy_j > 0 else None
        mem = 1.0 - het.weight_bits / base.weight_bits if base.weight_bits > 0 else 0.0
        return Comparison(self.config.name, network.name, base, het, float(speedup), saving, float(mem))
