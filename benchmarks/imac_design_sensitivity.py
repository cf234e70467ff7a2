"""How the IMAC unit's costs respond to its design: VGG-16 and AlexNet on the tpu-imac preset over crossbar size x
ADC resolution x analog power budget.

For every point it prints the IMAC unit's latency, energy and area (the dense layers it runs, converters included)
with the term that dominates each, and the whole system's latency, energy and area beside the edge TPU alone:

* latency terms: DAC conversions, analog windows (sampling window x firing waves), ADC conversions;
* energy terms: synapse devices, amplifiers, neurons, DACs, ADCs, sample-and-holds of shared converters;
* area terms: crossbars, and the periphery: DACs, ADCs, neurons (a derived 14 nm footprint by default), and
  amplifiers when their area is configured.

The window is max(sampling_time_s, k x Elmore delay of the crossbar), printed per crossbar size; the budget is
``peak_power_w`` (None = every crossbar of a layer in one window, IMAC-Sim's model); "peak W" is the most power
one window draws (above the budget only when a single crossbar exceeds it: one crossbar per window is the floor).
Takes about ten seconds (the Elmore delay of a 128 x 128 crossbar is one sparse solve of about a second; the TPU
baseline is computed once per model).

Run: .venv/bin/python benchmarks/imac_design_sensitivity.py
"""

from __future__ import annotations

import time

from imcsim.arch import imac
from imcsim.arch.system import System
from imcsim.config.presets import load_preset
from imcsim.workload.zoo import load_network

SIZES = (16, 32, 64, 128)
ADC_BITS = (4, 6, 8)
BUDGETS_W = (None, 20.0, 2.0, 0.2)

_EN = {"devices": "device_energy_j", "amplifiers": "amplifier_energy_j", "neurons": "neuron_energy_j",
       "dac": "dac_energy_j", "adc": "adc_energy_j", "sample-hold": "sample_hold_energy_j"}


def _imac_terms(rows):
    lat = {"dac": sum(r.metrics["mvms"] * r.metrics["dac_time_s"] for r in rows),
           "adc": sum(r.metrics["mvms"] * r.metrics["adc_time_s"] for r in rows),
           "windows": sum(r.metrics["mvms"] * r.metrics["waves"] * r.metrics["sampling_time_s"] for r in rows)}
    en = {k: sum(r.metrics[m] for r in rows) for k, m in _EN.items()}
    xbar = sum(r.metrics["crossbar_area_m2"] for r in rows)
    area_total = sum(r.metrics["area_m2"] for r in rows)
    return lat, en, {"crossbars": xbar, "periphery": area_total - xbar}


def _top(terms: dict[str, float]) -> str:
    total = sum(terms.values())
    k = max(terms, key=terms.get)
    return f"{k} {100 * terms[k] / total:.0f}%" if total else "-"


def main() -> None:
    t0 = time.perf_counter()
    system = load_preset("tpu-imac")
    print("Crossbar settling (window = max(1 ns, k tau), k = (ADC bits + 1) ln 2):")
    for n in SIZES:
        cfg = system.imac.replace(rows=n, cols=n)
        print(f"  {n:4d}x{n:<4d} Elmore tau {imac.elmore_tau_s(cfg) * 1e12:8.3f} ps   8-bit settling "
              f"{imac.settling_time_s(cfg) * 1e12:8.3f} ps")
    for model in ("vgg16", "alexnet"):
        net = load_network(model)
        sys0 = System(system)
        base = sys0.baseline(net)
        done = {c.name: c for c in base.layers}
        print(f"\n{model} on tpu-imac: edge TPU alone {base.latency_s * 1e3:.3f} ms, {base.energy_j * 1e3:.3f} mJ, "
              f"{float(sys0.host.area_m2(list(net))) * 1e6:.2f} mm^2")
        print(f"  {'xbar':>7s} {'ADC':>3s} {'budget':>7s} | {'IMAC lat':>9s} {'dominant':>14s} {'IMAC E':>9s} "
              f"{'dominant':>15s} {'IMAC area':>9s} {'dominant':>15s} {'waves':>7s} {'peak W':>8s} | "
              f"{'sys lat':>8s} {'speedup':>7s} {'sys E':>8s} {'sys area':>8s}")
        for n in SIZES:
            for bits in ADC_BITS:
                for budget in BUDGETS_W:
                    imac_cfg = system.imac.replace(rows=n, cols=n, adc={**system.imac.adc.model_dump(), "bits": bits},
                                                   peak_power_w=budget)
                    cfg = system.replace(imac=imac_cfg)
                    s = System(cfg)
                    run = s.run(net, digital_costs=done)
                    rows = [r for r in run.layers if r.unit == "imac" and "crossbars" in r.metrics]
                    lat, en, area = _imac_terms(rows)
                    areas = s.area(run, net)
                    waves = sum(r.metrics["waves"] for r in rows)
                    peak = max(r.metrics["peak_power_w"] for r in rows)
                    b = "none" if budget is None else f"{budget:g} W"
                    print(f"  {n:3d}x{n:<3d} {bits:3d} {b:>7s} | {sum(lat.values()) * 1e9:7.1f}ns {_top(lat):>14s} "
                          f"{sum(en.values()) * 1e6:7.3f}uJ {_top(en):>15s} {sum(area.values()) * 1e6:7.3f}mm2 "
                          f"{_top(area):>15s} {waves:7d} {peak:8.3g} | {run.latency_s * 1e3:6.3f}ms "
                          f"{base.latency_s / run.latency_s:6.2f}x {run.energy_j * 1e3:6.3f}mJ "
                          f"{sum(areas.values()) * 1e6:6.2f}mm2")
    print("\nConverter sharing, vgg16 on tpu-imac (32x32, 8-bit ADC, 2 W): IMAC latency, energy, area")
    net = load_network("vgg16")
    done = {c.name: c for c in System(system).baseline(net).layers}
    for per_dac, per_adc in ((1, 1), (8, 1), (64, 1), (1, 8), (1, 64), (8, 8), (64, 64)):
        cfg = system.replace(imac=system.imac.replace(inputs_per_dac=per_dac, outputs_per_adc=per_adc))
        s = System(cfg)
        rows = [r for r in s.run(net, digital_costs=done).layers if r.unit == "imac" and "crossbars" in r.metrics]
        lat, en, area = _imac_terms(rows)
        convert = {"dac": sum(r.metrics["dacs"] for r in rows), "adc": sum(r.metrics["adcs"] for r in rows)}
        print(f"  inputs/DAC {per_dac:3d} outputs/ADC {per_adc:3d}: {convert['dac']:6d} DACs {convert['adc']:5d} ADCs  "
              f"{sum(lat.values()) * 1e9:8.1f} ns ({_top(lat)})  {sum(en.values()) * 1e6:8.4f} uJ "
              f"(DAC {en['dac'] * 1e9:.3f} nJ, ADC {en['adc'] * 1e9:.3f} nJ, S+H {en['sample-hold'] * 1e9:.4f} nJ)  "
              f"periphery {area['periphery'] * 1e6:.4f} mm2")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
