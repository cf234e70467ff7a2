"""How the IMAC unit's costs respond to its design: VGG-16 and AlexNet on the tpu-imac preset over crossbar size x
ADC resolution x analog power budget.

For every point it prints the IMAC unit's latency, energy and area (the dense layers it runs, converters included)
with the term that dominates each, and the whole system's latency, energy and area beside the edge TPU alone:

* latency terms: DAC conversions, analog windows (sampling window x firing waves), ADC conversions;
* energy terms: synapse devices, amplifiers, neurons, DACs, ADCs, sample-and-holds of shared converters;
* area terms: crossbars, converters (DACs, ADCs, sample-and-holds), neurons and amplifiers (footprints derived at
  14 nm pitches by default, see imcsim.config.imac).

First, how much the derived peripheral costs (op-amp bias power and area, inverter bias power:
imcsim.circuit.peripherals) move the IMAC totals of VGG-16 and LeNet-5 on tpu-imac: every energy and area term's
share with them, and the IMAC latency, energy and area against the same preset with those terms set to 0 (not
counted).

The window is max(sampling_time_s, k x Elmore delay of the crossbar), printed per crossbar size; the budget is
``peak_power_w`` (None = every crossbar of a layer in one window, IMAC-Sim's model); "peak W" is the most power
one window draws (above the budget only when a single crossbar exceeds it: one crossbar per window is the floor).
Takes about ten seconds (the Elmore delay of a 128 x 128 crossbar is one sparse solve of about a second; the TPU
baseline is computed once per model).

Accuracy under the physical default: LeNet-5 on Fashion-MNIST and IMAC-Sim's 400-120-84-10 MLP on the mnist-5k
digits, each trained as ``imcsim train --target tpu-imac`` trains by default (the tpu-imac preset's IMAC unit: MTJ
synapses on 32 x 32 crossbars, 9 nm wires, exact IR drop in the loop, 8-bit output ADC), on at most 5,000 images:
LeNet-5 for 2 epochs (the issue's evidence run), the MLP for the CLI's default 10 epochs (``--epochs`` sets both,
``--train-limit`` the images), then evaluated as ``imcsim evaluate`` evaluates by default (the nominal chip, exact
IR drop), with the effects line every accuracy result carries; the ideal-wire accuracy of the same network is
printed beside it, and so is the physical accuracy of the same network trained on ideal wires (``--ir-drop off``).
The MLP takes 20 x 20 images (IMAC-Sim's input), so its run area-averages the 28 x 28 digits to 20 x 20
(``image_size``, as ``imcsim train --model mlp --dataset mnist-5k --image-size 20x20``; its evaluations resize the
same way). About two minutes more on 2 cores; ``--no-accuracy`` skips it, ``--accuracy-only`` runs only it. Needs the
Debian package dataset-fashion-mnist for LeNet-5 (skipped with a note without it).

Run: .venv/bin/python benchmarks/imac_design_sensitivity.py [--no-accuracy | --accuracy-only] [--epochs N]
[--train-limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
    area = {k: sum(r.metrics[f"{m}_area_m2"] for r in rows)
            for k, m in (("crossbars", "crossbar"), ("converters", "converter"), ("neurons", "neuron"),
                         ("amplifiers", "amplifier"))}
    return lat, en, area


def _top(terms: dict[str, float]) -> str:
    total = sum(terms.values())
    k = max(terms, key=terms.get)
    return f"{k} {100 * terms[k] / total:.0f}%" if total else "-"


def _shares(terms: dict[str, float]) -> str:
    total = sum(terms.values())
    return ", ".join(f"{k} {100 * v / total:.3g}%" for k, v in terms.items())


def peripheral_shares() -> None:
    system = load_preset("tpu-imac")
    print("Not counted by the tpu-imac preset: " + (", ".join(system.imac.uncounted_terms) or "nothing"))
    off = system.replace(imac=system.imac.replace(amplifier_bias_power_w=0, neuron_bias_power_w=0,
                                                   amplifier_area_m2=0))
    for model in ("vgg16", "lenet5"):
        net = load_network(model)
        done = {c.name: c for c in System(system).baseline(net).layers}
        runs = {}
        for label, cfg in (("derived", system), ("left out", off)):
            rows = [r for r in System(cfg).run(net, digital_costs=done).layers
                    if r.unit == "imac" and "crossbars" in r.metrics]
            runs[label] = rows
        rows = runs["derived"]
        amp_bias = sum(r.metrics["amplifier_energy_j"] * r.metrics["amplifier_bias_power_w"]
                       / r.metrics["amplifier_power_w"] for r in rows)
        neu_bias = sum(r.metrics["neuron_energy_j"] * r.metrics["neuron_bias_power_w"] / r.metrics["neuron_power_w"]
                       for r in rows)
        lat, en, area = _imac_terms(rows)
        en = {"devices": en["devices"], "amplifier load": en["amplifiers"] - amp_bias, "amplifier bias": amp_bias,
              "neuron resistors": en["neurons"] - neu_bias, "neuron bias": neu_bias, "dac": en["dac"],
              "adc": en["adc"], "sample-hold": en["sample-hold"]}
        lat0, en0, area0 = _imac_terms(runs["left out"])
        first = rows[0].metrics
        print(f"\n{model} on tpu-imac (32x32, 8-bit ADC, 1 ns, 2 W budget), {len(rows)} IMAC layers; layer 1 per "
              f"amplifier: bias {first['amplifier_bias_power_w'] * 1e3:.3f} mW + load "
              f"{(first['amplifier_power_w'] - first['amplifier_bias_power_w']) * 1e3:.4f} mW, GBW "
              f"{first['amplifier_gbw_hz'] / 1e9:.1f} GHz, area {first['amplifier_area_m2'] / first['amplifiers'] * 1e12:.3f} "
              f"um^2; per neuron: bias {first['neuron_bias_power_w'] * 1e6:.3f} uW + resistors "
              f"{(first['neuron_power_w'] - first['neuron_bias_power_w']) * 1e6:.3f} uW")
        print(f"  energy {sum(en.values()) * 1e6:.4f} uJ: {_shares(en)}")
        print(f"  area {sum(area.values()) * 1e6:.5f} mm^2: {_shares(area)}")
        print(f"  against the bias powers and amplifier area left out: latency {sum(lat.values()) * 1e9:.1f} ns vs "
              f"{sum(lat0.values()) * 1e9:.1f} ns ({sum(lat.values()) / sum(lat0.values()):.3f}x), energy "
              f"{sum(en.values()) / sum(en0.values()):.4f}x, area {sum(area.values()) / sum(area0.values()):.4f}x")


def costs() -> None:
    system = load_preset("tpu-imac")
    peripheral_shares()
    print()
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
              f"converters {area['converters'] * 1e6:.4f} mm2")


EPOCHS = {"lenet5": 2, "mlp": 10}
IMAGE_SIZE = {"mlp": (20, 20)}  # IMAC-Sim's MLP input; the run resizes its digits (image_size), as evaluate does


def accuracy(epochs: int | None, train_limit: int | None, out: Path) -> None:
    """Train LeNet-5 and the MLP as `imcsim train --target tpu-imac` does (shorter) and evaluate them as `imcsim
    evaluate` does by default; print the accuracy with its effects line."""
    import torch

    from imcsim.circuit.chip import describe_effects
    from imcsim.errors import DataError
    from imcsim.train.data import load_dataset
    from imcsim.train.evaluate import HardwareChanges, evaluate_run
    from imcsim.train.trainer import TrainConfig, train

    torch.set_num_threads(1)  # OpenMP threads collapse on a shared 2-core machine
    print("\nAccuracy under the physical default (trained for tpu-imac"
          + (f" on at most {train_limit} images" if train_limit else "") + ")")
    for model, dataset in (("lenet5", "fashion-mnist"), ("mlp", "mnist-5k")):
        try:
            ds = load_dataset(dataset)
        except DataError as exc:
            print(f"  {model} on {dataset}: skipped ({exc})")
            continue
        ds = ds.subset(train_limit, None)
        cfg = TrainConfig(model=model, dataset=dataset, target="tpu-imac", epochs=epochs or EPOCHS[model], seed=0,
                          image_size=IMAGE_SIZE.get(model))
        t = time.perf_counter()
        run = out / model
        res = train(cfg, run, progress=False, data=ds, overwrite=True)
        t_train = time.perf_counter() - t
        phys = evaluate_run(run, data=ds)                                        # `imcsim evaluate RUN`
        ideal = evaluate_run(run, data=ds, changes=HardwareChanges(ir_drop="off"))
        size = "x".join(map(str, cfg.image_size or ds.input_shape[1:]))
        print(f"  {model} on {dataset} ({len(ds.x_train)} train / {phys.n_test} test images, "
              f"{size}): physical default {100 * phys.accuracy:.2f}%, "
              f"ideal wires {100 * ideal.accuracy:.2f}% (training's own model {100 * res.test_accuracy:.2f}%; "
              f"{cfg.epochs} epochs with IR drop {cfg.ir_drop}, {t_train:.0f} s)")
        print(f"    effects: {describe_effects(phys.effects['nominal'])}")
        off_cfg = cfg.replace_paths({"ir_drop": "off"})
        train(off_cfg, out / f"{model}-ideal-wires", progress=False, data=ds, overwrite=True)
        off_phys = evaluate_run(out / f"{model}-ideal-wires", data=ds)
        off_ideal = evaluate_run(out / f"{model}-ideal-wires", data=ds, changes=HardwareChanges(ir_drop="off"))
        print(f"    trained on ideal wires instead (--ir-drop off): physical default {100 * off_phys.accuracy:.2f}%, "
              f"ideal wires {100 * off_ideal.accuracy:.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--no-accuracy", action="store_true", help="costs only")
    part.add_argument("--accuracy-only", action="store_true", help="the accuracy lines only")
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs of both networks (default: LeNet-5 2, the MLP 10)")
    ap.add_argument("--train-limit", type=int, default=5000,
                    help="train on the first N images (default 5000; 0: all)")
    ap.add_argument("--out", default=None, help="keep the two runs here (default: a temporary directory)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not args.accuracy_only:
        costs()
    if not args.no_accuracy:
        if args.out:
            accuracy(args.epochs, args.train_limit or None, Path(args.out))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                accuracy(args.epochs, args.train_limit or None, Path(tmp))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
