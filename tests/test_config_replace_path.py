"""Dotted-path overrides on the config models: ``replace_path`` validates the new value through the model."""

import pytest

from imcsim.config.adc import ADCConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.presets import load_preset
from imcsim.config.system import SystemConfig, load_system
from imcsim.errors import ConfigError


def test_sets_a_nested_field_and_leaves_the_rest():
    cfg = load_system("tpu-imac")
    new = cfg.replace_path("imac.adc.bits", 6)
    assert new.imac.adc.bits == 6 and cfg.imac.adc.bits == 8  # a copy; the original is frozen and unchanged
    # everything else is the preset's: rebuilding by hand, one level at a time, gives the same config
    by_hand = cfg.replace(imac=cfg.imac.replace(adc=ADCConfig(**{**cfg.imac.adc.model_dump(), "bits": 6})))
    assert new == by_hand
    # the derived cost figure follows: Walden scaling 2^(6 - 8) of ISAAC's 2 mW / 1.28 GS/s = 1.5625 pJ per ADC
    assert new.imac.adc.energy_per_conversion_j == pytest.approx(1.5625e-12 / 4)


def test_several_paths_at_once_and_a_unit_by_preset_name():
    cfg = load_system("tpu-imac").replace_paths({"systolic.rows": 64, "systolic.cols": 16, "imac.rows": 128})
    assert (cfg.systolic.rows, cfg.systolic.cols, cfg.imac.rows) == (64, 16, 128)
    swapped = cfg.replace_path("systolic", "tpu-v1")
    assert swapped.systolic == load_preset("tpu-v1")


def test_mapping_fields_take_any_key():
    cfg = SystemConfig().replace_path("placement.layers.fc3", "imac")
    assert cfg.placement.layers == {"fc3": "imac"}


@pytest.mark.parametrize("path, value, words", [
    ("imac.adc.bits", 20, ["imac.adc.bits", "20"]),                 # out of the field's range (<= 16)
    ("imac.adc.bitz", 3, ["imac.adc.bitz", "bitz", "3"]),            # no such field
    ("imac.adc.bits.x", 1, ["imac.adc.bits.x", "imac.adc.bits"]),     # an int has no fields
    ("systolic", "no-such-preset", ["systolic", "no-such-preset"]),
    ("imac.rows", 1, ["imac.rows", "rows = 1"]),                      # the model's cross-field check
    ("systolic.rows", True, ["systolic.rows", "True"]),               # a boolean for a number
    ("imac..rows", 4, ["imac..rows"]),
])
def test_refused_values_name_the_path_and_the_value(path, value, words):
    with pytest.raises(ConfigError) as exc:
        load_system("tpu-imac").replace_path(path, value)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_works_on_every_config_model():
    assert IMACConfig().replace_path("device.variation", 0.1).device.variation == 0.1
    assert ADCConfig().replace_path("bits", 4).bits == 4
