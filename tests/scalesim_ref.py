"""Run the reference SCALE-Sim 3.0.0 on a few layers and read its reports (a test and benchmark helper).

SCALE-Sim lives in its own virtual environment (it crashes with numpy >= 2.4), named by the environment variable
``IMCSIM_SCALESIM_PYTHON`` (CI sets it; locally ``.venv-scalesim/bin/python``). We drive it through its own Python
API in a subprocess, writing the three input files it needs: the topology CSV, the ``.cfg`` and a layout CSV. v3
reads a layout file even with custom layouts off and, without one, exits 0 and writes no report, so a missing
report is turned into an error here rather than silently read as nothing.

Each row of a SCALE-Sim report ends with a trailing comma; we parse the CSVs by header name.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["scalesim_python", "ScaleSimLayer", "run_scalesim", "write_cfg"]

_DRIVER = r"""
import sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=(gemm == "1"))
s.run_scale(top_path=out)
# Peak resident memory of this process (VmHWM is per address space, so it starts afresh at exec).
print("VMHWM_KB", next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


LOCAL_SCALESIM_PYTHON = Path(__file__).resolve().parents[1] / ".venv-scalesim" / "bin" / "python"
"""The checkout's SCALE-Sim environment (README: "To create the SCALE-Sim reference environment")."""


def scalesim_python() -> str | None:
    """The Python interpreter that has ``scalesim`` installed: ``IMCSIM_SCALESIM_PYTHON`` when set (CI), else the
    checkout's ``.venv-scalesim`` when it exists (so ``make test`` runs the parity tests wherever it can), else
    None."""
    exe = os.environ.get("IMCSIM_SCALESIM_PYTHON")
    if exe:
        return str(Path(exe).absolute()) if Path(exe).is_file() else None
    return str(LOCAL_SCALESIM_PYTHON) if LOCAL_SCALESIM_PYTHON.is_file() else None


@dataclass(frozen=True)
class ScaleSimLayer:
    """A layer as SCALE-Sim sees it: conv (ifmap h, w, filter h, w, channels, filters, stride) or GEMM (M, N, K)."""

    name: str
    ifmap_h: int = 1
    ifmap_w: int = 1
    filt_h: int = 1
    filt_w: int = 1
    channels: int = 1
    filters: int = 1
    stride: int = 1
    gemm: tuple[int, int, int] | None = None  # (M, N, K)


def write_cfg(path: Path, rows: int, cols: int, dataflow: str, ifmap_kb: int = 64, filter_kb: int = 64,
              ofmap_kb: int = 64, bandwidth: int | None = None, read_bank_bw: int | None = None,
              read_banks: int = 1) -> None:
    """Write a complete SCALE-Sim 3.0.0 config (every section its parser reads).

    ``bandwidth`` None writes ``InterfaceBandwidth: CALC`` (ideal memory); otherwise USER mode with that DRAM
    bandwidth (words/cycle). In USER mode 3.0.0 reads ifmap/filter from DRAM at the [layout] section's
    ``*SRAMBankBandwidth`` and drains the ofmap at ``Bandwidth``; ``read_bank_bw`` sets the former (default: the
    same value as ``bandwidth``).
    """
    mode = "CALC" if bandwidth is None else "USER"
    bw = 10 if bandwidth is None else bandwidth
    rbw = bw if read_bank_bw is None else read_bank_bw
    path.write_text(f"""[general]
run_name = imcsim_ref

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bw}
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {rbw}
IfmapSRAMBankNum: {read_banks}
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {rbw}
FilterSRAMBankNum: {read_banks}
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
""")


def _write_topology(path: Path, layers: list[ScaleSimLayer]) -> bool:
    gemm = layers[0].gemm is not None
    if any((lay.gemm is not None) != gemm for lay in layers):
        raise ValueError("SCALE-Sim runs either conv or GEMM layers in one topology, not both")
    with path.open("w") as f:
        if gemm:
            f.write("Layer, M, N, K,\n")
            for lay in layers:
                m, n, k = lay.gemm
                f.write(f"{lay.name}, {m}, {n}, {k},\n")
        else:
            f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\n")
            for lay in layers:
                f.write(f"{lay.name}, {lay.ifmap_h}, {lay.ifmap_w}, {lay.filt_h}, {lay.filt_w}, {lay.channels}, "
                        f"{lay.filters}, {lay.stride},\n")
    return gemm


def _read_report(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    out = []
    for row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        out.append({h: float(v) for h, v in zip(header, row) if h})
    return out


def run_scalesim(layers: list[ScaleSimLayer], rows: int, cols: int, dataflow: str, *, timeout_s: float = 600,
                 **cfg_kw) -> tuple[list[dict[str, float]], float]:
    """Run SCALE-Sim on ``layers``; return (per-layer merged COMPUTE and DETAILED_ACCESS report rows, seconds).

    Keys are SCALE-Sim's column headers, e.g. ``"Total Cycles"``, ``"Stall Cycles"``, ``"Overall Util %"``,
    ``"Mapping Efficiency %"``, ``"Compute Util %"``, ``"SRAM IFMAP Reads"``, ``"DRAM Filter Reads"``, and
    ``"Peak RSS kB"``, the SCALE-Sim process's peak resident memory.
    Raises RuntimeError when no SCALE-Sim is configured, it fails, or it writes no report.
    """
    exe = scalesim_python()
    if exe is None:
        raise RuntimeError("IMCSIM_SCALESIM_PYTHON does not name a python with scalesim")
    with tempfile.TemporaryDirectory(prefix="imcsim-scalesim-") as tmp:
        d = Path(tmp)
        cfg, topo, layout, out = d / "run.cfg", d / "topo.csv", d / "layout.csv", d / "out"
        write_cfg(cfg, rows, cols, dataflow, **cfg_kw)
        gemm = _write_topology(topo, layers)
        # Header-only layout file: v3 insists on reading one even with custom layouts off.
        layout.write_text("Layer name, IFMAP intraline factor, IFMAP intraline order, IFMAP interline order, "
                          "Filter intraline factor, Filter intraline order, Filter interline order,\n")
        t0 = time.perf_counter()
        proc = subprocess.run([exe, "-c", _DRIVER, str(cfg), str(topo), str(layout), str(out), "1" if gemm else "0"],
                              capture_output=True, text=True, timeout=timeout_s, cwd=d)
        elapsed = time.perf_counter() - t0
        compute = out / "imcsim_ref" / "COMPUTE_REPORT.csv"
        detail = out / "imcsim_ref" / "DETAILED_ACCESS_REPORT.csv"
        if proc.returncode != 0 or not compute.is_file():
            raise RuntimeError(f"SCALE-Sim failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        merged = [{**a, **b} for a, b in zip(_read_report(compute), _read_report(detail))]
        peak = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("VMHWM_KB")]
        for row in merged:  # the process's peak resident memory, for benchmarks (kB; 0 where /proc is missing)
            row["Peak RSS kB"] = float(peak[0]) if peak else 0.0
        return merged, elapsed


if __name__ == "__main__":  # quick manual check: python tests/scalesim_ref.py
    res, secs = run_scalesim([ScaleSimLayer("c1", 8, 8, 3, 3, 4, 5, 1)], 4, 4, sys.argv[1] if len(sys.argv) > 1
                             else "os")
    print(res, f"{secs:.2f} s")
