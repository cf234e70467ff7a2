"""`imcsim train` and `imcsim evaluate`, in-process."""

import json

import pytest
import torch

from imcsim.cli.app import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(["train", "--model", "lenet5", "--dataset", "mnist-5k", "--target", "tpu-imac", "--epochs", "1",
                 "--train-limit", "256", "--test-limit", "100", "--batch-size", "64", "--out", str(out), "--quiet"])
    torch.set_num_threads(n)
    assert code == 0
    return out


def test_train_writes_run_directory(run_dir, capsys):
    for name in ("checkpoint.pt", "deployment.json", "weights.npz", "model.pt", "metrics.json"):
        assert (run_dir / name).is_file(), name
    hist = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert len(hist) == 1 and hist[0]["phase"] == "tpu-imac"


def test_evaluate_json_has_nominal_and_monte_carlo(run_dir, capsys):
    code = main(["evaluate", str(run_dir), "--mc", "3", "--variation", "0.1", "--adc-bits", "6", "--adc-inl", "0.5",
                 "--test-limit", "100", "--format", "json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_test"] == 100
    # the CLI reports the library's evaluation with the same changes
    from imcsim.train.evaluate import HardwareChanges, evaluate_run

    lib = evaluate_run(run_dir, mc=3, changes=HardwareChanges(variation=0.1, adc_bits=6, adc_inl=0.5), test_limit=100)
    assert (res["accuracy"], res["mc"]["samples"]) == (lib.accuracy, lib.mc["samples"])
    # without changes the nominal run (the trained ADC, ideal devices, exact IR drop as the training used by default)
    # is the trainer's last test accuracy on the same 100 images
    assert main(["evaluate", str(run_dir), "--test-limit", "100", "--format", "json"]) == 0
    nominal = json.loads(capsys.readouterr().out)["accuracy"]
    hist = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert nominal == pytest.approx(hist[-1]["test_accuracy"], abs=1e-12)
    assert set(res["mc"]) >= {"mean", "std", "min"} and res["mc"]["n"] == 3
    assert res["hardware"]["adc"]["inl_lsb"] == 0.5


def test_evaluate_table(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--mc", "2", "--test-limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "nominal" in out and "Monte Carlo" in out


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "RUN", "--variation", "1.5"], "device.variation"),
    (["evaluate", "RUN", "--format", "xml"], "'--format' / '-f': 'xml' is not one of 'table', 'json', 'csv'"),
    (["evaluate", "RUN", "--ir-drop", "sometimes"], "ir_drop = 'sometimes'"),
    (["evaluate", "/nonexistent/run"], "deployment.json: no such file"),
    (["train", "--out", "X", "--target", "gpu"], "field 'target' = 'gpu'"),
    (["train", "--out", "X", "--dataset", "imagenet", "--epochs", "1"], "unknown dataset 'imagenet'"),
    (["train", "--out", "X", "--variation", "-1"], "device.variation"),
    (["evaluate", "RUN", "--mc", "-2"], "--mc"),
])
def test_bad_flags_give_one_line_and_status_2(run_dir, tmp_path, capsys, argv, message):
    argv = [str(run_dir) if a == "RUN" else (str(tmp_path / "x") if a == "X" else a) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_resume_of_a_finished_run_changes_nothing(run_dir, capsys):
    before = json.loads((run_dir / "metrics.json").read_text())["history"]
    code = main(["train", "--model", "lenet5", "--dataset", "mnist-5k", "--target", "tpu-imac", "--epochs", "1",
                 "--train-limit", "256", "--test-limit", "100", "--batch-size", "64", "--out", str(run_dir),
                 "--quiet", "--resume"])
    assert code == 0
    assert json.loads((run_dir / "metrics.json").read_text())["history"] == before
    assert main(["train", "--out", str(run_dir), "--dataset", "mnist-5k", "--epochs", "1", "--seed", "9",
                 "--train-limit", "256", "--test-limit", "100", "--batch-size", "64", "--resume", "-q"]) == 2
    assert "run was started with seed = 0, not 9" in capsys.readouterr().err


def test_simulate_a_deployment_carries_precisions(run_dir, capsys):
    assert main(["simulate", "--deployment", str(run_dir), "--format", "json"]) == 0
    layers = {lay["name"]: lay for lay in json.loads(capsys.readouterr().out)["layers"]}
    # LeNet-5 on tpu-imac: int8 convolutions on the digital unit, binary dense layers on IMAC.
    assert [layers[n]["precision"] for n in ("conv1", "conv2")] == ["int8", "int8"]
    assert {layers[n]["precision"] for n in ("fc1", "fc2", "fc3")} == {"binary"}
    assert {layers[n]["deployed_unit"] for n in ("fc1", "fc2", "fc3")} == {"imac"}
    # The systolic cost of a deployed layer is the zoo layer's: fc1 is a 400 x 120 matrix-vector product.
    assert layers["fc1"]["macs"] == 400 * 120


def test_simulate_deployment_and_model_together_is_an_error(run_dir, capsys):
    assert main(["simulate", "--deployment", str(run_dir), "--model", "lenet5"]) == 2
    assert "give exactly one workload" in capsys.readouterr().err


def test_circuit_evaluation_reads_through_the_same_output_adc(run_dir, capsys):
    # The circuit solver (ideal wires) and the trained model must classify identically once both read the last
    # layer through the deployment's output ADC; an independent path (numpy nodal solve vs torch layers).
    assert main(["evaluate", str(run_dir), "--test-limit", "200", "--ir-drop", "off", "--format", "json"]) == 0
    nominal = json.loads(capsys.readouterr().out)["accuracy"]
    assert main(["xbar", "evaluate", "--deployment", str(run_dir), "--dataset", "mnist-5k", "--no-parasitics",
                 "--limit", "200", "--format", "json"]) == 0
    circuit = json.loads(capsys.readouterr().out)
    assert circuit["n"] == 200
    assert circuit["accuracy"] == pytest.approx(nominal, abs=1e-12)


def test_evaluate_and_xbar_evaluate_defaults_are_the_same_physical_evaluation(run_dir, capsys):
    """Both commands with their defaults: exact IR drop on the run's 9 nm wires, rails, the output ADC; the same
    accuracy to 0.1 points (the issue's bound; float32 torch against float64 numpy could flip a borderline image)."""
    assert main(["evaluate", str(run_dir), "--test-limit", "200", "--format", "json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    # no --dataset: the deployment's run names it (mnist-5k)
    assert main(["xbar", "evaluate", "--deployment", str(run_dir), "--limit", "200", "--format", "json"]) == 0
    xb = json.loads(capsys.readouterr().out)
    assert ev["effects"]["nominal"]["ir_drop"] == xb["effects"]["ir_drop"] == "exact"
    assert abs(ev["accuracy"] - xb["accuracy"]) <= 0.001


def test_monte_carlo_chip_k_is_xbar_evaluate_seed_k(run_dir, capsys):
    """The same hardware flags on both commands; Monte Carlo sample k of `evaluate --seed 3` is chip 3 + k, the chip
    `xbar evaluate --seed 3+k` builds: variation, stuck-at faults and ADC errors on, exact IR drop, equal accuracy
    to 0.1 points."""
    flags = ["--variation", "0.2", "--stuck-low", "0.02", "--stuck-high", "0.01", "--adc-inl", "1", "--adc-offset", "2"]
    assert main(["evaluate", str(run_dir), "--test-limit", "100", "--mc", "2", "--seed", "3", "--format", "json",
                 *flags]) == 0
    samples = json.loads(capsys.readouterr().out)["mc"]["samples"]
    for k, acc in enumerate(samples):
        assert main(["xbar", "evaluate", "--deployment", str(run_dir), "--dataset", "mnist-5k", "--limit", "100",
                     "--seed", str(3 + k), "--format", "json", *flags]) == 0
        xb = json.loads(capsys.readouterr().out)
        assert xb["changed"]["device.stuck_low_rate"] == 0.02 and xb["effects"]["adc_errors"]["offset_sigma_lsb"] == 2
        assert abs(xb["accuracy"] - acc) <= 0.001, (k, acc, xb["accuracy"])
