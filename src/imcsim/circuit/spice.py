"""SPICE netlists of crossbars and IMAC networks, and a batch-mode ngspice runner that reads the results back.

The netlist is the same circuit the solver in :mod:`imcsim.circuit.crossbar` analyses (see its docstring): one
resistor per device and per wire segment, an ideal voltage source per input line, and a 0 V source at each column
terminal (behind the amplifier input resistance, if any) so that SPICE reports the terminal current as the current of
that source. For a network, each neuron input is a behavioural source summing its partitions' amplifier outputs,
``transimpedance * (I+ - I-)`` (current-controlled), and each neuron output is a behavioural voltage source with the
same transfer curve as :func:`imcsim.circuit.neuron.neuron_transfer`; it drives the next layer's input lines.
Segments of zero resistance are written as shared nodes, not as resistors. With IMAC-Sim's read-out
(``Crossbar.diff_amp``) every column pair ends in a resistive difference amplifier: R2 and R4 from the I+ terminal
to ground, R1 from the I- terminal to the inverting input, R3 from there to the output, and an E source of gain
:data:`OPAMP_GAIN` as the op-amp; the partition outputs (rail-clipped behavioural copies of the op-amp outputs, as
the solver clips the unsaturated amplifier's output) are joined into the neuron input through the join resistors.

Results come back from an operating-point analysis per input vector (``op`` in a ``.control`` block, inputs changed
with ``alter``), each written with ``write`` as an ASCII raw file that :func:`read_raw` parses. ngspice is run with
``ngspice -b``; :func:`find_ngspice` raises :class:`NgspiceError` when it is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imcsim.circuit.crossbar import Crossbar
from imcsim.errors import ImcsimError

if TYPE_CHECKING:  # pragma: no cover
    from imcsim.circuit.network import IMACNetwork

__all__ = ["NgspiceError", "SpiceResult", "crossbar_netlist", "network_netlist", "find_ngspice", "run_ngspice",
           "read_raw", "simulate_crossbar", "simulate_network", "NgspiceComparison", "compare_crossbar"]


class NgspiceError(ImcsimError):
    """ngspice is missing or failed on a netlist."""


OPAMP_GAIN = 1e9
"""Open-loop gain of the E-source op-amp of the exported difference amplifier (ideal: the error is ~ 1 / gain)."""


def _fmt(x: float) -> str:
    return f"{x:.17g}"


def _crossbar_lines(xb: Crossbar, prefix: str, in_nodes: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Element lines of crossbar ``xb`` whose input line i starts at node ``in_nodes[i]``; returns (lines, names of
    the I+ terminal sources, names of the I- terminal sources)."""
    R, C = xb.rows, xb.cols
    lines: list[str] = [f"* crossbar {prefix}: {R} rows x {C} columns, r_in={xb.r_in_ohm:g} r_out={xb.r_out_ohm:g} "
                        f"r_amp={xb.r_amp_ohm:g} ohm"]
    if xb.r_in_ohm > 0:
        def a(i: int, j: int) -> str:
            return f"{prefix}a{i}_{j}"
        for i in range(R):
            lines.append(f"R{prefix}in{i}_0 {in_nodes[i]} {a(i, 0)} {_fmt(xb.r_in_ohm)}")
            for j in range(1, C):
                lines.append(f"R{prefix}in{i}_{j} {a(i, j - 1)} {a(i, j)} {_fmt(xb.r_in_ohm)}")
    else:
        def a(i: int, j: int) -> str:
            return in_nodes[i]
    srcs: dict[str, list[str]] = {"p": [], "m": []}
    for line, g in (("p", xb.g_plus),) + ((("m", xb.g_minus),) if not xb.single_ended else ()):
        for j in range(C):
            term = f"{prefix}t{line}{j}"

            def node(i: int) -> str:
                return f"{prefix}{line}{i}_{j}" if xb.r_out_ohm > 0 else term
            for i in range(R):
                lines.append(f"R{prefix}d{line}{i}_{j} {a(i, j)} {node(i)} {_fmt(1.0 / g[i, j])}")
            if xb.r_out_ohm > 0:
                for i in range(R - 1):
                    lines.append(f"R{prefix}{line}seg{i}_{j} {node(i)} {node(i + 1)} {_fmt(xb.r_out_ohm)}")
                lines.append(f"R{prefix}{line}seg{R - 1}_{j} {node(R - 1)} {term} {_fmt(xb.r_out_ohm)}")
            src = f"V{prefix}t{line}{j}"
            if xb.diff_amp is not None:
                r_d, r_f = xb.diff_amp
                lines.append(f"{src} {term} {term}s 0")
                if line == "p":
                    lines.append(f"R{prefix}r2_{j} {term}s {prefix}np{j} {_fmt(r_d)}")
                    lines.append(f"R{prefix}r4_{j} {prefix}np{j} 0 {_fmt(r_f)}")
                else:
                    lines.append(f"R{prefix}r1_{j} {term}s {prefix}nn{j} {_fmt(r_d)}")
                    lines.append(f"R{prefix}r3_{j} {prefix}nn{j} {prefix}o{j} {_fmt(r_f)}")
                    lines.append(f"E{prefix}op{j} {prefix}o{j} 0 {prefix}np{j} {prefix}nn{j} {_fmt(OPAMP_GAIN)}")
            elif xb.r_amp_ohm > 0:
                lines.append(f"R{prefix}amp{line}{j} {term} {term}g {_fmt(xb.r_amp_ohm)}")
                lines.append(f"{src} {term}g 0 0")
            else:
                lines.append(f"{src} {term} 0 0")
            srcs[line].append(src)
    return lines, srcs["p"], srcs["m"]


def _control(n_vectors: int, alters: list[list[str]], raw_stem: str) -> list[str]:
    out = [".control", "set filetype=ascii"]
    for k in range(n_vectors):
        out += alters[k]
        out += ["op", f"write {raw_stem}{k}.raw all"]
    out += ["quit", ".endc"]
    return out


def crossbar_netlist(xb: Crossbar, v: np.ndarray, raw_stem: str = "out") -> str:
    """A netlist of crossbar ``xb`` with one operating point per input vector (rows of ``v``, (batch, rows) in V),
    written to ``<raw_stem><k>.raw`` by ngspice. Terminal currents are the currents of sources ``vtp<j>`` and
    ``vtm<j>`` (no I- lines for single-ended columns)."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    in_nodes = [f"in{i}" for i in range(xb.rows)]
    body, _, _ = _crossbar_lines(xb, "", in_nodes)
    lines = ["* imcsim crossbar"] + body
    lines += [f"Vin{i} in{i} 0 dc {_fmt(v[0, i])}" for i in range(xb.rows)]
    alters = [[] if k == 0 else [f"alter Vin{i} dc = {_fmt(v[k, i])}" for i in range(xb.rows)]
              for k in range(len(v))]
    return "\n".join(lines + _control(len(v), alters, raw_stem) + [".end", ""])


def network_netlist(net: "IMACNetwork", x: np.ndarray, raw_stem: str = "out") -> str:
    """A netlist of a whole IMAC network (all layers, all partitions, amplifiers and neurons) with one operating
    point per input vector (rows of ``x``, (batch, n_in) in V). The last layer's neuron outputs are nodes
    ``out<j>``; its neuron inputs ``L<last>n<j>``."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    lines = ["* imcsim IMAC network", f"Vdd vdd 0 dc {_fmt(net.vdd_v)}"]
    n_layers = len(net.layers)
    for li, layer in enumerate(net.layers):
        ins = [f"L{li}in{i}" for i in range(layer.n_in)] + ["vdd"]
        terms: dict[int, list[tuple[str, str]]] = {j: [] for j in range(layer.n_out)}
        for (p, q), (rs, cs, xb) in layer.tiles.items():
            pre = f"L{li}x{p}_{q}"
            body, sp_, sm_ = _crossbar_lines(xb, pre, ins[rs])
            lines += body
            for jj, j in enumerate(range(cs.start, cs.stop)):
                # the amplifier output: the op-amp's node (difference amplifier) or the transimpedance expression
                terms[j].append(f"v({pre}o{jj})" if xb.diff_amp is not None else
                                f"{_fmt(layer.transimpedance_ohm)} * (i({sp_[jj]}) - i({sm_[jj]}))")
        cfg = layer.neuron
        for j in range(layer.n_out):
            # one amplifier per partition, its output bounded by the rails; the neuron input is their sum, or (IMAC-Sim)
            # the node their outputs are joined at through equal resistors, i.e. their average
            amps = []
            for p, expr in enumerate(terms[j]):
                if layer.rails is not None:
                    expr = f"max(min({expr}, {_fmt(layer.rails[1])}), {_fmt(layer.rails[0])})"
                lines.append(f"BL{li}amp{j}_{p} L{li}a{j}_{p} 0 v = {expr}")
                amps.append(f"L{li}a{j}_{p}")
            if layer.average:
                lines += [f"RL{li}join{j}_{p} {a} L{li}n{j} {_fmt(layer.join_resistance_ohm)}"
                          for p, a in enumerate(amps)]
            else:
                lines.append(f"BL{li}sum{j} L{li}n{j} 0 v = {' + '.join(f'v({a})' for a in amps)}")
            out = f"out{j}" if li == n_layers - 1 else f"L{li + 1}in{j}"
            lines.append(f"BL{li}neu{j} {out} 0 v = {_fmt(cfg.v_low)} + {_fmt(cfg.v_high - cfg.v_low)} / "
                         f"(1 + exp({_fmt(cfg.slope_per_v)} * v(L{li}n{j})))")
    n_in = net.layers[0].n_in
    lines += [f"VL0in{i} L0in{i} 0 dc {_fmt(x[0, i])}" for i in range(n_in)]
    alters = [[] if k == 0 else [f"alter VL0in{i} dc = {_fmt(x[k, i])}" for i in range(n_in)]
              for k in range(len(x))]
    return "\n".join(lines + _control(len(x), alters, raw_stem) + [".end", ""])


def find_ngspice() -> str:
    """Path of the ngspice binary; :class:`NgspiceError` when it is not on PATH."""
    exe = shutil.which("ngspice")
    if exe is None:
        raise NgspiceError("ngspice: not found on PATH (install it, e.g. 'apt-get install ngspice')")
    return exe


def read_raw(path: str | Path) -> dict[str, float]:
    """Parse one operating point from an ngspice ASCII raw file: vector name (lower case, e.g. ``i(vtp0)``) ->
    value."""
    text = Path(path).read_text().splitlines()
    try:
        nvar = int(next(ln for ln in text if ln.lower().startswith("no. variables")).split(":")[1])
        iv = next(k for k, ln in enumerate(text) if ln.lower().startswith("variables:"))
        ival = next(k for k, ln in enumerate(text) if ln.lower().startswith("values:"))
    except (StopIteration, ValueError, IndexError):
        raise NgspiceError(f"{path}: not an ngspice ASCII raw file") from None
    names = [text[iv + 1 + k].split()[1].lower() for k in range(nvar)]
    vals = " ".join(text[ival + 1:]).split()
    # first token is the point index, then nvar values
    values = [float(s) for s in vals[1:1 + nvar]]
    if len(values) != nvar:
        raise NgspiceError(f"{path}: expected {nvar} values, found {len(values)}")
    return dict(zip(names, values))


DEFAULT_TIMEOUT_S = 600.0  # wall-clock limit of one ngspice run (s); 128x128 with wires takes a few seconds here


def run_ngspice(netlist: str, n_points: int, raw_stem: str = "out", timeout_s: float | None = DEFAULT_TIMEOUT_S
                ) -> tuple[list[dict[str, float]], float]:
    """Run ``netlist`` (written with ``raw_stem``) in ``ngspice -b`` in a temporary directory; returns the parsed
    operating points and the wall time of the ngspice process (s).

    ngspice runs in its own process group, which is killed (SIGKILL) when it outlives ``timeout_s`` seconds (None:
    no limit; :class:`NgspiceError` then) or when this call ends any other way: an exception, Ctrl-C, or SIGTERM /
    SIGHUP (turned into ``SystemExit(128 + signal)`` while ngspice runs, when this is the main thread and the
    signal had its default action). The temporary directory is removed in every case.
    """
    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < float("inf")):
        raise ImcsimError(f"ngspice time limit: {timeout_s!r} must be a positive, finite number of seconds")
    exe = find_ngspice()
    with _signals_raise(), tempfile.TemporaryDirectory(prefix="imcsim-ngspice-") as tmp:
        cir = Path(tmp) / "circuit.cir"
        cir.write_text(netlist)
        t0 = time.perf_counter()
        proc = subprocess.Popen([exe, "-b", cir.name], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise NgspiceError(f"ngspice did not finish within the time limit of {timeout_s:g} s "
                               f"({n_points} operating points); raise the limit or simulate fewer inputs") from None
        finally:
            _kill_group(proc)
        elapsed = time.perf_counter() - t0
        points = []
        for k in range(n_points):
            raw = Path(tmp) / f"{raw_stem}{k}.raw"
            if not raw.is_file():
                tail = (stdout + stderr).strip().splitlines()[-3:]
                raise NgspiceError(f"ngspice failed (exit {proc.returncode}): {' | '.join(tail)}")
            points.append(read_raw(raw))
    return points, elapsed


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc``'s process group (ngspice and anything it started) unless it has exited, and reap ``proc``."""
    if proc.returncode is None:  # once reaped, its pid (and so its group id) may belong to someone else
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.communicate(timeout=10)  # reap it and close the pipes
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


@contextmanager
def _signals_raise():
    """While active (main thread only), SIGTERM and SIGHUP with their default action raise SystemExit(128 + signum)
    instead of killing the process outright, so that ``finally`` blocks kill ngspice and remove temp dirs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            saved[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class SpiceResult:
    """Outputs of an ngspice run. Currents in A, voltages in V, ``seconds`` the ngspice wall time."""

    i_plus: np.ndarray | None
    i_minus: np.ndarray | None
    outputs: np.ndarray | None
    seconds: float


def simulate_crossbar(xb: Crossbar, v: np.ndarray, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> SpiceResult:
    """Terminal currents of ``xb`` for inputs ``v`` (batch, rows) computed by ngspice: (batch, cols) each.
    ``timeout_s``: the ngspice time limit (see :func:`run_ngspice`)."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    points, secs = run_ngspice(crossbar_netlist(xb, v), len(v), timeout_s=timeout_s)
    ip = np.array([[pt[f"i(vtp{j})"] for j in range(xb.cols)] for pt in points])
    im = np.zeros_like(ip) if xb.single_ended else \
        np.array([[pt[f"i(vtm{j})"] for j in range(xb.cols)] for pt in points])
    return SpiceResult(ip, im, None, secs)


def simulate_network(net: "IMACNetwork", x: np.ndarray, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> SpiceResult:
    """Last-layer neuron outputs (batch, n_out) in V of IMAC network ``net`` for inputs ``x`` computed by ngspice.
    ``timeout_s``: the ngspice time limit (see :func:`run_ngspice`)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    points, secs = run_ngspice(network_netlist(net, x), len(x), timeout_s=timeout_s)
    n_out = net.layers[-1].n_out
    out = np.array([[pt[f"v(out{j})"] for j in range(n_out)] for pt in points])
    return SpiceResult(None, None, out, secs)


@dataclass(frozen=True)
class NgspiceComparison:
    """Solver against ngspice on one circuit: the largest relative difference of the terminal currents (relative to
    the largest current magnitude of that input vector), and the wall time of each (s)."""

    max_rel_diff: float
    solver_seconds: float
    ngspice_seconds: float
    n_vectors: int


def compare_crossbar(xb: Crossbar, v: np.ndarray, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> NgspiceComparison:
    """Solve ``xb`` for inputs ``v`` (batch, rows) with the sparse solver and with ngspice (time limit
    ``timeout_s``, see :func:`run_ngspice`); compare the currents."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    t0 = time.perf_counter()
    # a fresh copy, so the time includes assembly and factoring too
    fresh = Crossbar(xb.g_plus, None if xb.single_ended else xb.g_minus, xb.r_in_ohm, xb.r_out_ohm, xb.r_amp_ohm,
                     diff_amp=xb.diff_amp)
    tp, tm = fresh.transfer_matrix()
    ip, im = v @ tp.T, v @ tm.T
    t_solver = time.perf_counter() - t0
    ref = simulate_crossbar(xb, v, timeout_s=timeout_s)
    scale = np.maximum(np.abs(np.concatenate([ref.i_plus, ref.i_minus], axis=1)).max(axis=1, keepdims=True), 1e-300)
    diff = np.concatenate([np.abs(ip - ref.i_plus), np.abs(im - ref.i_minus)], axis=1) / scale
    return NgspiceComparison(float(diff.max()), t_solver, ref.seconds, len(v))
