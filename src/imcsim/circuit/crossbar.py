"""DC nodal analysis of a resistive crossbar of differential pairs with wire parasitics.

The canonical crossbar (issue 5): ``rows`` input lines by ``cols`` differential column pairs.

* Input line i is driven at its left end by an ideal source v[i]; every cell along it adds one segment ``r_in`` before
  its device, so the device of cell (i, j) hangs from the node ``j + 1`` segments from the source.
* Column j is a pair of lines, I+ and I-. Each runs from row 0 down to its amplifier terminal at the bottom, held at
  virtual ground (0 V); each cell adds one segment ``r_out`` towards the next cell down, and the bottom cell is one
  segment from the terminal. An optional amplifier input resistance ``r_amp`` sits between the terminal and ground.
* Cell (i, j) connects its input-line node to its I+ node through ``g_plus[i, j]`` and to its I- node through
  ``g_minus[i, j]``.

With ``diff_amp=(r_d, r_f)`` the columns end in IMAC-Sim's resistive difference amplifier instead
(:mod:`imcsim.config.amplifier`, ideal op-amp, R1 = R2 = r_d, R3 = R4 = r_f): the I+ terminal sees r_d + r_f to
ground, and the I- terminal sees r_d to the op-amp input node, which sits at r_f * i_plus (the non-inverting divider).
The I- terminal current is then (v_m - r_f * i_plus) / r_d: a controlled source, so G is no longer symmetric and is
factored without the symmetric options. The amplifier output is ``r_f * (i_plus - i_minus)``.

Outputs are the currents flowing into the terminals, ``i_plus`` and ``i_minus`` (A). Devices and wires are linear, so
``i_plus = v @ T_plus.T`` for a transfer matrix T_plus (cols, rows) that depends on conductances and wires only. We
assemble the nodal conductance matrix G (unknown node voltages) with scipy.sparse, factor it once with SuperLU, and

* ``solve(v)``: x = G^-1 (B v) for a batch of inputs (B couples the sources to the unknown nodes);
* ``transfer_matrix()``: by the adjoint system, one solve per output line, Y = G^-T O^T, T = (B^T Y)^T + O_s, where
  O reads the terminal currents off the node voltages (O_s: direct source-to-terminal paths, present only with ideal
  wires); or, when there are fewer input lines than output lines or the power is wanted too, by one solve per input
  line, X = G^-1 B, T = O X + O_s (the same matrix);
* ``power(v)``: the power the sources deliver (W), v^T Y_in v with the input admittance Y_in = D - B^T G^-1 B.

Single-ended columns (``g_minus=None``: one device per cell, as in an IMC core's offset-encoded arrays) have no I-
lines at all; ``T_minus`` is then zero.

Zero wire or amplifier resistance is handled exactly by merging the nodes it shorts (an ideal input line is at its
source voltage, an ideal column line with an ideal terminal at 0 V), so r_in = r_out = 0 gives the ideal product
i_plus = v @ g_plus.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from imcsim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from imcsim.config.device import DeviceConfig

__all__ = ["Crossbar", "Resistor", "GROUND"]

GROUND = -1
"""Node label of ground (0 V) in :attr:`Crossbar.resistors`; sources are labelled ``-2 - i`` for input i."""


@dataclass(frozen=True)
class Resistor:
    """A batch of resistors between node labels ``a`` and ``b`` (arrays of the same shape) of conductance ``g`` (S).

    Labels >= 0 are unknown nodes, :data:`GROUND` is ground, ``-2 - i`` is input source i. ``kind`` names the group
    ("in" wire, "out" wire, "dev+", "dev-", "term+", "term-"), for inspection.
    """

    kind: str
    a: np.ndarray
    b: np.ndarray
    g: np.ndarray


class Crossbar:
    """One crossbar; see the module docstring for the circuit.

    Args:
        g_plus, g_minus: device conductances (S), shape (rows, cols); ``g_minus=None``: single-ended columns (one
            device per cell, no I- lines).
        r_in_ohm: input-line segment resistance per cell (ohm), >= 0.
        r_out_ohm: I+ / I- line segment resistance per cell (ohm), >= 0.
        r_amp_ohm: resistance from each column terminal to ground (ohm), >= 0; 0 is an ideal virtual ground.
        diff_amp: (R1 = R2, R3 = R4) in ohm of IMAC-Sim's difference amplifier ending every column pair, or None
            (the terminals are as ``r_amp_ohm`` says); with it ``r_amp_ohm`` must be 0.
    """

    def __init__(self, g_plus: np.ndarray, g_minus: np.ndarray | None, r_in_ohm: float = 0.0, r_out_ohm: float = 0.0,
                 r_amp_ohm: float = 0.0, diff_amp: tuple[float, float] | None = None) -> None:
        gp = np.asarray(g_plus, dtype=float)
        self.single_ended = g_minus is None
        if self.single_ended and diff_amp is not None:
            raise ConfigError("crossbar: single-ended columns (g_minus = None) have no difference amplifier")
        gm = np.full_like(gp, 1.0) if self.single_ended else np.asarray(g_minus, dtype=float)  # (checked, then 0)
        if gp.ndim != 2 or gp.shape != gm.shape or gp.size == 0:
            raise ConfigError(f"crossbar: g_plus {gp.shape} and g_minus {gm.shape} must be equal non-empty 2-D shapes")
        if not (np.all(gp > 0) and np.all(gm > 0) and np.all(np.isfinite(gp)) and np.all(np.isfinite(gm))):
            raise ConfigError("crossbar: device conductances must be positive and finite")
        for name, r in (("r_in_ohm", r_in_ohm), ("r_out_ohm", r_out_ohm), ("r_amp_ohm", r_amp_ohm)):
            if not (np.isfinite(r) and r >= 0):
                raise ConfigError(f"crossbar: {name} = {r!r} must be a finite resistance >= 0")
        if diff_amp is not None:
            diff_amp = (float(diff_amp[0]), float(diff_amp[1]))
            if not all(np.isfinite(r) and r > 0 for r in diff_amp):
                raise ConfigError(f"crossbar: diff_amp = {diff_amp!r} must be two finite resistances > 0")
            if r_amp_ohm != 0:
                raise ConfigError(f"crossbar: r_amp_ohm = {r_amp_ohm!r} must be 0 with a difference amplifier")
        self.diff_amp = diff_amp
        self.g_plus, self.g_minus = gp, (np.zeros_like(gp) if self.single_ended else gm)
        self.rows, self.cols = gp.shape
        self.r_in_ohm, self.r_out_ohm, self.r_amp_ohm = float(r_in_ohm), float(r_out_ohm), float(r_amp_ohm)
        self._build()

    @classmethod
    def from_weights(cls, w: np.ndarray, device: "DeviceConfig | None" = None, r_in_ohm: float = 0.0,
                     r_out_ohm: float = 0.0, r_amp_ohm: float = 0.0) -> "Crossbar":
        """A crossbar of nominal devices for ternary weights ``w`` (rows, cols): +1 = (R_low, R_high) etc."""
        from imcsim.circuit.devices import weights_to_conductances

        gp, gm = weights_to_conductances(np.atleast_2d(w), device)
        return cls(gp, gm, r_in_ohm, r_out_ohm, r_amp_ohm)

    # ------------------------------------------------------------------ assembly
    def _build(self) -> None:
        R, C = self.rows, self.cols
        n = 0
        i_idx = np.broadcast_to(np.arange(R)[:, None], (R, C))
        # input-line nodes
        if self.r_in_ohm > 0:
            a = n + np.arange(R * C).reshape(R, C)
            n += R * C
        else:
            a = (-2 - i_idx).astype(np.int64)
        # column-line nodes, I+ then I-
        cols_nodes = []
        for half in range(2):
            if half == 1 and self.single_ended:  # no I- lines: their devices (g = 0) end on ground and carry nothing
                p = np.full((R, C), GROUND, dtype=np.int64)
            elif self.r_out_ohm > 0:
                p = n + np.arange(R * C).reshape(R, C)
                n += R * C
            elif self.r_amp_ohm > 0 or self.diff_amp is not None:
                p = np.broadcast_to(n + np.arange(C), (R, C)).copy()
                n += C
            else:
                p = np.full((R, C), GROUND, dtype=np.int64)
            cols_nodes.append(p)
        p_node, m_node = cols_nodes
        self.n_unknown = n
        self.node_input, self.node_plus, self.node_minus = a, p_node, m_node

        res: list[Resistor] = []
        if self.r_in_ohm > 0:
            g = 1.0 / self.r_in_ohm
            res.append(Resistor("in", (-2 - np.arange(R)), a[:, 0], np.full(R, g)))
            res.append(Resistor("in", a[:, :-1].ravel(), a[:, 1:].ravel(), np.full(R * (C - 1), g)))
        res.append(Resistor("dev+", a.ravel(), p_node.ravel(), self.g_plus.ravel()))
        res.append(Resistor("dev-", a.ravel(), m_node.ravel(), self.g_minus.ravel()))
        # terminal path of each column line and the matrix O reading terminal currents off node voltages
        # r_term: the resistance from the bottom node of each line to the amplifier's input node (its last wire
        # segment merged with the amplifier's input resistors)
        if self.diff_amp is None:
            r_term = {"+": self.r_out_ohm + self.r_amp_ohm, "-": self.r_out_ohm + self.r_amp_ohm}
        else:
            r_d, r_f = self.diff_amp
            r_term = {"+": self.r_out_ohm + r_d + r_f, "-": self.r_out_ohm + r_d}
        for kind, node in (("+", p_node), ("-", m_node)):
            if self.r_out_ohm > 0:
                g = 1.0 / self.r_out_ohm
                res.append(Resistor("out", node[:-1].ravel(), node[1:].ravel(), np.full((R - 1) * C, g)))
            if r_term[kind] > 0:
                res.append(Resistor("term" + kind, node[-1], np.full(C, GROUND), np.full(C, 1.0 / r_term[kind])))
        self.resistors = res
        # the difference amplifier's controlled source: the I- terminal current is g_m (v_mb - r_f i_plus) with
        # i_plus = g_p v_pb, i.e. an extra -g_m r_f g_p v_pb (row: I- bottom node, column: I+ bottom node)
        self._coupling = (0.0 if self.diff_amp is None
                          else -self.diff_amp[1] / (r_term["+"] * r_term["-"]))

        # assemble G (unknowns), B (unknown x source couplings), D (source self-conductance)
        rows_g, cols_g, vals_g = [], [], []
        rows_b, cols_b, vals_b = [], [], []
        d = np.zeros(R)
        for r in res:
            a_, b_, g_ = (np.asarray(x).ravel() for x in np.broadcast_arrays(r.a, r.b, r.g))
            for u, w in ((a_, b_), (b_, a_)):
                ku = u >= 0
                rows_g.append(u[ku]); cols_g.append(u[ku]); vals_g.append(g_[ku])
                kw = ku & (w >= 0)
                rows_g.append(u[kw]); cols_g.append(w[kw]); vals_g.append(-g_[kw])
                ks = ku & (w <= -2)
                rows_b.append(u[ks]); cols_b.append(-2 - w[ks]); vals_b.append(g_[ks])
                kd = (u <= -2)
                np.add.at(d, -2 - u[kd], g_[kd])
        cat = np.concatenate
        if self._coupling:
            rows_g.append(m_node[-1]); cols_g.append(p_node[-1]); vals_g.append(np.full(C, self._coupling))
        self._G = sp.csc_matrix((cat(vals_g), (cat(rows_g), cat(cols_g))), shape=(n, n)) if n else None
        self._B = sp.csr_matrix((cat(vals_b), (cat(rows_b), cat(cols_b))), shape=(n, R))
        self._D = d

        # output currents: i = O_u x + O_s v, rows 0..C-1 are I+, C..2C-1 are I-
        o_rows, o_cols, o_vals = [], [], []
        s_rows, s_cols, s_vals = [], [], []
        for half, node, gdev in ((0, p_node, self.g_plus), (1, m_node, self.g_minus)):
            if half == 1 and self.single_ended:  # I- reads 0
                continue
            out = half * C + np.arange(C)
            if r_term["+-"[half]] > 0:
                bottom = node[-1]
                o_rows.append(out); o_cols.append(bottom); o_vals.append(np.full(C, 1.0 / r_term["+-"[half]]))
                if half == 1 and self._coupling:
                    o_rows.append(out); o_cols.append(p_node[-1]); o_vals.append(np.full(C, self._coupling))
            else:
                # column line at 0 V: the terminal collects every device current of the column, g (v_node - 0)
                src = a
                oo = np.broadcast_to(out, (R, C))
                ku = src >= 0
                o_rows.append(oo[ku]); o_cols.append(src[ku]); o_vals.append(gdev[ku])
                ks = ~ku
                s_rows.append(oo[ks]); s_cols.append(-2 - src[ks]); s_vals.append(gdev[ks])
        self._O = sp.csr_matrix((cat(o_vals), (cat(o_rows), cat(o_cols))), shape=(2 * C, n))
        os_ = np.zeros((2 * C, R))
        if s_rows:
            np.add.at(os_, (cat(s_rows), cat(s_cols)), cat(s_vals))
        self._Os = os_

    @cached_property
    def _lu(self):
        # G is symmetric positive definite: a minimum-degree ordering of G + G^T with symmetric pivoting keeps the
        # fill-in (and so the cost of every later solve) well below SuperLU's default COLAMD on this graph.
        if not self.n_unknown:
            return None
        if self._coupling:  # the controlled source makes G unsymmetric
            return splu(self._G.tocsc())
        return splu(self._G.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.n_unknown == 0:
            return np.zeros((0,) + rhs.shape[1:])
        # G is symmetric, so G^-1 = G^-T; SuperLU's transposed solve is 2-3x faster here than its plain one.
        return self._lu.solve(np.ascontiguousarray(rhs), trans="N" if self._coupling else "T")

    # ------------------------------------------------------------------ public
    def _check_v(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.rows:
            raise ConfigError(f"crossbar: inputs of shape {v.shape} do not match {self.rows} input lines")
        return v

    def node_voltages(self, v: np.ndarray) -> np.ndarray:
        """Voltages (V) of the unknown nodes, shape (batch, n_unknown), for inputs ``v`` (batch, rows)."""
        v = self._check_v(v)
        return self._solve(self._B @ v.T).T

    def solve(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Terminal currents (A) ``(i_plus, i_minus)``, each (batch, cols), by a direct solve for inputs ``v``
        (batch, rows) in V."""
        v = self._check_v(v)
        x = self._solve(self._B @ v.T)
        i = (self._O @ x).T + v @ self._Os.T
        return i[:, : self.cols], i[:, self.cols:]

    _CHUNK = 64  # right-hand sides per solve: bounds the dense (n_unknown, chunk) block held at once

    def _adjoint_transfer(self) -> np.ndarray:
        """T (2C, rows) from the adjoint system: one solve of G^T y_k = o_k per output line k."""
        t = self._Os.copy()
        ot = self._O.T.tocsc()
        for s in range(0, 2 * self.cols, self._CHUNK):
            y = self._lu.solve(np.ascontiguousarray(ot[:, s:s + self._CHUNK].toarray()), trans="T")
            t[s:s + self._CHUNK] += (self._B.T @ y).T
        return t

    def _direct_transfer(self) -> tuple[np.ndarray, np.ndarray]:
        """(T (2C, rows), Y_in (rows, rows)) from X = G^-1 B, one solve per input line (B's columns)."""
        t = self._Os.copy()
        y_in = np.diag(self._D)
        bc = self._B.tocsc()
        for s in range(0, self.rows, self._CHUNK):
            x = self._solve(bc[:, s:s + self._CHUNK].toarray())
            t[:, s:s + self._CHUNK] += self._O @ x
            y_in[:, s:s + self._CHUNK] -= self._B.T @ x
        return t, y_in

    @cached_property
    def _both(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n_unknown == 0:
            return self._Os.copy(), np.diag(self._D)
        return self._direct_transfer()

    @cached_property
    def _transfer(self) -> np.ndarray:
        if "_both" in self.__dict__ or self.n_unknown == 0 or self.rows <= 2 * self.cols:
            return self._both[0]
        return self._adjoint_transfer()

    def transfer_matrix(self, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """``(T_plus, T_minus)``, each (cols, rows) in S, with ``i_plus = v @ T_plus.T`` for any inputs v.

        ``method``: "adjoint" solves G^T y = o once per output line (2 cols right-hand sides), "direct" solves
        G x = b once per input line (rows right-hand sides, and gives the input admittance for :meth:`power` on the
        way); "auto" takes the one with fewer solves, or whichever is already computed.
        """
        if method == "auto":
            t = self._transfer
        elif method == "adjoint":
            t = self._Os.copy() if self.n_unknown == 0 else self._adjoint_transfer()
        elif method == "direct":
            t = self._both[0]
        else:
            raise ConfigError(f"transfer_matrix: method {method!r} is not one of auto, adjoint, direct")
        return t[: self.cols].copy(), t[self.cols:].copy()

    @property
    def input_admittance(self) -> np.ndarray:
        """Y_in (rows, rows) in S: the source currents are ``v @ Y_in.T``; power is ``sum(v * (v @ Y_in.T))``."""
        return self._both[1]

    def outputs(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i_plus, i_minus, power)`` for inputs ``v`` (batch, rows) in V: currents (batch, cols) in A and the
        power delivered by the sources (batch,) in W, by the cheaper route.

        The transfer matrix and input admittance cost one solve per input line (``rows``) and then any number of
        vectors costs two matrix products; a direct solve costs one solve per vector and gives the currents and the
        source currents from the same node voltages. So a batch smaller than ``rows`` is solved vector by vector
        (a 512x512 crossbar with 2 vectors: 2 solves, not 512), unless the matrices are already computed.
        """
        v = self._check_v(v)
        if "_both" in self.__dict__ or self.n_unknown == 0 or len(v) >= self.rows:
            tp, tm = self.transfer_matrix()
            return v @ tp.T, v @ tm.T, self.power(v)
        ip, im, pw = [], [], []
        for s in range(0, len(v), self._CHUNK):
            vb = v[s:s + self._CHUNK]
            x = self._solve(self._B @ vb.T)  # node voltages (n_unknown, batch)
            i = (self._O @ x).T + vb @ self._Os.T
            i_src = vb * self._D - (self._B.T @ x).T  # the source currents: v @ Y_in.T with Y_in = diag(D) - B^T G^-1 B
            ip.append(i[:, : self.cols])
            im.append(i[:, self.cols:])
            pw.append(np.einsum("bi,bi->b", vb, i_src))
        return np.concatenate(ip), np.concatenate(im), np.concatenate(pw)

    def power(self, v: np.ndarray) -> np.ndarray:
        """Power (W) delivered by the input sources to the crossbar (devices and wires), shape (batch,)."""
        v = self._check_v(v)
        return np.einsum("bi,bi->b", v, v @ self.input_admittance.T)
