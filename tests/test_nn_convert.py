"""convert(model, target): structure of the converted models and their behaviour."""

import pytest
import torch
from torch import nn

from imcsim.errors import ModelError
from imcsim.nn.convert import HybridModel, convert
from imcsim.nn.imac_linear import IMACLinear
from imcsim.nn.quant import QuantConv2d, QuantLinear
from imcsim.workload.zoo import build_model


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return build_model("lenet5")


@pytest.mark.parametrize("target", ["tpu-imac", "cpu-imac"])
def test_imac_targets_split_int8_convs_and_imac_dense_layers(lenet, target):
    m = convert(lenet, target)
    assert isinstance(m, HybridModel)
    convs = [x for x in m.frontend.modules() if isinstance(x, nn.Conv2d)]
    assert len(convs) == 2 and all(isinstance(c, QuantConv2d) and c.weight_bits == 8 for c in convs)
    assert [(l.name, l.in_features, l.out_features, l.first) for l in m.imac] == [
        ("fc1", 400, 120, True), ("fc2", 120, 84, False), ("fc3", 84, 10, False)]
    # the float model's activations between the dense layers are replaced by the analog neurons
    assert not any(isinstance(x, nn.Linear) for x in m.frontend.modules())
    x = torch.rand(5, 1, 28, 28)
    assert m(x).shape == (5, 10)
    assert lenet.conv1.__class__ is nn.Conv2d  # the input model is untouched


def test_cpu_and_tpu_imac_have_identical_layers(lenet):
    a, b = convert(lenet, "tpu-imac"), convert(lenet, "cpu-imac")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_digital_target_is_all_int8(lenet):
    m = convert(lenet, "digital", conv_bits=6, act_bits=7)
    q = [x for x in m.modules() if isinstance(x, (QuantConv2d, QuantLinear))]
    assert len(q) == 5 and all(x.weight_bits == 6 and x.act_quant.bits == 7 for x in q)
    m.eval()
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 10)


def test_imac_latent_weights_carry_the_negated_float_signs(lenet):
    m = convert(lenet, "tpu-imac", precision="ternary")
    assert all(isinstance(l, IMACLinear) and l.precision == "ternary" for l in m.imac)
    # the neuron inverts, so the latent weights are the float weights with opposite signs
    w = lenet.fc2.weight
    lat = m.imac[1].weight
    nz = lat.abs() > 0
    assert torch.equal(torch.sign(lat[nz]), -torch.sign(w[nz]))


def test_bad_target_and_bits_raise_model_error(lenet):
    with pytest.raises(ModelError, match="unknown target 'gpu'"):
        convert(lenet, "gpu")
    with pytest.raises(ModelError, match="conv_bits"):
        convert(lenet, "digital", conv_bits=1)


def test_model_without_dense_tail_raises():
    with pytest.raises(ModelError, match="no dense"):
        convert(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "tpu-imac")


def test_calibration_sets_neuron_input_spread(lenet):
    m = convert(lenet, "tpu-imac")
    x = torch.rand(64, 1, 28, 28)
    m.train()
    m.frontend(x)
    m.calibrate_(x, target_std=2.0)
    m.eval()
    v = m.features(x)
    _, v_n = m.imac[0](v)
    assert float((v_n.detach() * m.hw.neuron.slope_per_v).std()) == pytest.approx(2.0, rel=0.05)
    assert m.calibrated
    hw = m.hardware_config()
    assert hw.amplifier.transimpedance_ohm == tuple(l.transimpedance_ohm for l in m.imac)
