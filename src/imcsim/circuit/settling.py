"""Settling of a crossbar after its inputs step: the Elmore delay of the wire and device RC network, and a transient
SPICE netlist to check it against.

The circuit is :class:`imcsim.circuit.crossbar.Crossbar`'s (input-line and I+ / I- segment resistances, the devices,
the amplifier input resistance) with a capacitance to ground at every wire node: ``c_in_f`` per input-line segment
and ``c_out_f`` per column-line segment (:attr:`imcsim.config.wires.WireConfig.c_segment_f`). At t = 0 every input
source steps from 0 to its value. With C the diagonal of node capacitances, G the nodal conductance matrix and
x_inf = G^-1 B v the final node voltages, the node voltages obey C dx/dt + G x = B v, so the error e = x_inf - x
decays as C de/dt = -G e from e(0) = x_inf and

    integral_0^inf (x_inf - x(t)) dt = G^-1 C x_inf.

A terminal current i = O x + O_s v therefore has the area between its final value and its step response
O G^-1 C x_inf, and its Elmore delay (the first moment of its impulse response; for an RC tree, the classic sum of
upstream resistance times capacitance) is

    tau_k = (O G^-1 C x_inf)_k / i_inf_k.

For a single-pole response tau is the time constant; a response settles to within 2^-(n+1) of its final value after
(n + 1) ln 2 time constants, the rule :class:`imcsim.config.imac.IMACConfig` applies for its ADC's half LSB.
"""

from __future__ import annotations

import numpy as np

from imcsim.circuit.crossbar import Crossbar
from imcsim.errors import ConfigError

__all__ = ["node_capacitances", "elmore_delays_s", "transient_netlist", "read_transient_raw", "step_response_delay_s"]


def node_capacitances(xb: Crossbar, c_in_f: float, c_out_f: float) -> np.ndarray:
    """Capacitance to ground (F) of every unknown node of ``xb``, shape (n_unknown,): ``c_in_f`` at each input-line
    node, ``c_out_f`` at each column-line node (a merged node, such as a column terminal behind the amplifier input
    resistance with ideal column wires, gathers the capacitances of the segments it merges)."""
    if not (c_in_f >= 0 and c_out_f >= 0):
        raise ConfigError(f"settling: capacitances must be >= 0 F, got c_in_f = {c_in_f!r}, c_out_f = {c_out_f!r}")
    c = np.zeros(xb.n_unknown)
    for nodes, cap in ((xb.node_input, c_in_f), (xb.node_plus, c_out_f), (xb.node_minus, c_out_f)):
        lab = np.asarray(nodes).ravel()
        known = lab >= 0
        np.add.at(c, lab[known], cap)
    return c


def elmore_delays_s(xb: Crossbar, c_in_f: float, c_out_f: float, v: np.ndarray | None = None) -> np.ndarray:
    """Elmore delay (s) of each terminal current of ``xb`` after the inputs step to ``v`` (rows,) in V (default: every
    input at 1 V), shape (2 cols,): the I+ terminals, then the I- terminals. See the module docstring."""
    v = np.ones(xb.rows) if v is None else np.asarray(v, dtype=float).reshape(-1)
    if v.shape != (xb.rows,):
        raise ConfigError(f"settling: inputs of shape {v.shape} do not match {xb.rows} input lines")
    if xb.n_unknown == 0:
        return np.zeros(2 * xb.cols)
    x_inf = xb._solve(xb._B @ v)
    area = xb._O @ xb._solve(node_capacitances(xb, c_in_f, c_out_f) * x_inf)
    i_inf = xb._O @ x_inf + xb._Os @ v
    return area / i_inf


def transient_netlist(xb: Crossbar, v: np.ndarray, c_in_f: float, c_out_f: float, t_stop_s: float,
                      t_step_s: float, t_rise_s: float) -> str:
    """A netlist of ``xb`` with the node capacitances of :func:`node_capacitances`, its inputs ramping from 0 to ``v``
    (rows,) in ``t_rise_s`` from t = 0, and a transient analysis to ``t_stop_s`` (steps of at most ``t_step_s``)
    written as ``tran.raw`` (ASCII). Terminal currents are those of sources ``vtp<j>`` and ``vtm<j>``."""
    from imcsim.circuit.spice import _crossbar_lines, _fmt

    v = np.asarray(v, dtype=float).reshape(-1)
    in_nodes = [f"in{i}" for i in range(xb.rows)]
    body, _, _ = _crossbar_lines(xb, "", in_nodes)
    lines = ["* imcsim crossbar step response"] + body
    lines += [f"Vin{i} in{i} 0 pwl(0 0 {_fmt(t_rise_s)} {_fmt(v[i])})" for i in range(xb.rows)]
    caps = []
    for i in range(xb.rows):
        for j in range(xb.cols):
            if xb.r_in_ohm > 0 and c_in_f > 0:
                caps.append(f"Cin{i}_{j} a{i}_{j} 0 {_fmt(c_in_f)}")
            if xb.r_out_ohm > 0 and c_out_f > 0:
                caps.append(f"Cp{i}_{j} p{i}_{j} 0 {_fmt(c_out_f)}")
                caps.append(f"Cm{i}_{j} m{i}_{j} 0 {_fmt(c_out_f)}")
    control = [".control", "set filetype=ascii", f"tran {_fmt(t_step_s)} {_fmt(t_stop_s)} 0 {_fmt(t_step_s)}",
               "write tran.raw all", "quit", ".endc"]
    return "\n".join(lines + caps + control + [".end", ""])


def read_transient_raw(text: str) -> dict[str, np.ndarray]:
    """Vectors of an ngspice ASCII raw file of a transient analysis: name (lower case) -> values over time."""
    lines = text.splitlines()
    nvar = int(next(ln for ln in lines if ln.lower().startswith("no. variables")).split(":")[1])
    iv = next(k for k, ln in enumerate(lines) if ln.lower().startswith("variables:"))
    ival = next(k for k, ln in enumerate(lines) if ln.lower().startswith("values:"))
    names = [lines[iv + 1 + k].split()[1].lower() for k in range(nvar)]
    tokens = " ".join(lines[ival + 1:]).split()
    data = np.array([float(t) for t in tokens]).reshape(-1, nvar + 1)[:, 1:]   # drop the point index
    return {n: data[:, k] for k, n in enumerate(names)}


def step_response_delay_s(t: np.ndarray, y: np.ndarray, t_rise_s: float) -> float:
    """The first moment of a step response sampled at times ``t``: integral of (1 - y / y_final) dt by the
    trapezoidal rule, less half the input ramp ``t_rise_s`` (a ramp of length T delays a linear response by T / 2)."""
    y_final = y[-1]
    return float(np.trapezoid(1.0 - y / y_final, t)) - 0.5 * t_rise_s
