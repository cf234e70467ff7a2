"""Points of a sweep: a workload and one value per axis, identified by a hash of exactly that.

A point's *key* is the SHA-256 of its canonical JSON (``{"workload": label, "config": {path: value}}`` with sorted
keys), so the same point always has the same key whichever search proposed it; the store keeps one row per key.
The grid enumerates every combination in a fixed order (the axes' order in the spec, the last fastest), and a random
search draws distinct grid indices from ``numpy.random.default_rng(seed)``, so a resumed run regenerates exactly the
same list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imcsim.explore.spec import SweepSpec

__all__ = ["Point", "point_key", "grid_points", "random_points", "point_from_indices", "planned_points"]


def point_key(workload: str, params: dict[str, Any]) -> str:
    """The key of a point: hex SHA-256 of ``{"workload": workload, "config": params}`` as canonical JSON."""
    text = json.dumps({"workload": workload, "config": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Point:
    """One design point: the workload's label and the swept values by dotted path (spec order)."""

    workload: str
    params: dict[str, Any]
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", point_key(self.workload, self.params))


def point_from_indices(spec: SweepSpec, workload: str, indices: tuple[int, ...]) -> Point:
    """The point taking value ``indices[i]`` of axis group ``i`` (see :attr:`SweepSpec.axis_groups`)."""
    params: dict[str, Any] = {}
    for group, i in zip(spec.axis_groups, indices):
        for path in group:
            params[path] = spec.axes[path][i]
    ordered = {p: params[p] for p in spec.axes}  # spec order, whatever the grouping
    return Point(workload, ordered)


def _shape(spec: SweepSpec) -> tuple[int, ...]:
    return tuple(len(spec.axes[g[0]]) for g in spec.axis_groups)


def grid_points(spec: SweepSpec, workload: str) -> list[Point]:
    """Every combination of the axes (linked axes zipped), the last group varying fastest."""
    shape = _shape(spec)
    return [point_from_indices(spec, workload, tuple(int(i) for i in idx)) for idx in np.ndindex(*shape)]


def random_points(spec: SweepSpec, workload: str, n: int, seed: int) -> list[Point]:
    """``min(n, grid size)`` distinct grid points drawn uniformly with ``seed``.

    Indices are drawn in blocks of 1024 and repeats dropped, so the points for ``n`` are the first ``n`` of those for
    any larger ``n``: growing ``random:N`` in a spec keeps the points already stored. Asking for the whole grid or more
    gives every point, in random order.
    """
    shape = _shape(spec)
    size = int(np.prod(shape, dtype=np.int64))
    rng = np.random.default_rng(seed)
    if n >= size:
        flat = [int(i) for i in rng.permutation(size)]
    else:
        seen: dict[int, None] = {}
        while len(seen) < n:
            for i in rng.integers(0, size, 1024):
                seen.setdefault(int(i))
                if len(seen) == n:
                    break
        flat = list(seen)
    return [point_from_indices(spec, workload, tuple(int(i) for i in np.unravel_index(f, shape))) for f in flat]


def planned_points(spec: SweepSpec) -> list[Point] | None:
    """Every point a grid or random search will run (all workloads), or None for a search that proposes points as
    it goes (NSGA-II)."""
    plan = spec.search_plan
    out: list[Point] = []
    for w in spec.workload_list:
        if plan.kind == "grid":
            out += grid_points(spec, w.label)
        elif plan.kind == "random":
            out += random_points(spec, w.label, plan.n or 0, spec.seed)
        else:
            return None
    return out
