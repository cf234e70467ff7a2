"""A 400-120-84-10 binary IMAC MLP at circuit level: whole test set with wire parasitics, and accuracy against size.

Weights: no trained IMAC deployment ships with imcsim, so this script trains one itself (about a minute on 2 CPU
cores): Fashion-MNIST (the full 60k/10k IDX files of Debian's dataset-fashion-mnist, read by imcsim.train.data)
resized from 28x28 to 20x20 (area averaging, imcsim.train.data.Dataset.resized), pixels x in [0, 1] driven as
voltages Vdd (2x - 1). Each layer is the canonical IMAC layer with binary weights and bias ({-1, +1}, BinaryConnect
with a straight-through estimator):

    v_n = T_l (G_on - G_off) (W h + b Vdd),   h' = neuron(v_n)   (the inverting sigmoid of imcsim.circuit.neuron)

IMAC-Sim's 30 kOhm transimpedance would put every neuron deep in saturation (a 401-input sum spans hundreds of
sigmoid widths), so, as the training code of imcsim.nn does, each layer's transimpedance T_l (a feedback resistor) is
calibrated on the first training batch so that the neuron inputs have a standard deviation of 2 / slope, then kept.
The loss is cross-entropy on -slope * v_n of the last layer (the neuron inverts: the class is the highest output).

Then, with imcsim.circuit.network.IMACNetwork on the very same weights and transimpedances:

1. the 10,000 test images on 32x32 partitions (13/4/3 x 4/3/1) with IMAC-Sim's 9 nm wire parasitics, timed end to
   end (transfer matrices of all 67 crossbars + the three layers over the whole set): target <= 30 s;
2. accuracy and mean crossbar power against crossbar size (16 to 128, and one array per layer, unpartitioned), with
   and without parasitics, and after a short parasitic-aware fine-tuning: the forward pass uses each layer's exact
   parasitic effective matrix from the circuit solver (recomputed every 50 steps for the current binary weights),
   the gradient passes straight through the ideal one.

Usage: .venv/bin/python benchmarks/imac_mlp_parasitics.py [--epochs N] [--ft-epochs N]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from imcsim.circuit.network import IMACNetwork
from imcsim.circuit.neuron import neuron_transfer
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.device import DeviceConfig
from imcsim.config.neuron import NeuronConfig
from imcsim.config.wires import WireConfig
from imcsim.train.data import load_dataset

VDD = 0.8
BATCH = 256
SIZES = (400, 120, 84, 10)


def voltages(x: np.ndarray) -> np.ndarray:
    """(N, 1, 20, 20) pixels in [0, 1] -> (N, 400) input voltages in [-Vdd, Vdd]."""
    return VDD * (2 * np.asarray(x, dtype=np.float64).reshape(len(x), -1) - 1)


def binarize(w: torch.Tensor) -> torch.Tensor:
    """sign(w) in {-1, +1} forward, straight-through (identity inside [-1, 1]) backward."""
    hard = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    return w + (hard - w).detach()


def hard_weights(params) -> list[tuple[np.ndarray, np.ndarray]]:
    """The binary weights and biases of latent parameters, as numpy (W (out, in), b (out,))."""
    return [(np.where(w.detach().numpy() >= 0, 1.0, -1.0), np.where(b.detach().numpy() >= 0, 1.0, -1.0))
            for w, b in params]


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, params=None, tz=None, lr: float = 2e-3,
          parasitic_net=None, refresh: int = 50):
    """BinaryConnect training of the canonical IMAC MLP; returns (latent params, transimpedances, seconds).

    With ``parasitic_net`` (a function weights -> IMACNetwork with wires) the forward pass uses the exact parasitic
    circuit: each layer's effective matrix is the ideal one plus a correction A_parasitic - A_ideal computed by the
    circuit solver for the current binary weights every ``refresh`` steps (straight-through for the gradient).
    """
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    dev, neuron = DeviceConfig(), NeuronConfig()
    dg, slope = dev.delta_g, neuron.slope_per_v
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    if params is None:
        params = [(torch.empty(o, i).uniform_(-1, 1).requires_grad_(), torch.empty(o).uniform_(-1, 1).requires_grad_())
                  for i, o in zip(SIZES[:-1], SIZES[1:])]
    if tz is None:
        tz = []
        with torch.no_grad():  # calibrate each transimpedance on one batch: std(v_n) = 2 / slope
            h = xt[:512]
            for w, b in params:
                s = h @ binarize(w).T + binarize(b) * VDD
                tz.append(float(2.0 / slope / (dg * s.std())))
                h = neuron_transfer(tz[-1] * dg * s, neuron)
    opt = torch.optim.Adam([p for pair in params for p in pair], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * (len(x) // BATCH + 1))
    corr = [None] * len(params)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for s0 in range(0, len(x), BATCH):
            if parasitic_net is not None and step % refresh == 0:
                net = parasitic_net(hard_weights(params), tuple(tz))
                corr = []
                for (w, b), lay, t in zip(hard_weights(params), net.layers, tz):
                    ideal = t * dg * np.concatenate([w, b[:, None]], axis=1)
                    corr.append(torch.as_tensor(lay.effective_matrix - ideal, dtype=torch.float32))
            step += 1
            idx = perm[s0:s0 + BATCH]
            h = xt[idx]
            for k, (w, b) in enumerate(params):
                u = torch.cat([h, torch.full((len(h), 1), VDD)], dim=1)
                a = tz[k] * dg * torch.cat([binarize(w), binarize(b)[:, None]], dim=1)
                if corr[k] is not None:
                    a = a + corr[k]
                v_n = u @ a.T
                h = neuron_transfer(v_n, neuron)
            loss = F.cross_entropy(-slope * v_n, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for w, b in params:
                    w.clamp_(-1, 1)
                    b.clamp_(-1, 1)
    return params, tuple(tz), time.perf_counter() - t0


def main() -> None:
    epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 6
    ft_epochs = int(sys.argv[sys.argv.index("--ft-epochs") + 1]) if "--ft-epochs" in sys.argv else 1
    torch.set_num_threads(1)  # the tiny matmuls gain nothing from threads; 2 threads on 2 busy cores is 5x slower
    ds = load_dataset("fashion-mnist", image_size=(20, 20))  # area averaging (imcsim.train.data.Dataset.resized)
    xtr, xte = voltages(ds.x_train), voltages(ds.x_test)
    ytr, yte = ds.y_train.astype(np.int64), ds.y_test.astype(np.int64)
    print(f"data: Fashion-MNIST resized to 20x20, {len(xtr)} train / {len(xte)} test, inputs in [-{VDD}, {VDD}] V")
    params, tz, t_train = train(xtr, ytr, epochs)
    weights = hard_weights(params)
    amp = AmplifierConfig(transimpedance_ohm=tz)
    print(f"trained 400-120-84-10 binary MLP in {t_train:.1f} s ({epochs} epochs, ideal wires); calibrated "
          f"transimpedances {', '.join(f'{t:.1f}' for t in tz)} ohm")

    print("\n1. 10,000 test images on 32x32 crossbars with 9 nm parasitics (end to end)")
    t0 = time.perf_counter()
    net = IMACNetwork.from_weights(weights, rows=32, cols=32, wires=WireConfig(), amplifier=amp, vdd_v=VDD)
    res = net.evaluate(xte, yte)
    t_total = time.perf_counter() - t0
    parts = [f"{lay.partition.horizontal}/{lay.partition.vertical}" for lay in net.layers]
    print(f"partitions (horizontal/vertical) per layer: {', '.join(parts)}; crossbars "
          f"{sum(len(lay.tiles) for lay in net.layers)}")
    print(f"accuracy {100 * res.accuracy:.2f}%, mean crossbar power {1e3 * res.mean_power_w:.3f} mW; "
          f"build {t_total - res.seconds:.2f} s + evaluate {res.seconds:.2f} s = {t_total:.2f} s "
          f"(target <= 30 s: {'met' if t_total <= 30 else 'MISSED'})")

    print("\n2. accuracy against crossbar size (rows = cols = N; 'whole' = one array per layer, no partitioning)")
    print(f"   trained on ideal wires; 'aware' = then fine-tuned {ft_epochs} epochs through the exact parasitic "
          f"circuit of that size")
    print(f"{'N':>6} {'partitions h/v':>22} {'ideal wires':>12} {'9nm wires':>10} {'9nm aware':>10} "
          f"{'power ideal':>12} {'power 9nm':>10} {'time s':>7}")
    for n in (16, 32, 64, 128, None):
        rows, cols = (n, n) if n else (max(SIZES) + 1, max(SIZES[1:]))
        t1 = time.perf_counter()

        def build(w, t, wires=WireConfig(), rows=rows, cols=cols):
            return IMACNetwork.from_weights(w, rows=rows, cols=cols, wires=wires,
                                            amplifier=AmplifierConfig(transimpedance_ohm=t), vdd_v=VDD)
        ideal = build(weights, tz, wires=None).evaluate(xte, yte)
        pnet = build(weights, tz)
        par = pnet.evaluate(xte, yte)
        aware = float("nan")
        if n is not None and ft_epochs > 0:
            ft, _, _ = train(xtr, ytr, ft_epochs, params=[(w.detach().clone().requires_grad_(),
                                                           b.detach().clone().requires_grad_()) for w, b in params],
                             tz=list(tz), lr=5e-4, parasitic_net=build)
            aware = build(hard_weights(ft), tz).evaluate(xte, yte).accuracy
        parts = " ".join(f"{lay.partition.horizontal}/{lay.partition.vertical}" for lay in pnet.layers)
        label = str(n) if n else "whole"
        aware_s = f"{100 * aware:9.2f}%" if aware == aware else f"{'-':>10}"
        print(f"{label:>6} {parts:>22} {100 * ideal.accuracy:11.2f}% {100 * par.accuracy:9.2f}% "
              f"{aware_s} {1e3 * ideal.mean_power_w:9.1f} mW {1e3 * par.mean_power_w:7.1f} mW "
              f"{time.perf_counter() - t1:7.1f}", flush=True)

    print("\n3. 32x32 with parasitics and device variation R(1 + U(-v, v)), 3 chips each (ideal-trained weights)")
    for v in (0.05, 0.1, 0.2):
        accs = [IMACNetwork.from_weights(weights, rows=32, cols=32, wires=WireConfig(), amplifier=amp, vdd_v=VDD,
                                         device=DeviceConfig(variation=v), seed=s).evaluate(xte, yte).accuracy
                for s in range(3)]
        print(f"variation {v:.2f}: accuracy {100 * np.mean(accs):.2f}% (min {100 * min(accs):.2f}%, "
              f"max {100 * max(accs):.2f}%)")


if __name__ == "__main__":
    main()
