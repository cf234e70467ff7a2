"""Where the first-order IR-drop model stays within 1 accuracy point of the exact one.

Evaluates a trained run (``RUN``, default ``runs/lenet5``: ``imcsim train --model lenet5 --dataset fashion-mnist
--target tpu-imac --epochs 2 --train-limit 5000 --test-limit 1000 --out runs/lenet5``) on its nominal chip with the
wire model ``first-order`` and ``exact`` over crossbar sizes and wire resistances (copper resistivity scaled), and
prints, per point, the first-order estimate eps = :func:`imcsim.nn.nonideal.first_order_drop` (the worst-case relative
IR drop of a crossbar to first order, r G n^2 / 2 terms) and both accuracies. The bound
:data:`imcsim.nn.nonideal.FIRST_ORDER_MAX_DROP` is read off this table.

Usage: python benchmarks/ir_drop_first_order_validity.py [RUN] [TEST_IMAGES]   (default 1,000 images; about 2 to 5
minutes on 2 cores).
"""

from __future__ import annotations

import sys

from imcsim.nn.nonideal import FIRST_ORDER_MAX_DROP, NonIdealities, first_order_drop
from imcsim.train.deploy import load_deployment
from imcsim.train.evaluate import monte_carlo


def main() -> None:
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/lenet5"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    dep = load_deployment(run)
    model = dep.torch_model()
    ds = dep.load_data().subset(None, n)  # the run's dataset, directory and image size
    base = model.hw
    print(f"{run}: {n} test images; device {base.device.kind} R_low {base.device.resistances[0]:.0f} ohm")
    print(f"{'rows x cols':>11} {'rho scale':>9} {'eps':>7} {'first-order %':>13} {'exact %':>8} {'gap (points)':>12}")
    for size in (8, 16, 32):
        for scale in (0.1, 0.3, 1.0):
            wires = base.wires.replace(rho_bulk_ohm_m=base.wires.rho_bulk_ohm_m * scale)
            hw = base.replace(rows=size, cols=size, wires=wires.model_dump())
            eps = first_order_drop(size, size, wires.r_in_ohm, wires.r_out_ohm, *hw.device.conductances)
            acc = {}
            for mode in ("first-order", "exact"):
                acc[mode] = monte_carlo(model, ds.x_test, ds.y_test, 0, hw=hw,
                                        nonideal=NonIdealities(ir_drop=mode, check_first_order=False)).accuracy
            gap = 100 * (acc["first-order"] - acc["exact"])
            print(f"{size:>5} x {size:<3} {scale:>9g} {eps:>7.3f} {100 * acc['first-order']:>13.2f} "
                  f"{100 * acc['exact']:>8.2f} {gap:>+12.2f}", flush=True)
    print(f"bound used by imcsim: first-order refused above eps = {FIRST_ORDER_MAX_DROP}")


if __name__ == "__main__":
    main()
