"""Pareto fronts against a brute-force non-dominated filter."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imcsim.explore.pareto import front_mask, pareto_mask
from imcsim.explore.store import PointResult


def brute_force(v: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Row i is on the front iff no row j is >= as good everywhere and strictly better somewhere (pure loops)."""
    n, k = v.shape
    sign = [-1.0 if m else 1.0 for m in maximize]
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        if any(np.isnan(v[i])):
            continue
        dominated = False
        for j in range(n):
            if j == i or any(np.isnan(v[j])):
                continue
            no_worse = all(sign[c] * v[j, c] <= sign[c] * v[i, c] for c in range(k))
            better = any(sign[c] * v[j, c] < sign[c] * v[i, c] for c in range(k))
            if no_worse and better:
                dominated = True
                break
        out[i] = not dominated
    return out


@settings(max_examples=150, deadline=None)
@given(v=arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
                elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, 2.5, np.nan])),  # few values: many ties
       data=st.data())
def test_front_equals_brute_force(v, data):
    maximize = data.draw(st.lists(st.booleans(), min_size=v.shape[1], max_size=v.shape[1]))
    assert np.array_equal(pareto_mask(v, maximize), brute_force(v, maximize))


def test_a_hand_made_front():
    # (latency, energy): (1, 5) and (3, 1) trade off; (2, 2) too; (3, 3) is beaten by (2, 2); (1, 5) twice: both stay
    v = np.array([[1, 5], [3, 1], [2, 2], [3, 3], [1, 5], [4, 1]], dtype=float)
    assert pareto_mask(v).tolist() == [True, True, True, False, True, False]
    # maximising the second objective instead: (1, 5) beats everything but itself
    assert pareto_mask(v, [False, True]).tolist() == [True, False, False, False, True, False]


def test_one_front_per_workload_and_failed_points_excluded():
    pts = [PointResult("a", "lenet5", {}, {"latency_s": 1.0, "energy_j": 1.0}),
           PointResult("b", "alexnet", {}, {"latency_s": 5.0, "energy_j": 5.0}),  # worse, but another network
           PointResult("c", "alexnet", {}, {"latency_s": 6.0, "energy_j": 6.0}),
           PointResult("d", "alexnet", {}, {}, status="failed", error="x")]
    assert front_mask(pts, ["latency_s", "energy_j"]).tolist() == [True, True, False, False]
