"""`imcsim models`: the zoo table, JSON, one model's layers, and user errors."""

from __future__ import annotations

import json

from imcsim.cli.app import main
from imcsim.workload import zoo


def test_models_table_lists_every_entry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for entry in zoo.list_models():
        assert entry.name in out
        assert f"{entry.published_params:,}" in out
    assert "4,089,184,256" in out  # ResNet-50 MACs
    assert "3x224x224" in out and "1x28x28" in out


def test_models_json(capsys):
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [e.name for e in zoo.list_models()]
    by_name = {r["name"]: r for r in rows}
    assert by_name["resnet50"]["params"] == 25_557_032
    assert by_name["vgg16"]["params"] == 138_357_544
    assert by_name["lenet5"]["macs"] == 416_520 and by_name["lenet5"]["layers"] == 5
    assert by_name["mlp"]["input_shape"] == [1, 20, 20]
    assert {"name", "dataset", "input_shape", "params", "macs", "layers"} <= set(rows[0])


def test_models_one_model_layers(capsys):
    assert main(["models", "mlp", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [lay["name"] for lay in data["layers"]] == ["flatten", "fc1", "act1", "fc2", "act2", "fc3"]
    assert data["macs"] == 400 * 120 + 120 * 84 + 84 * 10
    assert main(["models", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "48,000" in out and "61,706 parameters" in out


def test_models_unknown_name_is_one_line_exit_2(capsys):
    assert main(["models", "resnet51"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "resnet51" in captured.err and "resnet50" in captured.err


def test_models_bad_format_exit_2(capsys):
    assert main(["models", "--format", "xml"]) == 2
    assert "xml" in capsys.readouterr().err


def test_listing_the_zoo_imports_no_torch():
    # `imcsim models` reads static listing data: no torch import, no tracing (13 s before, about 1 s now)
    import subprocess
    import sys

    code = ("import sys; from imcsim.cli.app import main; rc = main(['models', '--format', 'json']); "
            "print(rc, 'torch' in sys.modules, file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stderr.split()[-2:] == ["0", "False"]
    assert [r["name"] for r in json.loads(res.stdout)] == [e.name for e in zoo.list_models()]
