"""SystolicConfig, the presets and the SCALE-Sim .cfg reader: values, sources and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from imcsim.config.presets import PRESET_DIR, list_presets, load_preset, preset_path
from imcsim.config.scalesim_cfg import read_scalesim_cfg
from imcsim.config.systolic import SystolicConfig, load_systolic_config, parse_array
from imcsim.errors import ConfigError

# SCALE-Sim v3's configs/google.cfg, as published (USER bandwidth, [layout] bank bandwidth 10 over 10 banks).
GOOGLE_CFG = """[general]
run_name = GoogleTPU_v1_ws

[architecture_presets]
ArrayHeight:    256
ArrayWidth:     256
IfmapSramSzkB:    6144
FilterSramSzkB:   6144
OfmapSramSzkB:    2048
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : ws
Bandwidth : 10
ReadRequestBuffer: 128
WriteRequestBuffer: 128

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""

# SCALE-Sim v3's configs/scale.cfg (CALC bandwidth, no [layout] section).
SCALE_CFG = """[general]
run_name = scale_example_run_32x32_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
MemoryBanks:   1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def _write(tmp_path: Path, text: str, name: str = "x.cfg") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_are_scalesim_sample():
    c = SystolicConfig()
    assert (c.rows, c.cols, c.dataflow, c.ifmap_sram_bytes, c.dram_bandwidth_words_per_cycle) == \
        (32, 32, "os", 65536, None)
    assert c.read_bandwidths() == (None, None, None)


def test_every_field_documents_unit_or_source():
    for name, field in SystolicConfig.model_fields.items():
        assert field.description and len(field.description) > 15, name


def test_presets_listed_and_loaded():
    names = {p.name: p for p in list_presets()}
    assert names["edge-tpu"].kind == "systolic" and names["tpu-v1"].kind == "systolic"
    edge = load_preset("edge-tpu")
    assert isinstance(edge, SystolicConfig) and (edge.rows, edge.cols) == (64, 64)
    assert edge.peak_ops_per_s == pytest.approx(4e12)  # the Coral datasheet's 4 TOPS
    tpu = load_preset("tpu-v1")
    assert (tpu.rows, tpu.cols, tpu.dataflow, tpu.clock_hz) == (256, 256, "ws", 700e6)
    assert tpu.peak_ops_per_s == pytest.approx(91.75e12, rel=1e-3)  # Jouppi et al.: 92 TOPS
    assert tpu.ifmap_sram_bytes == 24 * 2**20
    assert tpu.read_bandwidths()[1] * tpu.clock_hz == pytest.approx(30e9)  # 30 GB/s of 1-byte words
    assert tpu.read_bandwidths()[0] is None and math.isinf(tpu.ifmap_dram_bandwidth_words_per_cycle)


@pytest.mark.parametrize("name", ["edge-tpu", "tpu-v1"])
def test_preset_numbers_carry_comments(name):
    text = preset_path(name).read_text()
    in_config = False
    for line in text.splitlines():
        if line.startswith("config:"):
            in_config = True
            continue
        if in_config and line.strip() and not line.strip().startswith("#"):
            assert "#" in line, f"{name}: uncommented value: {line!r}"
    assert (PRESET_DIR / f"{name}.yaml").is_file()


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown preset 'nope' \(valid: .*edge-tpu.*tpu-v1"):
        load_preset("nope")


def test_config_validation_errors(tmp_path):
    p = _write(tmp_path, "rows: 8\ncolz: 8\n", "a.yaml")
    with pytest.raises(ConfigError, match=r"a.yaml: unknown key 'colz'"):
        load_systolic_config(p)
    p = _write(tmp_path, "rows: eight\n", "b.yaml")
    with pytest.raises(ConfigError, match=r"b.yaml: field 'rows' = 'eight'"):
        load_systolic_config(p)
    p = _write(tmp_path, "rows: 0\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"field 'rows' = 0"):
        load_systolic_config(p)
    p = _write(tmp_path, "kind: systolic\nconfig:\n  rows: 4\n  cols: 2\n", "d.yaml")
    assert (load_systolic_config(p).rows, load_systolic_config(p).cols) == (4, 2)
    with pytest.raises(ConfigError, match="no such config file"):
        load_systolic_config(tmp_path / "missing.yaml")


def test_parse_array():
    assert parse_array("32x16") == (32, 16)
    for bad in ("32", "0x4", "ax4", "4x4x4", "-1x2"):
        with pytest.raises(ConfigError, match=r"^array shape = "):
            parse_array(bad)


def test_read_google_cfg(tmp_path):
    c = read_scalesim_cfg(_write(tmp_path, GOOGLE_CFG))
    assert (c.rows, c.cols, c.dataflow) == (256, 256, "ws")
    assert (c.ifmap_sram_bytes, c.filter_sram_bytes, c.ofmap_sram_bytes) == (6144 * 1024, 6144 * 1024, 2048 * 1024)
    assert c.read_bandwidths() == (10, 10, 10)


def test_read_scale_cfg_calc_is_ideal(tmp_path):
    c = read_scalesim_cfg(_write(tmp_path, SCALE_CFG))
    assert (c.rows, c.cols, c.dataflow, c.ifmap_sram_bytes) == (32, 32, "os", 65536)
    assert c.dram_bandwidth_words_per_cycle is None


def test_read_cfg_layout_bandwidth_overrides_reads(tmp_path):
    text = GOOGLE_CFG.replace("IfmapSRAMBankBandwidth: 10", "IfmapSRAMBankBandwidth: 40")
    c = read_scalesim_cfg(_write(tmp_path, text))
    assert c.read_bandwidths() == (40, 10, 10)


@pytest.mark.parametrize("edit,pattern", [
    (("ArrayHeight:    256", "ArrayHeight:    0"), r"\[architecture_presets\] ArrayHeight = '0': must be a positive"),
    (("ArrayWidth:     256", "ArrayWidth:     wide"), r"\[architecture_presets\] ArrayWidth = 'wide': not an integer"),
    (("Dataflow : ws", "Dataflow : xs"), r"Dataflow = 'xs': expected os, ws or is"),
    (("InterfaceBandwidth: USER", "InterfaceBandwidth: FAST"), r"\[run_presets\] InterfaceBandwidth = 'FAST'"),
    (("Bandwidth : 10\n", "Bandwidth : -3\n"), r"Bandwidth = '-3': must be a positive"),
    (("IfmapSramSzkB:    6144\n", ""), r"\[architecture_presets\] missing key 'IfmapSramSzkB'"),
    (("SparsitySupport : false", "SparsitySupport : true"), r"\[sparsity\] SparsitySupport = 'true': sparse"),
    (("UseRamulatorTrace: False", "UseRamulatorTrace: True"), r"UseRamulatorTrace = 'True': Ramulator"),
    (("IfmapCustomLayout: False", "IfmapCustomLayout: True"), r"\[layout\] IfmapCustomLayout = 'True'"),
])
def test_cfg_errors_name_file_section_key_value(tmp_path, edit, pattern):
    p = _write(tmp_path, GOOGLE_CFG.replace(*edit))
    with pytest.raises(ConfigError, match=pattern) as info:
        read_scalesim_cfg(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_cfg_missing_file_and_section(tmp_path):
    with pytest.raises(ConfigError, match="no such SCALE-Sim config file"):
        read_scalesim_cfg(tmp_path / "none.cfg")
    with pytest.raises(ConfigError, match=r"missing section \[architecture_presets\]"):
        read_scalesim_cfg(_write(tmp_path, "[general]\nrun_name = x\n"))
    with pytest.raises(ConfigError, match="not a valid SCALE-Sim config"):
        read_scalesim_cfg(_write(tmp_path, "ArrayHeight: 3\n"))


def test_listing_survives_a_kind_whose_module_is_missing(tmp_path, monkeypatch):
    import imcsim.config.presets as presets

    (tmp_path / "ok.yaml").write_text("kind: systolic\ndescription: fine\nconfig:\n  rows: 2  # test\n")
    (tmp_path / "ghost.yaml").write_text("kind: ghost\ndescription: module not written yet\nconfig: {}\n")
    (tmp_path / "flat.yaml").write_text("# A flat systolic preset. More words.\nrows: 3\ncols: 5\n")
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    monkeypatch.setitem(presets.KINDS, "ghost", "imcsim.config.no_such_module:Ghost")
    listed = {p.name: p for p in presets.list_presets()}
    assert set(listed) == {"ok", "flat"}
    assert listed["flat"].kind == "systolic" and listed["flat"].description == "A flat systolic preset"
    assert presets.load_preset("flat").cols == 5
    with pytest.raises(ConfigError, match="preset kind 'ghost' is not available"):
        presets.load_preset("ghost")


def test_preset_values_carry_units_and_the_sources_of_the_preset_file():
    from imcsim.config.presets import field_unit, preset_values

    assert [field_unit(n) for n in ("clock_hz", "mac_energy_j", "sram_read_energy_j_per_byte", "ifmap_sram_bytes",
                                    "dram_bandwidth_words_per_cycle", "mtj_ra_ohm_um2", "rows", "dataflow")] == [
        "Hz", "J", "J/B", "B", "words/cycle", "ohm um^2", "", ""]
    values = {v.field: v for v in preset_values("tpu-imac")}
    # a nested config named by its preset takes that preset's comment, with the cited source expanded
    mac = values["systolic.mac_energy_j"]
    assert (mac.value, mac.unit) == (0.23e-12, "J")
    assert mac.source.startswith("edge-tpu: J; 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ [horowitz]")
    assert "[horowitz: M. Horowitz, \"Computing's energy problem" in mac.source
    # a value the system preset sets itself, and one no preset sets (the config default and its documented source)
    assert values["interface_energy_per_byte_j"].source.startswith("tpu-imac: J/byte; write + read of an 8 KB SRAM")
    assert values["imac.device.stuck_high_rate"].source == "default: Fraction of devices stuck at R_high (stuck-off)."
    assert values["imac.device.mtj_tmr"].source == "sot-mram-imac: TMR = 200% -> R_P = 8,488 ohm, R_AP = 25,465 ohm"


def test_preset_tables_print_the_device_resistances_the_models_use():
    """sot-mram-imac's synapses are MTJs: the table shows R_P = 10 ohm um^2 / (pi/4 x 0.05 um x 0.03 um) = 8,488 ohm
    and R_AP = 3 R_P = 25,465 ohm (TMR 200%), not the resistor defaults 5,000 / 15,000 ohm the config ignores."""
    import math

    from imcsim.config.presets import preset_values

    r_p = 10.0 / (math.pi / 4 * 0.05 * 0.03)
    for name, prefix in (("sot-mram-imac", ""), ("tpu-imac", "imac.")):
        rows = {v.field: v for v in preset_values(name)}
        assert rows[f"{prefix}device.r_low_ohm"].value == pytest.approx(r_p, rel=1e-9)
        assert rows[f"{prefix}device.r_high_ohm"].value == pytest.approx(3 * r_p, rel=1e-9)
        assert "derived" in rows[f"{prefix}device.r_low_ohm"].source
