"""The IMC core layers (imcsim.nn.imc_layers) against independent references of the same arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imcsim.arch.imc import map_layer
from imcsim.circuit.adc import sample_adc
from imcsim.circuit.chip import draw_devices, effect_rng
from imcsim.config.imc import IMCConfig
from imcsim.nn.adc import ADCInstances
from imcsim.nn import imc_layers
from imcsim.nn.imc_convert import convert_imc
from imcsim.nn.imc_layers import IMCConv2d, IMCLinear, instance_of_column
from imcsim.nn.quant import fake_quant_weight


def _cfg(**kw) -> IMCConfig:
    base = dict(rows=16, cols=8, cell_bits=2, weight_bits=4, encoding="offset", input_bits=4, dac={"bits": 1},
                cols_per_adc=4, adc={"bits": 12})
    base.update(kw)
    return IMCConfig(**base)


# ----- a numpy reference: loops over row tiles, columns, slices and input cycles, integer bit operations -----------
def _reference(layer, rows: np.ndarray, seed: int) -> np.ndarray:
    """Layer output (M, N) before bias for integer input codes ``rows`` (M, K) on chip ``seed``, recomputed from
    scratch: the chip drawn by circuit/ (devices over the (2, rows of all row tiles, columns) stack, the ADC
    instances of every allocated array) for the layer's index.

    A layer of G groups sits block-diagonally (the cost model's mapping): group g's K / G rows (its input
    channels' im2col rows) by its N / G output channels' columns; an R x C array exists where a block reaches into
    it (counted row tile by row tile, column tiles in order, and checked against map_layer's count); a column is
    converted in a row tile only when its group has rows there; a row is driven into an array only when its
    group's columns reach that array (other cells there are unprogrammed level-0 cells)."""
    cfg = layer.imc
    G = getattr(layer, "groups", 1)
    w = layer.weight.detach().double().numpy().reshape(layer.weight.shape[0], -1)
    qmax = 2 ** (cfg.weight_bits - 1) - 1
    s_w = np.abs(w).max(1) / qmax
    kg = np.clip(np.round(w / s_w[:, None]), -qmax, qmax).astype(np.int64)         # (N, K / G)
    n_out, kgr = kg.shape
    kk, ng = G * kgr, n_out // G
    S, R, C = cfg.slices, cfg.rows, cfg.cols
    grp_row = np.arange(kk) // kgr                  # group of each row
    grp_col = np.arange(n_out * S) // (ng * S)      # group of each physical column n S + s
    rt, ncols = -(-kk // R), n_out * S
    arrays = []                                     # allocated (row tile, column tile), in order
    for t in range(rt):
        for ct in range(-(-ncols // C)):
            if any(grp_row[r] == grp_col[j] for r in range(t * R, min(kk, t * R + R))
                   for j in range(ct * C, min(ncols, ct * C + C))):
                arrays.append((t, ct))
    m_ = map_layer(layer.workload_layer(), cfg)
    assert len(arrays) == m_.arrays
    chip = draw_devices(((kk if rt == 1 else rt * R), ncols), cfg.device, seed, layer.layer_index)
    adc = sample_adc(cfg.adc, m_.arrays * -(-cfg.cols // cfg.cols_per_adc), effect_rng(seed, "adc", layer.layer_index))
    k = np.zeros((n_out, kk), np.int64)
    inblock = grp_row[None, :] == (np.arange(n_out) // ng)[:, None]                  # (N, K)
    for n in range(n_out):
        k[n, grp_row == n // ng] = kg[n]
    S, cb, L = cfg.slices, cfg.cell_bits, 2**cfg.cell_bits - 1
    g_on, g_off = cfg.device.conductances
    unit = (g_on - g_off) / L
    if cfg.encoding == "offset":
        mags = [k + 2 ** (cfg.weight_bits - 1)]
    else:
        mags = [np.maximum(k, 0), np.maximum(-k, 0)]
    rows_pad = kk if rt == 1 else rt * cfg.rows
    g = []
    for mag in mags:  # cell digit of slice s in column n S + s, row r
        lv = np.zeros((rows_pad, ncols))
        for s in range(S):
            lv[:kk, np.arange(n_out) * S + s] = (((mag >> (cb * s)) & L) * inblock).T
        g.append(g_off + lv * unit)
    if len(g) == 1:
        g.append(np.full_like(g[0], g_off))
    if chip is not None:
        for i in range(2):
            g[i] = np.where(chip.stuck_low[i], g_on, np.where(chip.stuck_high[i], g_off, g[i])) * chip.inv_factor[i]
    e = (g[0] - g[1]) / unit if cfg.encoding == "differential" else (g[0] - g_off) / unit
    e[kk:] = 0
    for r in range(kk):  # rows reach only the column tiles of their group's columns
        tiles = {j // C for j in range(ncols) if grp_col[j] == grp_row[r]}
        for j in range(ncols):
            if j // C not in tiles:
                e[r, j] = 0
    q = rows.astype(np.int64)
    signed_in = bool(layer.act_quant.lo < 0)
    cy, db = cfg.input_cycles, cfg.dac.bits
    digits = [((q >> (db * c)) & (2**db - 1)) if c < cy - 1 else (q >> (db * c)) for c in range(cy)]
    signed = signed_in or cfg.encoding == "differential"
    step = float(layer.adc_step)
    m = 2**cfg.adc.bits - 1
    lo = -(2 ** (cfg.adc.bits - 1)) * step if signed else 0.0
    out = np.zeros((q.shape[0], n_out))
    tile_rows = rows_pad // rt
    for t in range(rt):
        r0 = t * tile_rows
        for j in range(ncols):
            if not np.any(grp_row[r0:r0 + tile_rows] == grp_col[j]):
                continue  # the column's group has no rows in this tile: no conversion
            a = arrays.index((t, j // cfg.cols)) * cfg.adcs_per_array + (j % cfg.cols) // cfg.cols_per_adc
            n, s = divmod(j, S)
            for c in range(cy):
                dpad = np.zeros((q.shape[0], rows_pad))
                dpad[:, :kk] = digits[c]
                y = dpad[:, r0:r0 + tile_rows] @ e[r0:r0 + tile_rows, j]
                x = (y - lo) / step * adc.gain[a] + adc.offset_v[a] / adc.lsb_v
                code = np.searchsorted(adc.thresholds_v[a] / adc.lsb_v, x, side="right")
                assert code.max() <= m
                out[:, n] += 2.0 ** (cb * s + db * c) * (lo + code * step)
    if cfg.encoding == "offset":
        out -= 2 ** (cfg.weight_bits - 1) * (q @ inblock.T)
    s_x = float(layer.act_quant.scale()[0])
    return out * s_x * s_w[None, :]


@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("dac_bits", [1, 2, 4])
@pytest.mark.parametrize("chunk", [1 << 17, 64])
def test_linear_equals_numpy_reference_with_nonideal_chip(encoding, dac_bits, chunk, monkeypatch):
    # 40 inputs on 16-row arrays: 3 row tiles (16, 16, 8); 6 outputs x 2 slices = 12 columns on 8-column arrays:
    # 2 column tiles; 4 columns per ADC; a 5-bit ADC with INL, DNL, offset and gain errors, device variation and
    # stuck-at faults, signed inputs (two's complement digits)
    cfg = _cfg(encoding=encoding, dac={"bits": dac_bits}, adc={"bits": 5, "inl_lsb": 1.0, "dnl_lsb": 0.3,
                                                              "offset_sigma_lsb": 0.5, "gain_sigma": 0.05},
               device={"variation": 0.1, "stuck_low_rate": 0.02, "stuck_high_rate": 0.02})
    torch.manual_seed(1)
    lay = IMCLinear(40, 6, imc=cfg)
    x = torch.randn(50, 40)
    lay.train()
    lay(x)  # sets the activation range and the ADC step
    lay.eval()
    lay.set_chip(7)
    assert lay._chip.devices is not None and not lay._chip.uniform
    monkeypatch.setattr(imc_layers, "_CHUNK", chunk)  # 64: the 50 inputs in chunks of 5
    with torch.no_grad():
        got = lay(x) - lay.bias
    rows = torch.round(lay.act_quant(x) / lay.act_quant.scale()[0]).numpy()
    assert lay.act_quant.lo < 0  # signed inputs exercised
    np.testing.assert_allclose(got.double().numpy(), _reference(lay, rows, 7), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cols_per_adc", [4, 8])
def test_conv_equals_numpy_reference_two_row_tiles_bit_serial(cols_per_adc, monkeypatch):
    # 3 x 3 x 2 = 18 rows > 16: two row tiles; 4 channels x 2 slices = 8 columns, on 2 ADCs per array or on one;
    # unsigned inputs (after ReLU)
    cfg = _cfg(adc={"bits": 4, "inl_lsb": 2.0, "offset_sigma_lsb": 0.5}, device={"variation": 0.05},
               cols_per_adc=cols_per_adc)
    torch.manual_seed(2)
    conv = IMCConv2d(2, 4, 3, padding=1, imc=cfg)
    x = torch.rand(3, 2, 5, 5)
    conv.train()
    conv(x)
    conv.eval()
    conv.set_chip(3)
    monkeypatch.setattr(imc_layers, "_CHUNK", 1000)  # one image per chunk
    with torch.no_grad():
        got = conv(x) - conv.bias[:, None, None]
    codes = torch.round(conv.act_quant(x) / conv.act_quant.scale()[0])
    rows = F.unfold(codes, 3, padding=1).transpose(1, 2).reshape(-1, 18).numpy()
    ref = _reference(conv, rows, 3).reshape(3, 25, 4).transpose(0, 2, 1).reshape(3, 4, 5, 5)
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("dac_bits", [1, 3, 4])
def test_ideal_core_equals_quantised_digital_layer(encoding, dac_bits):
    # lossless ADCs (1 level per code, 12 bits cover every column sum of 16 rows) and ideal devices: the tiled,
    # sliced, shift-added result is exactly the fake-quantised digital convolution / dense layer
    cfg = _cfg(encoding=encoding, dac={"bits": dac_bits})
    torch.manual_seed(3)
    conv = IMCConv2d(3, 5, 3, padding=1, stride=2, imc=cfg, adc_step="lossless").eval()
    x = torch.rand(2, 3, 9, 9) - 0.3
    with torch.no_grad():
        y = conv(x)
        ref = F.conv2d(conv.act_quant(x), fake_quant_weight(conv.weight, 4), conv.bias, stride=2, padding=1)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-5)
    lin = IMCLinear(37, 11, imc=cfg, adc_step="lossless").eval()
    h = torch.randn(4, 37)
    with torch.no_grad():
        torch.testing.assert_close(lin(h), F.linear(lin.act_quant(h), fake_quant_weight(lin.weight, 4), lin.bias),
                                   rtol=0, atol=1e-5)


def test_tiling_is_the_cost_models_mapping():
    cfg = IMCConfig(rows=128, cols=128, cell_bits=2, weight_bits=4)
    conv = IMCConv2d(6, 16, 5, imc=cfg)           # K = 150: 2 row tiles, 16 x 2 = 32 columns
    m = map_layer(conv.workload_layer(), cfg)
    assert conv.tiling() == (2, 32, 2) and m.arrays == 2
    lin = IMCLinear(400, 300, imc=cfg)            # K = 400: 4 row tiles; 600 columns: 5 column tiles
    assert lin.tiling() == (4, 600, 20)


def test_instance_of_column_by_hand():
    cfg = _cfg(cols=4, cols_per_adc=2)  # 2 ADCs per array
    # 6 columns: column tiles [0..3], [4, 5]; row tiles 2 -> arrays (0,0), (0,1), (1,0), (1,1)
    inst = instance_of_column(2, 6, cfg)
    np.testing.assert_array_equal(inst, [[0, 0, 1, 1, 2, 2], [4, 4, 5, 5, 6, 6]])


def test_one_adc_instance_serves_exactly_its_columns():
    # ADC instance a (of 4: 2 per array, arrays of 4 + 2 columns) gets an offset of a LSB; every column holds the
    # same weights, so the read of column j moves by exactly its own ADC's offset
    cfg = _cfg(rows=8, cols=4, cols_per_adc=2, weight_bits=3, encoding="differential", input_bits=2,
               adc={"bits": 8})
    lay = IMCLinear(2, 6, bias=False, imc=cfg, adc_step=1.0).eval()
    with torch.no_grad():
        lay.weight.fill_(1.0)
    # x = 1 is the top of its own range: input code 3 (2-bit unsigned, binary 11), so both bit-serial cycles drive 1;
    # 2 rows x weight code 3 on one 2-bit cell: column sum 6 per read
    x = torch.full((1, 2), 1.0)
    torch.set_grad_enabled(False)
    base = lay(x)[0].clone()
    adc = lay._chip.adc
    off = np.array([0.0, 1.0, 2.0, 3.0]) * adc.lsb_v   # instance a reads a codes higher
    lay._set_state(None, ADCInstances(adc.thresholds_v, off, np.ones(4), adc.lsb_v), None, False, None)
    shifted = lay(x)[0]
    torch.set_grad_enabled(True)
    per_code = float(lay.act_quant.scale()[0]) * float(fake_quant_weight(lay.weight.detach(), 3)[0, 0]) / 3
    # each of the 2 cycles' codes shifts by the offset, weighted 2^0 and 2^1: 3 codes per LSB of offset
    np.testing.assert_allclose(((shifted - base) / per_code).numpy(), [0, 0, 3, 3, 6, 6], atol=1e-4)


def test_training_step_runs_and_gradients_flow():
    cfg = _cfg(adc={"bits": 4, "inl_lsb": 1.0}, device={"variation": 0.1, "read_noise": 0.02})
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3))
    m = convert_imc(net, "all-imc", cfg)
    m.noise_aware = True
    m.train()
    x, y = torch.rand(8, 1, 6, 6), torch.randint(0, 3, (8,))
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert m.net[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bits,dnl", [(3, 0.0), (6, 0.4), (8, 0.2)])
def test_adc_table_gives_the_searched_codes(bits, dnl, dtype):
    # the lookup table against a plain search of every instance's thresholds, on random inputs and on inputs
    # placed exactly at thresholds (where <= matters), in the table's cell units z = grid x - g0
    from imcsim.config.adc import ADCConfig
    from imcsim.nn.adc import sample_adc
    from imcsim.nn.imc_layers import ADCTable

    adc = sample_adc(ADCConfig(bits=bits, inl_lsb=2.0, dnl_lsb=dnl, offset_sigma_lsb=0.5), 5,
                     np.random.default_rng(bits))
    tab = ADCTable.build(adc, dtype)
    th = (adc.thresholds_v / adc.lsb_v * tab.grid - tab.g0).astype(np.float32 if dtype == torch.float32 else float)
    inst = np.array([0, 0, 1, 2, 3, 4, 4])
    rng = np.random.default_rng(0)
    z = (rng.uniform(-4, 2**bits + 4, (7, 3000)) * tab.grid - tab.g0).astype(th.dtype)
    m = th.shape[1]
    # at every threshold and one representable step either side of it (where a rounding would show)
    z[:, :m] = th[inst]
    z[:, m:2 * m] = np.nextafter(th[inst], -np.inf)
    z[:, 2 * m:3 * m] = np.nextafter(th[inst], np.inf)
    want = np.stack([np.searchsorted(th[i], z[j], side="right") for j, i in enumerate(inst)])
    base = torch.as_tensor(inst * tab.cells, dtype=torch.int32)[:, None]
    got = tab.codes_(torch.as_tensor(z).clone(), base)
    np.testing.assert_array_equal(got.numpy(), want)
    # the one-gather form (at most one threshold per cell) and the two-gather form agree, shifted by c0 too
    assert tab.jump is not None or tab.inside.shape[0] > 1
    two = ADCTable(tab.g0, tab.cells, tab.grid, tab.below, tab.inside)
    for c0 in (0.0, float(2 ** (bits - 1))):
        np.testing.assert_array_equal(tab.shifted(c0).codes_(torch.as_tensor(z).clone(), base).numpy(), want - c0)
        np.testing.assert_array_equal(two.shifted(c0).codes_(torch.as_tensor(z).clone(), base).numpy(), want - c0)
    one = tab.codes_(torch.as_tensor(z[1:2]).clone(), 0)  # one instance for the whole tensor
    np.testing.assert_array_equal(one.numpy(), want[1:2])


def test_pcm_drift_scales_every_conductance():
    # g(t) = g0 (t / t0)^-nu on every device of a differential pair: the column sums, and with the ADC out of the
    # loop the layer output, scale by (1e4 s / 1 s)^-0.05 = 0.63096 exactly
    from imcsim.nn.nonideal import NonIdealities

    cfg = _cfg(encoding="differential", device={"drift_nu": 0.05, "drift_time_s": 1e4})
    torch.manual_seed(4)
    lay = IMCLinear(20, 5, bias=False, imc=cfg, nonideal=NonIdealities(adc=False)).eval()
    x = torch.rand(6, 20)
    with torch.no_grad():
        got = lay(x)
        ref = F.linear(lay.act_quant(x), fake_quant_weight(lay.weight, 4))
    torch.testing.assert_close(got, ref * 1e4 ** -0.05, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_in", [8, 20])
def test_read_noise_has_the_per_device_variance(n_in):
    # one offset-encoded column of n rows (8 rows per array: n = 20 is 3 row tiles, whose independent reads add up),
    # all inputs at code 1 (one read, 8-bit DAC), weight code 0 -> stored 8 = digits (0, 2) on 2 slices; per read
    # each device's G gets (1 + N(0, 0.05)). Column of slice 1 holds level 2: G = G_off + 2 (G_on - G_off) / 3. In
    # level units (unit = (G_on - G_off) / 3) the column's std is 0.05 sqrt(n) G / unit; with 5 k / 15 k devices
    # G_off / unit = 1.5, so G / unit = 3.5 -> std 0.4950 for n = 8
    from imcsim.nn.nonideal import NonIdealities

    cfg = _cfg(rows=8, input_bits=8, dac={"bits": 8}, device={"read_noise": 0.05}, adc={"bits": 12})
    lay = IMCLinear(n_in, 1, bias=False, imc=cfg, nonideal=NonIdealities(adc=False)).eval()
    with torch.no_grad():
        lay.weight.zero_()  # codes 0
    lay.set_chip(5)
    with torch.no_grad():
        rows = torch.ones(20000, n_in)
        k, _ = lay.weight_codes()
        noisy = lay.analog_forward(rows, k, False)
    assert k.abs().max() == 0
    # output = sum_s 4^s col_s - 128 sum(x): slice 0 noise std 0.05 sqrt(8) 1.5, slice 1 std 0.4950 times 4
    want = float(np.sqrt((0.05 * np.sqrt(n_in) * 1.5) ** 2 + (4 * 0.05 * np.sqrt(n_in) * 3.5) ** 2))
    assert float(noisy.std()) == pytest.approx(want, rel=0.03)
    assert float(noisy.mean()) == pytest.approx(0.0, abs=0.05)


def test_read_noise_draws_do_not_depend_on_the_chunking(monkeypatch):
    # chip 5's read-noise stream is drawn in one go per forward, so splitting the batch into chunks (one image each
    # here) reads the same noise on every column
    from imcsim.nn.nonideal import NonIdealities

    cfg = _cfg(encoding="differential", device={"read_noise": 0.05, "variation": 0.1}, adc={"bits": 6})
    torch.manual_seed(6)
    conv = IMCConv2d(2, 3, 3, padding=1, imc=cfg, nonideal=NonIdealities()).eval()
    x = torch.rand(4, 2, 5, 5)
    with torch.no_grad():
        conv(x)
        conv.set_chip(5)
        whole = conv(x)
        conv.set_chip(5)
        monkeypatch.setattr(imc_layers, "_CHUNK", 100)
        chunked = conv(x)
        conv.set_chip(6)
        other = conv(x)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    assert not torch.allclose(other, whole)


@pytest.mark.parametrize("n,q", [(1, 0.999), (2, 0.5), (1001, 0.999), (5000, 0.25), (7, 1.0), (7, 0.0)])
def test_calibration_quantile_is_numpys_linear_quantile(n, q):
    # the selection-based quantile of the ADC calibration against numpy's (sort-based, linear interpolation), with
    # ties (integer column sums repeat)
    from imcsim.nn.imc_layers import _quantile

    y = np.random.default_rng(n).integers(0, 40, n).astype(np.float64)
    assert _quantile(torch.as_tensor(y), q) == pytest.approx(float(np.quantile(y, q)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kernel,stride,padding,dilation", [(5, 1, 2, 1), ((3, 2), (2, 1), (1, 0), 1),
                                                            (3, 2, 0, 1), (3, 1, 1, 2)])
def test_conv_tile_sums_are_the_im2col_products(kernel, stride, padding, dilation):
    # each row tile's column sums (one convolution over the input channels its rows touch) against torch's im2col
    # rows (F.unfold, K in (C, kh, kw) order) times the tile's weights: 7-row tiles cut the kernels of the 3 input
    # channels mid-way (rows 0-6, 7-13, ...)
    conv = IMCConv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation, imc=_cfg(rows=7))
    x = torch.randint(0, 16, (2, 3, 9, 8)).double()
    rows = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)       # (B, K, L)
    w = torch.randn(conv.k_rows, 5, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    tiles = conv.tile_rows(-(-conv.k_rows // 7))
    assert len(tiles) >= 3 and tiles[-1][1] == conv.k_rows
    for r0, r1 in tiles:
        want = torch.einsum("bkl,kc->bcl", rows[:, r0:r1], w[r0:r1]) + bias[:, None]
        torch.testing.assert_close(conv._tile_sums(x, r0, r1, w[r0:r1], bias), want)


@pytest.mark.parametrize("layer", ["conv", "linear"])
def test_gradients_are_those_of_the_fake_quantised_layer(layer):
    # the straight-through layer's gradients against autograd through F.conv2d / F.linear of the same quantised
    # input (ActQuant: zero gradient where the input leaves its range) and effective weights (ideal chip: the
    # per-channel 4-bit fake-quantised ones); the first batch sets the input range, the second (x 1.6 - 0.3, in
    # eval mode) falls partly outside it on both sides
    torch.manual_seed(7)
    cfg = _cfg(input_bits=8, dac={"bits": 8})
    if layer == "conv":
        m = IMCConv2d(3, 4, 3, stride=2, padding=1, imc=cfg, adc_step="lossless")
        x0, g = torch.rand(2, 3, 7, 6), torch.randn(2, 4, 4, 3)

        def digital(xq, w, b):
            return F.conv2d(xq, w, b, stride=2, padding=1)
    else:
        m = IMCLinear(20, 5, imc=cfg, adc_step="lossless")
        x0, g = torch.rand(2, 3, 20), torch.randn(2, 3, 5)

        def digital(xq, w, b):
            return F.linear(xq, w, b)
    for x in (x0.clone().requires_grad_(), (x0 * 1.6 - 0.3).requires_grad_()):
        (m(x) * g).sum().backward()
        got = [x.grad.clone(), m.weight.grad.clone(), m.bias.grad.clone()]
        x.grad, m.weight.grad, m.bias.grad = None, None, None
        (digital(m.act_quant(x), fake_quant_weight(m.weight, 4), m.bias) * g).sum().backward()
        for a, b in zip(got, (x.grad, m.weight.grad, m.bias.grad)):
            torch.testing.assert_close(a, b)
        m.weight.grad, m.bias.grad = None, None
        m.eval()
    assert (x.grad == 0).any() and (x.grad != 0).any()


@pytest.mark.parametrize("n,q", [(2_000_000, 0.999), (300_000, 0.9), (200_001, 0.99995)])
def test_calibration_quantile_of_large_sets(n, q):
    # above 65,536 values the upper quantiles come from the values at or above a sampled threshold: still numpy's
    # exact linear quantile (integer ties included, as column sums have)
    from imcsim.nn.imc_layers import _quantile

    y = np.random.default_rng(n).gamma(2.0, 30.0, n).round()
    assert _quantile(torch.as_tensor(y), q) == pytest.approx(float(np.quantile(y, q)), rel=1e-12, abs=1e-12)


def test_calibration_quantile_when_the_sample_misleads():
    # every 16th value large (exactly the strided sample), the rest 0: the sampled threshold leaves too few values
    # and the search falls back to all of them
    from imcsim.nn.imc_layers import _quantile

    y = np.zeros(1 << 20)
    y[::16] = 1e6 + np.arange(1 << 16)
    assert _quantile(torch.as_tensor(y), 0.999) == pytest.approx(float(np.quantile(y, 0.999)), rel=1e-12)


@pytest.mark.parametrize("kind", ["uniform", "gaussian"])
def test_training_devices_have_the_seeded_chips_distribution(kind):
    # the torch draws of noise-aware training against circuit/'s numpy draws (sample_conductances on unit
    # conductances gives 1 / factor): same distribution of variation factors (two-sample Kolmogorov-Smirnov) and the
    # stuck-at rates (binomial: 4 sigma of 40,000 draws each)
    from scipy.stats import ks_2samp

    from imcsim.circuit.devices import sample_conductances
    from imcsim.config.device import DeviceConfig
    from imcsim.nn.nonideal import draw_training_devices

    dev = DeviceConfig(variation=0.2, variation_kind=kind, stuck_low_rate=0.05, stuck_high_rate=0.1)
    chip = draw_training_devices((100, 200), dev, torch.Generator().manual_seed(0))
    free = ~(chip.stuck_low | chip.stuck_high)
    ref = sample_conductances(np.ones((2, 100, 200)), dev.replace(stuck_low_rate=0.0, stuck_high_rate=0.0),
                              np.random.default_rng(0))
    assert ks_2samp(chip.inv_factor.numpy().ravel(), ref.ravel()).pvalue > 1e-3
    assert not (chip.stuck_low & chip.stuck_high).any()
    for got, rate in ((chip.stuck_low, 0.05), (chip.stuck_high, 0.1)):
        assert abs(float(got.double().mean()) - rate) < 4 * np.sqrt(rate * (1 - rate) / got.numel())
    assert free.any()


@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("weight_bits,cell_bits", [(4, 2), (8, 2), (8, 3), (5, 1)])
def test_weight_digits_are_the_bits_of_the_stored_magnitude(encoding, weight_bits, cell_bits):
    # every code of the range against Python's integer shifts: u = k + 2^(b-1) (offset) or |k| on the device of
    # k's sign (differential), digit s = (m >> cell_bits s) & (2^cell_bits - 1)
    from imcsim.nn.imc_layers import weight_digits

    cfg = IMCConfig(weight_bits=weight_bits, cell_bits=cell_bits, encoding=encoding)
    q = 2 ** (weight_bits - 1) - 1
    k = torch.arange(-q, q + 1, dtype=torch.float64).reshape(1, -1)
    pos, neg = weight_digits(k, cfg)
    mask = 2**cell_bits - 1
    for j, kk in enumerate(range(-q, q + 1)):
        m = kk + 2 ** (weight_bits - 1) if encoding == "offset" else abs(kk)
        want = [(m >> (cell_bits * s)) & mask for s in range(cfg.slices)]
        zero = [0] * cfg.slices
        if encoding == "offset":
            assert neg is None and pos[0, j].tolist() == want
        else:
            assert pos[0, j].tolist() == (want if kk > 0 else zero)
            assert neg[0, j].tolist() == (want if kk < 0 else zero)


# ----- grouped and depthwise convolutions: block-diagonal on the arrays, as the cost model maps them --------------
@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("shape", [
    # (C_in, C_out, groups, cols, cols_per_adc): groups = 2 with 18-row blocks on 16-row arrays (block 0 in row
    # tiles 0-1, block 1 in tiles 1-2, a partial last tile of 4 rows); on 4-column arrays each block's 4 columns
    # are one column tile, so 4 of the 6 (row tile, column tile) arrays are allocated
    (4, 4, 2, 4, 2),
    (4, 4, 2, 8, 4),
    # depthwise: 6 blocks of 9 rows x 2 columns; 54 rows = 4 row tiles (16, 16, 16, 6), blocks straddling tiles
    (6, 6, 6, 8, 4),
    # depthwise with a channel multiplier of 2: 3 blocks of 9 rows x 4 columns
    (3, 6, 3, 4, 2),
])
@pytest.mark.parametrize("nonideal", ["ideal", "adc-devices"])
def test_grouped_conv_equals_numpy_reference(encoding, shape, nonideal, monkeypatch):
    c_in, c_out, groups, cols, per_adc = shape
    kw = dict(adc={"bits": 5, "inl_lsb": 1.0, "dnl_lsb": 0.3, "offset_sigma_lsb": 0.5, "gain_sigma": 0.05},
              device={"variation": 0.1, "stuck_low_rate": 0.02, "stuck_high_rate": 0.02}) \
        if nonideal == "adc-devices" else dict(adc={"bits": 5})
    cfg = _cfg(encoding=encoding, cols=cols, cols_per_adc=per_adc, **kw)
    torch.manual_seed(4)
    conv = IMCConv2d(c_in, c_out, 3, padding=1, groups=groups, imc=cfg)
    x = torch.randn(3, c_in, 5, 5)   # signed inputs
    conv.train()
    conv(x)
    conv.eval()
    conv.set_chip(5)
    monkeypatch.setattr(imc_layers, "_CHUNK", 2000)  # one image per chunk
    with torch.no_grad():
        got = conv(x) - conv.bias[:, None, None]
    codes = torch.round(conv.act_quant(x) / conv.act_quant.scale()[0])
    kk = c_in * 9
    rows = F.unfold(codes, 3, padding=1).transpose(1, 2).reshape(-1, kk).numpy()
    ref = _reference(conv, rows, 5).reshape(3, 25, c_out).transpose(0, 2, 1).reshape(3, c_out, 5, 5)
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("groups, c_out", [(2, 4), (4, 4), (4, 8)])
@pytest.mark.parametrize("dac_bits", [1, 4])
def test_ideal_grouped_core_equals_quantised_digital_grouped_conv(encoding, groups, c_out, dac_bits):
    # lossless 12-bit ADCs, ideal devices: exactly the fake-quantised digital grouped convolution (4 x 3 x 3 / groups
    # rows per block on 16-row arrays: blocks straddle row tiles for groups = 2)
    cfg = _cfg(encoding=encoding, dac={"bits": dac_bits})
    torch.manual_seed(5)
    conv = IMCConv2d(4, c_out, 3, padding=1, stride=2, groups=groups, imc=cfg, adc_step="lossless").eval()
    x = torch.rand(2, 4, 9, 9) - 0.3
    with torch.no_grad():
        y = conv(x)
        ref = F.conv2d(conv.act_quant(x), fake_quant_weight(conv.weight, 4), conv.bias, stride=2, padding=1,
                       groups=groups)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-5)


def test_depthwise_tiling_is_the_cost_models_mapping():
    # depthwise 3 x 3 on 32 channels, 2 slices, 128 x 128 arrays: 288 block-diagonal rows = 3 row tiles (blocks of
    # 9 rows: 14 whole ones in tile 0, block 14 = rows 126..134 straddles tiles 0-1, block 28 = rows 252..260 tiles
    # 1-2); 64 columns, one column tile: 3 arrays, one ADC instance per 8 columns of each
    cfg = IMCConfig(rows=128, cols=128, cell_bits=2, weight_bits=4, cols_per_adc=8)
    conv = IMCConv2d(32, 32, 3, groups=32, imc=cfg)
    assert conv.tiling() == (3, 64, 3) and map_layer(conv.workload_layer(), cfg).arrays == 3
    lay = conv.group_layout()
    # the column of block 14 (channel 14: physical columns 28, 29) is converted in tiles 0 and 1, not 2
    assert lay.converted[:, 28].tolist() == [True, True, False]
    assert lay.inst[1, 28] == 1 * 16 + 28 // 8 and lay.inst[2, 63] == 2 * 16 + 63 // 8
    assert conv._chip.adc.gain.shape == (3 * 16,)


def test_grouped_tiling_allocates_only_the_arrays_blocks_reach():
    # groups = 2 of 18 rows x 4 columns on 16 x 4 arrays: blocks (rows 0..17, columns 0..3) and (18..35, 4..7):
    # arrays (0,0), (1,0), (1,1), (2,1) of the 3 x 2 grid, numbered in that order
    cfg = _cfg(cols=4, cols_per_adc=2)
    conv = IMCConv2d(4, 4, 3, groups=2, imc=cfg)
    assert conv.tiling() == (3, 8, 4)
    lay = conv.group_layout()
    np.testing.assert_array_equal(lay.inst[lay.converted.nonzero()], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7])
    assert lay.converted.tolist() == [[True] * 4 + [False] * 4, [True] * 8, [False] * 4 + [True] * 4]
    # row 17 (block 0) reaches column tile 0 only; row 18 (block 1) column tile 1 only
    assert lay.driven[17].tolist() == [True] * 4 + [False] * 4 and lay.driven[18].tolist() == [False] * 4 + [True] * 4


def test_depthwise_separable_network_converts_and_trains():
    # a MobileNet-style block (3 x 3 depthwise, 1 x 1 pointwise) on IMC cores, noise- and ADC-aware training step
    cfg = _cfg(adc={"bits": 5, "inl_lsb": 1.0}, device={"variation": 0.1, "read_noise": 0.02})
    torch.manual_seed(6)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 36, 3))
    m = convert_imc(net, "all-imc", cfg)
    dw = m.net[2]
    assert isinstance(dw, IMCConv2d) and dw.groups == 4
    m.noise_aware = True
    m.train()
    x, y = torch.rand(8, 1, 6, 6), torch.randint(0, 3, (8,))
    F.cross_entropy(m(x), y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    # the straight-through gradient of the depthwise weights is the digital grouped conv's
    assert dw.weight.grad.shape == (4, 1, 3, 3) and dw.weight.grad.abs().sum() > 0
    m.eval()
    m.set_chip(1)
    with torch.no_grad():
        assert torch.isfinite(m(x)).all()


@pytest.mark.parametrize("cols", [8, 2])
def test_grouped_read_noise_includes_the_driven_off_block_cells(cols):
    # groups = 2 of a 1 x 1 convolution: rows 0, 1 (one per channel), columns 0..1 (channel 0's 2 slices) and 2..3.
    # Inputs at code 1, weight code 0 -> stored 8 = digits (0, 2) (offset cells), read noise 5% per device read, so
    # in level units (G_off / unit = 1.5, level 2: 3.5) a cell adds variance (0.05 G / unit)^2 per read.
    # cols = 8: one array holds both blocks and both rows are driven into it, so each column also reads the other
    # group's row through its unprogrammed level-0 (G_off) cell: slice 0 var 0.05^2 (1.5^2 + 1.5^2), slice 1
    # 0.05^2 (3.5^2 + 1.5^2). cols = 2: each block is its own array and each row is driven into its block only:
    # slice 0 var (0.05 1.5)^2, slice 1 (0.05 3.5)^2. Output = slice 0 + 4 slice 1 (- 128 sum x, exact).
    from imcsim.nn.nonideal import NonIdealities

    cfg = _cfg(rows=8, cols=cols, cols_per_adc=2, input_bits=8, dac={"bits": 8}, device={"read_noise": 0.05},
               adc={"bits": 12})
    lay = IMCConv2d(2, 2, 1, groups=2, bias=False, imc=cfg, nonideal=NonIdealities(adc=False)).eval()
    with torch.no_grad():
        lay.weight.zero_()
    lay.set_chip(5)
    assert lay.tiling()[2] == (1 if cols == 8 else 2)
    with torch.no_grad():
        k, _ = lay.weight_codes()
        noisy = lay.analog_forward(torch.ones(20000, 2, 1, 1), k, False)
    other = 1.5**2 if cols == 8 else 0.0
    want = 0.05 * np.sqrt(1.5**2 + other + 16 * (3.5**2 + other))
    assert float(noisy.std()) == pytest.approx(want, rel=0.03)
    assert float(noisy.mean()) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("kind", ["conv", "dense"])
@pytest.mark.parametrize("inl", [0.0, 1.0])
def test_codes_shift_after_the_shift_and_add_changes_nothing(kind, inl, monkeypatch):
    # signed columns (differential cells) convert to code - c0; subtracting c0 once from the shift-and-add's sums
    # instead of from every code is exact while the sums stay integers below 2^24: the outputs on a seeded chip
    # (variation, INL, offsets; 2 and 3 row tiles) are bit-for-bit those of the codes shifted one by one
    from imcsim.nn.nonideal import NonIdealities

    cfg = _cfg(encoding="differential", adc={"bits": 5, "inl_lsb": inl, "offset_sigma_lsb": 0.3},
               device={"variation": 0.05})
    torch.manual_seed(7)
    lay = (IMCConv2d(2, 5, 3, padding=1, imc=cfg, nonideal=NonIdealities(adc=True)) if kind == "conv" else
           IMCLinear(40, 6, imc=cfg, nonideal=NonIdealities(adc=True))).eval()
    x = torch.rand(4, 2, 5, 5) if kind == "conv" else torch.rand(4, 40)
    with torch.no_grad():
        lay(x)                                   # calibrates the ADC step and the input range
        lay.set_chip(3)
        assert lay._fold_c0(2.0 ** 4, lay._chip.row_tiles, lay._exact_dtype())
        folded = lay(x)
        monkeypatch.setattr(type(lay), "_fold_c0", lambda self, *a: False)
        assert torch.equal(lay(x), folded)
