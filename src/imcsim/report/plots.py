"""Figures (matplotlib, Agg backend): the latency breakdown of a heterogeneous run against its digital baseline, and
how the speedup moves with the systolic array size and the IMAC sampling time.

Files are written atomically (a temporary file in the same directory, then ``os.replace``); the format follows the
suffix (``.png``, ``.pdf``, ``.svg``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imcsim.arch.system import Comparison  # noqa: E402
from imcsim.errors import ConfigError  # noqa: E402
from imcsim.report.compare import CATEGORIES, breakdown  # noqa: E402
from imcsim.workload.network import Network  # noqa: E402

__all__ = ["plot_latency_breakdown", "plot_sensitivity", "save_figure"]

_COLOURS = {"conv (digital)": "#4c72b0", "dense (digital)": "#dd8452", "dense (IMAC)": "#55a868",
            "conv (IMC)": "#8172b3", "dense (IMC)": "#64b5cd", "other (digital)": "#8c8c8c", "other (IMC)": "#ccb974",
            "transfers": "#c44e52"}


def save_figure(fig: "plt.Figure", path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (:func:`imcsim.io.write_atomic`) and close it; ConfigError for an
    unsupported suffix or a missing directory, ImcsimError when the file cannot be written."""
    from imcsim.io import write_atomic

    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    try:
        if fmt not in ("png", "pdf", "svg"):
            raise ConfigError(f"figure path '{p}': must end in .png, .pdf or .svg")
        if not p.parent.is_dir():
            raise ConfigError(f"figure path '{p}': directory '{p.parent}' does not exist")
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
    return write_atomic(p, buf.getvalue())


def _time_unit(seconds: float) -> tuple[float, str]:
    """(scale, unit) that shows ``seconds`` as a number of at least 1 (s, ms, us or ns)."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale:
            return scale, unit
    return 1e-9, "ns"


def plot_latency_breakdown(cmp: Comparison, network: Network, path: str | Path) -> Path:
    """Two panels: stacked latency by category (conv, dense on the digital unit vs on IMAC, other, transfers) for
    the baseline and the heterogeneous system; and the latency of every layer with weights on both (log scale)."""
    base = breakdown(cmp.baseline, network)
    het = breakdown(cmp.hetero, network)
    digital = cmp.baseline.layers[0].unit if cmp.baseline.layers else "digital"
    labels = [f"{digital} alone", cmp.system]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})

    scale, unit = _time_unit(max(cmp.baseline.latency_s, cmp.hetero.latency_s))
    left = [0.0, 0.0]
    for cat in CATEGORIES:
        vals = [base[cat] / scale, het[cat] / scale]
        if not any(vals):
            continue
        ax1.barh(labels, vals, left=left, color=_COLOURS[cat], label=cat)
        left = [a + b for a, b in zip(left, vals)]
    for y, total in enumerate(left):
        ax1.text(total, y, f" {total:,.4g} {unit}", va="center", fontsize=9)
    ax1.set_xlim(0, max(left) * 1.3 if max(left) > 0 else 1)
    ax1.set_xlabel(f"latency per inference ({unit})")
    ax1.set_title(f"{network.name}: {cmp.speedup:.2f}x speedup, "
                  f"{cmp.memory_reduction * 100:.1f}% less weight memory", fontsize=10)
    ax1.legend(fontsize=8, loc="lower right")
    ax1.invert_yaxis()

    het_by = {c.name: c for c in cmp.hetero.layers}
    names = [c.name for c in cmp.baseline.layers if network[c.name].kind.has_weights]
    x = range(len(names))
    b_lat = [c.latency_s * 1e6 for c in cmp.baseline.layers if c.name in names]
    h_lat = [het_by[n].latency_s * 1e6 for n in names]
    on = {"imac": _COLOURS["dense (IMAC)"], "imc": _COLOURS["conv (IMC)"]}
    h_col = [on.get(het_by[n].unit, _COLOURS["conv (digital)"]) for n in names]
    w = 0.4
    ax2.bar([i - w / 2 for i in x], b_lat, w, color="#bbbbbb", label=f"{digital} alone")
    ax2.bar([i + w / 2 for i in x], h_lat, w, color=h_col, label=f"{cmp.system} (green: on IMAC, purple: on IMC cores)")
    ax2.set_yscale("log")
    ax2.set_ylabel("latency (us, log)")
    ax2.set_title("layers with weights", fontsize=10)
    step = max(1, len(names) // 30)
    ax2.set_xticks(list(x)[::step], names[::step], rotation=75, fontsize=7)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_sensitivity(speedups: Mapping[str, Sequence[float]], array_sizes: Sequence[int], path: str | Path,
                     title: str = "") -> Path:
    """Speedup against the systolic array size (square arrays), one line per IMAC sampling time label."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in speedups.items():
        ax.plot(list(array_sizes), list(ys), marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # speedups span orders of magnitude when DRAM-bound dense layers leave the array
    ax.set_xticks(list(array_sizes), [f"{s}x{s}" for s in array_sizes])
    ax.axhline(1.0, color="#888888", lw=0.8)
    ax.set_xlabel("systolic array")
    ax.set_ylabel("speedup over the array alone (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, title="IMAC sampling time", title_fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
