"""Reports of a sweep store: the points (or only the Pareto front) as a table, JSON or CSV, and a figure of the front.

JSON is a list of points, each ``{"id", "workload", "config": {path: value}, <objective>: value, ..., "pareto"}``
with SI values; CSV has one column per swept path and per objective. The figure is a 2-D scatter of every point with
the front highlighted (joined in order of the first objective), or, for three or more objectives, one such panel per
pair of objectives with the front of all of them highlighted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from imcsim.explore.pareto import front_mask
from imcsim.explore.spec import OBJECTIVES
from imcsim.explore.store import PointResult

__all__ = ["render_points", "plot_front", "objective_column"]

def objective_column(name: str) -> Any:
    """The table column of an objective (m^2 shown as mm^2: an SI prefix on an area reads ambiguously)."""
    from imcsim.report.tables import Column

    unit = OBJECTIVES[name].unit
    if unit == "m^2":
        return Column(f"{name}:mm2", name, "float", "mm^2")
    if unit in ("s", "J"):
        return Column(name, name, "si", unit)
    if unit == "bit":
        return Column(name, name, "count", unit)
    if unit == "fraction":
        return Column(name, name, "fraction")
    return Column(name, name, "float", unit)


def render_points(points: Sequence[PointResult], objectives: Sequence[str], fmt: str = "table",
                  front: np.ndarray | None = None, title: str | None = None) -> str:
    """``points`` (finished, in store order) with their swept values and ``objectives`` in ``fmt`` (``table``,
    ``json`` or ``csv``); ``front`` marks the Pareto points (a ``pareto`` column)."""
    from imcsim.report.tables import Column, render

    paths: list[str] = []
    for p in points:
        for k in p.params:
            if k not in paths:
                paths.append(k)
    workloads = sorted({p.workload for p in points})
    if fmt == "json":
        from imcsim.report.io import dumps_json

        out = []
        for i, p in enumerate(points):
            d: dict[str, Any] = {"id": p.id, "workload": p.workload, "config": dict(p.params)}
            d.update({o: p.objectives.get(o) for o in objectives})
            if front is not None:
                d["pareto"] = bool(front[i])
            out.append(d)
        return dumps_json(out)
    rows = []
    for i, p in enumerate(points):
        r: dict[str, Any] = {"id": p.id, "workload": p.workload, **p.params}
        for o in objectives:
            v = p.objectives.get(o)
            r[o] = v
            if OBJECTIVES[o].unit == "m^2" and v is not None:
                r[f"{o}:mm2"] = v * 1e6
        if front is not None:
            r["pareto"] = "*" if front[i] else ""
        rows.append(r)
    if fmt == "csv":
        cols = [Column("id", kind="count"), Column("workload")] + [Column(p) for p in paths]
        cols += [Column(o, kind="float") for o in objectives]
        if front is not None:
            for r in rows:
                r["pareto"] = int(r["pareto"] == "*")
            cols.append(Column("pareto", kind="count"))
        return render(rows, cols, "csv")
    cols = [Column("id", kind="count")] + ([Column("workload")] if len(workloads) > 1 else [])
    cols += [Column(p) for p in paths] + [objective_column(o) for o in objectives]
    if front is not None:
        cols.append(Column("pareto"))
    return render(rows, cols, "table", title=title)


def _scaled(name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    """Values in a readable unit and the axis label."""
    from imcsim.report.tables import si_prefix

    o = OBJECTIVES[name]
    if o.unit == "m^2":
        return values * 1e6, f"{name.removesuffix('_m2')} (mm^2)"
    if o.unit in ("s", "J"):
        scale, prefix = si_prefix([float(v) for v in values])
        return values / scale, f"{name} ({prefix}{o.unit})"
    if o.unit == "fraction":
        return values * 100, f"{name} (%)"
    return values, f"{name} ({o.unit})"


def plot_front(points: Sequence[PointResult], objectives: Sequence[str], path: str | Path,
               title: str | None = None) -> Path:
    """Scatter of every finished point on ``objectives`` (two: one panel; three or more: every pair) with the
    Pareto front of all ``objectives`` highlighted; one colour per workload. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imcsim.errors import ImcsimError
    from imcsim.report.plots import save_figure

    if len(objectives) < 2:
        raise ImcsimError(f"a front plot needs at least two objectives, got {list(objectives)}")
    ok = [p for p in points if p.ok]
    if not ok:
        raise ImcsimError("no finished points to plot")
    mask = front_mask(ok, objectives)
    values = np.array([[float(p.objectives.get(o, np.nan)) for o in objectives] for p in ok])
    workloads = sorted({p.workload for p in ok})
    pairs = list(combinations(range(len(objectives)), 2))
    ncols = min(3, len(pairs))
    nrows = (len(pairs) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 4.0 * nrows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (a, b) in zip(axes.flat, pairs):
        xs, xl = _scaled(objectives[a], values[:, a])
        ys, yl = _scaled(objectives[b], values[:, b])
        for k, w in enumerate(workloads):
            sel = np.array([p.workload == w for p in ok])
            c = colours[k % len(colours)]
            tag = f"{w}: " if len(workloads) > 1 else ""
            ax.scatter(xs[sel & ~mask], ys[sel & ~mask], s=6, color=c, alpha=0.25, linewidths=0,
                       label=f"{tag}points")
            f = sel & mask
            ax.scatter(xs[f], ys[f], s=22, color=c, edgecolors="black", linewidths=0.6, zorder=3,
                       label=f"{tag}Pareto front ({int(f.sum())})")
            if len(objectives) == 2 and f.any():  # two objectives: join the front in order of the first
                order = np.argsort(xs[f])
                ax.plot(xs[f][order], ys[f][order], color=c, linewidth=1, zorder=2)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="best")
    front_of = ", ".join(objectives)
    fig.suptitle(title or f"Pareto front over {front_of}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
