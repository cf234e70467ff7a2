"""CLI flag defaults equal the config defaults they stand for (a default lives in one place: the config model)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

from imcsim.cli.app import app
from imcsim.cli.options import Format
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import IMACConfig
from imcsim.train.config import HARDWARE_FIELDS, TrainConfig


def _params(*path: str) -> dict:
    """{parameter name: default} of the command at ``path`` (e.g. "xbar", "solve")."""
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return {p.name: p.default for p in cmd.params}


def _enum_value(v):
    return getattr(v, "value", v)


def test_every_train_flag_default_is_the_train_config_default():
    params = _params("train")
    # flags that are not TrainConfig fields: where to write, how to run, and IMAC-field shortcuts (None = keep)
    hardware = set(HARDWARE_FIELDS)
    assert set(params) - set(TrainConfig.model_fields) == {"out", "resume", "overwrite", "quiet"} | hardware
    checked = 0
    for name, default in params.items():
        if name not in TrainConfig.model_fields or name in ("imac", "imc"):  # a preset or file; None = defaults
            continue
        if name == "ir_drop":  # None: the target's default (TrainConfig: exact, off for IMC targets), checked below
            continue
        expected = TrainConfig.model_fields[name].get_default(call_default_factory=True)
        assert _enum_value(default) == expected, name
        checked += 1
    assert checked == len(TrainConfig.model_fields) - 3 - len(set(TrainConfig.model_fields) - set(params))
    # --ir-drop leaves the model to the target: exact for IMAC targets, off for IMC cores (which simulate no wires)
    assert params["ir_drop"] is None
    assert TrainConfig(target="tpu-imac").ir_drop == "exact" and TrainConfig(target="all-imc").ir_drop == "off"
    # the values the issue found restated in cli/train.py, against the config by hand
    assert (params["epochs"], params["batch_size"], params["lr"], params["conv_bits"]) == (10, 128, 1e-3, 8)


@pytest.mark.parametrize("command", [("xbar", "solve"), ("xbar", "spice"), ("xbar", "compare")])
def test_xbar_device_defaults_are_the_device_config_defaults(command):
    params = _params(*command)
    assert params["r_low"] == DeviceConfig.model_fields["r_low_ohm"].default == 5e3
    assert params["r_high"] == DeviceConfig.model_fields["r_high_ohm"].default == 15e3
    assert params["r_amp"] == AmplifierConfig.model_fields["input_resistance_ohm"].default == 0.0


def test_xbar_amplifier_and_crossbar_defaults():
    assert _params("xbar", "solve")["transimpedance"] == AmplifierConfig().transimpedance(0) == 30e3
    assert (_params("xbar", "solve")["vdd"], _params("xbar", "solve")["vss"]) == (IMACConfig().vdd_v,
                                                                                  IMACConfig().vss_v) == (0.8, -0.8)
    spice = _params("xbar", "spice")
    assert (spice["rows"], spice["cols"]) == (IMACConfig().rows, IMACConfig().cols) == (32, 32)


def test_every_command_takes_the_same_format_choices():
    # one Format enum: every --format offers table, json and csv (commands refuse what they cannot print)
    cmd = typer.main.get_command(app)
    found = []

    def walk(c, path):
        for sub_name, sub in getattr(c, "commands", {}).items():
            walk(sub, path + (sub_name,))
        for p in getattr(c, "params", []):
            if "--format" in getattr(p, "opts", []):
                found.append((path, p.type_descriptor.annotation))

    walk(cmd, ())
    assert {annotation for _, annotation in found} == {Format}
    assert [f.value for f in Format] == ["table", "json", "csv"]
    # models, presets, simulate, compare, reproduce, evaluate, map, xbar solve/compare/evaluate, sweep show
    assert len(found) == 11


def test_the_cli_does_not_import_torch_to_parse_flags():
    code = "import sys, imcsim.cli.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_train_takes_the_hardware_flags_evaluate_takes():
    """Both commands take one flag per IMAC hardware field, with the same names; unset (None) keeps the config's
    value, and the help states the config model's default (read here from the models, by hand for two)."""
    from imcsim.config.adc import ADCConfig
    from imcsim.config.imac import DACConfig

    cmd = typer.main.get_command(app)
    models = {"device": DeviceConfig, "adc": ADCConfig, "dac": DACConfig}
    for command in ("train", "evaluate"):
        params = {p.name: p for p in cmd.commands[command].params}
        assert set(HARDWARE_FIELDS) <= set(params), command
        for name, path in HARDWARE_FIELDS.items():
            section, field = path.split(".")
            p = params[name]
            assert p.default is None and p.opts == ["--" + name.replace("_", "-")], (command, name)
            default = models[section].model_fields[field].default
            assert f"{section}.{field}" in p.help and f"default {default!r}" in p.help, (command, name)
    assert "default 0.0" in {p.name: p for p in cmd.commands["train"].params}["variation"].help
    assert "default 8" in {p.name: p for p in cmd.commands["evaluate"].params}["adc_bits"].help


def test_train_hardware_flags_reach_the_run_config(tmp_path, monkeypatch):
    """Flags land in the IMACConfig the run trains with, on top of the target's IMAC unit (MTJ devices)."""
    import imcsim.train.trainer as trainer
    from typer.testing import CliRunner

    seen = {}

    def fake_train(cfg, out, **kw):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr(trainer, "train", fake_train)
    res = CliRunner().invoke(app, ["train", "--out", str(tmp_path), "--variation", "0.05", "--stuck-low", "0.01",
                                   "--adc-inl", "0.5", "--adc-bits", "6", "--dac-bits", "4", "--read-noise", "0.02"])
    assert res.exit_code == 0, res.output
    hw = seen["cfg"].imac
    assert (hw.device.kind, hw.device.variation, hw.device.stuck_low_rate, hw.device.read_noise) == \
        ("mtj", 0.05, 0.01, 0.02)
    assert (hw.adc.bits, hw.adc.inl_lsb, hw.dac.bits) == (6, 0.5, 4)
