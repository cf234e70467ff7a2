"""Every file in examples/ runs as its README says, in-process, so that the examples cannot rot.

The commands come from the table in ``examples/README.md`` itself: a command there that stops working fails here.
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
from pathlib import Path

import pytest

from imcsim.arch.system import System
from imcsim.cli.app import main
from imcsim.config.scalesim_cfg import read_scalesim_cfg
from imcsim.config.system import load_system
from imcsim.config.systolic import SystolicConfig, load_systolic_config
from imcsim.workload.scalesim_csv import read_topology
from imcsim.workload.zoo import load_network

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _readme_commands() -> list[str]:
    """The `run it` column of examples/README.md's table (the last backquoted cell of each row)."""
    commands = []
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.fullmatch(r"`([^`]+)`", cells[-1])
            assert m, f"examples/README.md: the last cell of {line!r} is not one `command`"
            commands.append(m.group(1))
    return commands


COMMANDS = _readme_commands()


def test_the_readme_covers_every_example_file():
    table = (EXAMPLES / "README.md").read_text()
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file() and p.name != "README.md")
    assert files, "examples/ is empty"
    assert [f for f in files if f"`{f}`" not in table] == []
    assert len(COMMANDS) >= 7


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)
    if "--store" in argv:  # a sweep store goes to a temporary directory, not into the repository
        i = argv.index("--store") + 1
        argv[i] = str(tmp_path / argv[i])
    if argv[0] == "imcsim":
        code = main(argv[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"{command}: exit {code}: {err}"
        assert out.strip()
    else:
        assert argv[0].endswith("python") and len(argv) == 2, command
        monkeypatch.setattr("sys.argv", argv[1:])  # the script's own argv, not pytest's
        runpy.run_path(str(ROOT / argv[1]), run_name="__main__")
        out = capsys.readouterr().out
        assert "speedup" in out


def test_systolic_yaml_sets_what_its_comments_say():
    cfg = load_systolic_config(EXAMPLES / "systolic.yaml")
    assert (cfg.rows, cfg.cols, cfg.dataflow) == (128, 128, "ws")
    assert cfg.dram_bandwidth_words_per_cycle == 32.0
    assert cfg.mac_energy_j > 0 and cfg != SystolicConfig()


def test_system_yaml_keeps_fc3_on_the_digital_unit():
    system = System(load_system(str(EXAMPLES / "system.yaml")))
    net = load_network("lenet5")
    placement = dict(zip((lay.name for lay in net), system.place(net)))
    assert placement["fc1"] == "imac" and placement["fc2"] == "imac"
    assert placement["fc3"] != "imac"
    assert system.compare(net).speedup > 1


def test_topology_files_and_scalesim_cfg_read():
    conv = read_topology(EXAMPLES / "topology.csv")
    assert [lay.name for lay in conv][:2] == ["Conv1", "Conv2"] and len(list(conv)) == 8
    gemm = read_topology(EXAMPLES / "gemms.csv", gemm=True)
    assert len(list(gemm)) == 5
    cfg = read_scalesim_cfg(EXAMPLES / "scale.cfg")
    assert (cfg.rows, cfg.cols, cfg.dataflow, cfg.dram_bandwidth_words_per_cycle) == (32, 32, "os", None)


def test_xbar_example_solves_to_json(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = main(["xbar", "solve", "--weights", "examples/xbar_weights.csv", "--inputs", "examples/xbar_inputs.csv",
                 "--tech", "9nm", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["v_amp"]) == 4 and len(doc["v_amp"][0]) == 8


def test_make_onnx_writes_the_committed_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "tiny.onnx"
    monkeypatch.setattr("sys.argv", ["make_onnx.py", str(out)])
    runpy.run_path(str(EXAMPLES / "make_onnx.py"), run_name="__main__")
    assert out.read_bytes() == (EXAMPLES / "tiny_cnn.onnx").read_bytes()
    # conv1 28*28*8*9 + conv2 7*7*16*72 + fc1 16*32 + fc2 32*10 multiply-accumulates
    assert "113,728 MACs" in capsys.readouterr().out
