"""Wire size-effect resistivity and segment figures against IMAC-Sim's published 9 nm numbers (GLSVLSI 2023)."""

import math

import pytest

from imcsim.config.wires import WireConfig, size_effect_resistivity, tech
from imcsim.errors import ConfigError


def test_defaults_give_imacsim_9nm_figures():
    w = WireConfig()
    assert w.rho_eff_ohm_m == pytest.approx(5.08e-8, abs=0.005e-8)
    assert w.r_in_ohm == pytest.approx(9.24, abs=0.005)
    assert w.r_out_ohm == pytest.approx(11.55, abs=0.005)
    assert w.c_segment_f * 1e15 == pytest.approx(0.048, abs=0.0005)


def test_resistivity_by_hand():
    # alpha = 39 * 0.3 / (27 * 0.7) = 0.619048; MS factor = 1 / (1 - 1.5a + 3a^2 - 3a^3 ln(1 + 1/a)) = 1.86269;
    # FS excess = 0.75 * 0.75 * 39 / 27 = 0.8125  ->  rho = 1.9e-8 * 2.67519
    a = 39 * 0.3 / (27 * 0.7)
    assert a == pytest.approx(0.619048, rel=1e-6)
    ms = 1 / (1 - 1.5 * a + 3 * a * a - 3 * a**3 * math.log(1 + 1 / a))
    assert ms == pytest.approx(1.86269, rel=1e-5)
    assert size_effect_resistivity(1.9e-8, 27e-9, 39e-9, 0.25, 0.3, 27e-9) == pytest.approx(1.9e-8 * (ms + 0.8125))


def test_no_size_effect_limits():
    # no grain reflection and fully specular surfaces: bulk copper
    no_grain = size_effect_resistivity(1.9e-8, 27e-9, 39e-9, 0.0, 0.0, 27e-9)
    assert no_grain == pytest.approx(1.9e-8 * (1 + 0.75 * 39 / 27))
    assert size_effect_resistivity(1.9e-8, 27e-9, 39e-9, 0.999999, 1e-9, 27e-9) == pytest.approx(1.9e-8, rel=1e-6)


def test_wider_wires_are_less_resistive_per_length():
    narrow, wide = WireConfig(), WireConfig(width_m=54e-9)
    assert wide.rho_eff_ohm_m < narrow.rho_eff_ohm_m
    assert wide.r_out_ohm < narrow.r_out_ohm / 2  # area doubles and resistivity falls


def test_tech_names():
    assert tech("9nm") == WireConfig()
    with pytest.raises(ConfigError, match="7nm"):
        tech("7nm")
