"""One resolver for --model: zoo names, FILE.onnx and path/to/file.py:ClassName, in the library and on the command
line (simulate, compare, train), with one-line errors and exit status 2."""

from __future__ import annotations

import json
import textwrap

import pytest
from onnx import TensorProto, helper, numpy_helper

from imcsim.cli.app import main
from imcsim.errors import ModelError
from imcsim.workload import load_workload
from imcsim.workload.layer import LayerKind
from imcsim.workload.resolve import load_module, workload_kind
from imcsim.workload.zoo import load_network

MODEL_PY = textwrap.dedent("""
    import torch.nn as nn


    class Small(nn.Module):
        def __init__(self, classes=10, width=4):
            super().__init__()
            self.conv = nn.Conv2d(1, width, 5, stride=2)
            self.act = nn.ReLU()
            self.flat = nn.Flatten()
            self.fc1 = nn.Linear(width * 12 * 12, 32)
            self.act2 = nn.ReLU()
            self.fc2 = nn.Linear(32, classes)

        def forward(self, x):
            return self.fc2(self.act2(self.fc1(self.flat(self.act(self.conv(x))))))


    NOT_A_MODULE = 3
""")


@pytest.fixture()
def model_py(tmp_path):
    path = tmp_path / "small.py"
    path.write_text(MODEL_PY)
    return path


def test_spec_kinds():
    assert [workload_kind(m) for m in ("resnet18", "a/b.onnx", "a/b.py:Net", "C:/x/b.py:Net")] == [
        "zoo", "onnx", "python", "python"]
    with pytest.raises(ModelError, match="path/to/file.py:ClassName"):
        workload_kind("net.py")


def test_zoo_name_is_the_zoo_network():
    assert load_workload("lenet5") is load_network("lenet5")
    # Rebuilt at another size: ResNet-18's stem on 3x32x32 gives a 16x16 output (stride 2, pad 3, kernel 7), and a
    # 100-class head: 512 * 100 MACs.
    net = load_workload("resnet18", input_shape=(3, 32, 32), model_args={"num_classes": 100})
    assert (net["conv1"].out_h, net["fc"].out_c, net["fc"].macs) == (16, 100, 51_200)


def test_python_file_model(model_py):
    net = load_workload(f"{model_py}:Small", input_shape="1,28,28", model_args='{"width": 2}')
    # conv: 1 -> 2, 5x5, stride 2 on 28: 12 x 12 out, 12*12*2*25 = 7200 MACs; fc1 288 -> 32; fc2 32 -> 10.
    assert [(lay.name, lay.macs) for lay in net.compute_layers] == [("conv", 7200), ("fc1", 9216), ("fc2", 320)]
    assert net.name == "Small" and net.input_shape == (1, 28, 28)
    assert load_module(f"{model_py}:Small", {"classes": 3}).fc2.out_features == 3


def test_onnx_file_model(tmp_path):
    w = numpy_helper.from_array(__import__("numpy").zeros((7, 5), "float32"), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], initializer=[w])
    path = tmp_path / "dense.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    (layer,) = load_workload(str(path)).layers
    assert (layer.kind, layer.in_c, layer.out_c, layer.macs) == (LayerKind.LINEAR, 7, 5, 35)
    with pytest.raises(ModelError, match="takes no model_args"):
        load_workload(str(path), model_args={"a": 1})


@pytest.mark.parametrize("spec, shape, args, message", [
    ("{py}:Small", None, None, "needs input_shape"),
    ("{py}:Missing", "1,28,28", None, "'Missing' is not defined there (module classes in the file: Small)"),
    ("{py}:NOT_A_MODULE", "1,28,28", None, "is not a torch.nn.Module class"),
    ("{py}:Small", "1,28,28", '{"depth": 3}', "constructing it with (depth=3) failed"),
    ("{py}:Small", "1,x,28", None, "input_shape = '1,x,28'"),
    ("{py}:Small", "1,28,28", "{oops", "is not JSON"),
    ("{py}:Small", "3,28,28", None, "forward pass on input shape (1, 3, 28, 28) failed"),
    ("nowhere.py:Small", "1,28,28", None, "no such file 'nowhere.py'"),
    ("lenet6", None, None, "unknown model 'lenet6'"),
])
def test_errors_are_one_line(model_py, spec, shape, args, message):
    with pytest.raises(ModelError) as exc:
        load_workload(spec.format(py=model_py), input_shape=shape, model_args=args)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_file_that_fails_to_import(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import no_such_module_anywhere\n")
    with pytest.raises(ModelError, match=r"running '.*broken.py' failed \(ModuleNotFoundError"):
        load_workload(f"{path}:Net", input_shape=(1, 4, 4))


# ----- the command line ---------------------------------------------------------------------------------------------

def test_simulate_and_compare_take_file_models(model_py, capsys):
    spec = f"{model_py}:Small"
    assert main(["simulate", "--model", spec, "--input-shape", "1,28,28", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in doc["layers"] if row["kind"] != "elementwise"][:2] == ["conv", "flat"]
    assert main(["compare", "--model", spec, "--input-shape", "1,28,28", "--model-args", '{"classes": 4}',
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    units = {row["name"]: row["unit"] for row in doc["hetero"]["layers"]}
    assert units["fc1"] == units["fc2"] == "imac" and units["conv"] == "systolic"


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--model", "{py}:Small"], "needs input_shape"),
    (["compare", "--model", "{py}:Small", "--input-shape", "1,28"], "forward pass on input shape (1, 1, 28)"),
    (["simulate", "--model", "{py}:Small", "--input-shape", "a,b"], "--input-shape = 'a,b'"),
    (["compare", "--model", "{py}:Small", "--input-shape", "1,28,28", "--model-args", "[1]"], "--model-args = [1]"),
    (["simulate", "--topology", "examples/topology.csv", "--input-shape", "1,28,28"], "apply to --model only"),
])
def test_cli_errors_exit_2_with_one_line(model_py, capsys, argv, message):
    assert main([a.format(py=model_py) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_train_a_file_model_and_refuse_one_that_does_not_fit(model_py, tmp_path, capsys):
    spec = f"{model_py}:Small"
    common = ["--dataset", "mnist-5k", "--epochs", "1", "--train-limit", "64", "--test-limit", "32", "--quiet"]
    assert main(["train", "--model", spec, "--target", "tpu-imac", "--out", str(tmp_path / "run"), *common]) == 0
    assert "test accuracy" in capsys.readouterr().out
    dep = json.loads((tmp_path / "run" / "deployment.json").read_text())
    assert dep["model"] == spec and [lay["unit"] for lay in dep["layers"]] == ["digital", "imac", "imac"]
    # The deployment's network is the file's model traced at the dataset's shape.
    assert main(["compare", "--deployment", str(tmp_path / "run"), "--format", "json"]) == 0
    capsys.readouterr()
    # 5 classes against mnist-5k's 10, and a 3-channel model on 1-channel digits: one line each, exit 2.
    assert main(["train", "--model", spec, "--model-args", '{"classes": 5}', "--out", str(tmp_path / "r2"),
                 *common]) == 2
    assert "gives (1, 5) on dataset 'mnist-5k'" in capsys.readouterr().err
    assert main(["train", "--model", spec, "--input-shape", "3,32,32", "--out", str(tmp_path / "r3"), *common]) == 2
    assert "meant for inputs of shape (3, 32, 32)" in capsys.readouterr().err


def test_models_shows_a_file_models_layers(capsys, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(["models", "examples/tiny_cnn.onnx", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # conv1 28*28*8*9 + conv2 7*7*16*72 + fc1 16*32 + fc2 32*10
    assert doc["macs"] == 56_448 + 56_448 + 512 + 320 and doc["input_shape"] == [1, 28, 28]
    assert main(["models", "--input-shape", "1,28,28"]) == 2


def test_sweep_workloads_take_onnx_and_python_files_relative_to_the_spec(tmp_path, model_py):
    import shutil
    from pathlib import Path

    import yaml

    from imcsim.arch.system import System
    from imcsim.config.system import load_system
    from imcsim.explore import load_spec, open_store, run_sweep

    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "tiny_cnn.onnx", tmp_path / "tiny.onnx")
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump({
        "name": "files", "system": "tpu-imac", "axes": {"systolic.rows": [16, 32]},
        "objectives": ["latency_s", "energy_j"],
        "workloads": [{"model": "tiny.onnx"},
                      {"model": f"{model_py.name}:Small", "input_shape": [1, 28, 28], "model_args": {"width": 2}}]}))
    spec = load_spec(spec_path)
    assert [w.model for w in spec.workload_list] == [str(tmp_path / "tiny.onnx"), f"{model_py}:Small"]
    summary = run_sweep(spec, tmp_path / "r.db", workers=1)
    assert (summary.evaluated, summary.failed) == (4, 0)
    # each point is System.compare on the network the resolver gives
    net = load_workload(f"{model_py}:Small", (1, 28, 28), {"width": 2})
    base = load_system("tpu-imac")
    with open_store(tmp_path / "r.db") as st:
        small = {p.params["systolic.rows"]: p.objectives["latency_s"] for p in st.points()
                 if p.workload.endswith(":Small")}
    for rows, lat in small.items():
        cfg = base.replace(systolic=base.systolic.replace(rows=rows))
        assert lat == pytest.approx(System(cfg).compare(net).hetero.latency_s, rel=1e-12)
