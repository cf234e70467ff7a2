"""IMC cores inside systems, on the model zoo. For each model it prints

1. ``imcsim compare`` for tpu-imac, tpu-imc (the edge TPU with ISAAC cores for the dense layers) and all-imc (every
   layer on ISAAC cores, a Cortex-A76 cluster as host): the host-alone and system latency and energy, the speedup
   and energy saving (batch 1, one layer after another, one weight copy), and where the time goes;
2. ``imcsim map`` on tpu-imc and all-imc, layer and pixel dataflows, duplication none and balanced: first-image
   latency, throughput, arrays with their copies against ISAAC's 16,128, activation memory, and the schedule's own
   run time.

Run: .venv/bin/python benchmarks/imc_systems.py   (about 10 s on one core)
"""

from __future__ import annotations

import time

from imcsim.arch.system import System
from imcsim.arch.system_pipeline import run_system_pipeline
from imcsim.config.system import load_system
from imcsim.workload.zoo import load_network

MODELS = ("lenet5", "alexnet", "vgg16", "mobilenetv1", "resnet18", "resnet50")
SYSTEMS = ("tpu-imac", "tpu-imc", "all-imc")


def _share(cost, unit: str) -> float:
    return sum(c.latency_s for c in cost.layers if c.unit == unit) / cost.latency_s


def compare() -> None:
    print("model        system     host alone (ms)  system (ms)  speedup  host (uJ)  system (uJ)  saving   "
          "time on IMC  time in transfers")
    for model in MODELS:
        net = load_network(model)
        for arch in SYSTEMS:
            cmp = System(load_system(arch)).compare(net)
            analog = "imac" if arch == "tpu-imac" else "imc"
            print(f"{model:12s} {arch:10s} {cmp.baseline.latency_s * 1e3:15.4g} {cmp.hetero.latency_s * 1e3:12.4g} "
                  f"{cmp.speedup:8.3g} {cmp.baseline.energy_j * 1e6:10.4g} {cmp.hetero.energy_j * 1e6:12.4g} "
                  f"{cmp.energy_saving * 100:6.1f}% {_share(cmp.hetero, analog) * 100:11.1f}% "
                  f"{_share(cmp.hetero, 'transfer') * 100:17.2f}%")


def schedules() -> None:
    print("\nmodel        system   pipeline duplication  latency (ms)  images/s   arrays  fits  memory (kB)  "
          "model run (ms)")
    for model in MODELS:
        net = load_network(model)
        for arch in ("tpu-imc", "all-imc"):
            system = System(load_system(arch))
            for flow in ("layer", "pixel"):
                for dup in ("none", "balanced"):
                    t0 = time.perf_counter()
                    res = run_system_pipeline(net, system, flow, dup)
                    run = time.perf_counter() - t0
                    print(f"{model:12s} {arch:8s} {flow:8s} {dup:11s} {res.latency_s * 1e3:13.4g} "
                          f"{res.throughput_ips:9.4g} {res.cores:8d} {'yes' if res.fits else 'no':>5s} "
                          f"{res.activation_memory_bytes / 1e3:12.4g} {run * 1e3:14.1f}")


if __name__ == "__main__":
    compare()
    schedules()
