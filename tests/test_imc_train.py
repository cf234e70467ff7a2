"""Approximate ADCs, and training / evaluation / deployment of the all-imc and tpu-imc targets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from imcsim.arch.imc import imc_layer_cost
from imcsim.cli.app import main
from imcsim.config.approx_adc import ApproxADC
from imcsim.config.imc import IMCConfig
from imcsim.workload.layer import Layer


def test_approx_adc_energy_and_errors_follow_power_scale():
    imc = IMCConfig(rows=128, cols=128, cell_bits=2, weight_bits=4, input_bits=8, dac={"bits": 8})
    layer = Layer.linear("fc", 100, 10)
    nominal = ApproxADC(bits=6, inl_lsb=0.5, offset_sigma_lsb=0.25).apply(imc)
    low = ApproxADC(bits=6, power_scale=0.25, inl_lsb=0.5, offset_sigma_lsb=0.25).apply(imc)
    # hand calculation: 10 outputs x 2 slices = 20 columns, one read (8-bit DAC), at ISAAC's 1.5625 pJ per 8-bit
    # conversion scaled by 2^(6 - 8): 20 x 1.5625e-12 / 4 = 7.8125e-12 J; a quarter of that at power_scale 0.25
    e_nom = imc_layer_cost(layer, nominal).metrics["energy_adc_j"]
    e_low = imc_layer_cost(layer, low).metrics["energy_adc_j"]
    assert math.isclose(e_nom, 20 * 1.5625e-12 / 4, rel_tol=1e-12)
    assert math.isclose(e_low, e_nom / 4, rel_tol=1e-12)
    # Pelgrom: errors grow as power^-1/2, so a quarter of the power doubles INL and offset
    assert low.adc.inl_lsb == pytest.approx(1.0) and low.adc.offset_sigma_lsb == pytest.approx(0.5)
    assert nominal.adc.inl_lsb == 0.5 and low.adc.bits == 6


@pytest.fixture(scope="module")
def imc_run(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("imc")
    core = root / "core.yaml"
    core.write_text("rows: 64\ncols: 64\ncell_bits: 2\nweight_bits: 4\nencoding: differential\ninput_bits: 6\n"
                    "activation_bits: 6\ndac: {bits: 6}\ncols_per_adc: 8\n")
    out = root / "run"
    code = main(["train", "--model", "lenet5", "--dataset", "mnist-5k", "--target", "all-imc", "--imc", str(core),
                 "--epochs", "1", "--train-limit", "256", "--test-limit", "100", "--batch-size", "64",
                 "--noise-aware", "--variation", "0.05", "--adc-bits", "6", "--adc-inl", "0.5", "--out", str(out),
                 "--quiet"])
    torch.set_num_threads(n)
    assert code == 0
    return out


def test_all_imc_run_deploys_integer_codes(imc_run):
    meta = json.loads((imc_run / "deployment.json").read_text())
    assert meta["target"] == "all-imc"
    units = {lay["name"]: lay["unit"] for lay in meta["layers"]}
    assert set(units.values()) == {"imc"} and len(units) == 5          # 2 convolutions + 3 dense layers
    assert meta["config"]["imc"]["adc"]["inl_lsb"] == 0.5 and meta["config"]["imc"]["adc"]["bits"] == 6
    with np.load(imc_run / "weights.npz") as w:
        for name in units:
            codes = w[f"{name}.weight"]
            assert np.all(codes == np.round(codes)) and np.abs(codes).max() <= 7   # 4-bit signed codes
            assert w[f"{name}.weight_scale"].shape == (codes.shape[0],)


def test_evaluate_imc_run_monte_carlo(imc_run, capsys):
    code = main(["evaluate", str(imc_run), "--mc", "2", "--adc-inl", "1.0", "--test-limit", "100",
                 "--format", "json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mc"]["n"] == 2 and 0 <= res["mc"]["mean"] <= 1
    assert res["hardware"]["adc"]["inl_lsb"] == 1.0


def test_evaluate_imc_run_with_exact_ir_drop(imc_run, capsys):
    # the run trained on ideal wires; evaluated through every array's transfer matrix (64 x 64, 9 nm wires) its
    # effects line states the wire model and the segment resistances, and the result is an accuracy
    code = main(["evaluate", str(imc_run), "--ir-drop", "exact", "--test-limit", "100"])
    out = capsys.readouterr().out
    assert code == 0
    assert "IR drop exact (9.242 / 11.55 ohm per cell)" in out
    code = main(["evaluate", str(imc_run), "--ir-drop", "first-order", "--test-limit", "10"])
    assert code == 2 and "exactly or not at all" in capsys.readouterr().err


def test_imc_run_evaluates_like_its_training_accuracy(imc_run):
    # the deployment's model rebuilt from model.pt reproduces the nominal accuracy the trainer recorded
    from imcsim.train.evaluate import evaluate_run

    hist = json.loads((imc_run / "metrics.json").read_text())["history"]
    res = evaluate_run(imc_run, test_limit=100)
    assert res.accuracy == pytest.approx(hist[-1]["test_accuracy"], abs=1e-9)


def test_map_costs_the_imc_deployment(imc_run, capsys):
    code = main(["map", "--deployment", str(imc_run), "--arch", "isaac", "--format", "json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)


def test_tpu_imc_keeps_convolutions_digital():
    from imcsim.nn.imc_convert import convert_imc
    from imcsim.nn.imc_layers import IMCLinear
    from imcsim.nn.quant import QuantConv2d
    from imcsim.workload.zoo import build_model

    m = convert_imc(build_model("lenet5"), "tpu-imc", IMCConfig(input_bits=8, dac={"bits": 8}))
    kinds = [type(x) for x in m.net.modules() if isinstance(x, (torch.nn.Conv2d, torch.nn.Linear))]
    assert kinds.count(QuantConv2d) == 2 and kinds.count(IMCLinear) == 3
    assert [x.layer_index for x in m.imc_layers()] == [0, 1, 2]


def test_bad_imc_target_option_is_a_user_error(tmp_path, capsys):
    code = main(["train", "--target", "all-imc", "--imc", "nonesuch", "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 2


def test_imac_settings_do_not_apply_to_imc_targets(tmp_path):
    from imcsim.errors import ConfigError
    from imcsim.train.config import TrainConfig
    from imcsim.train.trainer import train

    with pytest.raises(ConfigError, match="ir_drop = 'exact' does not apply to target 'all-imc'"):
        train(TrainConfig(model="lenet5", dataset="mnist-5k", target="all-imc", ir_drop="exact", epochs=1))
    with pytest.raises(ConfigError, match="imc = .* does not apply to target 'tpu-imac'"):
        train(TrainConfig(model="lenet5", dataset="mnist-5k", target="tpu-imac", imc={"rows": 64}, epochs=1))


_DW_NET = '''
import torch
from torch import nn


class TinyDWNet(nn.Module):
    """A stem convolution, one MobileNet-style depthwise-separable block, a classifier."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))
'''


def test_all_imc_trains_evaluates_and_maps_a_depthwise_separable_model(tmp_path, capsys):
    # a depthwise-separable block through the whole all-imc flow: training with the ADC and devices in the loop,
    # calibration-free Monte Carlo evaluation, and the cost model reading the deployed depthwise codes
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    src = tmp_path / "dwnet.py"
    src.write_text(_DW_NET)
    core = tmp_path / "core.yaml"
    core.write_text("rows: 32\ncols: 32\ncell_bits: 2\nweight_bits: 4\nencoding: differential\ninput_bits: 6\n"
                    "activation_bits: 6\ndac: {bits: 6}\ncols_per_adc: 8\n")
    out = tmp_path / "run"
    try:
        code = main(["train", "--model", f"{src}:TinyDWNet", "--input-shape", "1,28,28", "--dataset", "mnist-5k",
                     "--target", "all-imc", "--imc", str(core), "--epochs", "1", "--train-limit", "128",
                     "--test-limit", "50", "--batch-size", "64", "--noise-aware", "--variation", "0.05",
                     "--adc-bits", "6", "--adc-inl", "0.5", "--out", str(out), "--quiet"])
        assert code == 0
        meta = json.loads((out / "deployment.json").read_text())
        assert [lay["unit"] for lay in meta["layers"]] == ["imc"] * 4
        with np.load(out / "weights.npz") as w:
            dw = w["features.2.weight"]   # the depthwise layer's 4-bit codes, one 3 x 3 kernel per channel
            assert dw.shape == (8, 1, 3, 3) and np.all(dw == np.round(dw)) and np.abs(dw).max() <= 7
        capsys.readouterr()
        assert main(["evaluate", str(out), "--mc", "2", "--test-limit", "50", "--format", "json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["mc"]["n"] == 2 and 0 <= res["mc"]["mean"] <= 1
        assert main(["map", "--deployment", str(out), "--arch", "isaac", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)
    finally:
        torch.set_num_threads(n)
