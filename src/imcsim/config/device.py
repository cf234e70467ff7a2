"""Resistive synapse devices and their non-idealities: one model shared by circuit/, nn/ and arch/.

A weight is a differential pair of devices on the I+ and I- column lines (IMAC-Sim, GLSVLSI 2023):
+1 = (R_low on I+, R_high on I-), -1 = (R_high, R_low), 0 = (R_low, R_low).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from imcsim.config.base import ConfigModel

__all__ = ["DeviceConfig", "mtj_resistances"]


def mtj_resistances(ra_ohm_um2: float, width_nm: float, length_nm: float, tmr: float) -> tuple[float, float]:
    """Parallel and antiparallel resistance (ohm) of an elliptical MTJ.

    R_P = RA / area with area = pi/4 * width * length, R_AP = (1 + TMR) R_P (the GLSVLSI 2022 neuron's MTJ model;
    TMR as a fraction, 2.0 = 200%). The 50 nm x 30 nm, RA = 10 ohm um^2 junction gives R_P = 8,488.26 ohm and
    R_AP = 25,464.79 ohm at TMR = 200%, the neuron resistors of the GLSVLSI 2022 SOT-MRAM sigmoid neuron.
    """
    area_um2 = math.pi / 4.0 * (width_nm * 1e-3) * (length_nm * 1e-3)
    r_p = ra_ohm_um2 / area_um2
    return r_p, (1.0 + tmr) * r_p


class DeviceConfig(ConfigModel):
    """A two-state resistive synapse and its non-idealities.

    Nominal resistances come either from ``r_low_ohm``/``r_high_ohm`` directly (``kind: resistor``; defaults are
    IMAC-Sim's 5 kOhm / 15 kOhm) or from MTJ geometry (``kind: mtj``; R_low = R_P, R_high = R_AP from RA, the ellipse
    axes and TMR).
    """

    kind: Literal["resistor", "mtj"] = Field("resistor", description="How nominal resistances are given.")
    r_low_ohm: float = Field(5e3, gt=0, description="Low-resistance state (ohm). Source: IMAC-Sim default 5 kOhm.")
    r_high_ohm: float = Field(15e3, gt=0, description="High-resistance state (ohm). Source: IMAC-Sim default 15 kOhm.")
    mtj_ra_ohm_um2: float = Field(10.0, gt=0, description="MTJ resistance-area product (ohm um^2). Source: "
                                  "IMAC-Sim/GLSVLSI 2022 SOT-MRAM neuron (RA = 10; earlier work used 7).")
    mtj_width_nm: float = Field(50.0, gt=0, description="MTJ ellipse major axis (nm). Source: GLSVLSI 2022.")
    mtj_length_nm: float = Field(30.0, gt=0, description="MTJ ellipse minor axis (nm). Source: GLSVLSI 2022.")
    mtj_tmr: float = Field(2.0, gt=0, description="Tunnel magnetoresistance ratio as a fraction (2.0 = 200%). "
                           "Source: GLSVLSI 2022.")
    variation: float = Field(0.0, ge=0, lt=1, description="Relative device-to-device resistance variation "
                             "(fraction): half-width for 'uniform' (R*(1+U(-v,v)), IMAC-Sim's model), sigma for "
                             "'gaussian'.")
    variation_kind: Literal["uniform", "gaussian"] = Field("uniform", description="Distribution of the variation.")
    stuck_low_rate: float = Field(0.0, ge=0, le=1, description="Fraction of devices stuck at R_low (stuck-on).")
    stuck_high_rate: float = Field(0.0, ge=0, le=1, description="Fraction of devices stuck at R_high (stuck-off).")
    read_noise: float = Field(0.0, ge=0, description="Relative gaussian read noise on each conductance, drawn anew "
                              "for every input vector (fraction, sigma).")
    drift_nu: float = Field(0.0, ge=0, lt=1, description="Conductance drift exponent nu of g(t) = g0 (t / t0)^-nu "
                            "(dimensionless; 0 = no drift). PCM: nu of about 0.05 for the amorphous (RESET) state "
                            "(Ielmini, Lacaita, Mantegazza, IEEE Trans. Electron Devices 54(2), 2007; Le Gallo and "
                            "Sebastian, J. Phys. D 53, 2020). Used by the IMC core layers (imcsim.nn.imc_layers).")
    drift_t0_s: float = Field(1.0, gt=0, description="Reference time t0 of the drift law (s): the conductance is g0 "
                              "when read t0 after programming. Assumption: 1 s, the usual convention.")
    drift_time_s: float = Field(1.0, gt=0, description="Time after programming at which the chip is read (s); "
                                "with drift_nu > 0 every conductance is scaled by (t / t0)^-nu.")

    @model_validator(mode="after")
    def _check(self) -> "DeviceConfig":
        lo, hi = self.resistances
        if not hi > lo:
            raise ValueError(f"r_high ({hi:g} ohm) must exceed r_low ({lo:g} ohm)")
        if self.stuck_low_rate + self.stuck_high_rate > 1:
            raise ValueError("stuck_low_rate + stuck_high_rate must not exceed 1")
        return self

    @property
    def resistances(self) -> tuple[float, float]:
        """(R_low, R_high) in ohm."""
        if self.kind == "mtj":
            return mtj_resistances(self.mtj_ra_ohm_um2, self.mtj_width_nm, self.mtj_length_nm, self.mtj_tmr)
        return self.r_low_ohm, self.r_high_ohm

    def used_values(self) -> dict[str, tuple[float, str]]:
        """Fields whose stored value is not the one the models use, as {field: (value used, why)}: with
        ``kind: mtj`` the resistances come from the MTJ fields and ``r_low_ohm`` / ``r_high_ohm`` are ignored.
        Reports (``imcsim presets``) print these values instead."""
        if self.kind != "mtj":
            return {}
        lo, hi = self.resistances
        return {"r_low_ohm": (lo, "derived (kind mtj): R_P = RA / (pi/4 x width x length) of the mtj_* fields"),
                "r_high_ohm": (hi, "derived (kind mtj): R_AP = (1 + TMR) R_P")}

    @property
    def conductances(self) -> tuple[float, float]:
        """(G_high, G_low) = (1/R_low, 1/R_high) in siemens."""
        lo, hi = self.resistances
        return 1.0 / lo, 1.0 / hi

    @property
    def delta_g(self) -> float:
        """G_on - G_off (S): the differential conductance of a +1 weight."""
        g_on, g_off = self.conductances
        return g_on - g_off
