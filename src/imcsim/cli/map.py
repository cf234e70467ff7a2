"""``imcsim map``: every layer of a network on a mixed-signal IMC core (weights on crossbars, the rest on its digital
post-processing unit), or on a system's units as its placement policy puts them, scheduled layer by layer or pixel by
pixel, with weight duplication.

Library calls: :func:`imcsim.config.imc.load_imc`, :func:`imcsim.arch.pipeline.run_pipeline` and
:func:`~imcsim.arch.pipeline.tradeoff`, :func:`imcsim.arch.system_pipeline.run_system_pipeline` and
:func:`~imcsim.arch.system_pipeline.system_tradeoff`, :func:`imcsim.report.pipeline.render_map` and
:func:`~imcsim.report.pipeline.plot_tradeoff`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.options import Format, check_format
from imcsim.cli.output import emit
from imcsim.cli.workload import input_shape_option, model_args_option, model_option
from imcsim.errors import ConfigError

__all__ = ["register"]


class _Pipeline(str, Enum):
    layer = "layer"
    pixel = "pixel"


def _load_arch(arch: str):
    """The IMCConfig or SystemConfig of ``--arch``: an IMC core or system preset, or a YAML file of either's fields
    (a file whose keys are all IMCConfig fields is a core)."""
    from imcsim.config.base import read_yaml
    from imcsim.config.imc import IMCConfig, load_imc
    from imcsim.config.presets import PRESET_DIR, load_preset
    from imcsim.config.system import SystemConfig, load_system

    if (PRESET_DIR / f"{arch}.yaml").is_file():
        cfg = load_preset(arch)
        if not isinstance(cfg, (IMCConfig, SystemConfig)):
            raise ConfigError(f"--arch '{arch}' is a {type(cfg).__name__} preset, not an IMC core or a system; "
                              f"`imcsim map` takes an IMC core (isaac, puma, hermes), a system (tpu-imc, all-imc, "
                              f"tpu-imac, ...) or a YAML file of either")
        return cfg
    if arch.endswith((".yaml", ".yml")) or Path(arch).is_file():
        data = read_yaml(arch)
        if isinstance(data, dict) and not set(data) <= set(IMCConfig.model_fields):
            return load_system(arch)
    return load_imc(arch)


def register(app: typer.Typer) -> None:
    @app.command("map")
    def map_(
        model: Optional[str] = model_option(),
        input_shape: Optional[str] = input_shape_option(),
        model_args: Optional[str] = model_args_option(),
        topology: str = typer.Option(None, "--topology", "-t", help="SCALE-Sim topology CSV file (layers in a "
                                     "chain)."),
        gemm: bool = typer.Option(False, "--gemm", help="The topology file is in SCALE-Sim's GEMM (M, N, K) format."),
        deployment: str = typer.Option(None, "--deployment", "-d", help="A deployment directory: its network and, on "
                                       "a system with an IMAC unit, the IMAC hardware it was trained with."),
        arch: str = typer.Option("isaac", "--arch", "-a", help="IMC core preset (isaac, puma, hermes), system "
                                 "preset (tpu-imc, all-imc, ...) or a YAML file of IMCConfig or SystemConfig fields."),
        pipeline: _Pipeline = typer.Option(_Pipeline.layer, "--pipeline", "-p", help="layer: one layer at a time; "
                                           "pixel: every layer resident, pixels flowing through."),
        duplication: str = typer.Option("none", "--duplication", help="none, balanced (copies in proportion to "
                                        "output pixels within the chip's arrays) or budget:N (N arrays, greedy to "
                                        "the slowest layer)."),
        batch: int = typer.Option(1, "--batch", min=1, help="Images per run: layer pipeline takes them layer by "
                                  "layer, pixel pipeline streams them (latency per batch)."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (for people) or json."),
        plot: Path = typer.Option(None, "--plot", help="Write the memory-vs-stall figure (both dataflows) to this "
                                  "PNG/PDF/SVG."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """Map every layer onto an IMC core, or place it on a system by the system's policy: arrays, copies, time per
        output pixel, the pipeline's latency, throughput, energy split, area and activation memory. On a system,
        layers on IMC cores are pipelined, every other layer and each transfer runs as a whole on its unit."""
        from imcsim.arch.pipeline import parse_duplication, run_pipeline, tradeoff
        from imcsim.arch.system import System
        from imcsim.arch.system_pipeline import run_system_pipeline, system_tradeoff
        from imcsim.cli.simulate import _load_network
        from imcsim.config.imc import IMCConfig
        from imcsim.report.pipeline import plot_tradeoff, render_map

        check_format(fmt, ("table", "json"), "map")
        try:
            parse_duplication(duplication)
        except ConfigError:
            raise ConfigError(f"--duplication = {duplication!r}: expected none, balanced or budget:N "
                              f"(N a positive number of crossbar arrays)") from None
        cfg = _load_arch(arch)
        network = _load_network(model, topology, gemm, deployment, input_shape, model_args)
        note = ""
        if deployment is not None and not isinstance(cfg, IMCConfig) and getattr(cfg, "imac", None) is not None \
                and "imac" in cfg.units:
            # the IMAC unit is the hardware the run was trained with (as compare/evaluate/xbar read it)
            from imcsim.config.base import changed_fields
            from imcsim.train.deploy import load_deployment

            trained = load_deployment(deployment).imac_config()
            diff = changed_fields(cfg.imac, trained)
            cfg = cfg.replace(imac=trained)
            note = (f"IMAC unit: the hardware {deployment} was trained with, in place of {arch}'s; it differs in: "
                    + (", ".join(f"{k} = {v}" for k, v in diff.items()) or "nothing") + "\n")
        if isinstance(cfg, IMCConfig):
            res = run_pipeline(network, cfg, pipeline.value, duplication, batch)
            rows = tradeoff(network, cfg, duplication, batch) if plot is not None else None
        else:  # a system: place by its policy, then schedule
            system = System(cfg)
            res = run_system_pipeline(network, system, pipeline.value, duplication, batch)
            rows = system_tradeoff(network, system, duplication, batch) if plot is not None else None
        text = render_map(res, fmt.value)
        if note and fmt == Format.table:
            text = text.rstrip("\n") + "\n" + note
        if plot is not None:
            try:
                plot_tradeoff(rows, plot, title=f"{network.name} on {res.arch}, duplication {duplication}")
            except ConfigError as exc:  # the figure path: name the flag that gave it
                raise ConfigError(f"--plot: {exc}") from None
        emit(text, output)
