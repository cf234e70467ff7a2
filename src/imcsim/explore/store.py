"""The sweep store: one SQLite file holding the spec and one row per finished point.

Table ``points`` has a UNIQUE key (the point's hash, :func:`imcsim.explore.points.point_key`), so a point is stored at
most once however a run was interrupted; rows are inserted with ``INSERT OR IGNORE`` in one transaction per batch of
finished points. SQLite's write-ahead log makes every committed batch survive a ``kill -9`` of the process.

Each row holds the workload, the swept values by path (``params``), every objective (``objectives``, SI units), the
full system config the point ran (``config``), timings in seconds (``timings``), the status (``ok`` or ``failed``
with the one-line ``error``) and, for NSGA-II, the search's own trial attributes (``trial``).

A run holds ``<store>.lock`` (an flock, :class:`imcsim.io_lock.DirectoryLock`) while it writes; a second run on the
same store refuses with one line, and a lock left by a process that died (``kill -9`` included) is taken over.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imcsim.errors import ImcsimError
from imcsim.io_lock import DirectoryLock

__all__ = ["Store", "store_lock", "PointResult", "open_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    workload TEXT NOT NULL,
    params TEXT NOT NULL,
    objectives TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    config TEXT,
    timings TEXT NOT NULL,
    trial TEXT,
    finished_at REAL NOT NULL
);
"""


@dataclass
class PointResult:
    """A finished point as stored: objectives in SI units, timings in seconds, ``config`` the full system config
    as JSON text."""

    key: str
    workload: str
    params: dict[str, Any]
    objectives: dict[str, float]
    status: str = "ok"
    error: str | None = None
    config: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    trial: dict[str, Any] | None = None
    id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def store_lock(store_path: str | Path) -> DirectoryLock:
    """The lock a run holds on a store while it writes: ``<store>.lock`` beside it (see :mod:`imcsim.io_lock`)."""
    path = Path(store_path)
    return DirectoryLock(path.parent, name=f"{path.name}.lock", what="sweep store", subject=path)


class Store:
    """A sweep store (see the module docstring). Use :func:`open_store`."""

    def __init__(self, path: str | Path, conn: sqlite3.Connection):
        self.path = Path(path)
        self.conn = conn

    # ----- meta -----------------------------------------------------------------------------------------------------
    def get_meta(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, name: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    # ----- points ---------------------------------------------------------------------------------------------------
    def add(self, results: Iterable[PointResult]) -> int:
        """Store finished points in one transaction (a key already stored is left as it is); returns how many new
        rows were written."""
        now = time.time()
        rows = [(r.key, r.workload, json.dumps(r.params), json.dumps(r.objectives), r.status, r.error,
                 r.config, json.dumps(r.timings),
                 None if r.trial is None else json.dumps(r.trial), now) for r in results]
        with self.conn:
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO points (key, workload, params, objectives, status, error, config, timings, "
                "trial, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return self.conn.total_changes - before

    def keys(self) -> set[str]:
        """Keys of every stored point."""
        return {k for (k,) in self.conn.execute("SELECT key FROM points")}

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def points(self, with_config: bool = False) -> list[PointResult]:
        """Every stored point in the order it was stored."""
        cols = "id, key, workload, params, objectives, status, error, timings, trial" + (", config" if with_config
                                                                                          else "")
        out = []
        for row in self.conn.execute(f"SELECT {cols} FROM points ORDER BY id"):
            out.append(PointResult(
                key=row[1], workload=row[2], params=json.loads(row[3]), objectives=json.loads(row[4]), status=row[5],
                error=row[6], timings=json.loads(row[7]), trial=None if row[8] is None else json.loads(row[8]),
                config=row[9] if with_config else None, id=row[0]))
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, create: bool = True) -> Store:
    """Open (or, with ``create``, create) the store at ``path``; ImcsimError naming the file when it is not a sweep
    store or cannot be opened."""
    p = Path(path)
    if not create and not p.is_file():
        raise ImcsimError(f"{p}: no such sweep store")
    if create and not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise ImcsimError(f"{p}: directory '{p.parent}' does not exist")
    try:
        conn = sqlite3.connect(p, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if create:
            conn.executescript(_SCHEMA)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ImcsimError(f"{p}: not a sweep store ({exc})") from None
    if not {"meta", "points"} <= tables:
        conn.close()
        raise ImcsimError(f"{p}: not a sweep store (no points table)")
    return Store(p, conn)
