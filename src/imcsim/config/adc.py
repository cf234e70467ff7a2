"""Analog-to-digital converters at the analog-to-digital boundaries of an IMAC unit and in the IMC cores.

One config, and one cost model, serves every analog unit: the IMAC unit (:mod:`imcsim.arch.imac`), the mixed-signal
IMC cores (:mod:`imcsim.arch.imc`) and the accuracy models in nn/ (resolution, static non-linearity, offset and gain
error per ADC instance; Ghosh et al., arXiv 2408.06390, treat these as non-idealities to train with rather than
calibrate away).

Cost defaults are ISAAC's 8-bit SAR ADC (Shafiee et al., ISCA 2016, Table 6, after Kull et al., ISSCC 2013). Table 6
lists the 8 ADCs of one in-situ multiply-accumulate unit together: 16 mW and 0.0096 mm^2 at 1.28 GS/s each. Per ADC
that is 2 mW and 0.0012 mm^2, so one conversion at the full rate costs 2 mW / 1.28 GS/s = 1.5625 pJ and takes
1 / 1.28 GS/s = 0.78 ns (PUMA's simulator, MNSIM 2.0's ISAAC preset and Accelergy's component library read the table
the same way).

Energy at another resolution follows the Walden figure of merit (energy per conversion proportional to 2^bits;
Murmann, "ADC Performance Survey") down to a floor (:attr:`ADCConfig.floor_bits`). Part of the power is static:
PUMA's simulator splits the same 2 mW ADC into 1.8 mW dynamic and 0.2 mW leakage, i.e. a static fraction of 0.1.
An ADC converting back to back draws exactly ``energy_per_conversion_j`` per conversion (its leakage included); one
that is powered but idle still draws :attr:`ADCConfig.static_power_w`.
"""

from __future__ import annotations

from pydantic import Field

from imcsim.config.base import ConfigModel

__all__ = ["ADCConfig", "ISAAC_ADC_POWER_W", "ISAAC_ADC_RATE_HZ"]

ISAAC_ADC_POWER_W = 16e-3 / 8
"""Power of one ISAAC ADC converting at full rate (W): Table 6's 16 mW for the 8 ADCs of an IMA."""

ISAAC_ADC_RATE_HZ = 1.28e9
"""Sampling rate of ISAAC's ADC (samples/s), Table 6."""


class ADCConfig(ConfigModel):
    """An ADC: resolution, cost per conversion, and static non-idealities."""

    bits: int = Field(8, ge=1, le=16, description="Resolution (bits). Default 8: the ISAAC SAR ADC whose costs "
                      "are the defaults below (Shafiee et al., ISCA 2016).")
    full_scale_v: float = Field(0.8, gt=0, description="Input range is [0, full_scale_v] (V); default 0.8 V, "
                                "IMAC-Sim's Vdd. In an IMAC unit, left unset it follows the neurons' high rail "
                                "(neuron.v_high, itself following vdd_v), whose outputs the ADC reads.")
    ref_energy_per_conversion_j: float = Field(ISAAC_ADC_POWER_W / ISAAC_ADC_RATE_HZ, gt=0, description="Energy of "
                                               "one conversion at ref_bits and full rate, leakage included (J). "
                                               "Source: ISAAC Table 6, 16 mW for 8 ADCs at 1.28 GS/s = 2 mW per "
                                               "ADC / 1.28 GS/s = 1.5625 pJ.")
    ref_bits: int = Field(8, ge=1, le=16, description="Resolution at which ref_energy_per_conversion_j holds (bits).")
    floor_bits: int = Field(4, ge=1, le=16, description="Below this resolution the energy per conversion stops "
                            "falling (bits). The Walden scaling 2^bits describes the survey's state of the art near "
                            "8-10 bits; at low resolution comparator, clock and logic overhead dominate and the "
                            "survey's best energy per sample flattens (B. Murmann, 'ADC Performance Survey'; B. E. "
                            "Jonsson, 'ADC energy efficiency: an empirical overview', 2013). Assumption: the floor is "
                            "the energy of a 4-bit conversion.")
    static_power_fraction: float = Field(0.1, ge=0, lt=1, description="Share of the full-rate power that is static "
                                         "(leakage, bias), drawn whenever the ADC is powered (fraction). Source: "
                                         "PUMA's simulator (include/constants.py), 1.8 mW dynamic + 0.2 mW leakage "
                                         "for ISAAC's 2 mW ADC.")
    conversion_time_s: float = Field(1 / ISAAC_ADC_RATE_HZ, gt=0, description="Time per conversion at ref_bits (s). "
                                     "Source: ISAAC, 1.28 GS/s. Other resolutions scale it as a SAR converter's "
                                     "bits + 2 clock cycles (MNSIM 2.0's SAR ADC latency model), "
                                     "see time_per_conversion_s.")
    area_m2: float = Field(0.0096e-6 / 8, gt=0, description="Area per ADC (m^2). Source: ISAAC Table 6, 0.0096 mm^2 "
                           "for 8 ADCs = 0.0012 mm^2 at 32 nm.")
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
        """Energy per conversion at full rate (J): the reference energy scaled by 2^(bits - ref_bits) (Walden), no
        lower than the energy at ``floor_bits``."""
        return self.ref_energy_per_conversion_j * 2.0 ** (max(self.bits, self.floor_bits) - self.ref_bits)

    @property
    def time_per_conversion_s(self) -> float:
        """Time of one conversion at ``bits`` (s): ``conversion_time_s`` x (bits + 2) / (ref_bits + 2), a SAR
        converter's one clock cycle per bit plus sampling and output (MNSIM 2.0)."""
        return self.conversion_time_s * (self.bits + 2) / (self.ref_bits + 2)

    @property
    def static_power_w(self) -> float:
        """Power an idle but powered ADC draws (W): ``static_power_fraction`` of its full-rate power."""
        return self.static_power_fraction * self.energy_per_conversion_j / self.time_per_conversion_s

    def energy_j(self, adcs: int, conversions: int, powered_s: float) -> float:
        """Energy (J) of ``adcs`` converters that make ``conversions`` conversions in all while powered for
        ``powered_s`` seconds each: every conversion at full-rate energy (leakage during it included), plus the
        static power of each ADC over the time it is powered but not converting."""
        idle_s = max(adcs * powered_s - conversions * self.time_per_conversion_s, 0.0)
        return conversions * self.energy_per_conversion_j + self.static_power_w * idle_s
