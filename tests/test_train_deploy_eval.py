"""Deployment export/load and Monte Carlo evaluation of a tiny trained run."""

import json

import numpy as np
import pytest
import torch

from imcsim.errors import CheckpointError, ConfigError, WeightLevelError
from imcsim.nn.quant import fake_quant_weight
from imcsim.train.data import load_dataset
from imcsim.train.deploy import load_deployment, save_deployment
from imcsim.train.evaluate import HardwareChanges, apply_changes, evaluate_run, monte_carlo
from imcsim.train.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k").subset(1000, 200)


@pytest.fixture(scope="module")
def run(tmp_path_factory, data, one_thread):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(dataset="mnist-5k", target="tpu-imac", epochs=1, batch_size=32, lr=3e-3, seed=1,
                      ir_drop="off")  # ideal wires in training: fast; evaluation defaults to exact regardless
    res = train(cfg, out, progress=False, data=data)
    return out, res


def test_deployment_round_trip_and_contents(run, tmp_path):
    out, res = run
    assert res.test_accuracy > 0.4  # 32 steps on 1,000 digits: well above chance (0.1)
    dep = load_deployment(out)
    assert (dep.model, dep.target, dep.input_shape, dep.readout) == ("lenet5", "tpu-imac", (1, 28, 28), "argmax")
    assert [(l.name, l.unit, l.precision) for l in dep.layers] == [
        ("conv1", "digital", "int8"), ("conv2", "digital", "int8"), ("fc1", "imac", "binary"),
        ("fc2", "imac", "binary"), ("fc3", "imac", "binary")]
    conv1 = dep.layers[0]
    assert conv1.weight.dtype == np.int32 and np.abs(conv1.weight).max() == 127
    # codes * per-channel scale reproduce the fake-quantized weights the model computed with
    w = res.model.frontend.conv1.weight.detach()
    assert np.allclose(conv1.weight * conv1.weight_scale[:, None, None, None], fake_quant_weight(w, 8).numpy(),
                       atol=1e-7)
    fc1 = dep.imac_layers()[0]
    assert fc1.weight.shape == (120, 400) and set(np.unique(fc1.weight)) <= {-1.0, 1.0}
    assert fc1.extra["transimpedance_ohm"] == pytest.approx(res.model.imac[0].transimpedance_ohm)
    hw = dep.imac_config()
    assert hw.amplifier.transimpedance_ohm == tuple(l.extra["transimpedance_ohm"] for l in dep.imac_layers())
    save_deployment(dep, tmp_path / "copy")
    again = load_deployment(tmp_path / "copy")
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(dep.layers, again.layers))


def test_frontend_gives_dac_voltages(run, data):
    out, res = run
    dep = load_deployment(out)
    v = dep.frontend(data.x_test[:7])
    assert v.shape == (7, 400)
    hw = dep.imac_config()
    step = hw.vdd_v / 127
    assert np.abs(v).max() <= hw.vdd_v + 1e-6 and np.allclose(v / step, np.round(v / step), atol=1e-4)


def test_to_network_marks_units_and_precisions(run):
    net = load_deployment(run[0]).to_network()
    marked = {l.name: (l.unit, l.precision) for l in net.layers if l.unit is not None}
    assert marked == {"conv1": ("digital", "int8"), "conv2": ("digital", "int8"), "fc1": ("imac", "binary"),
                      "fc2": ("imac", "binary"), "fc3": ("imac", "binary")}


def test_a_deployment_carries_its_network_and_needs_no_zoo(run, tmp_path, monkeypatch):
    from imcsim.workload import zoo

    dep = load_deployment(run[0])
    expected = zoo.load_network("lenet5")
    monkeypatch.setattr(zoo, "load_network", lambda name: pytest.fail("to_network read the zoo"))
    net = dep.to_network()
    # the trained model's own trace: LeNet-5's layers and shapes (fc3 has the dataset's 10 classes)
    assert [(l.name, l.kind, l.in_c, l.out_c) for l in net] == [(l.name, l.kind, l.in_c, l.out_c) for l in expected]
    assert net["fc3"].out_c == 10 and net.meta["dataset"] == "mnist-5k"
    save_deployment(dep, tmp_path)
    again = load_deployment(tmp_path).to_network()
    assert again == net and [(l.unit, l.precision) for l in again] == [(l.unit, l.precision) for l in net]


def test_to_network_takes_a_network_from_outside_the_zoo(run):
    # any model's workload can carry a deployment: here LeNet-5 read through from_torch instead of the zoo
    from imcsim.workload.from_torch import from_torch
    from imcsim.workload.zoo import build_model

    own = from_torch(build_model("lenet5"), (1, 28, 28), name="my-lenet")
    net = load_deployment(run[0]).to_network(own)
    assert net.name == "my-lenet" and net["fc2"].unit == "imac" and net["conv2"].precision == "int8"
    assert [l.name for l in net.layers] == [l.name for l in own.layers]


def test_malformed_deployments_raise_checkpoint_error(run, tmp_path):
    dep = load_deployment(run[0])
    save_deployment(dep, tmp_path)
    meta = json.loads((tmp_path / "deployment.json").read_text())
    del meta["layers"]
    (tmp_path / "deployment.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="missing key 'layers'"):
        load_deployment(tmp_path)
    (tmp_path / "deployment.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_deployment(tmp_path)
    save_deployment(dep, tmp_path)
    arrays = dict(np.load(tmp_path / "weights.npz"))
    arrays["fc2.weight"] = arrays["fc2.weight"] * 0.5
    np.savez(tmp_path / "weights.npz", **arrays)
    with pytest.raises(WeightLevelError, match="IMAC layer 'fc2' holds weights outside"):
        load_deployment(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_deployment(tmp_path / "none")
    save_deployment(dep, tmp_path)
    meta = json.loads((tmp_path / "deployment.json").read_text())
    meta["layers"][2]["unit"] = "gpu"
    (tmp_path / "deployment.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="layer 'fc1': field 'unit' = 'gpu': expected one of digital, imac"):
        load_deployment(tmp_path)


def test_monte_carlo_is_seeded_and_zero_variation_equals_nominal(run, data):
    out, res = run
    ch = HardwareChanges(variation=0.2, adc_bits=6, adc_inl=0.5, ir_drop="off")  # ideal wires: seeding only, fast
    a = evaluate_run(out, mc=3, seed=5, changes=ch, data=data)
    b = evaluate_run(out, mc=3, seed=5, changes=ch, data=data)
    assert a.mc == b.mc and a.mc["n"] == 3
    # sample k is chip seed + k: each equals a one-chip run with that seed, and the statistics are theirs
    one = [evaluate_run(out, mc=1, seed=5 + k, changes=ch, data=data).mc["mean"] for k in range(3)]
    assert a.mc["samples"] == one
    assert a.mc["mean"] == pytest.approx(sum(one) / 3, rel=1e-12)
    assert (a.mc["min"], a.mc["max"]) == (min(one), max(one))
    assert a.mc["std"] == pytest.approx((sum((s - sum(one) / 3) ** 2 for s in one) / 2) ** 0.5, abs=1e-12)
    ideal = evaluate_run(out, mc=2, data=data, changes=HardwareChanges(variation=0.0, ir_drop="off"))
    assert ideal.mc["samples"] == [ideal.accuracy, ideal.accuracy]
    # the nominal run with the training ADC and the training's ideal wires equals the trainer's final test accuracy
    assert ideal.accuracy == pytest.approx(res.test_accuracy)
    assert a.hardware["adc"]["bits"] == 6 and a.hardware["device"]["variation"] == 0.2
    # the result says what it includes, and which fields the evaluation changed from the run's config
    assert a.changed == {"device.variation": 0.2, "adc.bits": 6, "adc.inl_lsb": 0.5}
    assert a.effects["nominal"]["variation"] == 0.0 and a.effects["mc"]["variation"] == 0.2
    assert a.effects["mc"]["adc_errors"]["inl_lsb"] == 0.5 and a.effects["mc"]["ir_drop"] == "off"
    assert a.effects["mc"]["amplifier_clipping"].startswith("each partition amplifier at its rails [-0.8, 0.8] V")


def test_the_default_evaluation_is_exact_ir_drop(run, data):
    """Without --ir-drop the evaluation solves the wires exactly (whatever the run trained with: off here), and it
    equals asking for exact explicitly; ideal wires give another accuracy on 9 nm wires."""
    out, res = run
    default = evaluate_run(out, data=data, test_limit=100)
    assert default.effects["nominal"]["ir_drop"] == "exact"
    assert default.effects["nominal"]["wire_ohm_per_cell"][0] > 0
    assert default.accuracy == evaluate_run(out, data=data, test_limit=100,
                                            changes=HardwareChanges(ir_drop="exact")).accuracy


def test_heavy_variation_costs_accuracy(run, data):
    out, res = run
    model = res.model
    hw = apply_changes(model.hw, HardwareChanges(variation=0.9, stuck_low=0.3, stuck_high=0.3))
    r = monte_carlo(model, data.x_test, data.y_test, 3, 0, hw)
    assert r.mc["mean"] < r.accuracy


def test_override_and_target_errors(run, tmp_path, data):
    with pytest.raises(ConfigError, match="device.variation"):
        evaluate_run(run[0], changes=HardwareChanges(variation=1.5), data=data)
    cfg = TrainConfig(dataset="mnist-5k", target="digital", epochs=1, batch_size=128, test_limit=50)
    res = train(cfg, tmp_path, progress=False, data=data)
    # a digital run: the nominal accuracy is the trained model's argmax accuracy on the 50 test images, counted here
    model = res.model.eval()
    with torch.no_grad():
        correct = int((model(torch.as_tensor(data.x_test[:50])).argmax(1) == torch.as_tensor(data.y_test[:50])).sum())
    assert evaluate_run(tmp_path, data=data, test_limit=50).accuracy == correct / 50
    with pytest.raises(ConfigError, match="mc = 2: target 'digital' has no IMAC layers"):
        evaluate_run(tmp_path, mc=2, data=data)


@pytest.mark.parametrize("parasitics", [False, True])
def test_circuit_network_from_deployment_reproduces_the_trained_analog_layers(run, data, parasitics):
    """circuit/'s IMACNetwork built from the deployment gives our layers' neuron outputs (ideal wires: the ideal
    crossbar; with the config's wires: our exact IR-drop mode)."""
    from imcsim.circuit.network import IMACNetwork

    out, res = run
    dep = load_deployment(out)
    model = dep.torch_model()
    x = data.x_test[:16]
    v_in = dep.frontend(x)
    net = IMACNetwork.from_deployment(dep, parasitics=parasitics)
    ref = net.forward(v_in)
    with torch.no_grad():
        model.set_chip(None)
        h = torch.as_tensor(v_in)
        for layer in model.double().imac:
            layer.ir_drop = "exact" if parasitics else "off"
            layer_in = layer.preactivation(h)
            from imcsim.circuit.neuron import neuron_transfer

            h = neuron_transfer(layer_in, layer.hw.neuron)
    assert np.allclose(h.numpy(), ref, rtol=1e-6, atol=1e-9)


def test_deployment_with_a_bad_training_config_is_a_checkpoint_error(run, tmp_path):
    dep = load_deployment(run[0])
    save_deployment(dep, tmp_path)
    meta = json.loads((tmp_path / "deployment.json").read_text())
    meta["config"]["train"]["ir_drop"] = False
    (tmp_path / "deployment.json").write_text(json.dumps(meta))
    # the typed deployment config rejects it when the deployment is read, before any evaluation
    with pytest.raises(CheckpointError, match=r"deployment.json config: field 'train.ir_drop' = False"):
        load_deployment(tmp_path)
    with pytest.raises(CheckpointError, match=r"deployment.json config: field 'train.ir_drop' = False"):
        evaluate_run(tmp_path)


def _chip_hw(model):
    """Every static chip effect on: device variation, both stuck-at faults, and all four ADC errors."""
    return apply_changes(model.hw, HardwareChanges(variation=0.3, stuck_low=0.05, stuck_high=0.05, adc_inl=1.5,
                                                   adc_dnl=0.3, adc_offset=3.0, adc_gain=0.05))


def test_the_same_chip_in_nn_and_circuit(run, data):
    """Chip 5 of nn/ (evaluate's Monte Carlo sample) and chip 5 of circuit/ (``xbar evaluate --seed 5``) with
    variation, stuck-at faults and ADC errors on: the same neuron voltages and ADC reads to 1e-6 V (ideal wires)."""
    from imcsim.circuit.network import IMACNetwork
    from imcsim.circuit.neuron import neuron_transfer
    from imcsim.nn.adc import adc_read, ideal_adc
    from imcsim.nn.nonideal import NonIdealities

    out, _ = run
    dep = load_deployment(out)  # a fresh load: its model is ours to change
    v_in = dep.frontend(data.x_test[:64])
    model = dep.torch_model().double()
    hw = _chip_hw(model)
    model.hw, model.nonideal = hw, NonIdealities(read_noise=False, ir_drop="off")
    for layer in model.imac:
        layer.hw = hw
    with torch.no_grad():
        model.set_chip(5)
        assert all(layer.chip is not None for layer in model.imac)
        h = torch.as_tensor(v_in)
        for layer in model.imac:
            h = neuron_transfer(layer.preactivation(h), layer.hw.neuron)
        read = adc_read(h, model.adc_instances).numpy()
        nominal = adc_read(h, ideal_adc(hw.adc, h.shape[1])).numpy()
    net = IMACNetwork.from_deployment(dep, parasitics=False, seed=5, hw=hw)
    ref = net.forward(v_in)
    assert np.abs(h.numpy() - ref).max() < 1e-6
    assert np.abs(read - net.read(ref)).max() < 1e-6
    # the effects were really on: about 5% of the devices stuck low, and ADC instances that read unlike ideal ones
    assert net.chip.layers[0].draws.stuck_low.mean() == pytest.approx(0.05, abs=0.01)
    assert (read != nominal).any()
    # and another seed is another chip
    other = IMACNetwork.from_deployment(dep, parasitics=False, seed=6, hw=hw).forward(v_in)
    assert np.abs(other - ref).max() > 1e-3


@pytest.mark.parametrize("parasitics", [False, True])
def test_evaluate_and_xbar_evaluate_agree_on_the_same_chip(run, data, parasitics):
    """Monte Carlo chip k of ``evaluate`` has the accuracy of ``xbar evaluate --seed k`` (ideal wires and the exact
    IR drop through the crossbar transfer matrices), within 0.1 points."""
    from imcsim.circuit.network import IMACNetwork
    from imcsim.nn.nonideal import NonIdealities

    out, _ = run
    dep = load_deployment(out)
    model = dep.torch_model()
    hw = _chip_hw(model)
    ni = NonIdealities(read_noise=False, ir_drop="exact" if parasitics else "off")
    x, y = data.x_test[:200], data.y_test[:200]
    res = monte_carlo(model, x, y, 2, seed=3, hw=hw, nonideal=ni)
    for k, acc in enumerate(res.mc["samples"]):
        net = IMACNetwork.from_deployment(dep, parasitics=parasitics, seed=3 + k, hw=hw)
        circ = net.evaluate(dep.frontend(x), y).accuracy
        assert abs(acc - circ) <= 0.001, (k, acc, circ)
