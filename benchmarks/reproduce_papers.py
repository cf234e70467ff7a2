"""Reproduce the TPU-IMAC and CPU-IMAC headline figures on the full model zoo and print ours beside the published
ones, with ratios; then check the IMAC device-energy model against the crossbar circuit solver with 9 nm wire
parasitics on the full 400-120-84-10 MLP tiled onto 32 x 32 crossbars.

Run: .venv/bin/python benchmarks/reproduce_papers.py
"""

from __future__ import annotations

import time

import numpy as np

from imcsim.arch import imac
from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.devices import weights_to_conductances
from imcsim.circuit.partition import row_slices
from imcsim.config.presets import load_preset
from imcsim.report.reproduce import PUBLISHED, reproduce
from imcsim.workload.zoo import load_network


def _line(what: str, ours: float, published: float, unit: str = "") -> None:
    print(f"  {what:<58s} ours {ours:9.4g}{unit:<2s} published {published:7.4g}{unit:<2s} "
          f"ratio {ours / published:7.3f}")


def papers() -> None:
    t0 = time.perf_counter()
    r = reproduce()
    elapsed = time.perf_counter() - t0
    print(f"imcsim reproduce over {len(r['tpu_imac'])} zoo models: {elapsed:.2f} s")

    cnn = [row for row in r["tpu_imac"] if row["published"].startswith("<=")]
    print(f"\nTPU-IMAC ({PUBLISHED['tpu-imac']['source']}), best over the {len(cnn)} CNNs:")
    for key, label in (("speedup", "speedup, tpu-imac preset"), ("speedup_ideal_dram", "speedup, ideal DRAM"),
                       ("speedup_scalesim_sample", "speedup, SCALE-Sim sample array (32x32 os, ideal)")):
        best = max(cnn, key=lambda row: row[key])
        _line(f"{label} [{best['model']}]", best[key], PUBLISHED["tpu-imac"]["speedup"], "x")
    best = max(cnn, key=lambda row: row["memory_reduction"])
    _line(f"memory reduction [{best['model']}]", 100 * best["memory_reduction"],
          100 * PUBLISHED["tpu-imac"]["memory_reduction"], "%")

    print(f"\nCPU-IMAC ({PUBLISHED['cpu-imac']['source']}):")
    for row in r["cpu_imac"]:
        pub = row.get("published_energy_saving")
        if pub is None:
            continue
        _line(f"energy saving {row['model']}, weights from DRAM", 100 * row["energy_saving"], 100 * pub, "%")
        _line(f"energy saving {row['model']}, weights cached", 100 * row["energy_saving_weights_cached"], 100 * pub,
              "%")

    print("\nSensitivity (" + r["sensitivity"]["model"] + "): speedup by TPU array size at 1 ns / ideal DRAM")
    for row in r["sensitivity"]["rows"]:
        print(f"  {row['array']:>8s}  {row['speedup@1e-09']:9.3f}x  {row['ideal_memory_speedup']:9.3f}x")
    print("\nWhere our figures differ:")
    for d in r["drivers"]:
        print("  - " + d)


def device_energy_vs_solver(seed: int = 0, batch: int = 64) -> None:
    """Nominal V^2 G device energy of the MLP against the solved power of every 32 x 32 tile with wires."""
    cfg = load_preset("sot-mram-imac")
    net = load_network("mlp")
    rng = np.random.default_rng(seed)
    print(f"\nIMAC device energy, {net.name} on {cfg.rows}x{cfg.cols} SOT-MRAM crossbars, random binary weights, "
          f"{batch} random input vectors in [0, Vdd]:")
    t0 = time.perf_counter()
    for lay in net.compute_layers:
        n_in, n_out = imac.dense_shape(lay)
        w = rng.choice((-1, 1), size=(n_out, n_in))
        b = rng.choice((-1, 1), size=n_out)
        v = rng.uniform(0, cfg.vdd_v, size=(batch, n_in))
        ours = imac.device_energy_j(lay, cfg, w, b, v)
        rows_w = np.vstack([w.T, b[None, :]])                       # (n_in + 1, n_out): inputs, then the bias row
        v_rows = np.hstack([v, np.full((batch, 1), cfg.vdd_v)])
        ideal = wired = 0.0
        for rs in row_slices(n_in, cfg.rows):
            for c0 in range(0, n_out, cfg.cols):
                gp, gm = weights_to_conductances(rows_w[rs, c0:c0 + cfg.cols], cfg.device)
                ideal += Crossbar(gp, gm).power(v_rows[:, rs]).mean()
                wired += Crossbar(gp, gm, cfg.wires.r_in_ohm, cfg.wires.r_out_ohm).power(v_rows[:, rs]).mean()
        t = cfg.sampling_time_s
        lib_wired = imac.device_energy_wired_j(lay, cfg, w, b, v)
        print(f"  {lay.name}: V^2 G model {ours * 1e12:9.3f} pJ | solver, ideal wires {ideal * t * 1e12:9.3f} pJ "
              f"(model/solver {ours / (ideal * t):.6f}) | solver, 9 nm wires {wired * t * 1e12:9.3f} pJ "
              f"(model/wired {ours / (wired * t):.4f}; device_energy_wired_j/solver {lib_wired / (wired * t):.6f})")
    print(f"  solver time {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    papers()
    device_energy_vs_solver()
