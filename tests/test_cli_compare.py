"""``imcsim compare`` and ``imcsim reproduce``, in-process."""

from __future__ import annotations

import json

import pytest

from imcsim.arch.system import System
from imcsim.cli.app import main
from imcsim.config.presets import load_preset
from imcsim.workload.zoo import load_network


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_json_matches_the_library(capsys):
    code, out, err = _run(capsys, "compare", "--model", "lenet5", "--arch", "tpu-imac", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {"baseline", "hetero", "speedup", "energy_saving", "memory_reduction"} <= set(d)
    ref = System(load_preset("tpu-imac")).compare(load_network("lenet5"))
    # the report carries the library's figures, not figures of its own
    assert d["speedup"] == pytest.approx(ref.speedup, rel=1e-12)
    assert d["energy_saving"] == pytest.approx(ref.energy_saving, rel=1e-12)
    assert (d["baseline"]["latency_s"], d["hetero"]["latency_s"]) == (ref.baseline.latency_s, ref.hetero.latency_s)
    # weight memory by hand: LeNet-5 has 156 + 2,416 conv and 48,120 + 10,164 + 850 dense parameters (biases
    # included); the edge TPU stores int8 (8 bits), the SOT-MRAM IMAC one bit per binary weight
    conv_w, dense_w = 156 + 2_416, 48_120 + 10_164 + 850
    assert (d["baseline"]["weight_bits"], d["hetero"]["weight_bits"]) == (8 * (conv_w + dense_w), 8 * conv_w + dense_w)
    assert d["memory_reduction"] == pytest.approx(1 - (8 * 2_572 + 59_134) / (8 * 61_706), rel=1e-12)
    assert [r["unit"] for r in d["hetero"]["layers"] if r["name"] in ("fc1", "fc2", "fc3")] == ["imac"] * 3


def test_compare_table_and_plot(capsys, tmp_path):
    png = tmp_path / "lenet.png"
    code, out, err = _run(capsys, "compare", "--model", "lenet5", "--arch", "cpu-imac", "--plot", str(png))
    assert code == 0, err
    assert "cpu alone" in out and "speedup" in out and "energy saving" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_arch_from_a_yaml_file(capsys, tmp_path):
    cfg = tmp_path / "sys.yaml"
    cfg.write_text("name: my-cpu-imac\ndigital: cpu\ncpu: cortex-a76\nimac:\n  sampling_time_s: 2.0e-9\n")
    code, out, err = _run(capsys, "compare", "-m", "mlp", "-a", str(cfg), "-f", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["system"] == "my-cpu-imac"
    imac_rows = [r for r in d["hetero"]["layers"] if r["unit"] == "imac" and not r.get("absorbed")]
    assert [r["sampling_time_s"] for r in imac_rows] == [2e-9] * 3


def test_compare_table_names_the_imac_terms_left_out(capsys, tmp_path):
    # by default every peripheral term is counted (derived), so there is no note
    code, out, err = _run(capsys, "compare", "-m", "mlp", "-a", "tpu-imac")
    assert code == 0, err
    assert "leave out" not in out
    # terms set to 0 are named
    off = tmp_path / "off.yaml"
    off.write_text("name: some-off\ndigital: systolic\nsystolic: edge-tpu\nimac:\n  amplifier_bias_power_w: 0\n"
                   "  neuron_area_m2: 0\n")
    code, out, err = _run(capsys, "compare", "-m", "mlp", "-a", str(off))
    assert code == 0, err
    assert out.rstrip().splitlines()[-1].endswith("(set to 0 in the IMAC config): amplifier bias power, neuron area")
    # given figures are counted as given
    cfg = tmp_path / "sys.yaml"
    cfg.write_text("name: all-counted\ndigital: systolic\nsystolic: edge-tpu\nimac:\n  amplifier_bias_power_w: 1.0e-6\n"
                   "  amplifier_area_m2: 1.0e-12\n  neuron_bias_power_w: 1.0e-6\n")
    code, out, err = _run(capsys, "compare", "-m", "mlp", "-a", str(cfg))
    assert code == 0, err
    assert "leave out" not in out
    code, out, err = _run(capsys, "compare", "-m", "mlp", "-a", str(cfg), "-f", "json")
    rows = [r for r in json.loads(out)["hetero"]["layers"] if r["unit"] == "imac" and "amplifiers" in r]
    assert [r["amplifier_area_m2"] for r in rows] == [pytest.approx(r["amplifiers"] * 1e-12) for r in rows]


@pytest.mark.parametrize("argv, needle", [
    (["compare", "--model", "vgg16", "--arch", "gpu-imac"], "unknown architecture 'gpu-imac'"),
    (["compare", "--model", "vgg99", "--arch", "tpu-imac"], "unknown model 'vgg99'"),
    (["compare", "--arch", "tpu-imac"], "exactly one of --model and --deployment"),
    (["compare", "--model", "lenet5", "--format", "xml"], "xml"),
    (["reproduce", "--models", "lenet5,nope"], "unknown model 'nope'"),
])
def test_user_errors_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_system_yaml_is_one_line(capsys, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("digital: gpu\n")
    code, out, err = _run(capsys, "compare", "-m", "lenet5", "-a", str(cfg))
    assert code == 2 and "field 'digital' = 'gpu'" in err and len(err.strip().splitlines()) == 1


def test_reproduce_json_relates_rows_to_the_papers(capsys):
    code, out, err = _run(capsys, "reproduce", "--models", "lenet5,vgg9", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert [r["model"] for r in d["tpu_imac"]] == ["lenet5", "vgg9"]
    cpu = {r["model"]: r for r in d["cpu_imac"]}
    assert cpu["lenet5"]["published_energy_saving"] == 0.065 and cpu["vgg9"]["published_energy_saving"] == 0.10
    assert [r["rows"] for r in d["sensitivity"]["rows"]] == [8, 16, 32, 64, 128]
    assert any("dram" in s for s in d["drivers"]) and any("87.5%" in s for s in d["drivers"])


def test_reproduce_table_is_readable(capsys, tmp_path):
    png = tmp_path / "sens.png"
    code, out, err = _run(capsys, "reproduce", "--models", "lenet5,mlp", "--plot", str(png))
    assert code == 0, err
    for needle in ("TPU-IMAC vs TPU alone", "CPU-IMAC vs CPU alone", "Sensitivity", "Where our figures differ",
                   "2.59x", "6.5%"):
        assert needle in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_compare_a_deployment_uses_its_weights_and_imac_config(capsys, tmp_path):
    import numpy as np

    from imcsim.config.imac import IMACConfig
    from imcsim.train.deploy import DeployedLayer, Deployment, DeploymentConfig, save_deployment

    rng = np.random.default_rng(0)
    imac_cfg = IMACConfig(weight_precision="ternary", sampling_time_s=3e-9)
    layers = [DeployedLayer(name, "linear", "imac", "ternary", np.zeros((o, i)), np.zeros(o))
              for name, i, o in (("fc1", 400, 120), ("fc2", 120, 84))]
    layers.append(DeployedLayer("fc3", "linear", "imac", "ternary", rng.integers(-1, 2, size=(10, 84)).astype(float),
                                np.zeros(10)))
    dep = Deployment(model="lenet5", target="tpu-imac", input_shape=(1, 28, 28), dataset="mnist", layers=layers,
                     config=DeploymentConfig(imac=imac_cfg))
    save_deployment(dep, tmp_path / "dep")
    code, out, err = _run(capsys, "compare", "--deployment", str(tmp_path / "dep"), "-f", "json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["hetero"]["layers"]}
    assert rows["fc1"]["sampling_time_s"] == 3e-9
    # all-zero ternary weights and biases: every device pair is (G_on, G_on); 400 inputs + bias row at full swing
    g_on = 1 / 5e3
    assert rows["fc1"]["device_energy_j"] == pytest.approx(3e-9 * 401 * 120 * 0.8**2 * 2 * g_on, rel=1e-12)
    assert rows["fc1"]["weight_bits"] == 2 * (400 * 120 + 120)


def test_output_file_is_written_and_a_missing_directory_is_one_line(capsys, tmp_path):
    out_file = tmp_path / "cmp.json"
    code, out, err = _run(capsys, "compare", "-m", "lenet5", "-f", "json", "-o", str(out_file))
    assert code == 0 and out == ""
    assert json.loads(out_file.read_text())["model"] == "lenet5"
    code, out, err = _run(capsys, "compare", "-m", "lenet5", "-o", str(tmp_path / "no" / "cmp.txt"))
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, "compare", "-m", "lenet5", "--plot", str(tmp_path / "cmp.gif"))
    assert code == 2 and "must end in .png" in err


def test_a_deployment_and_the_zoo_model_cost_the_same(capsys, tmp_path):
    """The same binary weights on the same device (tpu-imac's own IMAC unit) cost the same under --deployment and
    --model, and both baselines are the int8 model: the memory reduction by hand is
    1 - (1,248 + 19,328 + 59,134) / (1,248 + 19,328 + 8 * 59,134) = 0.838529 (conv weight bits at int8; the dense
    layers' 59,134 weights and biases at 1 bit vs 8)."""
    import numpy as np

    from imcsim.config.system import load_system
    from imcsim.train.deploy import DeployedLayer, Deployment, DeploymentConfig, save_deployment

    rng = np.random.default_rng(1)
    layers = [DeployedLayer(name, "linear", "imac", "binary", rng.choice([-1.0, 1.0], size=(o, i)),
                            rng.choice([-1.0, 1.0], size=o)) for name, i, o in (("fc1", 400, 120), ("fc2", 120, 84),
                                                                                 ("fc3", 84, 10))]
    dep = Deployment(model="lenet5", target="tpu-imac", input_shape=(1, 28, 28), dataset="mnist", layers=layers,
                     config=DeploymentConfig(imac=load_system("tpu-imac").imac))
    save_deployment(dep, tmp_path / "dep")
    code, out, err = _run(capsys, "compare", "--deployment", str(tmp_path / "dep"), "-f", "json")
    assert code == 0, err
    by_dep = json.loads(out)
    code, out, err = _run(capsys, "compare", "--model", "lenet5", "-f", "json")
    by_model = json.loads(out)
    hand = 1 - (1248 + 19328 + 59134) / (1248 + 19328 + 8 * 59134)
    assert by_dep["memory_reduction"] == pytest.approx(hand, rel=1e-12)
    assert by_model["memory_reduction"] == pytest.approx(hand, rel=1e-12)
    assert by_dep["baseline"]["weight_bits"] == by_model["baseline"]["weight_bits"] == 1248 + 19328 + 8 * 59134
    assert by_dep["baseline"]["energy_j"] == pytest.approx(by_model["baseline"]["energy_j"], rel=1e-12)
    dep_rows = {r["name"]: r for r in by_dep["hetero"]["layers"]}
    for r in by_model["hetero"]["layers"]:
        if r["name"] in ("fc1", "fc2", "fc3"):  # binary pairs: (G_on, G_off) whatever the sign, so the mix is exact
            assert dep_rows[r["name"]]["energy_j"] == pytest.approx(r["energy_j"], rel=1e-9), r["name"]


def test_compare_a_deployment_names_the_hardware_it_read(capsys, tmp_path):
    """The table says the IMAC unit is the deployment's and lists each field that differs from --arch's."""
    import numpy as np

    from imcsim.config.system import load_system
    from imcsim.train.deploy import DeployedLayer, Deployment, DeploymentConfig, save_deployment

    hw = load_system("tpu-imac").imac.replace_paths({"sampling_time_s": 3e-9, "adc.bits": 6})
    layers = [DeployedLayer(name, "linear", "imac", "binary", np.ones((o, i)), np.ones(o))
              for name, i, o in (("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10))]
    save_deployment(Deployment(model="lenet5", target="tpu-imac", input_shape=(1, 28, 28), dataset="mnist",
                               layers=layers, config=DeploymentConfig(imac=hw)), tmp_path / "dep")
    code, out, err = _run(capsys, "compare", "--deployment", str(tmp_path / "dep"))
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"IMAC unit: the hardware {tmp_path / 'dep'} was trained with, in place of tpu-imac's")
    assert last.endswith("differs in: sampling_time_s = 3e-09, adc.bits = 6")
