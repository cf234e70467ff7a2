"""report.tables.render (human table with unit prefixes, JSON and CSV with SI values) and report.io.write_atomic."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from imcsim.errors import ImcsimError
from imcsim.io import write_atomic
from imcsim.report.tables import Column, render, si_prefix

ROWS = [{"name": "a", "latency_s": 2.5e-3, "energy_j": 3e-6, "util": 0.5, "cycles": 1234567},
        {"name": "b", "latency_s": 4e-4, "energy_j": 1.2e-5, "util": 0.125, "cycles": 10}]
COLS = [Column("name", "layer"), Column("latency_s", "latency", "si", "s"), Column("energy_j", "energy", "si", "J"),
        Column("util", "util", "fraction"), Column("cycles", "cycles", "count", "cycles")]


def test_si_prefix():
    assert si_prefix([2.5e-3, 4e-4]) == (1e-3, "m")
    assert si_prefix([3e-6, 1.2e-5]) == (1e-6, "u")
    assert si_prefix([0.0]) == (1.0, "")
    assert si_prefix([2e9]) == (1e9, "G")


def test_table_converts_units():
    out = render(ROWS, COLS, "table", title="T")
    assert "latency (ms)" in out and "energy (uJ)" in out and "util (%)" in out
    assert "2.5" in out and "0.4" in out      # 2.5 ms, 0.4 ms
    assert "50.00" in out and "12.50" in out  # fractions as percent
    assert "1,234,567" in out
    assert "T" in out.splitlines()[0]


def test_json_keeps_si_values():
    doc = json.loads(render(ROWS, COLS, "json"))
    assert doc[0] == {"name": "a", "latency_s": 2.5e-3, "energy_j": 3e-6, "util": 0.5, "cycles": 1234567}


def test_csv_keeps_si_values():
    rows = list(csv.DictReader(io.StringIO(render(ROWS, COLS, "csv"))))
    assert float(rows[1]["energy_j"]) == 1.2e-5 and rows[1]["name"] == "b"


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        render(ROWS, COLS, "xml")


def test_write_atomic(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("old")
    write_atomic(p, "new text")
    assert p.read_text() == "new text"
    assert os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(ImcsimError, match="does not exist"):
        write_atomic(tmp_path / "nodir" / "x.txt", "x")
