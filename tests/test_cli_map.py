"""``imcsim map``, in-process: the JSON a script can recompute the pipeline from, the table, the plot, user errors."""

from __future__ import annotations

import json
import math

import pytest

from imcsim.cli.app import main

from pipeline_json_ref import recompute_pipeline


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("duplication", ["none", "balanced", "budget:60"])
def test_map_json_lets_a_script_recompute_the_pixel_pipeline(capsys, duplication):
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "isaac", "--pipeline", "pixel",
                          "--duplication", duplication, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {"latency_s", "throughput_ips", "energy_j", "area_m2", "activation_memory_bytes", "cores",
            "layers"} <= set(d)
    for r in d["layers"]:
        assert {"name", "unit", "arrays", "copies", "pixels", "pixel_time_s", "stage_time_s", "start_s", "finish_s",
                "energy_j"} <= set(r)
    fin = recompute_pipeline(d["layers"])
    assert d["latency_s"] == pytest.approx(max(max(f) for f in fin.values()), rel=1e-12)
    for r in d["layers"]:
        assert r["finish_s"] == pytest.approx(max(fin[r["name"]]), rel=1e-12)
        assert r["stage_time_s"] == pytest.approx(math.ceil(r["pixels"] / r["copies"]) * r["pixel_time_s"])
    assert d["throughput_ips"] == pytest.approx(1 / max(r["stage_time_s"] for r in d["layers"]))
    assert d["cores"] == sum(r["arrays"] * r["copies"] for r in d["layers"])
    assert d["energy_j"] == pytest.approx(sum(r["energy_j"] for r in d["layers"]))
    if duplication == "budget:60":
        assert 42 < d["cores"] <= 60  # lenet5 needs 42 arrays on isaac; copies fill the rest


def test_map_layer_dataflow_table_and_plot(capsys, tmp_path):
    png = tmp_path / "tradeoff.png"
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "hermes", "--plot", str(png))
    assert code == 0, err
    assert "lenet5 on hermes: layer pipeline" in out and "energy split" in out and "adc" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--format", "json")
    d = json.loads(out)
    assert d["latency_s"] == pytest.approx(sum(r["stage_time_s"] for r in d["layers"]))
    assert d["throughput_ips"] == pytest.approx(1 / d["latency_s"])


def test_map_topology_file(capsys):
    code, out, err = _run(capsys, "map", "--topology", "examples/topology.csv", "--arch", "puma", "--pipeline",
                          "pixel", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert all(r["arrays"] > 0 for r in d["layers"])


@pytest.mark.parametrize("argv, words", [
    (["--arch", "edge-tpu"], ["--arch 'edge-tpu'", "not an IMC core or a system"]),
    (["--arch", "cortex-a76"], ["--arch 'cortex-a76'", "not an IMC core or a system"]),
    (["--arch", "nosuch"], ["unknown preset 'nosuch'"]),
    (["--duplication", "budget:0"], ["--duplication = 'budget:0'"]),
    (["--pipeline", "wave"], ["--pipeline"]),
])
def test_map_user_errors_exit_2_with_one_line(capsys, argv, words):
    code, out, err = _run(capsys, "map", "--model", "lenet5", *argv)
    assert code == 2
    assert err.count("\n") == 1 and all(w in err for w in words), err


def test_map_a_deployment_maps_its_network(capsys, tmp_path):
    import numpy as np

    from imcsim.train.deploy import DeployedLayer, Deployment, save_deployment

    layers = [DeployedLayer(name, "linear", "imac", "ternary", np.zeros((o, i)), np.zeros(o))
              for name, i, o in (("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10))]
    dep = Deployment(model="lenet5", target="tpu-imac", input_shape=(1, 28, 28), dataset="mnist", layers=layers,
                     config={})
    save_deployment(dep, tmp_path / "dep")
    code, out, err = _run(capsys, "map", "--deployment", str(tmp_path / "dep"), "--arch", "isaac", "-f", "json")
    assert code == 0, err
    code2, out2, _ = _run(capsys, "map", "--model", "lenet5", "--arch", "isaac", "-f", "json")
    a, b = json.loads(out), json.loads(out2)
    assert [r["name"] for r in a["layers"]] == [r["name"] for r in b["layers"]]
    assert a["latency_s"] == b["latency_s"] and a["cores"] == b["cores"]
    # fc1: 400 inputs on 128 rows -> 4 row tiles; 120 outputs x 8 slices = 960 columns -> 8 column tiles
    assert {r["name"]: r["arrays"] for r in a["layers"]}["fc1"] == 32


def test_map_a_system_yaml_file_and_its_errors(capsys, tmp_path):
    """A YAML file whose keys are not all IMCConfig fields is read as a system; its errors name the file and field."""
    good = tmp_path / "sys.yaml"
    good.write_text("units: {systolic: edge-tpu, imc: hermes}\nplacement: {policy: all-analog}\n")
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", str(good), "-f", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {r["unit"] for r in d["layers"]} == {"imc", "transfer"} and d["host"] == "systolic"
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: {systolic: edge-tpu, imc: hermes}\nplacement: {policy: sideways}\n")
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", str(bad))
    assert code == 2 and err.count("\n") == 1 and "bad.yaml" in err and "policy" in err, err


def test_map_a_deployment_on_a_system_uses_its_trained_imac_hardware(capsys, tmp_path):
    import numpy as np

    from imcsim.config.imac import IMACConfig
    from imcsim.train.deploy import DeployedLayer, Deployment, DeploymentConfig, save_deployment

    layers = [DeployedLayer(name, "linear", "imac", "ternary", np.zeros((o, i)), np.zeros(o))
              for name, i, o in (("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10))]
    dep = Deployment(model="lenet5", target="tpu-imac", input_shape=(1, 28, 28), dataset="mnist", layers=layers,
                     config=DeploymentConfig(imac=IMACConfig(weight_precision="ternary", sampling_time_s=3e-9)))
    save_deployment(dep, tmp_path / "dep")
    code, out, err = _run(capsys, "map", "--deployment", str(tmp_path / "dep"), "--arch", "tpu-imac", "-f", "json")
    assert code == 0, err
    fc1 = {r["name"]: r for r in json.loads(out)["layers"]}["fc1"]
    code, out, err = _run(capsys, "compare", "--deployment", str(tmp_path / "dep"), "-f", "json")
    ref = {r["name"]: r for r in json.loads(out)["hetero"]["layers"]}["fc1"]
    assert ref["sampling_time_s"] == 3e-9
    # map and compare read the same trained hardware: the same fc1 time; the preset's hardware gives another
    assert fc1["stage_time_s"] == pytest.approx(ref["latency_s"], rel=1e-12)
    code, out, err = _run(capsys, "map", "--model", "lenet5", "--arch", "tpu-imac", "-f", "json")
    assert {r["name"]: r for r in json.loads(out)["layers"]}["fc1"]["stage_time_s"] != fc1["stage_time_s"]
    code, out, err = _run(capsys, "map", "--deployment", str(tmp_path / "dep"), "--arch", "tpu-imac")
    assert code == 0 and "differs in: sampling_time_s = 3e-09" in out, out
