"""The sparse crossbar solver against hand calculations, an independent dense nodal reference, and ideal algebra."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.circuit.crossbar import Crossbar
from imcsim.errors import ConfigError


def dense_reference(gp, gm, r_in, r_out, r_amp, v):
    """Brute-force DC solve of the canonical crossbar, written node by node with dense numpy (all r > 0).

    Returns (i_plus, i_minus, power) for one input vector v (rows,)."""
    R, C = gp.shape
    names = {}

    def node(n):
        return names.setdefault(n, len(names))
    res = []  # (node a, node b, resistance); nodes ('s', i) are sources, 'gnd' is ground
    for i in range(R):
        prev = ("s", i)
        for j in range(C):
            res.append((prev, ("a", i, j), r_in))
            prev = ("a", i, j)
            res.append((("a", i, j), ("p", i, j), 1 / gp[i, j]))
            res.append((("a", i, j), ("m", i, j), 1 / gm[i, j]))
    for j in range(C):
        for line in "pm":
            for i in range(R - 1):
                res.append(((line, i, j), (line, i + 1, j), r_out))
            res.append(((line, R - 1, j), ("t", line, j), r_out))
            res.append((("t", line, j), "gnd", r_amp))
    fixed = {("s", i): v[i] for i in range(R)}
    fixed["gnd"] = 0.0
    for a, b, _ in res:
        for n in (a, b):
            if n not in fixed:
                node(n)
    n = len(names)
    G = np.zeros((n, n))
    rhs = np.zeros(n)
    for a, b, r in res:
        g = 1 / r
        for x, y in ((a, b), (b, a)):
            if x in fixed:
                continue
            G[names[x], names[x]] += g
            if y in fixed:
                rhs[names[x]] += g * fixed[y]
            else:
                G[names[x], names[y]] -= g
    x = np.linalg.solve(G, rhs)

    def volt(nd):
        return fixed[nd] if nd in fixed else x[names[nd]]
    ip = np.array([volt(("t", "p", j)) / r_amp for j in range(C)])
    im = np.array([volt(("t", "m", j)) / r_amp for j in range(C)])
    power = sum((volt(a) - volt(b)) ** 2 / r for a, b, r in res)
    return ip, im, power


def random_g(rng, shape):
    return rng.uniform(1 / 15e3, 1 / 5e3, shape), rng.uniform(1 / 15e3, 1 / 5e3, shape)


def test_2x2_by_hand_input_wires_only():
    # r_out = 0 holds every column line at 0 V, so each input line is a ladder: source -r- a0 -r- a1, with a0 and
    # a1 loaded to ground by their cell's two devices (G0 and G1 in parallel).
    gp = np.array([[1 / 5e3, 1 / 15e3], [1 / 15e3, 1 / 5e3]])
    gm = np.array([[1 / 15e3, 1 / 5e3], [1 / 5e3, 1 / 5e3]])
    r = 100.0
    v = np.array([0.8, -0.4])
    ip_hand, im_hand = np.zeros(2), np.zeros(2)
    for i in range(2):
        g0, g1 = gp[i, 0] + gm[i, 0], gp[i, 1] + gm[i, 1]
        r_load = 1 / (g0 + 1 / (r + 1 / g1))       # seen from a0: device pair || (segment + next pair)
        va0 = v[i] * r_load / (r + r_load)
        va1 = va0 * (1 / g1) / (r + 1 / g1)
        ip_hand += [gp[i, 0] * va0, gp[i, 1] * va1]
        im_hand += [gm[i, 0] * va0, gm[i, 1] * va1]
    ip, im = Crossbar(gp, gm, r_in_ohm=r).solve(v)
    np.testing.assert_allclose(ip[0], ip_hand, rtol=1e-12)
    np.testing.assert_allclose(im[0], im_hand, rtol=1e-12)


def test_1x1_by_hand_all_parasitics():
    # source -r_in- a; a -(R+ + r_out + r_amp)- ground and a -(R- + r_out + r_amp)- ground
    rp, rm, r_in, r_out, r_amp = 5e3, 15e3, 10.0, 20.0, 1e3
    bp, bm = rp + r_out + r_amp, rm + r_out + r_amp
    load = 1 / (1 / bp + 1 / bm)
    va = 0.8 * load / (r_in + load)
    ip, im = Crossbar([[1 / rp]], [[1 / rm]], r_in, r_out, r_amp).solve([0.8])
    assert ip[0, 0] == pytest.approx(va / bp, rel=1e-13)
    assert im[0, 0] == pytest.approx(va / bm, rel=1e-13)
    p = Crossbar([[1 / rp]], [[1 / rm]], r_in, r_out, r_amp).power([0.8])
    assert p[0] == pytest.approx(0.8 * 0.8 / (r_in + load), rel=1e-13)


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (6, 4)])
@pytest.mark.parametrize("r", [(9.24, 11.55, 1e-3), (50.0, 5.0, 1e3), (1.0, 200.0, 10.0)])
def test_matches_dense_reference(shape, r):
    rng = np.random.default_rng(sum(shape))
    gp, gm = random_g(rng, shape)
    v = rng.uniform(-0.8, 0.8, shape[0])
    xb = Crossbar(gp, gm, *r)
    ip, im = xb.solve(v)
    rip, rim, rpow = dense_reference(gp, gm, *r, v)
    np.testing.assert_allclose(ip[0], rip, rtol=1e-10)
    np.testing.assert_allclose(im[0], rim, rtol=1e-10)
    assert xb.power(v)[0] == pytest.approx(rpow, rel=1e-10)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (6, 4)])
@pytest.mark.parametrize("r", [(9.24, 11.55, 1e-3), (50.0, 5.0, 1e3), (1.0, 200.0, 10.0)])
def test_single_ended_matches_dense_reference_without_minus_devices(shape, r):
    # single-ended columns (g_minus = None) are the canonical crossbar whose I- devices are open circuits: the dense
    # reference with every G- = 0 (its I- lines then carry no current)
    rng = np.random.default_rng(sum(shape) + 1)
    gp, _ = random_g(rng, shape)
    v = rng.uniform(-0.8, 0.8, shape[0])
    xb = Crossbar(gp, None, *r)
    ip, im = xb.solve(v)
    with np.errstate(divide="ignore"):  # 1 / G- = inf ohm: conductance 0
        rip, rim, rpow = dense_reference(gp, np.zeros(shape), *r, v)
    np.testing.assert_allclose(ip[0], rip, rtol=1e-10)
    assert np.all(im == 0) and np.all(np.abs(rim) < 1e-25)
    assert xb.power(v)[0] == pytest.approx(rpow, rel=1e-10)
    tp, tm = xb.transfer_matrix()
    np.testing.assert_allclose(v @ tp.T, rip, rtol=1e-10)
    assert np.all(tm == 0)
    with pytest.raises(ConfigError, match="single-ended"):
        Crossbar(gp, None, diff_amp=(1e3, 3e4))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**31),
       st.sampled_from([0.0, 9.24]), st.sampled_from([0.0, 11.55]), st.sampled_from([0.0, 500.0]))
def test_transfer_matrix_equals_direct_solves(rows, cols, seed, r_in, r_out, r_amp):
    rng = np.random.default_rng(seed)
    gp, gm = random_g(rng, (rows, cols))
    v = rng.uniform(-0.8, 0.8, (5, rows))
    xb = Crossbar(gp, gm, r_in, r_out, r_amp)
    ip, im = xb.solve(v)
    tp, tm = xb.transfer_matrix()
    assert tp.shape == tm.shape == (cols, rows)
    np.testing.assert_allclose(v @ tp.T, ip, rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(v @ tm.T, im, rtol=1e-9, atol=1e-18)
    # power is a positive quadratic form: it matches sum v_i * (source current i) and is >= 0
    assert np.all(xb.power(v) >= 0)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**31))
def test_zero_wire_resistance_is_ideal_product(rows, cols, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-1, 2, (rows, cols))
    xb = Crossbar.from_weights(w)
    gp, gm = xb.g_plus, xb.g_minus
    v = rng.uniform(-0.8, 0.8, (3, rows))
    ip, im = xb.solve(v)
    np.testing.assert_allclose(ip, v @ gp, rtol=1e-13)
    np.testing.assert_allclose(im, v @ gm, rtol=1e-13)
    np.testing.assert_allclose(ip - im, v @ (w * (1 / 5e3 - 1 / 15e3)), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(xb.power(v), ((v**2) @ (gp + gm).sum(axis=1)), rtol=1e-12)


def test_parasitics_reduce_currents_and_grow_with_size():
    rng = np.random.default_rng(0)
    errs = []
    for n in (8, 32):
        w = np.ones((n, n))
        ideal = Crossbar.from_weights(w).solve(np.full(n, 0.8))[0]
        real = Crossbar.from_weights(w, r_in_ohm=9.24, r_out_ohm=11.55).solve(np.full(n, 0.8))[0]
        assert np.all(real < ideal)
        errs.append(np.max(1 - real / ideal))
    assert errs[1] > errs[0]


def test_bad_inputs():
    xb = Crossbar(np.ones((2, 2)) * 1e-4, np.ones((2, 2)) * 1e-4, 1.0, 1.0)
    with pytest.raises(ConfigError, match="do not match 2 input lines"):
        xb.solve(np.ones((1, 3)))
    with pytest.raises(ConfigError, match="r_in_ohm"):
        Crossbar(np.ones((2, 2)), np.ones((2, 2)), -1.0)
    with pytest.raises(ConfigError, match="positive"):
        Crossbar(np.zeros((2, 2)), np.ones((2, 2)))
