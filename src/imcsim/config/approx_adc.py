"""Approximate column ADCs: fewer bits, or a low-power mode whose non-linearity and offsets grow as energy falls.

The knob of Ghosh et al. (arXiv 2408.06390): rather than pay for an accurate, calibrated converter, run a cheaper one
and train the network with its errors. Two settings:

* ``bits``: resolution; the energy per conversion follows the IMC core's ADC cost model
  (:attr:`imcsim.config.imc.IMCConfig.adc_energy_j`: 2^(bits - ref_bits) of the reference energy, with its
  low-resolution floor);
* ``power_scale`` p in (0, 1]: the converter runs at p times that energy. Its comparator and capacitor array shrink
  with the energy (energy ~ C V^2), and mismatch grows as 1 / sqrt(area) (Pelgrom, Duinmaijer, Welbers, IEEE JSSC
  24(5), 1989), so the static errors grow as p^-exponent with ``exponent`` = 0.5: INL, DNL and offset in LSB are
  their nominal values divided by sqrt(p). Assumption: the nominal errors hold at p = 1 and the whole converter
  energy scales with the area that sets its mismatch.

:meth:`ApproxADC.apply` returns the IMC core config with that ADC: its ``adc.ref_energy_per_conversion_j`` scaled by
p (so every cost model reads the reduced energy) and its error fields scaled as above; the layers of
:mod:`imcsim.nn.imc_layers` then sample ADC instances from it.
"""

from __future__ import annotations

from pydantic import Field

from imcsim.config.base import ConfigModel
from imcsim.config.imc import IMCConfig

__all__ = ["ApproxADC"]


class ApproxADC(ConfigModel):
    """An approximate ADC setting (see the module docstring)."""

    bits: int = Field(8, ge=1, le=16, description="Resolution (bits).")
    power_scale: float = Field(1.0, gt=0, le=1, description="Energy per conversion as a fraction of the cost "
                               "model's energy at this resolution (1 = nominal).")
    inl_lsb: float = Field(0.0, ge=0, description="Peak INL at nominal power (LSB).")
    dnl_lsb: float = Field(0.0, ge=0, description="DNL sigma at nominal power (LSB).")
    offset_sigma_lsb: float = Field(0.0, ge=0, description="Offset sigma at nominal power (LSB).")
    gain_sigma: float = Field(0.0, ge=0, description="Relative gain error sigma (fraction); set by the reference, "
                              "not scaled with power.")
    exponent: float = Field(0.5, ge=0, description="Error growth p^-exponent as power falls (dimensionless). "
                            "Source: Pelgrom mismatch, sigma ~ 1 / sqrt(area), area ~ energy (assumption).")

    @property
    def error_scale(self) -> float:
        """Factor on INL, DNL and offset: power_scale^-exponent."""
        return self.power_scale ** (-self.exponent)

    def apply(self, imc: IMCConfig) -> IMCConfig:
        """``imc`` with this ADC: bits, energy scaled by power_scale, errors scaled by :attr:`error_scale`."""
        f = self.error_scale
        adc = imc.adc.replace(bits=self.bits,
                              ref_energy_per_conversion_j=imc.adc.ref_energy_per_conversion_j * self.power_scale,
                              inl_lsb=self.inl_lsb * f, dnl_lsb=self.dnl_lsb * f,
                              offset_sigma_lsb=self.offset_sigma_lsb * f, gain_sigma=self.gain_sigma)
        return imc.replace(adc=adc.model_dump())
