"""``imcsim compare`` (a heterogeneous system against its digital-only baseline) and ``imcsim reproduce`` (the
TPU-IMAC and CPU-IMAC papers' comparisons over the model zoo).

Library calls: :func:`imcsim.config.system.load_system`, :class:`imcsim.arch.system.System` (``compare``),
:func:`imcsim.report.reproduce.reproduce` and :func:`~imcsim.report.reproduce.render_reproduce`, the figures in
:mod:`imcsim.report.plots`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.output import emit
from imcsim.config.system import load_system
from imcsim.errors import ConfigError

__all__ = ["register", "render_comparison"]


class _Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def render_comparison(cmp, network, fmt: str = "table") -> str:
    """The ``compare`` report: JSON (``Comparison.to_dict``), CSV (one row per layer of the heterogeneous run beside
    the same layer on the digital unit alone, SI units) or a summary and a per-layer table."""
    if fmt == "json":
        from imcsim.io import dumps_json

        return dumps_json(cmp.to_dict())
    from imcsim.report.tables import Column, render

    if fmt == "csv":
        base = {c.name: c for c in cmp.baseline.layers}
        rows = [{"layer": c.name, "unit": c.unit,
                 "base_latency_s": base[c.name].latency_s if c.name in base else None, "latency_s": c.latency_s,
                 "base_energy_j": base[c.name].energy_j if c.name in base else None, "energy_j": c.energy_j,
                 "base_weight_bits": base[c.name].weight_bits if c.name in base else None,
                 "weight_bits": c.weight_bits} for c in cmp.hetero.layers]
        return render(rows, [Column(k) for k in rows[0]], "csv") if rows else ""

    digital = cmp.baseline.layers[0].unit if cmp.baseline.layers else "digital"
    d = cmp.to_dict(layers=False)
    rows = [{"system": f"{digital} alone", **d["baseline"]}, {"system": cmp.system, **d["hetero"]}]
    for r in rows:
        r["imac_area_mm2"] = r["imac_area_m2"] * 1e6  # an SI prefix on m^2 reads ambiguously; say mm^2
    summary = render(rows, [Column("system"), Column("latency_s", "latency", "si", "s"),
                            Column("energy_j", "energy", "si", "J"), Column("weight_bytes", "weights", "si", "B"),
                            Column("transfer_bytes", "transfers", "count", "B"),
                            Column("imac_area_mm2", "IMAC area", "float", "mm^2")], "table",
                     title=f"{network.name} on {cmp.system} vs {digital} alone (batch 1)")
    saving = "n/a (the digital unit has no energy model)" if cmp.energy_saving is None \
        else f"{cmp.energy_saving * 100:.2f}%"
    headline = (f"speedup {cmp.speedup:.3f}x, energy saving {saving}, "
                f"weight memory reduction {cmp.memory_reduction * 100:.2f}%\n")
    base = {c.name: c for c in cmp.baseline.layers}
    layer_rows = []
    for c in cmp.hetero.layers:
        b = base.get(c.name)
        layer_rows.append({"layer": c.name, "unit": c.unit,
                           "base_latency_s": b.latency_s if b else None, "latency_s": c.latency_s,
                           "base_energy_j": b.energy_j if b else None, "energy_j": c.energy_j,
                           "base_weight_bits": b.weight_bits if b else None, "weight_bits": c.weight_bits})
    per_layer = render(layer_rows, [Column("layer"), Column("unit"),
                                    Column("base_latency_s", f"{digital} latency", "si", "s"),
                                    Column("latency_s", "latency", "si", "s"),
                                    Column("base_energy_j", f"{digital} energy", "si", "J"),
                                    Column("energy_j", "energy", "si", "J"),
                                    Column("base_weight_bits", f"{digital} weights", "count", "bit"),
                                    Column("weight_bits", "weights", "count", "bit")], "table",
                       title=f"per layer ({cmp.system}; transfers cross the digital/IMAC interface)")
    return summary + headline + "\n" + per_layer


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        model: str = typer.Option(None, "--model", "-m", help="Zoo model name (see `imcsim models`)."),
        arch: str = typer.Option("tpu-imac", "--arch", "-a",
                                 help="System preset (tpu-imac, cpu-imac) or a YAML file of SystemConfig fields."),
        deployment: Path = typer.Option(None, "--deployment", "-d",
                                        help="A deployment directory: its network, IMAC weights and IMAC config."),
        fmt: _Format = typer.Option(_Format.table, "--format", "-f", help="Output format."),
        plot: Path = typer.Option(None, "--plot", help="Write the per-layer latency breakdown to this PNG/PDF/SVG."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """A heterogeneous system (digital unit + IMAC) against the digital unit alone: latency, energy, weight
        memory, per layer and in total; speedup, energy saving and memory reduction."""
        from imcsim.arch.system import System, weights_from_deployment

        if (model is None) == (deployment is None):
            raise ConfigError("give exactly one of --model and --deployment")
        system_cfg = load_system(arch)
        weights = None
        if deployment is not None:
            from imcsim.train.deploy import load_deployment

            dep = load_deployment(deployment)
            network = dep.to_network()  # carries each layer's deployed unit in Layer.extra["unit"]
            weights = weights_from_deployment(dep)
            if isinstance(dep.config, dict) and "imac" in dep.config:
                system_cfg = system_cfg.replace(imac=dep.imac_config())  # the IMAC the model was trained for
        else:
            from imcsim.workload.zoo import load_network

            network = load_network(model)
        cmp = System(system_cfg).compare(network, weights=weights)
        text = render_comparison(cmp, network, fmt.value)
        if plot is not None:
            from imcsim.report.plots import plot_latency_breakdown

            plot_latency_breakdown(cmp, network, plot)
        emit(text, output)

    @app.command()
    def reproduce(
        fmt: _Format = typer.Option(_Format.table, "--format", "-f", help="Output format."),
        models: str = typer.Option(None, "--models", help="Comma-separated zoo models (default: the whole zoo)."),
        sensitivity_model: str = typer.Option(None, "--sensitivity-model",
                                              help="Model of the sensitivity table (default: the CNN with the "
                                                   "largest TPU-IMAC speedup)."),
        plot: Path = typer.Option(None, "--plot", help="Write the sensitivity figure to this PNG/PDF/SVG."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """Run the zoo on TPU-IMAC and CPU-IMAC, beside the published headlines (up to 2.59x and 88% memory for
        TPU-IMAC; 6.5% and 10% energy for CPU-IMAC), with the parameters that explain the differences and a
        sensitivity table over the TPU array size and the IMAC sampling time."""
        from imcsim.report.reproduce import SAMPLING_TIMES_S, render_reproduce, time_label
        from imcsim.report.reproduce import reproduce as run

        if fmt == _Format.csv:
            raise ConfigError("--format 'csv': reproduce prints several tables; choose table or json")
        names = None
        if models is not None:
            names = [m.strip() for m in models.split(",") if m.strip()]
            if not names:
                raise ConfigError(f"--models = {models!r}: no model names (give e.g. lenet5,alexnet)")
        result = run(names, sensitivity_model=sensitivity_model)
        text = render_reproduce(result, fmt.value)
        if plot is not None:
            from imcsim.report.plots import plot_sensitivity

            sens = result["sensitivity"]
            series = {time_label(t): [r[f"speedup@{t:g}"] for r in sens["rows"]] for t in SAMPLING_TIMES_S}
            series["preset, ideal DRAM"] = [r["ideal_memory_speedup"] for r in sens["rows"]]
            plot_sensitivity(series, [r["rows"] for r in sens["rows"]], plot,
                             title=f"TPU-IMAC speedup, {sens['model']}")
        emit(text, output)
