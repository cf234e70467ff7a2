"""ADC-aware training on IMC cores (issue 11): accuracy against ADC bits, INL and ADC energy on Fashion-MNIST.

LeNet-5 and a VGG-style network with every convolution and dense layer on IMC cores (128 x 128 arrays, 4-bit weights
on 2-bit cells, differential pairs, 8-bit inputs through 8-bit pulse-width DACs in one read, 16 columns per ADC,
5% uniform device variation). Per network:

1. float training; then the IMC model (weights and inputs quantised, devices resampled every batch) fine-tuned with
   the ADC *out* of the loop: the "without ADC" model;
2. for every ADC point (bits x INL): the same starting model fine-tuned one more phase with that ADC in the loop
   (instances resampled every batch): the "ADC-aware" model; the "without ADC" model gets the same number of extra
   epochs without the ADC;
3. both evaluated calibration-free on the same >= 10 Monte Carlo chips (fixed devices and ADC instances; one ADC
   range per layer, set once);
4. each point's ADC energy per inference from the IMC cost model (:func:`imcsim.arch.imc.imc_layer_cost`). INL
   points are approximate ADCs (:class:`imcsim.config.approx_adc.ApproxADC`): a converter whose nominal errors
   (0.5 LSB INL, 0.25 LSB offset) grow as 1/sqrt(power), so INL 1 runs at 1/4 and INL 2 at 1/16 of the energy;
   INL 0 is an ideal converter at full energy.

Prints the table, the accuracy-vs-ADC-energy frontier (plot in OUT/frontier.png), the accuracy ADC-aware training
recovers and the energy it saves at equal accuracy, and the epoch time of ADC-aware LeNet-5 against float (target
<= 3x). Results go to OUT/results.json after every point; rerunning with the same OUT skips the points done.

Usage: .venv/bin/python benchmarks/imc_adc_aware.py --quick      (3,000 training / 500 test images, LeNet-5 and
       the VGG-style net, bits 3/4/6 x INL 0/2: measured here about 25 minutes for LeNet-5 and over an hour for the
       VGG-style net on a shared 2-core machine; --models, --bits, --inl, --train-limit narrow it)
       .venv/bin/python benchmarks/imc_adc_aware.py --models lenet5   (full data, bits 3..8 x INL 0/0.5/1/2, 10
       chips: measured about 2 hours on a shared 2-core machine)
       .venv/bin/python benchmarks/imc_adc_aware.py --models vgg --train-limit 10000 --test-limit 1000 --inl 0,1
       (the VGG-style net is about 11x LeNet-5's MACs; split the grid over processes with --bits / --inl and
       separate --out directories, then)
       .venv/bin/python benchmarks/imc_adc_aware.py --report DIR1 DIR2 ... --out DIR   (one report over them all)
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imcsim.arch.imc import imc_layer_cost
from imcsim.config.approx_adc import ApproxADC
from imcsim.config.imc import IMCConfig
from imcsim.nn.imc_convert import IMCModel, convert_imc
from imcsim.nn.nonideal import NonIdealities
from imcsim.report.io import dumps_json, write_atomic
from imcsim.train.data import load_dataset
from imcsim.workload.from_torch import from_torch
from imcsim.workload.zoo import build_model

NOMINAL_INL, NOMINAL_OFFSET = 0.5, 0.25  # LSB at full power (assumption, see ApproxADC)


def vgg_small(num_classes: int = 10) -> nn.Module:
    """A VGG-style network for 1 x 28 x 28: two blocks of two 3 x 3 convolutions, max pooling, two dense layers."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, num_classes))


def core(bits: int = 8) -> IMCConfig:
    return IMCConfig(name="bench", rows=128, cols=128, cell_bits=2, weight_bits=4, encoding="differential",
                     input_bits=8, activation_bits=8, dac={"bits": 8}, cols_per_adc=16, adc={"bits": bits},
                     device={"variation": 0.05})


def adc_point(bits: int, inl: float) -> ApproxADC:
    """INL 0: an ideal converter at full energy; otherwise the approximate ADC whose INL has grown to ``inl``."""
    if inl == 0:
        return ApproxADC(bits=bits)
    p = (NOMINAL_INL / inl) ** 2
    return ApproxADC(bits=bits, power_scale=min(p, 1.0), inl_lsb=NOMINAL_INL, offset_sigma_lsb=NOMINAL_OFFSET)


def adc_energy_j(model: nn.Module, cfg: IMCConfig) -> float:
    """ADC energy per inference (J) of every weight layer of ``model`` on ``cfg`` (the IMC cost model)."""
    net = from_torch(model, (1, 28, 28))
    return float(sum(imc_layer_cost(lay, cfg).metrics["energy_adc_j"] for lay in net.layers
                     if lay.kind.has_weights))


def run_epochs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int,
               batch: int = 128) -> float:
    """Train ``epochs`` epochs (AdamW, cosine); returns seconds per epoch."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), batch):
            sel = perm[b:b + batch]
            loss = F.cross_entropy(model(x[sel]), y[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    return (time.perf_counter() - t0) / max(epochs, 1)


def interleaved_epochs(a: nn.Module, b: nn.Module, x: torch.Tensor, y: torch.Tensor,
                       batch: int = 128) -> tuple[float, float]:
    """Seconds of one training epoch of ``a`` and of ``b`` on the same batches, a batch of one then a batch of the
    other, so that a shared machine's load falls on both alike."""
    opts = [torch.optim.AdamW(m.parameters(), lr=2e-4) for m in (a, b)]
    times = [0.0, 0.0]
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    for m in (a, b):
        m.train()
    for i in range(0, len(x), batch):
        sel = perm[i:i + batch]
        for j, (m, opt) in enumerate(zip((a, b), opts)):
            t0 = time.perf_counter()
            loss = F.cross_entropy(m(x[sel]), y[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times[j] += time.perf_counter() - t0
    return times[0], times[1]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float(sum(int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(x), 500))
                 / len(x))


@torch.no_grad()
def set_adc(model: IMCModel, cfg: IMCConfig, x: torch.Tensor) -> None:
    """Put ``cfg``'s ADC into ``model`` and set each layer's ADC range once, on batch ``x`` with the ideal chip
    (the same rule for the ADC-aware and the unaware model)."""
    model.set_hardware(cfg, NonIdealities(adc=True))
    for m in model.imc_layers():
        m.adc_calibrated.fill_(False)
    model.eval()
    model(x)


@torch.no_grad()
def monte_carlo(model: IMCModel, cfg: IMCConfig, x, y, chips: int) -> list[float]:
    """Accuracy on chips 1000 .. 1000 + chips - 1 with ``cfg``'s ADC and devices (calibration-free)."""
    model.set_hardware(cfg, NonIdealities(adc=True))
    accs = []
    for k in range(chips):
        model.set_chip(1000 + k)
        accs.append(accuracy(model, x, y))
    return accs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="subsets and a small grid")
    ap.add_argument("--models", default=None, help="comma list of lenet5, vgg")
    ap.add_argument("--bits", default=None, help="comma list of ADC bits")
    ap.add_argument("--inl", default=None, help="comma list of INL (LSB)")
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--float-epochs", type=int, default=None)
    ap.add_argument("--imc-epochs", type=int, default=None, help="fine-tuning epochs without the ADC")
    ap.add_argument("--aware-epochs", type=int, default=1, help="extra epochs with / without the ADC")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="/tmp/imcsim-bench-imc-adc")
    ap.add_argument("--report", nargs="+", metavar="DIR", default=None,
                    help="no training: report over the union of these output directories' results (runs split over "
                         "several processes), written to --out")
    args = ap.parse_args()
    if args.report:
        return merged_report([Path(d) for d in args.report], Path(args.out))
    q = args.quick
    models = (args.models or ("lenet5,vgg" if not q else "lenet5,vgg")).split(",")
    bits = [int(b) for b in (args.bits or ("3,4,6" if q else "3,4,5,6,7,8")).split(",")]
    inls = [float(v) for v in (args.inl or ("0,2" if q else "0,0.5,1,2")).split(",")]
    train_limit = args.train_limit or (3000 if q else None)
    test_limit = args.test_limit or (500 if q else None)
    float_epochs = args.float_epochs if args.float_epochs is not None else (3 if q else 10)
    imc_epochs = args.imc_epochs if args.imc_epochs is not None else (1 if q else 3)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res_path = out / "results.json"
    results = json.loads(res_path.read_text()) if res_path.is_file() else {"points": {}, "timing": {}}
    ds = load_dataset("fashion-mnist").subset(train_limit, test_limit)
    xtr, ytr = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    xte, yte = torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test)
    print(f"Fashion-MNIST {len(xtr)} train / {len(xte)} test; models {models}; ADC bits {bits}; INL {inls}; "
          f"{args.chips} chips; {args.threads} thread(s)", flush=True)

    def save() -> None:
        write_atomic(res_path, dumps_json(results))

    for name in models:
        torch.manual_seed(0)
        fl = build_model("lenet5") if name == "lenet5" else vgg_small()
        t_float = run_epochs(fl, xtr, ytr, float_epochs, 2e-3, 0)
        acc_float = accuracy(fl, xte, yte)
        print(f"[{name}] float: {acc_float * 100:.2f}% ({float_epochs} epochs, {t_float:.1f} s/epoch)", flush=True)
        base_cfg = core(8)
        base = convert_imc(fl, "all-imc", base_cfg, nonideal=NonIdealities(adc=False))
        base.noise_aware = True
        run_epochs(base, xtr, ytr, imc_epochs, 5e-4, 1)
        no_adc = copy.deepcopy(base)
        t_noadc = run_epochs(no_adc, xtr, ytr, args.aware_epochs, 2e-4, 2)
        if name == "lenet5":  # the speed target: one ADC-aware epoch against one float epoch, same data
            timing_model = convert_imc(fl, "all-imc", adc_point(6, 1.0).apply(core(6)))
            timing_model.noise_aware = True
            t_fl, t_aware = interleaved_epochs(copy.deepcopy(fl), timing_model, xtr, ytr)
            results["timing"] = {"float_epoch_s": t_fl, "adc_aware_epoch_s": t_aware, "ratio": t_aware / t_fl,
                                 "images": len(xtr), "no_adc_epoch_s": t_noadc}
            print(f"[lenet5] epoch time (batches interleaved): float {t_fl:.2f} s, ADC-aware (6-bit ADC, INL 1 LSB, "
                  f"5% variation) {t_aware:.2f} s: {t_aware / t_fl:.2f}x (target <= 3x)", flush=True)
            save()
        for b in bits:
            for inl in inls:
                key = f"{name}/b{b}/inl{inl:g}"
                if key in results["points"]:
                    continue
                adc = adc_point(b, inl)
                cfg = adc.apply(core(b))
                aware = copy.deepcopy(base)
                set_adc(aware, cfg, xtr[:256])
                aware.noise_aware = True
                run_epochs(aware, xtr, ytr, args.aware_epochs, 2e-4, 2)
                plain = copy.deepcopy(no_adc)
                set_adc(plain, cfg, xtr[:256])
                mc_aware = monte_carlo(aware, cfg, xte, yte, args.chips)
                mc_plain = monte_carlo(plain, cfg, xte, yte, args.chips)
                e = adc_energy_j(fl, cfg)
                results["points"][key] = {
                    "model": name, "bits": b, "inl_lsb": inl, "power_scale": adc.power_scale, "adc_energy_j": e,
                    "float_accuracy": acc_float, "aware_mean": float(np.mean(mc_aware)),
                    "aware_std": float(np.std(mc_aware, ddof=1)), "no_adc_mean": float(np.mean(mc_plain)),
                    "no_adc_std": float(np.std(mc_plain, ddof=1)), "chips": args.chips}
                save()
                p = results["points"][key]
                print(f"[{name}] {b}-bit ADC, INL {inl:g} LSB (power x{adc.power_scale:.3g}): ADC energy "
                      f"{e * 1e9:.3f} nJ/inference; ADC-aware {p['aware_mean'] * 100:.2f}% +- "
                      f"{p['aware_std'] * 100:.2f}, without ADC {p['no_adc_mean'] * 100:.2f}% +- "
                      f"{p['no_adc_std'] * 100:.2f} ({args.chips} chips)", flush=True)
    report(results, out)
    return 0


def merged_report(dirs: list[Path], out: Path) -> int:
    """The report over the points of several runs' results.json (a point present in two runs: the later directory
    wins); the timing of the last run that has one."""
    merged: dict = {"points": {}, "timing": {}}
    for d in dirs:
        res = json.loads((d / "results.json").read_text())
        merged["points"].update(res.get("points", {}))
        merged["timing"] = res.get("timing") or merged["timing"]
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", dumps_json(merged))
    report(merged, out)
    return 0


def report(results: dict, out: Path) -> None:
    pts = list(results["points"].values())
    print("\nmodel   bits  INL  power   ADC nJ/inf  ADC-aware %     without ADC %   recovered")
    for p in sorted(pts, key=lambda p: (p["model"], p["adc_energy_j"])):
        print(f"{p['model']:7s} {p['bits']:4d} {p['inl_lsb']:4.1f} {p['power_scale']:6.3f} {p['adc_energy_j'] * 1e9:10.3f}"
              f"  {p['aware_mean'] * 100:6.2f} +-{p['aware_std'] * 100:4.2f}  {p['no_adc_mean'] * 100:6.2f} +-"
              f"{p['no_adc_std'] * 100:4.2f}  {(p['aware_mean'] - p['no_adc_mean']) * 100:+6.2f}")
    lines = []
    for name in sorted({p["model"] for p in pts}):
        mp = [p for p in pts if p["model"] == name]
        best = max(p["no_adc_mean"] for p in mp)
        for tol in (0.01, 0.02, 0.05, 0.10):
            target = best - tol  # accuracies are multiples of 1 / (chips x images): compare with a margin
            e_aw = [p["adc_energy_j"] for p in mp if p["aware_mean"] >= target - 1e-9]
            e_no = [p["adc_energy_j"] for p in mp if p["no_adc_mean"] >= target - 1e-9]
            if e_aw and e_no:
                lines.append(f"{name}: to reach {target * 100:.2f}% (best without-ADC accuracy - {tol * 100:.0f} "
                             f"points) ADC-aware needs {min(e_aw) * 1e9:.3f} nJ, without ADC {min(e_no) * 1e9:.3f} "
                             f"nJ per inference: {min(e_no) / min(e_aw):.2f}x less ADC energy")
        gain = [p["aware_mean"] - p["no_adc_mean"] for p in mp]
        lines.append(f"{name}: ADC-aware training recovers {np.mean(gain) * 100:+.2f} points on average, "
                     f"{max(gain) * 100:+.2f} at most (over {len(mp)} ADC points)")
    t = results.get("timing") or {}
    if t:
        lines.append(f"lenet5 epoch: float {t['float_epoch_s']:.2f} s, ADC-aware {t['adc_aware_epoch_s']:.2f} s "
                     f"= {t['ratio']:.2f}x float (target <= 3x) on {t['images']} images")
    print("\n" + "\n".join(lines))
    write_atomic(out / "summary.txt", "\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, color in zip(sorted({p["model"] for p in pts}), ("tab:blue", "tab:red", "tab:green")):
        mp = sorted((p for p in pts if p["model"] == name), key=lambda p: p["adc_energy_j"])
        for key, style, label in (("aware_mean", "o-", "ADC-aware"), ("no_adc_mean", "x--", "without ADC")):
            e = np.array([p["adc_energy_j"] * 1e9 for p in mp])
            a = np.array([p[key] * 100 for p in mp])
            ax.plot(e, a, style[0], color=color, alpha=0.35)
            front = [i for i in range(len(e)) if a[i] >= max(a[: i + 1])]  # Pareto frontier (energy ascending)
            ax.plot(e[front], a[front], style, color=color, label=f"{name} {label}")
    ax.set_xscale("log")
    ax.set_xlabel("ADC energy per inference (nJ)")
    ax.set_ylabel("test accuracy, mean over chips (%)")
    ax.set_title("Fashion-MNIST on IMC cores: accuracy vs ADC energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=120)
    print(f"plot: {out / 'frontier.png'}; results: {out / 'results.json'}")


if __name__ == "__main__":
    raise SystemExit(main())
