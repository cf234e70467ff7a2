"""The IMAC dense layer against the canonical equation (by hand in numpy), circuit/'s crossbar solver and its
device and neuron models."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.devices import read_noise, weights_to_conductances
from imcsim.circuit.neuron import neuron_transfer
from imcsim.circuit.partition import row_slices
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import IMACConfig
from imcsim.nn.imac_linear import IMACLinear, dac_quantize
from imcsim.nn.nonideal import (ir_drop_exact, ir_drop_factors, program_chip, read_noise_current, sample_chip)


def _layer(n_in, n_out, index=0, first=False, rows=32, precision="binary", **hw_kw):
    hw = IMACConfig(rows=rows, cols=8, **hw_kw)
    layer = IMACLinear(n_in, n_out, index, hw, first=first, precision=precision).double()
    return layer, hw


def test_ideal_layer_equals_hand_computed_canonical_equation_with_partitions():
    torch.manual_seed(1)
    n_in, n_out = 70, 5  # 71 rows on 32-row crossbars: 3 horizontal partitions
    layer, hw = _layer(n_in, n_out, index=1, rows=32)
    v = torch.rand(4, n_in, dtype=torch.float64) * 0.8
    y, v_n = layer(v)
    w = np.sign(layer.weight.detach().numpy()); w[w == 0] = 1
    b = np.sign(layer.bias.detach().numpy()); b[b == 0] = 1
    # by hand: rows = [v, Vdd]; per partition an amplifier of the layer's transimpedance, its output clipped at the
    # rails [-0.8, 0.8] V (IMACConfig's vss_v, vdd_v); partition outputs summed
    rows = np.concatenate([v.numpy(), np.full((4, 1), 0.8)], axis=1)
    wb = np.concatenate([w, b[:, None]], axis=1)
    g_on, g_off = 1 / 5e3, 1 / 15e3
    t = 30e3  # IMAC-Sim's layer-2 transimpedance (AmplifierConfig default (30k, 30k, 10k))
    parts = row_slices(n_in, 32)
    assert len(parts) == 3
    v_hand = sum(np.clip(t * (g_on - g_off) * rows[:, s] @ wb[:, s].T, -0.8, 0.8) for s in parts)
    assert np.allclose(v_n.detach().numpy(), v_hand, rtol=1e-12, atol=1e-12)
    assert (np.abs(v_hand) > 0.8).any()  # some sums exceed one rail: the clipping is per partition, not of the sum
    slope = 4 * 3.0 / 0.8  # -4 * gain / swing = 15 / V
    assert np.allclose(y.detach().numpy(), 0.8 / (1 + np.exp(slope * v_hand)), rtol=1e-12)


def test_layer_equals_ideal_crossbar_solver_and_circuit_neuron():
    torch.manual_seed(2)
    n_in, n_out = 20, 6
    layer, hw = _layer(n_in, n_out, precision="ternary", rows=64)
    with torch.no_grad():
        layer.weight.uniform_(-1, 1)
        layer.bias.uniform_(-1, 1)
    v = torch.rand(3, n_in, dtype=torch.float64) * 1.6 - 0.8
    y, v_n = layer(v)
    wq, bq = layer.quantized()
    wb = torch.cat([wq, bq[:, None]], 1).detach().numpy()  # (out, in + 1), ternary
    assert set(np.unique(wb)) <= {-1.0, 0.0, 1.0}
    xb = Crossbar.from_weights(wb.T, hw.device)  # ideal wires
    rows = np.concatenate([v.numpy(), np.full((3, 1), hw.vdd_v)], axis=1)
    i_plus, i_minus = xb.solve(rows)
    v_ref = np.clip(hw.amplifier.transimpedance(0) * (i_plus - i_minus), hw.vss_v, hw.vdd_v)  # one partition
    assert np.allclose(v_n.detach().numpy(), v_ref, rtol=1e-10, atol=1e-12)
    assert np.allclose(y.detach().numpy(), neuron_transfer(v_ref, hw.neuron), rtol=1e-10)


def test_layer_conductances_are_circuit_device_pairs():
    layer, hw = _layer(10, 4, precision="ternary")
    with torch.no_grad():
        layer.weight.uniform_(-1, 1)
    gp, gm = layer.conductances()
    wq, bq = layer.quantized()
    wb = torch.cat([wq, bq[:, None]], 1).detach().numpy()
    rp, rm = weights_to_conductances(wb, hw.device)
    assert np.allclose(gp.detach().numpy(), rp) and np.allclose(gm.detach().numpy(), rm)


def test_dac_grid():
    v = torch.tensor([-2.0, -0.8, 0.0031, 0.0032, 0.5, 3.0])
    q = dac_quantize(v, 0.8, 8)
    step = 0.8 / 127
    assert torch.allclose(q, torch.tensor([-0.8, -0.8, 0.0, step, round(0.5 / step) * step, 0.8]))


def test_chip_sampling_equals_circuit_program_chip():
    dev = DeviceConfig(variation=0.2, stuck_low_rate=0.05, stuck_high_rate=0.05)
    rng = np.random.default_rng(0)
    w = rng.integers(-1, 2, (6, 9)).astype(float)
    gp, gm = weights_to_conductances(w, dev)
    ref_p, ref_m = program_chip(gp, gm, dev, seed=7, layer=2)
    chip = sample_chip(w.shape, dev, seed=7, layer=2)
    g_on, g_off = dev.conductances
    cp, cm = chip.apply(torch.tensor(gp), torch.tensor(gm), g_on, g_off)
    assert np.allclose(cp.numpy(), ref_p) and np.allclose(cm.numpy(), ref_m)
    assert chip.stuck_low.any() and chip.stuck_high.any()
    assert not np.allclose(ref_p, gp)


def test_read_noise_current_matches_brute_force_device_sampling():
    rng = np.random.default_rng(3)
    dev = DeviceConfig(read_noise=0.05)
    w = rng.integers(-1, 2, (12, 3)).astype(float)  # (rows, out)
    gp, gm = weights_to_conductances(w, dev)
    v = rng.uniform(-0.8, 0.8, 12)
    n = 20000
    brute = np.einsum("r,nro->no", v, read_noise(gp, dev, rng, n)) - np.einsum("r,nro->no", v,
                                                                             read_noise(gm, dev, rng, n))
    gen = torch.Generator().manual_seed(0)
    vt = torch.tensor(np.tile(v, (n, 1)))
    fast = read_noise_current(vt, torch.tensor(gp.T), torch.tensor(gm.T), 0.05, gen).numpy() + v @ (gp - gm)
    assert np.allclose(fast.mean(0), brute.mean(0), atol=4 * brute.std(0).max() / np.sqrt(n))
    assert np.allclose(fast.std(0), brute.std(0), rtol=0.03)


def test_first_order_ir_drop_converges_to_exact_solver():
    rng = np.random.default_rng(4)
    w = rng.integers(-1, 2, (10, 7)).astype(float)
    gp, gm = weights_to_conductances(w)
    errs = []
    for r in (2.0, 1.0, 0.5):
        tp, tm = ir_drop_exact(gp, gm, 6, 4, r, 1.3 * r)  # 2 x 2 crossbars
        fp, fm = ir_drop_factors(gp, gm, 6, 4, r, 1.3 * r)
        errs.append(max(np.abs(gp * fp - tp).max(), np.abs(gm * fm - tm).max()) / gp.max())
        assert not np.allclose(tp, gp)  # the wires do matter
    # first order: the error shrinks with the square of the wire resistance
    assert errs[0] / errs[1] == pytest.approx(4, rel=0.2) and errs[1] / errs[2] == pytest.approx(4, rel=0.2)


def test_exact_ir_drop_layer_equals_per_partition_crossbar_solves():
    torch.manual_seed(5)
    layer, hw = _layer(40, 10, rows=16)  # 41 rows -> 3 horizontal, 10 outputs on 8 columns -> 2 vertical
    layer.ir_drop = "exact"
    v = torch.rand(2, 40, dtype=torch.float64) * 0.8
    _, v_n = layer(v)
    wq, bq = layer.quantized()
    wb = torch.cat([wq, bq[:, None]], 1).detach().numpy().T  # (rows, out)
    rows = np.concatenate([v.numpy(), np.full((2, 1), 0.8)], axis=1)
    ref = np.zeros((2, 10))
    for s in row_slices(40, 16):
        for c0 in (0, 8):
            xb = Crossbar.from_weights(wb[s, c0:c0 + 8], hw.device, hw.wires.r_in_ohm, hw.wires.r_out_ohm)
            ip, im = xb.solve(rows[:, s])
            ref[:, c0:c0 + 8] += np.clip(hw.amplifier.transimpedance(0) * (ip - im), hw.vss_v, hw.vdd_v)
    assert np.allclose(v_n.detach().numpy(), ref, rtol=1e-9, atol=1e-12)


def test_straight_through_gradients_reach_latent_weights():
    layer, _ = _layer(16, 4)
    v = torch.rand(8, 16, dtype=torch.float64)
    v_n = layer.preactivation(v, clip=False)  # the amplifier's linear range (a clipped output has no gradient)
    v_n.sum().backward()
    # d v_n / d w_latent = T * dG * v (straight through sign), summed over the batch
    expected = layer.transimpedance_ohm * (1 / 5e3 - 1 / 15e3) * v.sum(0)
    assert torch.allclose(layer.weight.grad, expected.expand(4, 16), rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 9), rows=st.integers(2, 16), layer_index=st.integers(0, 4),
       seed=st.integers(0, 2**16))
def test_canonical_equation_holds_for_any_shape_and_partitioning(n_in, n_out, rows, layer_index, seed):
    gen = torch.Generator().manual_seed(seed)
    hw = IMACConfig(rows=rows, cols=4)
    layer = IMACLinear(n_in, n_out, layer_index, hw, precision="ternary").double()
    with torch.no_grad():
        layer.weight.copy_(torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) * 2 - 1)
        layer.bias.copy_(torch.rand(n_out, generator=gen, dtype=torch.float64) * 2 - 1)
    v = torch.rand(3, n_in, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    y, v_n = layer(v)
    wq, bq = (t.detach().numpy() for t in layer.quantized())
    t = hw.amplifier.transimpedance(layer_index)
    rows_v = np.concatenate([v.numpy(), np.full((3, 1), hw.vdd_v)], axis=1)
    wb = np.concatenate([wq, bq[:, None]], axis=1)
    ref = sum(np.clip(t * hw.device.delta_g * rows_v[:, s] @ wb[:, s].T, hw.vss_v, hw.vdd_v)
              for s in row_slices(n_in, rows))
    assert np.allclose(v_n.detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    assert np.allclose(layer.preactivation(v, clip=False).detach().numpy(),
                       t * hw.device.delta_g * (v.numpy() @ wq.T + bq * hw.vdd_v), rtol=1e-9, atol=1e-12)
    yy = y.detach().numpy()
    assert np.all((yy >= hw.neuron.v_low) & (yy <= hw.neuron.v_high))


def test_exact_ir_drop_in_training_reuses_factors_until_refresh():
    torch.manual_seed(6)
    layer, hw = _layer(20, 6, rows=8)
    layer.ir_drop, layer.ir_refresh_steps = "exact", 2
    layer.train()
    v = torch.rand(2, 20, dtype=torch.float64) * 0.8
    first = layer.preactivation(v)
    layer.eval()
    assert torch.allclose(first, layer.preactivation(v))  # fresh factors are exact
    layer.train()
    layer._ir_cache, layer._ir_age = None, 0
    layer.preactivation(v)
    cached = layer._ir_cache
    with torch.no_grad():
        layer.weight.neg_()
    layer.preactivation(v)
    assert layer._ir_cache is cached  # second pass within the refresh window: same factors
    layer.preactivation(v)
    assert layer._ir_cache is not cached  # refreshed


def test_first_order_drop_by_hand_and_its_bound_is_enforced():
    from imcsim.errors import ConfigError
    from imcsim.nn.convert import HybridModel
    from imcsim.nn.nonideal import FIRST_ORDER_MAX_DROP, NonIdealities, check_first_order, first_order_drop

    # 2 x 3 crossbar, r_in = 10 ohm, r_out = 20 ohm, G_on = 1e-4 S, G_off = 5e-5 S:
    # 10 * 1.5e-4 * 3 * 4 / 2 + 20 * 1e-4 * 2 * 3 / 2 = 0.009 + 0.006 = 0.015
    assert first_order_drop(2, 3, 10.0, 20.0, 1e-4, 5e-5) == pytest.approx(0.015, rel=1e-12)
    # IMAC-Sim's 9 nm wires with 5k / 15k devices: 32 x 32 crossbars far outside the bound (eps about 2.5), 8 x 8 just
    # outside (0.172), 4 x 4 inside (about 0.048)
    big, small = IMACConfig(), IMACConfig(rows=4, cols=4)
    assert first_order_drop(8, 8, big.wires.r_in_ohm, big.wires.r_out_ohm, 2e-4, 1 / 15e3) == pytest.approx(
        big.wires.r_in_ohm * (2e-4 + 1 / 15e3) * 36 + big.wires.r_out_ohm * 2e-4 * 36, rel=1e-12)
    with pytest.raises(ConfigError, match=r"ir_drop = 'first-order': a 32x32 crossbar .* use exact"):
        check_first_order(big)
    assert check_first_order(small) <= FIRST_ORDER_MAX_DROP
    layer = IMACLinear(4, 2, 0, big, first=True)
    with pytest.raises(ConfigError, match="first-order"):
        HybridModel(torch.nn.Identity(), [layer], big, "tpu-imac", NonIdealities(ir_drop="first-order"))
    HybridModel(torch.nn.Identity(), [layer], big, "tpu-imac",
                NonIdealities(ir_drop="first-order", check_first_order=False))  # measuring the bound needs it off
