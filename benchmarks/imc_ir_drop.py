"""LeNet-5 on IMC cores: accuracy with ideal wires and with exact wire IR drop, and the per-chip solve time.

Evaluates a trained all-imc run (``--run``, default ``runs/lenet5-imc-default``, trained first when missing, as
``imcsim train --model lenet5 --dataset fashion-mnist --target all-imc --epochs 1 --pretrain-epochs 4 --train-limit
2000 --test-limit 500 --out runs/lenet5-imc-default``: the default IMC core, ISAAC's 128 x 128 arrays of 2-bit cells,
16-bit offset-encoded weights, 5 / 15 kOhm devices, trained on ideal wires) on its nominal chip: first with ideal
wires, then with ``ir_drop = exact`` (every array's transfer matrix from the circuit solver,
:mod:`imcsim.nn.imc_layers`) at the core's wires (IMAC-Sim's 9 nm copper) and at copper resistivity scaled down by
``--rho-scales``, to show where the drop stops mattering.

Per layer it prints the arrays and the time of the nodal solves of one chip (the cost ``ir_drop = exact`` adds once
per chip and set of weights; evaluating more images reuses them), and per wire setting the accuracy.

Measured here (2 busy cores, 500 test images, nominal chip, runs trained on ideal wires: 4 float + 1 IMC epoch on
2,000 images): default core (16-bit offset weights, 42 arrays) 61.2% ideal; exact IR drop 9.0% at 9 nm copper and
x0.1, 19.2% at x0.01, 65.8% at x0.001; one chip's solves 47 s (1.1 s per single-ended array). examples/imc_adc.yaml
(4-bit differential weights, 14 arrays) 60.8% ideal; exact 9.6% at x1, 9.8% at x0.1, 63.4% at x0.01; 35 s per chip
(2.5 s per array of pairs). A 128-row column of 5 / 15 kOhm devices draws far too much current for 9 nm wires
(r_out G_on rows^2 / 2 is about 12), and the offset encoding, whose large digital offset subtraction assumes
ideal columns, needs ten times lower wire resistance than the differential one.

Usage: python benchmarks/imc_ir_drop.py [--run DIR] [--test-images 500] [--rho-scales 1,0.1,0.01]   (about 3 minutes
per wire setting on 2 busy cores, plus about 5 minutes of training when the run is missing).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from imcsim.nn.nonideal import NonIdealities
from imcsim.train.deploy import load_deployment
from imcsim.train.evaluate import monte_carlo_imc


def solve_times(model, imc, ni) -> list[tuple[str, int, float]]:
    """(layer, arrays, seconds) of the nodal solves of the nominal chip of ``model`` on ``imc``."""
    model.set_hardware(imc, ni)
    model.eval()
    out = []
    with torch.no_grad():
        for i, lay in enumerate(model.imc_layers()):
            k, _ = lay.weight_codes()
            t0 = time.perf_counter()
            lay.cell_levels(k)
            out.append((f"{i}: {type(lay).__name__} K={lay.k_rows} N={lay.n_out}", lay.tiling()[2],
                        time.perf_counter() - t0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/lenet5-imc-default", help="all-imc run directory (trained when missing)")
    ap.add_argument("--test-images", type=int, default=500, help="test images evaluated")
    ap.add_argument("--rho-scales", default="1,0.1,0.01", help="copper resistivity scales of the exact runs")
    args = ap.parse_args()
    run, n = args.run, args.test_images
    scales = [float(s) for s in args.rho_scales.split(",")]
    if not (Path(run) / "deployment.json").exists():
        from imcsim.cli.app import main as cli

        code = cli(["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--target", "all-imc", "--epochs", "1",
                    "--pretrain-epochs", "4", "--train-limit", "2000", "--test-limit", "500", "--out", run, "--quiet"])
        if code:
            raise SystemExit(code)
    dep = load_deployment(run)
    model = dep.torch_model()
    ds = dep.load_data().subset(None, n)  # the run's dataset, directory and image size
    base, ni = model.imc, model.nonideal
    g_on, g_off = base.device.conductances
    print(f"{run}: {n} test images; core {base.rows} x {base.cols}, {base.weight_bits}-bit weights on "
          f"{base.cell_bits}-bit cells ({base.encoding}), devices {1 / g_on:.0f} / {1 / g_off:.0f} ohm, "
          f"{torch.get_num_threads()} torch threads")
    exact = replace(ni, ir_drop="exact")
    times = solve_times(model, base, exact)
    print(f"{'layer':<32} {'arrays':>6} {'solve s':>8}")
    for name, arrays, secs in times:
        print(f"{name:<32} {arrays:>6} {secs:>8.2f}")
    total = sum(t for _, _, t in times)
    arrays = sum(a for _, a, _ in times)
    print(f"{'one chip':<32} {arrays:>6} {total:>8.2f}   ({total / arrays:.2f} s per array)", flush=True)

    print(f"{'wires':<36} {'r_in / r_out ohm':>17} {'accuracy %':>10} {'eval s':>7}")
    t0 = time.perf_counter()
    off = monte_carlo_imc(model, ds.x_test, ds.y_test, 0, imc=base, nonideal=replace(ni, ir_drop="off")).accuracy
    print(f"{'ideal (ir_drop off)':<36} {'0 / 0':>17} {100 * off:>10.2f} {time.perf_counter() - t0:>7.1f}", flush=True)
    for scale in scales:
        wires = base.wires.replace(rho_bulk_ohm_m=base.wires.rho_bulk_ohm_m * scale)
        imc = base.replace(wires=wires.model_dump())
        t0 = time.perf_counter()
        acc = monte_carlo_imc(model, ds.x_test, ds.y_test, 0, imc=imc, nonideal=exact).accuracy
        label = f"exact, copper rho x {scale:g}"
        rr = f"{wires.r_in_ohm:.4g} / {wires.r_out_ohm:.4g}"
        print(f"{label:<36} {rr:>17} {100 * acc:>10.2f} {time.perf_counter() - t0:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
