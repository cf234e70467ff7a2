"""Reports of a heterogeneous run against its digital-only baseline: totals per unit, the latency / energy breakdown
by category, the per-layer rows, and the ``imcsim compare`` report as a table, JSON or CSV.

The inputs are :class:`imcsim.arch.system.Comparison` and :class:`imcsim.arch.cost.NetworkCost` (SI units); nothing
here computes a cost, it only sums, pairs and renders what arch/ returned.
"""

from __future__ import annotations

from typing import Any

from imcsim.arch.cost import NetworkCost
from imcsim.arch.system import Comparison, is_dense
from imcsim.workload.network import Network

__all__ = ["CATEGORIES", "summarize", "breakdown", "comparison_dict", "layer_rows", "render_comparison"]

CATEGORIES = ("conv (digital)", "dense (digital)", "dense (IMAC)", "conv (IMC)", "dense (IMC)", "other (digital)",
              "other (IMC)", "transfers")
"""The categories of :func:`breakdown`, in plotting order."""


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
    not dense (convolutions, GEMMs) and dense layers, on a digital unit or on IMC cores; dense layers on IMAC
    (absorbed layers included); MAC-free layers on a digital unit or on the IMC cores' post-processing; transfers."""
    out = dict.fromkeys(CATEGORIES, 0.0)
    for c in cost.layers:
        if c.unit == "transfer":
            key = "transfers"
        elif c.unit == "imac":
            key = "dense (IMAC)"
        else:
            lay = network[c.name]
            where = "IMC" if c.unit == "imc" else "digital"
            if not lay.kind.has_weights:
                key = f"other ({where})"
            else:
                key = f"dense ({where})" if is_dense(lay) else f"conv ({where})"
        out[key] += float(getattr(c, field))
    return out


def comparison_dict(cmp: Comparison, layers: bool = True) -> dict:
    """JSON-ready: ``{"system", "model", "baseline": {...}, "hetero": {...}, "speedup", "energy_saving",
    "memory_reduction", "area_m2", "area_by_unit_m2", "baseline_area_m2", "batch", "baseline_throughput_per_s",
    "hetero_throughput_per_s"}`` (SI units, fractions; areas of the whole system and of the host alone, m^2;
    latencies per batch, throughputs in inferences per second), with the per-layer rows of both runs when
    ``layers``."""
    return {"system": cmp.system, "model": cmp.model,
            "baseline": summarize(cmp.baseline, layers), "hetero": summarize(cmp.hetero, layers),
            "speedup": cmp.speedup, "energy_saving": cmp.energy_saving, "memory_reduction": cmp.memory_reduction,
            "area_m2": cmp.area_m2, "area_by_unit_m2": dict(cmp.area_by_unit_m2),
            "baseline_area_m2": cmp.baseline_area_m2, "batch": cmp.batch,
            "baseline_throughput_per_s": cmp.baseline_throughput, "hetero_throughput_per_s": cmp.hetero_throughput}


def layer_rows(cmp: Comparison) -> list[dict[str, Any]]:
    """One row per row of the heterogeneous run (transfers included) beside the same layer on the digital unit alone
    (``base_*`` is None for a transfer), SI units: layer, unit, base_latency_s, latency_s, base_energy_j, energy_j,
    base_weight_bits, weight_bits."""
    base = {c.name: c for c in cmp.baseline.layers}
    rows = []
    for c in cmp.hetero.layers:
        b = base.get(c.name)
        rows.append({"layer": c.name, "unit": c.unit,
                     "base_latency_s": b.latency_s if b else None, "latency_s": c.latency_s,
                     "base_energy_j": b.energy_j if b else None, "energy_j": c.energy_j,
                     "base_weight_bits": b.weight_bits if b else None, "weight_bits": c.weight_bits})
    return rows


def render_comparison(cmp: Comparison, network: Network, fmt: str = "table") -> str:
    """The ``compare`` report: JSON (:func:`comparison_dict`), CSV (:func:`layer_rows`, SI units) or a summary, the
    headline ratios and a per-layer table for people."""
    if fmt == "json":
        from imcsim.io import dumps_json

        return dumps_json(comparison_dict(cmp))
    from imcsim.report.tables import Column, render

    rows = layer_rows(cmp)
    if fmt == "csv":
        return render(rows, [Column(k) for k in rows[0]], "csv") if rows else ""

    digital = cmp.baseline.layers[0].unit if cmp.baseline.layers else "digital"
    d = comparison_dict(cmp, layers=False)
    totals = [{"system": f"{digital} alone", **d["baseline"]}, {"system": cmp.system, **d["hetero"]}]
    for r in totals:
        r["imac_area_mm2"] = r["imac_area_m2"] * 1e6  # an SI prefix on m^2 reads ambiguously; say mm^2
    summary = render(totals, [Column("system"), Column("latency_s", "latency", "si", "s"),
                              Column("energy_j", "energy", "si", "J"), Column("weight_bytes", "weights", "si", "B"),
                              Column("transfer_bytes", "transfers", "count", "B"),
                              Column("imac_area_mm2", "analog area", "float", "mm^2")], "table",
                     title=f"{network.name} on {cmp.system} vs {digital} alone (batch {cmp.batch}, latency per "
                           "batch)")
    saving = "n/a (the digital unit has no energy model)" if cmp.energy_saving is None \
        else f"{cmp.energy_saving * 100:.2f}%"
    headline = (f"speedup {cmp.speedup:.3f}x, energy saving {saving}, "
                f"weight memory reduction {cmp.memory_reduction * 100:.2f}%, throughput "
                f"{cmp.baseline_throughput:,.1f} -> {cmp.hetero_throughput:,.1f} inferences/s\n")
    per_layer = render(rows, [Column("layer"), Column("unit"),
                              Column("base_latency_s", f"{digital} latency", "si", "s"),
                              Column("latency_s", "latency", "si", "s"),
                              Column("base_energy_j", f"{digital} energy", "si", "J"),
                              Column("energy_j", "energy", "si", "J"),
                              Column("base_weight_bits", f"{digital} weights", "count", "bit"),
                              Column("weight_bits", "weights", "count", "bit")], "table",
                       title=f"per layer ({cmp.system}; transfers cross the digital/IMAC interface)")
    return summary + headline + "\n" + per_layer
