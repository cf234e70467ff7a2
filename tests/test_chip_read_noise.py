"""Read noise drawn from the shared chip: the same seed gives the same noise per read in nn/ and circuit/, whatever
the batching, and the draws have the distribution of independent per-device reads."""

import numpy as np
import torch

from imcsim.circuit.chip import draw_chip, effect_rng
from imcsim.circuit.devices import read_noise, weights_to_conductances
from imcsim.circuit.network import IMACNetwork
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import IMACConfig
from imcsim.nn.imac_linear import IMACLinear
from imcsim.nn.nonideal import Chip

DEV = DeviceConfig(variation=0.2, stuck_low_rate=0.03, stuck_high_rate=0.03, read_noise=0.1)


def _nn_layers(weights, seed, rows):
    hw = IMACConfig(rows=rows, cols=8, device=DEV)
    draws, _ = draw_chip([(w.shape[0], w.shape[1] + 1) for w, _ in weights], DEV, None, seed)
    layers = []
    for k, (w, b) in enumerate(weights):
        lay = IMACLinear(w.shape[1], w.shape[0], k, hw, precision="ternary").double()
        with torch.no_grad():
            lay.weight.copy_(torch.as_tensor(w, dtype=torch.float64))
            lay.bias.copy_(torch.as_tensor(b, dtype=torch.float64))
        lay.chip = Chip.of(draws[k])
        lay.read_noise_gen = effect_rng(seed, "read", k)
        layers.append(lay)
    return layers


def test_same_seed_same_read_noise_in_nn_and_circuit_whatever_the_batches():
    rng = np.random.default_rng(2)
    weights = [(rng.integers(-1, 2, (7, 19)).astype(float), rng.integers(-1, 2, 7).astype(float)),
               (rng.integers(-1, 2, (3, 7)).astype(float), rng.integers(-1, 2, 3).astype(float))]
    x = rng.uniform(-0.03, 0.03, (10, 19))
    seed = 11
    net = IMACNetwork.from_weights(weights, rows=8, cols=8, device=DEV, seed=seed)
    ref = net.forward(x, net.read_streams())  # one batch
    streams = net.read_streams()
    split = np.concatenate([net.forward(x[:3], streams), net.forward(x[3:], streams)])  # two batches
    np.testing.assert_allclose(split, ref, rtol=0, atol=1e-12)
    layers = _nn_layers(weights, seed, rows=8)
    with torch.no_grad():
        h = torch.as_tensor(x)
        outs = []
        for part in (h[:6], h[6:]):  # nn/ batched differently again
            for lay in layers:
                part, _ = lay(part)
            outs.append(part)
    np.testing.assert_allclose(torch.cat(outs).numpy(), ref, rtol=0, atol=1e-6)
    # the noise is there: without it (or with another seed) the outputs differ
    assert np.abs(net.forward(x) - ref).max() > 1e-3
    other = IMACNetwork.from_weights(weights, rows=8, cols=8, device=DEV, seed=seed)
    assert np.abs(other.forward(x, [effect_rng(seed + 1, "read", i) for i in range(2)]) - ref).max() > 1e-3


def test_chip_read_noise_has_the_distribution_of_per_device_reads():
    # one column of 9 rows (one partition), read 20000 times: the chip's draws against brute-force per-device
    # G (1 + N(0, 0.1)) reads of the same conductances (circuit.devices.read_noise)
    rng = np.random.default_rng(3)
    w = rng.integers(-1, 2, (1, 8)).astype(float)
    dev = DeviceConfig(read_noise=0.1)
    net = IMACNetwork.from_weights([(w, np.ones(1))], rows=16, cols=4, device=dev, vdd_v=0.8, vss_v=-50.0)
    lay = net.layers[0]
    v = rng.uniform(-0.8, 0.8, 8)
    n = 20000
    chip = lay.neuron_inputs(np.tile(v, (n, 1)), rng=effect_rng(0, "read", 0), device=dev)[:, 0]
    u = np.append(v, 0.8)
    gp, gm = weights_to_conductances(np.append(w[0], 1.0)[:, None], dev)
    brute = lay.transimpedance_ohm * (np.einsum("r,nro->no", u, read_noise(gp, dev, rng, n))
                                      - np.einsum("r,nro->no", u, read_noise(gm, dev, rng, n)))[:, 0]
    assert abs(chip.mean() - brute.mean()) < 4 * brute.std() / np.sqrt(n)
    assert abs(chip.std() / brute.std() - 1) < 0.03
