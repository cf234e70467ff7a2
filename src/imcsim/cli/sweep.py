"""``imcsim sweep run`` (a design-space sweep into a resumable store) and ``imcsim sweep show`` (its points, Pareto
fronts and a front plot). Thin shell over :mod:`imcsim.explore` and :mod:`imcsim.report.sweep`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imcsim.cli.options import Format
from imcsim.cli.output import emit
from imcsim.errors import ImcsimError

__all__ = ["register"]


def _progress_bar():
    """A rich progress bar on stderr: points done of total, rate, elapsed and time left."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:  # noqa: ANN001 (rich's Task)
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} points/s" if speed else "- points/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                    TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=False)


def register(app: typer.Typer) -> None:
    sweep = typer.Typer(help="Design-space sweeps: run a spec into a resumable store, show points and fronts.",
                        no_args_is_help=True)
    app.add_typer(sweep, name="sweep")

    @sweep.command("run")
    def run_cmd(
        spec: Path = typer.Argument(..., help="Sweep spec (YAML): workload, system, axes, search, objectives."),
        store: Path = typer.Option(..., "--store", "-s", help="SQLite store; the same command resumes into it."),
        workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                              help="Local worker processes (default: the CPU count, or this process "
                                                   "for at most 1,000 analytical points; 1 = in this process). With "
                                                   "--ray local, the CPUs of the local Ray."),
        ray: Optional[str] = typer.Option(None, "--ray", help="Run points as Ray tasks: 'local' (start a local "
                                          "Ray), 'auto' (the running cluster) or a cluster address."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Run SPEC into the store (resuming: stored points are not run again), then print a summary."""
        from imcsim.explore.pareto import front_mask
        from imcsim.explore.runner import run_sweep
        from imcsim.explore.spec import load_spec
        from imcsim.explore.store import open_store

        sweep_spec = load_spec(spec)

        def note(msg: str) -> None:
            typer.echo(f"note: {msg}", err=True)

        if quiet:
            summary = run_sweep(sweep_spec, store, workers=workers, ray=ray, note=note)
        else:
            with _progress_bar() as bar:
                task = bar.add_task(sweep_spec.name, total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                summary = run_sweep(sweep_spec, store, workers=workers, ray=ray, note=note, progress=progress)
        with open_store(store, create=False) as st:
            points = [p for p in st.points() if p.ok]
        n_front = int(front_mask(points, sweep_spec.objectives).sum()) if points else 0
        rate = (f" in {summary.elapsed_s:.1f} s: {summary.load_s:.1f} s loading the workloads, then "
                f"{summary.rate:,.0f} points/s" if summary.evaluated else "")
        typer.echo(f"sweep '{sweep_spec.name}': {summary.total} points ({summary.evaluated} evaluated now{rate}, "
                   f"{summary.from_store} already in {store}); {summary.failed} failed; Pareto front over "
                   f"{','.join(sweep_spec.objectives)}: {n_front} points\n"
                   f"show it: imcsim sweep show {store} --pareto {','.join(sweep_spec.objectives)}")

    @sweep.command("show")
    def show_cmd(
        store: Path = typer.Argument(..., help="Sweep store written by `imcsim sweep run`."),
        pareto: Optional[str] = typer.Option(None, "--pareto", "-p",
                                             help="Only the Pareto front over these objectives (comma-separated, "
                                                  "e.g. latency_s,energy_j)."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write the front plot to this PNG/PDF/SVG "
                                            "(the --pareto objectives, else the spec's)."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file instead."),
    ) -> None:
        """Every point of STORE, or with --pareto only its front; --plot draws the front."""
        from imcsim.explore.pareto import front_mask
        from imcsim.explore.spec import OBJECTIVES
        from imcsim.explore.store import open_store
        from imcsim.report.sweep import plot_front, render_points

        with open_store(store, create=False) as st:
            spec = st.get_meta("spec") or {}
            everything = st.points()
        points = [p for p in everything if p.ok]
        failed = [p for p in everything if not p.ok]
        spec_objectives = list(spec.get("objectives") or ["latency_s", "energy_j"])
        if pareto is not None:
            names = [n.strip() for n in pareto.split(",") if n.strip()]
            if not names:
                raise ImcsimError(f"--pareto {pareto!r}: no objective names (e.g. latency_s,energy_j)")
            for n in names:
                if n not in OBJECTIVES:
                    raise ImcsimError(f"--pareto: unknown objective {n!r} (valid: {', '.join(OBJECTIVES)})")
            missing = [n for n in names if points and all(n not in p.objectives for p in points)]
            if missing:
                raise ImcsimError(f"--pareto: no point in {store} has objective '{missing[0]}' (accuracy needs "
                                  "`evaluate` in the spec)")
        else:
            names = spec_objectives
        shown = names + [o for o in spec_objectives if o not in names]
        mask = front_mask(points, names) if points else None
        if pareto is not None and mask is not None:
            points = [p for p, m in zip(points, mask) if m]
            mask = None
        title = (f"{spec.get('name', store)}: {len(points)} points"
                 + (f" on the Pareto front over {', '.join(names)}" if pareto else ""))
        text = render_points(points, shown, fmt.value, front=mask, title=title)
        if failed:
            typer.echo(f"note: {len(failed)} points failed (e.g. {failed[0].params}: {failed[0].error})", err=True)
        if plot is not None:
            with open_store(store, create=False) as st:
                plot_front(st.points(), names, plot, title=f"{spec.get('name', store)}: Pareto front over "
                                                           f"{', '.join(names)}")
        emit(text, output)
