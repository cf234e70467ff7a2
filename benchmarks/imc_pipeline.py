"""Whole CNNs on IMC cores: ResNet-18, ResNet-50 and VGG-16 (ImageNet) on the isaac and hermes presets, both
dataflows (layer by layer; pixel pipeline with every layer resident) and every duplication policy (none; balanced,
NeuroSim's rule within the chip's arrays; budget:N with N = the chip's arrays, greedy to the slowest layer).

Prints per run: first-image latency, throughput, activation memory, energy and its ADC share, arrays used (with
copies) against the chip's, and the model's own run time; then the model's run time for ResNet-50 (pixel pipeline,
balanced duplication) over 30 repetitions against the 20 ms target.

Run: .venv/bin/python benchmarks/imc_pipeline.py   (about 10 s)
"""

from __future__ import annotations

import statistics
import time

from imcsim.arch.pipeline import run_pipeline
from imcsim.config.imc import load_imc
from imcsim.workload.zoo import load_network

MODELS = ("resnet18", "resnet50", "vgg16")
ARCHS = ("isaac", "hermes")


def main() -> None:
    head = (f"{'model':<9s} {'arch':<7s} {'pipeline':<6s} {'duplication':<13s} {'latency':>10s} {'images/s':>10s} "
            f"{'act. mem':>9s} {'energy':>9s} {'ADC':>6s} {'arrays':>8s} {'chip':>7s} {'run':>7s}")
    print(head)
    print("-" * len(head))
    for model in MODELS:
        net = load_network(model)
        for arch in ARCHS:
            cfg = load_imc(arch)
            for flow in ("layer", "pixel"):
                for dup in ("none", "balanced", f"budget:{cfg.chip_arrays}"):
                    t0 = time.perf_counter()
                    r = run_pipeline(net, cfg, flow, dup)
                    run_s = time.perf_counter() - t0
                    adc = r.energy_split()["adc"] / r.energy_j
                    fits = "" if r.fits else "*"
                    print(f"{model:<9s} {arch:<7s} {flow:<6s} {dup:<13s} {r.latency_s * 1e3:8.4g}ms "
                          f"{r.throughput_ips:10.4g} {r.activation_memory_bytes / 1e6:7.3g}MB "
                          f"{r.energy_j * 1e3:7.4g}mJ {adc * 100:5.1f}% {r.cores:8,d}{fits:1s} {cfg.chip_arrays:7,d} "
                          f"{run_s * 1e3:5.1f}ms")
    print("* more arrays than one chip holds: the figures assume enough chips (duplication then adds nothing)")

    net = load_network("resnet50")
    cfg = load_imc("isaac")
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        run_pipeline(net, cfg, "pixel", "balanced")
        times.append(time.perf_counter() - t0)
    med, best = statistics.median(times), min(times)
    verdict = "met" if med < 20e-3 else ("met by the best run only" if best < 20e-3 else "NOT met")
    print(f"\nmodel run time, ResNet-50 ({len(net.layers)} layers) on isaac, pixel pipeline, balanced: median "
          f"{med * 1e3:.2f} ms, best {best * 1e3:.2f} ms over 30 runs (target under 20 ms: {verdict})")


if __name__ == "__main__":
    main()
