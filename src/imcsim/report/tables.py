"""Render result rows as a table for people, as JSON or as CSV, from one column description.

Values inside are SI (seconds, joules, bytes, ...) and fractions in [0, 1]. The human table picks one engineering
prefix per column (``ms``, ``uJ``, ``MB``...), shows fractions as percentages and counts with thousands separators;
JSON and CSV keep the SI values and fractions untouched so that scripts read exact numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Column", "render", "FORMATS", "si_prefix"]

FORMATS = ("table", "json", "csv")

_PREFIXES = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"),
             (1e-15, "f")]


@dataclass(frozen=True)
class Column:
    """One column: the row key, its header, and how the value is shown.

    kind: ``"si"`` (a float in the SI unit ``unit``, shown with a prefix), ``"fraction"`` (shown in %), ``"count"``
    (an integer count, shown with separators; ``unit`` names what is counted, e.g. ``"cycles"``), ``"float"`` (a plain
    number with ``unit``) or ``"text"``.
    whole: the human table never wraps or shortens this column's cells (names people copy, e.g. dotted field names).
    """

    key: str
    header: str | None = None
    kind: Literal["si", "fraction", "count", "float", "text"] = "text"
    unit: str = ""
    whole: bool = False

    @property
    def title(self) -> str:
        return self.header or self.key


def si_prefix(values: Sequence[float]) -> tuple[float, str]:
    """(scale, prefix) such that the largest magnitude in ``values`` divided by ``scale`` is in [1, 1000)."""
    mags = [abs(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v != 0]
    if not mags:
        return 1.0, ""
    top = max(mags)
    for scale, prefix in _PREFIXES:
        if top >= scale:
            return scale, prefix
    return _PREFIXES[-1]


def _fmt_number(v: float, digits: int = 4) -> str:
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def _cell(col: Column, value: Any, scale: float) -> str:
    if value is None:
        return "-"
    if col.kind == "text":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if col.kind == "fraction":
        return f"{100.0 * value:.2f}"
    if col.kind == "count":
        return f"{int(round(value)):,}"
    if col.kind == "si":
        return _fmt_number(value / scale)
    return _fmt_number(value)


def _table(rows: list[dict], columns: Sequence[Column], title: str | None) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    scales = []
    for col in columns:
        scale, prefix = (si_prefix([r.get(col.key) for r in rows]) if col.kind == "si" else (1.0, ""))
        scales.append(scale)
        unit = {"si": f"{prefix}{col.unit}", "fraction": "%"}.get(col.kind, col.unit)
        head = f"{col.title} ({unit})" if unit else col.title
        table.add_column(escape(head), justify="left" if col.kind == "text" else "right", no_wrap=col.whole)
    cells = [[_cell(c, r.get(c.key), s) for c, s in zip(columns, scales)] for r in rows]
    for row in cells:
        table.add_row(*(escape(cell) for cell in row))  # cell text is data: "[coral]" is a citation, not markup
    buf = io.StringIO()
    width = max(80, sum(max(len(c.title) + 8, 12) for c in columns) + 3 * len(columns))
    # room for every whole column at its widest cell, beside at least 60 characters for each other column
    whole = sum(max([len(c.title) + 2] + [len(row[i]) for row in cells]) for i, c in enumerate(columns) if c.whole)
    if whole:
        width = max(width, whole + 60 * sum(not c.whole for c in columns) + 3 * len(columns) + 1)
    Console(file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False).print(table)
    return buf.getvalue()


def _csv_cell(v: Any, column: Column) -> Any:
    """A CSV cell: SI values as Python numbers, counts as integers (``54``, not ``54.0``, so that ``int()`` reads
    them); missing or non-finite values empty."""
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if column.kind == "count" and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def render(rows: list[dict], columns: Sequence[Column], fmt: str = "table", title: str | None = None) -> str:
    """Render ``rows`` (dicts keyed by ``Column.key``) in ``fmt``: ``table`` (rich, unit-converted), ``json`` (a list
    of objects with SI values and fractions) or ``csv`` (header = keys, SI values)."""
    if fmt == "table":
        return _table(rows, columns, title)
    if fmt == "json":
        from imcsim.io import dumps_json

        return dumps_json([{c.key: r.get(c.key) for c in columns} for r in rows])
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([c.key for c in columns])
        for r in rows:
            w.writerow([_csv_cell(r.get(c.key), c) for c in columns])
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r} (valid: {', '.join(FORMATS)})")
