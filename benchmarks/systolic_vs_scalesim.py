"""imcsim's systolic model against SCALE-Sim 3.0.0 on ResNet-18: per-layer parity, speed and peak memory, one run.

Both tools read the same SCALE-Sim topology file (written from the zoo's ResNet-18 by
:func:`imcsim.workload.scalesim_csv.write_topology`, pre-padded inputs) in their own processes. SCALE-Sim runs one
layer per process so that a time budget can stop it between layers; imcsim then runs the layers SCALE-Sim finished,
in one process. Printed: per-layer cycles and utilizations of both tools and whether they are equal; with a finite
``--bandwidth``, per-layer total cycles and DRAM reads (ifmap + filter) of SCALE-Sim and of imcsim's two memory models
(``scalesim`` and ``physical``) with their ratios to SCALE-Sim; wall time of each tool (SCALE-Sim per layer including
its process start, imcsim for the whole set, process start included, and the model call alone); peak resident memory
of each tool's process; and imcsim's time for all of ResNet-50 with ideal and finite memory.

Usage: python benchmarks/systolic_vs_scalesim.py [--model resnet18] [--array 32x32] [--dataflow os]
       [--budget-s 600] [--bandwidth BW --sram-kb KB] [--layers N]
       python benchmarks/systolic_vs_scalesim.py --artefacts [--model lenet5] [--array 8x8]
       [--dataflow os --sram-kb KB --bandwidth BW]

``--artefacts``: no SCALE-Sim run; the attribution of the gap between SCALE-Sim (imcsim's ``scalesim`` memory model,
equal to it on the test grid) and the physical model, artefact by artefact (:class:`imcsim.arch.scalesim_memory.
Artefacts`): total cycles and DRAM reads (ifmap + filter) of the layers with weights with all artefacts, then with
each removed in turn, then the physical model, and per layer where the last two agree within 5%. Without
``--bandwidth`` it runs the three settings of the docstring of :mod:`imcsim.arch.scalesim_memory` (8x8: os 2 KiB 4
words/cycle, os 1 KiB 1 word/cycle, ws 2 KiB 4 words/cycle).
Takes the SCALE-Sim budget plus a few seconds; with small scratchpads and a finite bandwidth SCALE-Sim needs minutes
per full-size layer (use --layers or --budget-s).
Needs IMCSIM_SCALESIM_PYTHON (or .venv-scalesim/bin/python) for SCALE-Sim.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scalesim_ref import ScaleSimLayer, run_scalesim  # noqa: E402

_OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from imcsim.arch.systolic import simulate_network
from imcsim.config.systolic import SystolicConfig
from imcsim.workload.network import Network
from imcsim.workload.scalesim_csv import read_topology
topo, cfg_json, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
net = read_topology(topo)
net = Network(net.name, net.layers[:n])
cfg = SystolicConfig(**json.loads(cfg_json))
t1 = time.perf_counter()
cost = simulate_network(net, cfg)
t2 = time.perf_counter()
reps = 20 if cfg.memory_model == "physical" else 1
for _ in range(reps):
    simulate_network(net, cfg)
t3 = time.perf_counter()
import tracemalloc
tracemalloc.start()
simulate_network(net, cfg)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"layers": [dict(name=c.name, **c.metrics) for c in cost.layers], "first_call_s": t2 - t1,
                  "call_s": (t3 - t2) / reps, "process_s": t2 - t0, "call_peak_bytes": peak,
                  "torch_imported": "torch" in sys.modules,
                  "maxrss_kb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--dataflow", default="os", choices=["os", "ws", "is"])
    ap.add_argument("--budget-s", type=float, default=600.0, help="stop starting SCALE-Sim layers after this")
    ap.add_argument("--bandwidth", type=int, default=None, help="USER bandwidth (words/cycle); default CALC")
    ap.add_argument("--sram-kb", type=int, default=64)
    ap.add_argument("--layers", type=int, default=None, help="run only the first N conv/linear layers")
    ap.add_argument("--artefacts", action="store_true", help="attribute the scalesim/physical gap to SCALE-Sim's "
                    "artefacts, one by one (no SCALE-Sim run)")
    args = ap.parse_args()
    if args.artefacts:
        rows, cols = (int(x) for x in args.array.split("x"))
        settings = ([(args.dataflow, args.sram_kb, args.bandwidth)] if args.bandwidth is not None
                    else [("os", 2, 4), ("os", 1, 1), ("ws", 2, 4)])
        for df, kb, bw in settings:
            _artefact_table(args.model, rows, cols, df, kb, bw)
        return 0
    if not os.environ.get("IMCSIM_SCALESIM_PYTHON"):
        os.environ["IMCSIM_SCALESIM_PYTHON"] = str(ROOT / ".venv-scalesim/bin/python")
    rows, cols = (int(x) for x in args.array.split("x"))

    from imcsim.workload.scalesim_csv import to_rows, write_topology
    from imcsim.workload.zoo import load_network

    from imcsim.arch.systolic import simulate_network
    from imcsim.config.presets import load_preset
    from imcsim.config.systolic import SystolicConfig

    # The model's own speed on the largest zoo CNN, ideal and finite memory (the issue asks "well under 50 ms").
    r50 = load_network("resnet50")
    for label, c in (("32x32 os, ideal memory", SystolicConfig()), ("edge-tpu preset", load_preset("edge-tpu")),
                     ("32x32 os, 8 KiB, 4 words/cycle", SystolicConfig(ifmap_sram_bytes=8192, filter_sram_bytes=8192,
                                                                       dram_bandwidth_words_per_cycle=4.0)),
                     ("32x32 os, 2 KiB scratchpads, 4 words/cycle (target < 100 ms)",
                      SystolicConfig(ifmap_sram_bytes=2048, filter_sram_bytes=2048, ofmap_sram_bytes=2048,
                                     dram_bandwidth_words_per_cycle=4.0))):
        simulate_network(r50, c)
        t0 = time.perf_counter()
        for _ in range(20):
            simulate_network(r50, c)
        print(f"imcsim ResNet-50 ({len(r50)} layers, {len(r50.compute_layers)} with MACs), {label}: "
              f"{(time.perf_counter() - t0) / 20 * 1e3:.2f} ms per network")

    net = load_network(args.model)
    table = to_rows(net)[:args.layers]
    tmp = Path(tempfile.mkdtemp(prefix="imcsim-bench-"))
    topo = tmp / f"{args.model}.csv"
    write_topology(net, topo)
    print(f"{args.model}: {len(table)} conv/linear layers; array {rows}x{cols} {args.dataflow}; "
          f"SRAM {args.sram_kb} KiB each; bandwidth {'CALC (ideal)' if args.bandwidth is None else args.bandwidth}")

    cfg_kw = dict(ifmap_kb=args.sram_kb, filter_kb=args.sram_kb, ofmap_kb=args.sram_kb, bandwidth=args.bandwidth)
    # SCALE-Sim's fixed cost per process (start, imports, tiny layer), to separate it from simulation time.
    _, overhead = run_scalesim([ScaleSimLayer("tiny", 4, 4, 1, 1, 1, 1, 1)], rows, cols, args.dataflow, **cfg_kw)
    ref, ref_times = [], []
    t_start = time.perf_counter()
    for r in table:
        if time.perf_counter() - t_start > args.budget_s:
            break
        name, h, w, fh, fw, ch, nf, st = r[:8]
        lay = ScaleSimLayer(str(name), int(h), int(w), int(fh), int(fw), int(ch), int(nf), int(st))
        res, secs = run_scalesim([lay], rows, cols, args.dataflow, timeout_s=3600, **cfg_kw)
        ref.append(res[0])
        ref_times.append(secs)
        print(f"  SCALE-Sim {name}: {secs:.1f} s", flush=True)
    # Peak resident memory of each SCALE-Sim process, read from its /proc/self/status (VmHWM, which restarts at exec,
    # unlike getrusage's maxrss, which would carry this parent's size into the children).
    ss_rss_kb = max((r["Peak RSS kB"] for r in ref), default=0.0)
    n = len(ref)
    if n == 0:
        print("budget: no SCALE-Sim layer run")
        return 0

    cfg = {"rows": rows, "cols": cols, "dataflow": args.dataflow, "ifmap_sram_bytes": args.sram_kb * 1024,
           "filter_sram_bytes": args.sram_kb * 1024, "ofmap_sram_bytes": args.sram_kb * 1024,
           "dram_bandwidth_words_per_cycle": args.bandwidth}

    def run_ours(memory_model: str) -> tuple[dict, float]:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _OURS, str(topo), json.dumps({**cfg, "memory_model":
                                                                                   memory_model}), str(n)],
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout), time.perf_counter() - t0

    ours, ours_wall = run_ours("physical")
    if args.bandwidth is not None:
        mirror, mirror_wall = run_ours("scalesim")
        _finite_table(ref, mirror, ours)
        print(f"imcsim memory_model=scalesim: {mirror['call_s']:.2f} s for {n} layers "
              f"({mirror_wall:.2f} s as a process); SCALE-Sim {sum(ref_times):.1f} s: speed ratio "
              f"{sum(ref_times) / mirror['call_s']:,.1f}x")

    if args.bandwidth is not None:
        print("imcsim's physical memory model against SCALE-Sim (cycles and utilizations):")
    print(f"\n{'layer':<22}{'SCALE-Sim cycles':>17}{'imcsim cycles':>15}{'ratio':>8}{'equal':>7}"
          f"{'util SS %':>11}{'util ours %':>12}{'map eff SS/ours %':>20}{'SS s':>8}")
    equal = 0
    tot_ss = tot_ours = 0.0
    for r, o, secs in zip(ref, ours["layers"], ref_times):
        ss_c, our_c = r["Total Cycles"], o["total_cycles"]
        tot_ss += ss_c
        tot_ours += our_c
        same = (ss_c == our_c and abs(r["Overall Util %"] - 100 * o["overall_util"]) < 1e-6
                and abs(r["Mapping Efficiency %"] - 100 * o["mapping_efficiency"]) < 1e-6
                and abs(r["Compute Util %"] - 100 * o["compute_util"]) < 1e-6)
        equal += same
        print(f"{o['name'][:21]:<22}{int(ss_c):>17,}{int(our_c):>15,}{our_c / ss_c:>8.4f}{'yes' if same else 'NO':>7}"
              f"{r['Overall Util %']:>11.3f}{100 * o['overall_util']:>12.3f}"
              f"{r['Mapping Efficiency %']:>10.2f}/{100 * o['mapping_efficiency']:<9.2f}{secs:>8.1f}")
    ss_time = sum(ref_times)
    print(f"\nparity: {equal}/{n} layers equal in cycles and all three utilizations; total cycles SCALE-Sim "
          f"{int(tot_ss):,}, imcsim {int(tot_ours):,} (ratio {tot_ours / tot_ss:.4f})")
    print(f"speed: SCALE-Sim {ss_time:.1f} s for {n} layers ({ss_time - n * overhead:.1f} s without its "
          f"{overhead:.2f} s per-process start); imcsim {ours['call_s'] * 1e3:.3f} ms per call "
          f"(first call {ours['first_call_s'] * 1e3:.2f} ms), {ours_wall:.2f} s as a process with imports")
    print(f"speed ratio: {ss_time / ours['call_s']:,.0f}x (model call), {ss_time / ours_wall:,.1f}x (process vs "
          f"process)")
    print(f"peak RSS: SCALE-Sim {ss_rss_kb / 1024:.0f} MiB, imcsim {ours['maxrss_kb'] / 1024:.0f} MiB "
          f"(ratio {ss_rss_kb / ours['maxrss_kb']:.1f}x; imcsim's is mostly the interpreter and imports"
          f"{', torch included' if ours['torch_imported'] else ''}); imcsim's model call allocates "
          f"{ours['call_peak_bytes'] / 1024:.0f} KiB at peak (tracemalloc)")
    if n < len(table):
        print(f"budget: SCALE-Sim stopped after {n} of {len(table)} layers ({args.budget_s:.0f} s budget)")
    return 0


#: The order artefacts are removed in (:class:`imcsim.arch.scalesim_memory.Artefacts` fields): the largest first.
ARTEFACT_ORDER = ("forward_only", "double_stall", "line_reads", "write_credit_at_start", "interleaved_tiles")


def _artefact_table(model: str, rows: int, cols: int, dataflow: str, sram_kb: int, bandwidth: int) -> None:
    """Total cycles and DRAM reads of ``model``'s layers with weights: SCALE-Sim's bookkeeping with all artefacts,
    with each removed in turn (cumulative), and the physical model; then per layer, the artefact-free mode against
    the physical model. Also the prefetch order without the anti-diagonal unroll, which is not an artefact: it is
    the order the array consumes the words in, and reading them otherwise costs far more."""
    import dataclasses

    from imcsim.arch.scalesim_memory import ALL_ARTEFACTS
    from imcsim.arch.systolic import scalesim_memory_layer, simulate_layer
    from imcsim.config.systolic import SystolicConfig
    from imcsim.workload.zoo import load_network

    net = load_network(model)
    cfg = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow, ifmap_sram_bytes=sram_kb * 1024,
                         filter_sram_bytes=sram_kb * 1024, ofmap_sram_bytes=sram_kb * 1024,
                         dram_bandwidth_words_per_cycle=bandwidth)
    layers = [lay for lay in net.layers if lay.kind.has_weights]
    phys = [simulate_layer(lay, cfg).metrics for lay in layers]
    p_cyc = sum(m["total_cycles"] for m in phys)
    p_rd = sum(m["dram_ifmap_reads"] + m["dram_filter_reads"] for m in phys)
    steps, art = [("SCALE-Sim (all artefacts)", ALL_ARTEFACTS)], ALL_ARTEFACTS
    for name in ARTEFACT_ORDER:
        art = dataclasses.replace(art, **{name: False})
        steps.append((f"  - {name}", art))
    steps.append(("  (all, row-major prefetch order)", dataclasses.replace(ALL_ARTEFACTS, antidiagonal=False)))
    print(f"\n{model} on {rows}x{cols} {dataflow}, {sram_kb} KiB scratchpads, {bandwidth} words/cycle "
          f"({len(layers)} layers with weights)")
    print(f"{'memory model':<36}{'cycles':>12}{'/ physical':>12}{'DRAM reads':>13}{'/ physical':>12}")
    per_layer = None
    for label, a in steps:
        res = [scalesim_memory_layer(lay, cfg, a) for lay in layers]
        cyc = sum(c for c, _ in res)
        rd = sum(d[0] + d[1] for _, d in res)
        print(f"{label:<36}{cyc:>12,.0f}{cyc / p_cyc:>12.3f}{rd:>13,.0f}{rd / p_rd:>12.3f}")
        if a == art:
            per_layer = res
    print(f"{'physical (default)':<36}{p_cyc:>12,.0f}{1:>12.3f}{p_rd:>13,.0f}{1:>12.3f}")
    print(f"  {'layer':<12}{'no artefacts':>14}{'physical':>10}{'ratio':>8}{'reads':>9}{'physical':>10}{'ratio':>8}"
          f"{'within 5%':>11}")
    for lay, (c, d), m in zip(layers, per_layer, phys):
        rd, prd = d[0] + d[1], m["dram_ifmap_reads"] + m["dram_filter_reads"]
        ok = abs(c / m["total_cycles"] - 1) <= 0.05 and abs(rd / prd - 1) <= 0.05
        print(f"  {lay.name[:11]:<12}{c:>14,.0f}{m['total_cycles']:>10,.0f}{c / m['total_cycles']:>8.3f}"
              f"{rd:>9,.0f}{prd:>10,.0f}{rd / prd:>8.3f}{'yes' if ok else 'NO':>11}")


def _finite_table(ref: list[dict], mirror: dict, phys: dict) -> None:
    """Per-layer total cycles and DRAM reads (ifmap + filter) of SCALE-Sim and imcsim's two memory models."""
    print(f"\n{'layer':<14}{'cycles SS':>13}{'scalesim':>13}{'ratio':>8}{'physical':>13}{'ratio':>8}"
          f"{'DRAM rd SS':>14}{'scalesim':>14}{'ratio':>8}{'physical':>13}{'ratio':>8}")
    sums = [0.0] * 6
    within = [0, 0]
    for r, s, p in zip(ref, mirror["layers"], phys["layers"]):
        vals = (r["Total Cycles"], s["total_cycles"], p["total_cycles"],
                r["DRAM IFMAP Reads"] + r["DRAM Filter Reads"], s["dram_ifmap_reads"] + s["dram_filter_reads"],
                p["dram_ifmap_reads"] + p["dram_filter_reads"])
        sums = [a + b for a, b in zip(sums, vals)]
        within[0] += abs(vals[1] / vals[0] - 1) <= 0.05 and abs(vals[4] / vals[3] - 1) <= 0.05
        within[1] += abs(vals[2] / vals[0] - 1) <= 0.05 and abs(vals[5] / vals[3] - 1) <= 0.05
        print(f"{s['name'][:13]:<14}{int(vals[0]):>13,}{int(vals[1]):>13,}{vals[1] / vals[0]:>8.4f}"
              f"{int(vals[2]):>13,}{vals[2] / vals[0]:>8.4f}{int(vals[3]):>14,}{int(vals[4]):>14,}"
              f"{vals[4] / vals[3]:>8.4f}{int(vals[5]):>13,}{vals[5] / vals[3]:>8.4f}")
    print(f"{'total':<14}{int(sums[0]):>13,}{int(sums[1]):>13,}{sums[1] / sums[0]:>8.4f}{int(sums[2]):>13,}"
          f"{sums[2] / sums[0]:>8.4f}{int(sums[3]):>14,}{int(sums[4]):>14,}{sums[4] / sums[3]:>8.4f}"
          f"{int(sums[5]):>13,}{sums[5] / sums[3]:>8.4f}")
    print(f"within 5% of SCALE-Sim in both cycles and DRAM reads: memory_model=scalesim {within[0]}/{len(ref)} layers, "
          f"physical {within[1]}/{len(ref)}\n")


if __name__ == "__main__":
    sys.exit(main())
