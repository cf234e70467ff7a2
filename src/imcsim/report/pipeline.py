"""Reports of a network scheduled on IMC cores (:mod:`imcsim.arch.pipeline`): the ``imcsim map`` table and JSON, and
the memory-versus-latency figure (per layer: the activation memory it holds against the stall it causes, in each
dataflow)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imcsim.arch.pipeline import PipelineResult

__all__ = ["render_map", "plot_tradeoff"]


def render_map(res: PipelineResult, fmt: str = "table") -> str:
    """``json``: :meth:`PipelineResult.to_dict` (SI units; enough per layer to recompute the schedule). ``table``: a
    summary, the energy split and one row per layer."""
    if fmt == "json":
        from imcsim.io import dumps_json

        return dumps_json(res.to_dict())
    from imcsim.report.tables import Column, render

    d = res.to_dict()
    d["area_mm2"] = res.area_m2 * 1e6  # an SI prefix on m^2 reads ambiguously
    summary = render([d], [Column("batch", "batch", "count"), Column("latency_s", "latency/batch", "si", "s"),
                           Column("first_image_latency_s", "first image", "si", "s"),
                           Column("throughput_ips", "throughput", "float", "images/s"),
                           Column("energy_j", "energy", "si", "J"), Column("area_mm2", "area", "float", "mm^2"),
                           Column("activation_memory_bytes", "activation memory", "si", "B"),
                           Column("cores", "arrays", "count"), Column("chip_arrays", "on chip", "count")], "table",
                     title=f"{res.network} on {res.arch}: {res.dataflow} pipeline, duplication {res.duplication}")
    total = res.energy_j or 1.0
    split = render([{"part": k, "energy_j": v, "share": v / total} for k, v in res.energy_split().items()],
                   [Column("part"), Column("energy_j", "energy", "si", "J"), Column("share", "share", "fraction")],
                   "table", title="energy split")
    rows = [s.to_dict() for s in res.stages]
    layers = render(rows, [Column("name", "layer"), Column("engine", "engine"), Column("arrays", "arrays", "count"),
                           Column("copies", "copies", "count"), Column("pixels", "pixels", "count"),
                           Column("pixel_time_s", "t/pixel", "si", "s"), Column("stage_time_s", "stage", "si", "s"),
                           Column("start_s", "start", "si", "s"), Column("finish_s", "finish", "si", "s"),
                           Column("buffer_bytes", "buffer", "si", "B"), Column("energy_j", "energy", "si", "J")],
                    "table", title=("per layer (first image)" if res.dataflow == "pixel" or res.batch == 1
                                    else f"per layer (the batch of {res.batch})"))
    note = ""
    if not res.fits:
        note = (f"note: {res.cores:,} arrays with copies exceed the {res.chip_arrays:,} of one chip; figures assume "
                f"enough chips (or cores) to hold them all\n")
    return summary + split + note + "\n" + layers


def plot_tradeoff(rows: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Scatter per layer of activation memory held (bytes) against the stall it causes (s), one series per dataflow
    (rows from :func:`imcsim.arch.pipeline.tradeoff`); written atomically (.png, .pdf or .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imcsim.report.plots import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for flow, marker in (("layer", "s"), ("pixel", "o")):
        pts = [r for r in rows if r["pipeline"] == flow and r["buffer_bytes"] > 0 and r["wait_s"] > 0]
        if not pts:
            continue
        head = next(r for r in rows if r["pipeline"] == flow)
        label = (f"{flow}: {head['activation_memory_bytes'] / 1e3:,.0f} kB, latency "
                 f"{head['latency_s'] * 1e3:.3g} ms")
        ax.scatter([r["buffer_bytes"] for r in pts], [r["wait_s"] for r in pts], marker=marker, label=label,
                   alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("activation memory the layer holds (bytes)")
    ax.set_ylabel("wait before its first output (s)")
    ax.set_title(title or "activation memory vs stall, per layer")
    ax.legend(fontsize=8)
    return save_figure(fig, path)

