"""``imcsim simulate`` (a workload on a systolic array) and ``imcsim presets`` (list or show the hardware presets).

Library calls: :func:`imcsim.arch.systolic.simulate_network`, :func:`imcsim.arch.systolic.network_totals`,
:func:`imcsim.config.presets.load_preset` / :func:`~imcsim.config.presets.list_presets`,
:func:`imcsim.config.scalesim_cfg.read_scalesim_cfg`, :func:`imcsim.config.systolic.load_systolic_config`,
:func:`imcsim.workload.zoo.load_network`, :func:`imcsim.workload.scalesim_csv.read_topology`,
:func:`imcsim.report.tables.render`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

import typer

from imcsim.cli.options import Format
from imcsim.cli.output import emit
from imcsim.cli.workload import input_shape_option, model_args_option, model_option
from imcsim.errors import ConfigError
from imcsim.io import dumps_json, json_safe

__all__ = ["register", "systolic_config_from_options", "simulate_json", "LAYER_COLUMNS"]


class _Dataflow(str, Enum):
    os = "os"
    ws = "ws"
    is_ = "is"


def _columns():
    from imcsim.report.tables import Column

    return [
        Column("name", "layer"), Column("kind", "kind"),
        Column("compute_cycles", "compute", "count", "cycles"), Column("stall_cycles", "stall", "count", "cycles"),
        Column("total_cycles", "total", "count", "cycles"), Column("overall_util", "overall util", "fraction"),
        Column("mapping_efficiency", "mapping eff", "fraction"), Column("compute_util", "compute util", "fraction"),
        Column("latency_s", "latency", "si", "s"), Column("energy_j", "energy", "si", "J"),
        Column("dram_ifmap_reads", "DRAM ifmap", "count", "words"),
        Column("dram_filter_reads", "DRAM filter", "count", "words"),
        Column("dram_ofmap_writes", "DRAM ofmap", "count", "words"),
    ]


LAYER_COLUMNS = [c.key for c in _columns()]


def systolic_config_from_options(preset: str | None = None, config: str | None = None,
                                 scalesim_config: str | None = None, array: str | None = None,
                                 dataflow: str | None = None, bandwidth: float | None = None,
                                 memory_model: str | None = None):
    """The SystolicConfig the ``simulate`` flags describe: one source (preset, YAML or SCALE-Sim .cfg; default the
    SCALE-Sim sample config), then the ``--array``, ``--dataflow``, ``--bandwidth`` and ``--memory-model``
    overrides."""
    from imcsim.config.presets import load_preset
    from imcsim.config.scalesim_cfg import read_scalesim_cfg
    from imcsim.config.systolic import SystolicConfig, load_systolic_config, parse_array

    given = [n for n, v in (("--preset", preset), ("--config", config), ("--scalesim-config", scalesim_config))
             if v is not None]
    if len(given) > 1:
        raise ConfigError(f"{given[0]} and {given[1]}: give at most one hardware source")
    if preset is not None:
        cfg = load_preset(preset)
        if not isinstance(cfg, SystolicConfig):
            raise ConfigError(f"--preset = {preset!r}: a {type(cfg).__name__} preset, not a systolic array")
    elif config is not None:
        cfg = load_systolic_config(config)
    elif scalesim_config is not None:
        cfg = read_scalesim_cfg(scalesim_config)
    else:
        cfg = SystolicConfig()
    changes: dict[str, Any] = {}
    if array is not None:
        try:
            changes["rows"], changes["cols"] = parse_array(array)
        except ConfigError as exc:
            raise ConfigError(f"--array: {exc}") from None
    if dataflow is not None:
        changes["dataflow"] = dataflow
    if bandwidth is not None:
        if not bandwidth > 0:
            raise ConfigError(f"--bandwidth = {bandwidth!r}: must be a positive number of words per cycle")
        changes["dram_bandwidth_words_per_cycle"] = bandwidth
    if memory_model is not None:
        changes["memory_model"] = memory_model
    if not changes:
        return cfg
    from imcsim.config.base import parse_config

    flags = [f for f, v in (("--array", array), ("--dataflow", dataflow), ("--bandwidth", bandwidth),
                            ("--memory-model", memory_model)) if v is not None]
    return parse_config(type(cfg), {**cfg.model_dump(), **changes}, source="/".join(flags))


def _load_network(model: str | None, topology: str | None, gemm: bool, deployment: str | None = None,
                  input_shape: str | None = None, model_args: str | None = None):
    if sum(x is not None for x in (model, topology, deployment)) != 1:
        raise ConfigError("give exactly one workload: --model NAME, --topology FILE or --deployment DIR")
    if model is None and (input_shape is not None or model_args is not None):
        raise ConfigError("--input-shape and --model-args apply to --model only")
    if deployment is not None:
        if gemm:
            raise ConfigError("--gemm applies to --topology files only")
        from imcsim.train.deploy import load_deployment

        return load_deployment(deployment).to_network()
    if topology is not None:
        from imcsim.workload.scalesim_csv import read_topology

        return read_topology(topology, gemm=gemm)
    if gemm:
        raise ConfigError("--gemm applies to --topology files only")
    from imcsim.cli.workload import load_from_options

    return load_from_options(model, input_shape, model_args)


def _layer_rows(network, cost) -> list[dict]:
    """One row per layer cost, with the layer's kind, and its precision and unit when a deployment set them."""
    by_name = {lay.name: lay for lay in network.layers}
    rows = []
    for c in cost.layers:
        lay = by_name.get(c.name)
        row = {**c.to_dict(), "kind": lay.kind.value if lay is not None else ""}
        if lay is not None and lay.precision is not None:
            row.update(precision=lay.precision, deployed_unit=lay.unit or "")
        rows.append(row)
    return rows


def simulate_json(network, cost, cfg, batch: int = 1) -> dict:
    """The ``--format json`` object: ``{"network", "config", "layers": [...], "totals": {...}}`` in SI units and
    fractions."""
    from imcsim.arch.systolic import network_totals

    layers = _layer_rows(network, cost)
    return json_safe({"network": network.name, "config": cfg.model_dump(), "layers": layers,
                      "batch": batch, "totals": network_totals(cost, cfg, batch)})


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        model: Optional[str] = model_option(),
        input_shape: Optional[str] = input_shape_option(),
        model_args: Optional[str] = model_args_option(),
        topology: Optional[str] = typer.Option(None, "--topology", "-t", help="SCALE-Sim topology CSV file."),
        gemm: bool = typer.Option(False, "--gemm", help="The topology file is in SCALE-Sim's GEMM (M, N, K) format."),
        deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="A trained deployment directory "
                                                 "(`imcsim train --out`): its network, with each layer's precision "
                                                 "and unit in the output."),
        preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Hardware preset (see `imcsim presets`)."),
        config: Optional[str] = typer.Option(None, "--config", "-c", help="SystolicConfig YAML file."),
        scalesim_config: Optional[str] = typer.Option(None, "--scalesim-config", help="SCALE-Sim .cfg file."),
        array: Optional[str] = typer.Option(None, "--array", help="Array shape ROWSxCOLS, e.g. 32x32 (override)."),
        dataflow: Optional[_Dataflow] = typer.Option(None, "--dataflow", help="Dataflow override: os, ws or is."),
        bandwidth: Optional[float] = typer.Option(None, "--bandwidth", help="Shared DRAM port bandwidth override "
                                                  "(words/cycle); per-port overrides in the config still apply."),
        memory_model: Optional[str] = typer.Option(None, "--memory-model", help="physical (default) or scalesim: "
                                                   "SCALE-Sim 3.0.0's scratchpad bookkeeping, for parity runs."),
        batch: int = typer.Option(1, "--batch", min=1, help="Inputs per run: multiplies every GEMM's M; latency "
                                  "is per batch."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the result to FILE (atomically)."),
    ) -> None:
        """Simulate a workload on a systolic array (cycles, stalls, utilization, traffic, latency, energy).

        Without a hardware source it uses SCALE-Sim's sample config: 32x32, output stationary, 64 KiB
        scratchpads, ideal memory.
        """
        from imcsim.arch.systolic import network_totals, simulate_network
        from imcsim.report.tables import render

        cfg = systolic_config_from_options(preset, config, scalesim_config, array,
                                           dataflow.value if dataflow is not None else None, bandwidth, memory_model)
        network = _load_network(model, topology, gemm, deployment, input_shape, model_args)
        cost = simulate_network(network, cfg, batch)
        if fmt == Format.json:
            text = dumps_json(simulate_json(network, cost, cfg, batch))
        else:
            rows = _layer_rows(network, cost)
            totals = network_totals(cost, cfg, batch)
            rows.append({"name": "TOTAL", "kind": "", **totals})
            bw = cfg.dram_bandwidth_words_per_cycle
            title = (f"{network.name} on a {cfg.rows}x{cfg.cols} {cfg.dataflow} systolic array, "
                     f"{cfg.clock_hz / 1e6:g} MHz, DRAM "
                     f"{'ideal' if bw is None else f'{bw:g} words/cycle, {cfg.memory_model} memory model'}, "
                     f"batch {batch} ({totals['throughput_per_s']:,.1f} inferences/s)")
            text = render(rows, _columns(), fmt.value, title=title if fmt == Format.table else None)
        emit(text, output)

    @app.command()
    def presets(
        name: Optional[str] = typer.Argument(None, help="Show this preset's fields; list all presets without it."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    ) -> None:
        """List the hardware presets, or show one preset's fields with their units and sources."""
        from imcsim.config.presets import list_presets, load_preset
        from imcsim.report.tables import Column, render

        if name is None:
            rows = [{"name": p.name, "kind": p.kind, "description": p.description} for p in list_presets()]
            cols = [Column("name"), Column("kind"), Column("description")]
            typer.echo(render(rows, cols, fmt.value, title="imcsim presets" if fmt == Format.table else None),
                       nl=False)
            return
        from imcsim.config.presets import preset_values

        cfg = load_preset(name)
        values = preset_values(name)
        if fmt == Format.json:
            typer.echo(dumps_json({"name": name, "kind": type(cfg).__name__, "config": cfg.model_dump(),
                                   "values": [{"field": v.field, "value": v.value, "unit": v.unit,
                                               "source": v.source} for v in values]}), nl=False)
            return
        rows = [{"field": v.field, "value": f"{v.value:.12g}" if isinstance(v.value, float) else str(v.value),
                 "unit": v.unit, "source": v.source} for v in values]
        cols = [Column("field", whole=True), Column("value", whole=True), Column("unit", whole=True),
                Column("source")]
        typer.echo(render(rows, cols, fmt.value, title=f"preset {name} ({type(cfg).__name__})"
                          if fmt == Format.table else None), nl=False)
