"""Exact wire IR drop in the IMC core layers: each array's column currents against the circuit solver's nodal solve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imcsim.circuit.crossbar import Crossbar
from imcsim.config.imc import IMCConfig
from imcsim.errors import ConfigError, ModelError
from imcsim.nn.imc_convert import convert_imc
from imcsim.nn.imc_layers import IMCConv2d, IMCLinear
from imcsim.nn.nonideal import NonIdealities

EXACT = NonIdealities(ir_drop="exact")


def _cfg(encoding: str, rho: float = 1.9e-7, **kw) -> IMCConfig:
    # 4 x 6 arrays; wires at 10x IMAC-Sim's 9 nm copper (about 92 / 115 ohm per cell) so the drop is a few percent
    base = dict(rows=4, cols=6, cell_bits=2, weight_bits=4, encoding=encoding, input_bits=4, dac={"bits": 2},
                cols_per_adc=3, adc={"bits": 12}, device={"variation": 0.1, "stuck_low_rate": 0.05},
                wires={"rho_bulk_ohm_m": rho})
    base.update(kw)
    return IMCConfig(**base)


def _programmed(lay, k: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Programmed conductances (rows_pad, N S) (S) written from the integer codes ``k`` (N, K) by hand: column
    n S + s holds digit s (cell_bits each, least significant first) of the stored magnitude; the chip's stuck-at
    faults and variation applied as circuit/'s DeviceDraws.program does."""
    cfg = lay.imc
    st = lay._chip
    chip, rt, ncols = st.devices, st.row_tiles, st.n_cols
    n_out, kk = k.shape
    S, cb, L = cfg.slices, cfg.cell_bits, 2**cfg.cell_bits - 1
    g_on, g_off = cfg.device.conductances
    unit = (g_on - g_off) / L
    mags = [k + 2 ** (cfg.weight_bits - 1)] if cfg.encoding == "offset" else [np.maximum(k, 0), np.maximum(-k, 0)]
    rows_pad = kk if rt == 1 else rt * cfg.rows
    g = []
    for mag in mags:
        lv = np.zeros((rows_pad, ncols))
        for s in range(S):
            lv[:kk, np.arange(n_out) * S + s] = ((mag >> (cb * s)) & L).T
        g.append(g_off + lv * unit)
    if len(g) == 1:
        g.append(np.full_like(g[0], g_off))
    for i in range(2):
        g[i] = np.where(chip.stuck_low[i].numpy(), g_on, np.where(chip.stuck_high[i].numpy(), g_off, g[i])) \
            * chip.inv_factor[i].numpy()
    return g[0], (g[1] if cfg.encoding == "differential" else None)


@pytest.mark.parametrize("encoding", ["offset", "differential"])
def test_each_arrays_adc_input_is_the_circuit_solvers(encoding):
    # 7 inputs on 4-row arrays: row tiles of 4 and 3 (+1 unused row); 5 outputs x 2 slices = 10 columns on 6-column
    # arrays: column tiles of 6 and 4 (+2 unused columns). Every array is solved here as the full 4 x 6 physical
    # crossbar (tile at the top left, unused cells at G_off, unused rows at 0 V) by direct nodal solves of the
    # input vectors (Crossbar.solve, checked against ngspice), not through the transfer matrix the layer uses.
    cfg = _cfg(encoding)
    torch.manual_seed(0)
    lay = IMCLinear(7, 5, imc=cfg, nonideal=EXACT).eval()
    lay.set_chip(3)
    k, _ = lay.weight_codes()
    k_np = k.detach().numpy().astype(np.int64)
    e = np.zeros((8, 10))                                              # effective levels, 2 row tiles of 4
    e[:7] = lay.cell_levels(k).double().numpy()                        # (K, N S); row 8 carries no input
    rng = np.random.default_rng(1)
    d = rng.integers(-2, 4, (9, 7)).astype(float)                      # input digits (vectors, K); signed top digit
    g_on, g_off = cfg.device.conductances
    unit = (g_on - g_off) / 3
    gp, gm = _programmed(lay, k_np)
    R, C = cfg.rows, cfg.cols
    vpad = np.zeros((9, 8))
    vpad[:, :7] = d * 0.01                                              # volts: any scale, the network is linear
    worst_drop = 0.0
    for t in range(2):
        for ct in range(2):
            cols = np.arange(ct * C, min((ct + 1) * C, 10))
            arr_p = np.full((R, C), g_off)
            arr_p[:, : len(cols)] = gp[t * R:(t + 1) * R, cols]
            arr_m = None
            if gm is not None:
                arr_m = np.full((R, C), g_off)
                arr_m[:, : len(cols)] = gm[t * R:(t + 1) * R, cols]
            v = vpad[:, t * R:(t + 1) * R]
            xb = Crossbar(arr_p, arr_m, cfg.wires.r_in_ohm, cfg.wires.r_out_ohm)
            ip, im = xb.solve(v)
            # the ADC input in level units: the pair difference, or the column minus the nominal G_off reference
            ref = (ip - im) / unit if gm is not None else (ip - g_off * v.sum(1, keepdims=True)) / unit
            ref = ref[:, : len(cols)] / 0.01
            got = (vpad[:, t * R:(t + 1) * R] / 0.01) @ e[t * R:(t + 1) * R][:, cols]   # the layer's e^T d
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max())
            ideal = (ip_ideal := Crossbar(arr_p, arr_m).solve(v))[0] - (ip_ideal[1] if gm is not None else 0)
            worst_drop = max(worst_drop, float(np.max(np.abs(ip - ideal)) / np.max(np.abs(ideal))))
    assert worst_drop > 0.01  # the wires matter at this size: the test would catch IR drop left out


@pytest.mark.parametrize("encoding", ["offset", "differential"])
def test_exact_with_ideal_wires_equals_off(encoding):
    # zero resistivity: every segment 0 ohm, the solver merges the shorted nodes and T(G) = G
    cfg = _cfg(encoding, rho=0.0, device={"variation": 0.1}, adc={"bits": 5, "inl_lsb": 1.0})
    torch.manual_seed(4)
    conv = IMCConv2d(2, 3, 3, padding=1, imc=cfg).eval()
    x = torch.rand(2, 2, 5, 5)
    with torch.no_grad():
        conv.train()(x)  # activation range and ADC step
        conv.eval()
        wired = IMCConv2d(2, 3, 3, padding=1, imc=cfg, nonideal=EXACT).eval()
        wired.load_state_dict(conv.state_dict())
        for seed in (None, 5):
            conv.set_chip(seed)
            wired.set_chip(seed)
            torch.testing.assert_close(wired(x), conv(x), rtol=0, atol=1e-6)
    assert cfg.wires.r_in_ohm == 0 and cfg.wires.r_out_ohm == 0


def test_wires_change_the_output_and_are_solved_once_per_chip_and_weights(monkeypatch):
    import imcsim.nn.imc_layers as mod

    calls = []
    real = mod.ir_drop_exact
    monkeypatch.setattr(mod, "ir_drop_exact", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    cfg = _cfg("differential", rho=1.9e-6)
    torch.manual_seed(5)
    lay = IMCLinear(7, 5, imc=cfg, nonideal=EXACT, adc_step="lossless")
    off = IMCLinear(7, 5, imc=cfg, adc_step="lossless")
    off.load_state_dict(lay.state_dict())
    x = torch.randn(6, 7)
    lay.eval(), off.eval()
    with torch.no_grad():
        a, b = lay(x), off(x)
        lay(x[:3])
        assert len(calls) == 1                    # same chip, same codes: the factors are reused
        lay.set_chip(2)
        lay(x)
        assert len(calls) == 2                    # a new chip is solved again
        lay.weight.mul_(-1.0)
        lay(x)
        assert len(calls) == 3                    # new codes too (evaluation is exact)
    assert not torch.allclose(a, b, atol=1e-3)    # 100 x copper resistivity: a visible drop


def test_noise_aware_training_refuses_exact_ir_drop():
    from imcsim.train.config import TrainConfig

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
    m = convert_imc(model, "all-imc", _cfg("offset"), nonideal=EXACT)
    m.train()
    m.noise_aware = True
    with pytest.raises(ModelError, match="noise-aware"):
        m(torch.randn(2, 8))
    with pytest.raises(ModelError, match="first-order"):
        convert_imc(model, "all-imc", _cfg("offset"), nonideal=NonIdealities(ir_drop="first-order"))
    with pytest.raises(ConfigError, match="noise-aware"):
        from imcsim.config.base import parse_config

        parse_config(TrainConfig, {"model": "lenet5", "target": "all-imc", "ir_drop": "exact", "noise_aware": True},
                     source="test")


def test_fixed_chip_training_reuses_the_factors_then_refreshes_them(monkeypatch):
    # training on a fixed chip: the G_eff / G factors are reused for ir_refresh_steps forward passes, then re-solved
    # for the current weights; gradients flow through the effective (wire-dropped) weights
    import imcsim.nn.imc_layers as mod

    calls = []
    real = mod.ir_drop_exact
    monkeypatch.setattr(mod, "ir_drop_exact", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    torch.manual_seed(6)
    lay = IMCLinear(7, 5, imc=_cfg("offset"), nonideal=EXACT, adc_step="lossless").train()
    lay.ir_refresh_steps = 2
    opt = torch.optim.SGD(lay.parameters(), lr=0.05)
    x = torch.randn(8, 7)
    for _ in range(5):
        opt.zero_grad()
        lay(x).square().mean().backward()
        assert torch.isfinite(lay.weight.grad).all() and lay.weight.grad.abs().sum() > 0
        opt.step()
    assert len(calls) == 3  # forward passes 1, 3 and 5 solve; 2 and 4 reuse
