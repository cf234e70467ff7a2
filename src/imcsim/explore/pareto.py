"""Pareto fronts: the points no other point dominates.

Point a dominates point b when a is no worse in every objective and strictly better in at least one (objectives to
maximise are negated first). Points with equal objective vectors do not dominate each other, so all of them stay on
the front. Rows with a NaN objective (a failed or unevaluated point) are never on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pareto_mask", "dominates", "front_mask"]


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether objective vector ``a`` dominates ``b`` (both minimised)."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(values: np.ndarray, maximize: Sequence[bool] | None = None) -> np.ndarray:
    """Boolean mask, shape (n,), of the non-dominated rows of ``values`` (shape (n, k), minimised unless
    ``maximize[j]``).

    Rows are visited in lexicographic order, so a row can only be dominated by rows already visited; each is checked
    against the current front at once (vectorised), O(n * front size).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D (points, objectives), got shape {v.shape}")
    n, k = v.shape
    if maximize is not None:
        if len(maximize) != k:
            raise ValueError(f"maximize has {len(maximize)} entries for {k} objectives")
        v = np.where(np.asarray(maximize, dtype=bool), -v, v)
    mask = np.zeros(n, dtype=bool)
    ok = ~np.isnan(v).any(axis=1)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return mask
    order = idx[np.lexsort(v[idx].T[::-1])]  # first objective, then the next to break ties, ...
    front = np.empty((0, k))
    front_idx: list[int] = []
    for i in order:
        row = v[i]
        if front.shape[0]:
            le = front <= row
            if np.any(le.all(axis=1) & (front < row).any(axis=1)):
                continue
        # a row visited later can never dominate an earlier front member (it is lexicographically >= it) unless
        # equal, and equal rows do not dominate, so the front only grows
        front = np.vstack([front, row])
        front_idx.append(int(i))
    mask[front_idx] = True
    return mask


def front_mask(results: Sequence, names: Sequence[str]) -> np.ndarray:
    """Mask of the stored points (:class:`~imcsim.explore.store.PointResult`) on the Pareto front of the objectives
    ``names``, one front per workload (a front across workloads would compare different networks); failed points
    and points without one of the objectives are never on it."""
    from imcsim.explore.spec import OBJECTIVES

    for n in names:
        if n not in OBJECTIVES:
            from imcsim.errors import ImcsimError

            raise ImcsimError(f"unknown objective {n!r} (valid: {', '.join(OBJECTIVES)})")
    maximize = [OBJECTIVES[n].maximize for n in names]
    mask = np.zeros(len(results), dtype=bool)
    by_workload: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        if r.ok:
            by_workload.setdefault(r.workload, []).append(i)
    for idx in by_workload.values():
        v = np.array([[float(results[i].objectives.get(n, np.nan)) for n in names] for i in idx], dtype=float)
        mask[np.array(idx)[pareto_mask(v, maximize)]] = True
    return mask
