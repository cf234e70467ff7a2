"""``imcsim compare`` (a heterogeneous system against its digital-only baseline) and ``imcsim reproduce`` (the
TPU-IMAC and CPU-IMAC papers' comparisons over the model zoo).

Library calls: :func:`imcsim.config.system.load_system`, :class:`imcsim.arch.system.System` (``compare``) or
:func:`imcsim.train.deploy.compare_deployment`, :func:`imcsim.report.compare.render_comparison`,
:func:`imcsim.report.reproduce.reproduce` and :func:`~imcsim.report.reproduce.render_reproduce`, the figures in
:mod:`imcsim.report.plots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.options import Format, check_format
from imcsim.cli.output import emit
from imcsim.cli.workload import input_shape_option, model_args_option, model_option
from imcsim.config.system import load_system
from imcsim.errors import ConfigError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        model: Optional[str] = model_option(),
        input_shape: Optional[str] = input_shape_option(),
        model_args: Optional[str] = model_args_option(),
        arch: str = typer.Option("tpu-imac", "--arch", "-a",
                                 help="System preset (tpu-imac, cpu-imac, tpu-imc, all-imc) or a YAML file of "
                                      "SystemConfig fields."),
        deployment: Path = typer.Option(None, "--deployment", "-d",
                                        help="A deployment directory: its network, IMAC weights and IMAC config."),
        batch: int = typer.Option(1, "--batch", min=1, help="Inputs per run (latency per batch)."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
        plot: Path = typer.Option(None, "--plot", help="Write the per-layer latency breakdown to this PNG/PDF/SVG."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """A heterogeneous system (digital unit + IMAC) against the digital unit alone: latency, energy, weight
        memory, per layer and in total; speedup, energy saving and memory reduction."""
        from imcsim.report.compare import render_comparison

        if (model is None) == (deployment is None):
            raise ConfigError("give exactly one of --model and --deployment")
        if model is None and (input_shape is not None or model_args is not None):
            raise ConfigError("--input-shape and --model-args apply to --model only")
        system_cfg = load_system(arch)
        if deployment is not None:
            from imcsim.train.deploy import compare_deployment, load_deployment

            dep = load_deployment(deployment)
            cmp, network = compare_deployment(dep, system_cfg, batch)
        else:
            from imcsim.arch.system import System
            from imcsim.cli.workload import load_from_options

            network = load_from_options(model, input_shape, model_args)
            cmp = System(system_cfg).compare(network, batch=batch)
        text = render_comparison(cmp, network, fmt.value)
        imac_cfg = dep.imac_config() if deployment is not None else system_cfg.imac
        if (fmt == Format.table and imac_cfg.uncounted_terms
                and any(c.unit == "imac" for c in cmp.hetero.layers)):
            text = text.rstrip("\n") + ("\nIMAC costs leave out (set to 0 in the IMAC config): "
                                        + ", ".join(imac_cfg.uncounted_terms) + "\n")
        if deployment is not None and fmt == Format.table:
            from imcsim.config.base import changed_fields

            diff = changed_fields(system_cfg.imac, dep.imac_config())
            text = text.rstrip("\n") + (f"\nIMAC unit: the hardware {deployment} was trained with, in place of "
                                        f"{arch}'s; it differs in: " + (", ".join(f"{k} = {v}" for k, v in
                                                                         diff.items()) or "nothing") + "\n")
        if plot is not None:
            from imcsim.report.plots import plot_latency_breakdown

            _plot(lambda: plot_latency_breakdown(cmp, network, plot))
        emit(text, output)

    @app.command()
    def reproduce(
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
        models: str = typer.Option(None, "--models", help="Comma-separated zoo models (default: the whole zoo)."),
        sensitivity_model: str = typer.Option(None, "--sensitivity-model",
                                              help="Model of the sensitivity table (default: the CNN with the "
                                                   "largest TPU-IMAC speedup)."),
        batch: str = typer.Option("1,8,64", "--batch", help="Comma-separated batch sizes of the batch table."),
        plot: Path = typer.Option(None, "--plot", help="Write the sensitivity figure to this PNG/PDF/SVG."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """Run the zoo on TPU-IMAC and CPU-IMAC, beside the published headlines (up to 2.59x and 88% memory for
        TPU-IMAC; 6.5% and 10% energy for CPU-IMAC), with the parameters that explain the differences and a
        sensitivity table over the TPU array size and the IMAC sampling time."""
        from imcsim.report.reproduce import SAMPLING_TIMES_S, render_reproduce, time_label
        from imcsim.report.reproduce import reproduce as run

        check_format(fmt, ("table", "json"), "reproduce (several tables)")
        names = None
        if models is not None:
            names = [m.strip() for m in models.split(",") if m.strip()]
            if not names:
                raise ConfigError(f"--models = {models!r}: no model names (give e.g. lenet5,alexnet)")
        try:
            batches = [int(b) for b in batch.split(",") if b.strip()]
        except ValueError:
            batches = []
        if not batches or min(batches) < 1:
            raise ConfigError(f"--batch = {batch!r}: expected positive integers separated by commas, e.g. 1,8,64")
        result = run(names, sensitivity_model=sensitivity_model, batches=batches)
        text = render_reproduce(result, fmt.value)
        if plot is not None:
            from imcsim.report.plots import plot_sensitivity

            sens = result["sensitivity"]
            series = {time_label(t): [r[f"speedup@{t:g}"] for r in sens["rows"]] for t in SAMPLING_TIMES_S}
            series["preset, ideal DRAM"] = [r["ideal_memory_speedup"] for r in sens["rows"]]
            _plot(lambda: plot_sensitivity(series, [r["rows"] for r in sens["rows"]], plot,
                                           title=f"TPU-IMAC speedup, {sens['model']}"))
        emit(text, output)


def _plot(draw) -> None:
    """Run ``draw`` (which writes a figure to the ``--plot`` path); a bad path names the flag."""
    try:
        draw()
    except ConfigError as exc:
        raise ConfigError(f"--plot: {exc}") from None
