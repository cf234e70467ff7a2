"""Analog-to-digital converters at the analog-to-digital boundaries of an IMAC unit.

One config serves the cost models (energy, time, area per conversion) and the accuracy models in nn/ (resolution,
static non-linearity, offset and gain error per ADC instance; Ghosh et al., arXiv 2408.06390, treat these as
non-idealities to train with rather than calibrate away).
"""

from __future__ import annotations

from pydantic import Field

from imcsim.config.base import ConfigModel

__all__ = ["ADCConfig"]


class ADCConfig(ConfigModel):
    """An ADC: resolution, cost per conversion, and static non-idealities.

    Cost defaults are the 8-bit SAR ADC of ISAAC (Shafiee et al., ISCA 2016, Table 6, after Kull et al.,
    ISSCC 2013): 1.28 GS/s, 16 mW, 0.0012 mm^2 at 32 nm, i.e. 12.5 pJ and 0.78 ns per conversion. The energy at
    another resolution follows the Walden figure of merit (energy per conversion proportional to 2^bits; Murmann,
    "ADC Performance Survey"), see :meth:`energy_per_conversion_j`.
    """

    bits: int = Field(8, ge=1, le=16, description="Resolution (bits). Default 8: the ISAAC SAR ADC whose costs "
                      "are the defaults below (Shafiee et al., ISCA 2016).")
    full_scale_v: float = Field(0.8, gt=0, description="Input range is [0, full_scale_v] (V); default Vdd of the "
                                "IMAC neurons (0.8 V, IMAC-Sim), whose outputs the ADC reads.")
    ref_energy_per_conversion_j: float = Field(12.5e-12, gt=0, description="Energy of one conversion at ref_bits "
                                               "(J). Source: ISAAC 8-bit ADC, 16 mW / 1.28 GS/s.")
    ref_bits: int = Field(8, ge=1, le=16, description="Resolution at which ref_energy_per_conversion_j holds (bits).")
    conversion_time_s: float = Field(1 / 1.28e9, gt=0, description="Time per conversion (s). Source: ISAAC, "
                                     "1.28 GS/s.")
    area_m2: float = Field(1.2e-9, gt=0, description="Area per ADC (m^2). Source: ISAAC, 0.0012 mm^2 at 32 nm.")
    inl_lsb: float = Field(0.0, ge=0, description="Peak integral non-linearity (LSB): each instance gets a random "
                           "smooth static transfer-curve bow of this amplitude.")
    dnl_lsb: float = Field(0.0, ge=0, description="Differential non-linearity (LSB, sigma of the code-width error).")
    offset_sigma_lsb: float = Field(0.0, ge=0, description="Per-instance offset error (LSB, sigma).")
    gain_sigma: float = Field(0.0, ge=0, description="Per-instance relative gain error (fraction, sigma).")

    @property
    def lsb_v(self) -> float:
        """One least-significant bit (V)."""
        return self.full_scale_v / (2**self.bits)

    @property
    def energy_per_conversion_j(self) -> float:
        """Energy per conversion at ``bits`` (J): the reference energy scaled by 2^(bits - ref_bits) (Walden)."""
        return self.ref_energy_per_conversion_j * 2.0 ** (self.bits - self.ref_bits)
