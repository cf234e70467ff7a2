"""Placement policies on the model zoo: the edge TPU, a Cortex-A76-class CPU and the SOT-MRAM IMAC unit in one
system. For each model it prints dense-to-analog (TPU-IMAC's split) beside ``auto`` for each objective: latency,
energy, energy-delay product, total area, where the layers went, and the search's own run time; then VGG-16's
latency-optimal placement under a shrinking crossbar budget; then ``auto`` checked against brute force on LeNet-5
(every placement of its 5 layers with weights on the units that run them: 2 x 2 x 3 x 3 x 3 = 108 runs).

Run: .venv/bin/python benchmarks/placement_auto.py   (about 30 s on one core)
"""

from __future__ import annotations

import itertools
import time

from imcsim.arch.system import System
from imcsim.config.system import SystemConfig
from imcsim.workload.zoo import load_network

MODELS = ("lenet5", "alexnet", "vgg16", "mobilenetv1", "resnet18", "resnet50")
UNITS = {"systolic": "edge-tpu", "cpu": "cortex-a76", "imac": "sot-mram-imac"}
OBJECTIVE = {"latency": lambda c: c.latency_s, "energy": lambda c: c.energy_j,
             "edp": lambda c: c.latency_s * c.energy_j}


def _where(system: System, net) -> str:
    kinds = [k for lay, k in zip(net, system.assign(net)) if lay.kind.has_weights]
    return " ".join(f"{k}:{kinds.count(k)}" for k in system.units if kinds.count(k))


def zoo() -> None:
    print("model        policy            latency (ms)  energy (uJ)   EDP (nJ s)  area (mm^2)  search (ms)  "
          "layers with weights")
    for model in MODELS:
        net = load_network(model)
        for policy, objective in (("dense-to-analog", "latency"), ("auto", "latency"), ("auto", "energy"),
                                  ("auto", "edp")):
            system = System(SystemConfig(units=UNITS, placement={"policy": policy, "objective": objective}))
            t0 = time.perf_counter()
            system.assign(net)
            search = time.perf_counter() - t0
            cmp = system.compare(net)
            het = cmp.hetero
            label = policy if policy != "auto" else f"auto/{objective}"
            print(f"{model:<12s} {label:<16s} {het.latency_s * 1e3:12.4f} {het.energy_j * 1e6:12.3f} "
                  f"{het.latency_s * het.energy_j * 1e9:12.4g} {cmp.area_m2 * 1e6:12.3f} {search * 1e3:12.1f}  "
                  f"{_where(system, net)}")


def budget() -> None:
    net = load_network("vgg16")
    print("\nVGG-16, auto/latency under a crossbar budget (IMAC crossbars of 32 x 32; fc1 alone needs 100,480)")
    for xbars in (None, 100_000, 20_000, 1_000, 0):
        cfg = SystemConfig(units=UNITS, placement={"policy": "auto", "budget": {"crossbars": xbars}})
        system = System(cfg)
        het = system.run(net)
        used = sum(c.metrics.get("crossbars", 0) for c in het.layers if c.unit == "imac")
        dense = [f"{lay.name}:{k}" for lay, k in zip(net, system.assign(net)) if lay.kind.value == "linear"]
        print(f"  budget {str(xbars):>8s}  used {int(used):>7d}  latency {het.latency_s * 1e3:9.4f} ms  "
              f"{' '.join(dense)}")


def brute_force() -> None:
    net = load_network("lenet5")
    print("\nLeNet-5: auto against brute force over every placement")
    for objective in ("latency", "energy", "edp"):
        for xbars in (None, 20):
            cfg = SystemConfig(units=UNITS, placement={"policy": "auto", "objective": objective,
                                                       "budget": {"crossbars": xbars}})
            system = System(cfg)
            weighted = [lay for lay in net if lay.kind.has_weights]
            options = [[k for k, u in system.units.items() if u.why_not(lay) is None] for lay in weighted]
            t0 = time.perf_counter()
            best, runs = float("inf"), 0
            for combo in itertools.product(*options):
                pins = {lay.name: k for lay, k in zip(weighted, combo)}
                run = System(cfg.replace(placement={"policy": "all-digital", "layers": pins})).run(net)
                runs += 1
                used = sum(c.metrics.get("crossbars", 0) for c in run.layers if c.unit == "imac")
                if xbars is None or used <= xbars:
                    best = min(best, OBJECTIVE[objective](run))
            t_brute = time.perf_counter() - t0
            t0 = time.perf_counter()
            got = OBJECTIVE[objective](system.run(net))
            t_auto = time.perf_counter() - t0
            print(f"  {objective:<8s} budget {str(xbars):>4s}: auto {got:.6g}, brute force {best:.6g} "
                  f"({runs} runs), ratio {got / best:.12f}; time {t_auto * 1e3:.1f} ms vs {t_brute * 1e3:.0f} ms")


if __name__ == "__main__":
    zoo()
    budget()
    brute_force()
