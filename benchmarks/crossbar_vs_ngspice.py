"""Sparse crossbar solver against ngspice on the same netlists (issue 5 targets).

1. Accuracy: random ternary crossbars from 8x8 to 128x128 with IMAC-Sim's 9 nm wire parasitics (9.24 / 11.55 ohm per
   cell), one random input vector each: the largest relative difference of the terminal currents (relative to the
   largest current of the vector) between our solver and ngspice's operating point. Target: < 1e-6.
2. Speed: 1,000 input vectors on 64x64 with parasitics. Ours: assemble + factor + transfer matrix + one matrix
   product, measured end to end (and, for reference, 1,000 direct batched solves). ngspice: one `.op` per vector,
   each a fresh `ngspice -b` process on the full netlist; we time a few and extrapolate to 1,000 (a 1,000-vector run
   would take hours). Target: >= 1,000x.

Usage: .venv/bin/python benchmarks/crossbar_vs_ngspice.py [--quick]   (--quick stops at 64x64 and times 2 vectors)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.spice import simulate_crossbar
from imcsim.config.wires import WireConfig


def main(quick: bool = False) -> None:
    wires = WireConfig()
    rng = np.random.default_rng(2024)
    print(f"wires: r_in = {wires.r_in_ohm:.3f} ohm, r_out = {wires.r_out_ohm:.3f} ohm per cell (9 nm, IMAC-Sim)")
    print("\n1. solver vs ngspice, one operating point per size")
    print(f"{'size':>9} {'max rel diff':>13} {'solver s':>9} {'ngspice s':>10}")
    sizes = (8, 16, 32, 64) if quick else (8, 16, 32, 64, 128)
    worst = 0.0
    for n in sizes:
        w = rng.integers(-1, 2, (n, n))
        v = rng.uniform(-0.8, 0.8, (1, n))
        t0 = time.perf_counter()
        xb = Crossbar.from_weights(w, r_in_ohm=wires.r_in_ohm, r_out_ohm=wires.r_out_ohm)
        ip, im = xb.solve(v)
        t_solver = time.perf_counter() - t0
        ref = simulate_crossbar(xb, v, timeout_s=None)  # full-size: ngspice may take an hour
        scale = max(np.abs(ref.i_plus).max(), np.abs(ref.i_minus).max())
        diff = max(np.abs(ip - ref.i_plus).max(), np.abs(im - ref.i_minus).max()) / scale
        worst = max(worst, diff)
        print(f"{n:>4}x{n:<4} {diff:13.2e} {t_solver:9.4f} {ref.seconds:10.2f}", flush=True)
    print(f"largest relative difference over all sizes: {worst:.2e} (target < 1e-6: "
          f"{'met' if worst < 1e-6 else 'MISSED'})")

    print("\n2. 1,000 input vectors on 64x64 with parasitics")
    n, batch = 64, 1000
    w = rng.integers(-1, 2, (n, n))
    v = rng.uniform(-0.8, 0.8, (batch, n))
    t0 = time.perf_counter()
    xb = Crossbar.from_weights(w, r_in_ohm=wires.r_in_ohm, r_out_ohm=wires.r_out_ohm)
    xb._lu  # factor
    t_factor = time.perf_counter() - t0
    tp, tm = xb.transfer_matrix()
    t_transfer = time.perf_counter() - t0 - t_factor
    ip, im = v @ tp.T, v @ tm.T
    t_ours = time.perf_counter() - t0
    t1 = time.perf_counter()
    ip_d, im_d = xb.solve(v)
    t_direct = time.perf_counter() - t1
    agree = max(np.abs(ip - ip_d).max(), np.abs(im - im_d).max()) / np.abs(ip_d).max()
    print(f"ours: assemble+factor {t_factor:.3f} s, transfer matrix {t_transfer:.3f} s, total for {batch} vectors "
          f"{t_ours:.3f} s (batched direct solves instead: {t_direct:.3f} s; they agree to {agree:.1e})")
    k = 2 if quick else 3
    times, diffs = [], []
    for i in range(k):
        ref = simulate_crossbar(xb, v[i:i + 1], timeout_s=None)
        times.append(ref.seconds)
        diffs.append(max(np.abs(ip[i] - ref.i_plus[0]).max(), np.abs(im[i] - ref.i_minus[0]).max())
                     / np.abs(ref.i_plus).max())
        print(f"ngspice vector {i}: {ref.seconds:.2f} s (max rel diff {diffs[-1]:.1e})", flush=True)
    per = float(np.mean(times))
    est = per * batch
    print(f"ngspice: {per:.2f} s per .op (mean of {k} measured) -> {est:.0f} s for {batch} vectors (extrapolated)")
    best = min(times) * batch
    print(f"speed-up, ours vs ngspice for {batch} vectors: {est / t_ours:,.0f}x with the mean .op time, "
          f"{best / t_ours:,.0f}x with the fastest one (target >= 1,000x: "
          f"{'met' if best / t_ours >= 1000 else 'MISSED'})")
    print("(ngspice times vary with the load on this shared machine; both sides were measured in this run)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
