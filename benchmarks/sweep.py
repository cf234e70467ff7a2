"""Sweep throughput: a 10,000-point grid of AlexNet on TPU-IMAC (systolic rows x cols x IMAC rows x ADC bits, ten
values each) run into a fresh store by one process, by local worker processes and by a local Ray, with the rate of
each beside the 200 points/s target; then the Pareto front over latency and energy.

Two rates per backend: "wall" counts everything from the call to the last stored point (loading the network,
starting the workers, writing the store); "steady" counts from the first stored batch to the last (points per
second once the workers are running). The machine may be shared: read the single-process rate as the floor.

Run: .venv/bin/python benchmarks/sweep.py [--workers N] [--no-ray]   (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from imcsim.explore import open_store, parse_spec, run_sweep
from imcsim.explore.pareto import front_mask

TARGET = 200.0  # points/s on 2 cores (issue 12)

SPEC = {
    "name": "alexnet-tpu-imac-10k",
    "workload": {"model": "alexnet"},
    "system": "tpu-imac",
    "axes": {
        "systolic.rows": [8, 16, 24, 32, 48, 64, 96, 128, 192, 256],
        "systolic.cols": [8, 16, 24, 32, 48, 64, 96, 128, 192, 256],
        "imac.rows": [16, 24, 32, 48, 64, 96, 128, 192, 256, 512],
        "imac.adc.bits": [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    },
    "search": "grid",
    "objectives": ["latency_s", "energy_j", "area_m2"],
}


def timed_run(label: str, store: Path, **kw) -> list:
    spec = parse_spec(SPEC, source="benchmarks/sweep.py")
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    summary = run_sweep(spec, store, progress=lambda done, total: marks.append((time.perf_counter(), done)), **kw)
    wall = time.perf_counter() - t0
    first = next((m for m in marks if m[1] > 0), None)
    steady = ((marks[-1][1] - first[1]) / (marks[-1][0] - first[0])
              if first is not None and marks[-1][0] > first[0] else float("nan"))
    print(f"  {label:<28s} {summary.evaluated:6d} points  wall {wall:6.2f} s = {summary.evaluated / wall:7.0f} "
          f"points/s (x{summary.evaluated / wall / TARGET:5.2f} of target)  steady {steady:7.0f} points/s "
          f"(x{steady / TARGET:5.2f})")
    with open_store(store) as st:
        return st.points()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="local worker processes")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = ap.parse_args()
    print(f"10,000-point grid, AlexNet on tpu-imac; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; target {TARGET:.0f} points/s")
    with tempfile.TemporaryDirectory() as d:
        points = timed_run("one process (workers=1)", Path(d) / "one.db", workers=1)
        timed_run(f"local processes (workers={args.workers})", Path(d) / "local.db", workers=args.workers)
        if not args.no_ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                print("  ray: not installed (pip install 'imcsim[ray]'); skipped")
            else:
                timed_run(f"Ray, local ({args.workers} CPUs)", Path(d) / "ray.db", workers=args.workers, ray="local")
    for names in (["latency_s", "energy_j"], ["latency_s", "energy_j", "area_m2"]):
        mask = front_mask(points, names)
        front = sorted((p for p, m in zip(points, mask) if m),
                       key=lambda p: tuple(p.objectives[n] for n in names))
        print(f"\nPareto front over {', '.join(names)}: {len(front)} of {len(points)} points"
              + (" (the 25 fastest shown)" if len(front) > 25 else ""))
        print(f"  {'systolic':>9s} {'imac.rows':>9s} {'adc bits':>8s} {'latency (us)':>13s} {'energy (uJ)':>12s} "
              f"{'area (mm^2)':>12s} {'IMAC area (mm^2)':>17s}")
        for p in front[:25]:
            c = p.params
            print(f"  {c['systolic.rows']:>4d}x{c['systolic.cols']:<4d} {c['imac.rows']:>9d} "
                  f"{c['imac.adc.bits']:>8d} {p.objectives['latency_s'] * 1e6:13.2f} "
                  f"{p.objectives['energy_j'] * 1e6:12.2f} {p.objectives['area_m2'] * 1e6:12.3f} "
                  f"{p.objectives['imac_area_m2'] * 1e6:17.4f}")


if __name__ == "__main__":
    main()
