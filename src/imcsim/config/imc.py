"""The mixed-signal in-memory computing (IMC) core: crossbars of multi-bit cells with DACs at their rows, column ADCs
shared by several columns, digital shift-and-add, a digital post-processing unit and an activation memory (the
ISAAC / PUMA / IBM HERMES class).

One config holds every number the cost model (:mod:`imcsim.arch.imc`) and the pipeline model
(:mod:`imcsim.arch.pipeline`) read. It reuses the project's shared models where they fit: the synapse device
(:class:`~imcsim.config.device.DeviceConfig`), the ADC (:class:`~imcsim.config.adc.ADCConfig`) and the DAC
(:class:`~imcsim.config.imac.DACConfig`). Defaults are ISAAC's (Shafiee et al., ISCA 2016) with the ADC cost read
per ADC (Table 6 lists 16 mW for the 8 ADCs of an IMA): 2 mW per 8-bit ADC at 1.28 GS/s = 1.5625 pJ per conversion,
0.0012 mm^2.

What the energy figures count (per output pixel of a layer, per crossbar array it fires):

* crossbar: every used cell's devices at ``read_voltage_v`` for ``read_pulse_s``, at the mean conductance of
  levels spread evenly between G_off and G_on, times ``input_activity`` (the mean fraction of full drive per input
  cycle: 0.5 for random bits through 1-bit DACs, the mean duty of pulse-width-modulated inputs);
* DAC: one conversion per used row per input cycle; ADC: one conversion per used column per input cycle, at
  :meth:`IMCConfig.adc_energy_j` (the shared ADC model, :mod:`imcsim.config.adc`);
* shift-add: one digital add per ADC conversion (merging bit slices and input cycles) plus the accumulation of
  row-tile partial sums; post-processing: activation, pooling and residual additions, per element operation;
* buffers: every activation value read into the crossbars and written out, per byte of ``activation_bits``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from imcsim.config.adc import ADCConfig
from imcsim.config.base import ConfigModel, load_config
from imcsim.config.device import DeviceConfig
from imcsim.config.imac import DACConfig
from imcsim.config.wires import WireConfig
from imcsim.errors import ConfigError

__all__ = ["IMCConfig", "load_imc", "NOISE_AWARE_IR"]

#: Why noise-aware training (a fresh chip every batch) refuses exact wire IR drop on IMC cores (one message for the
#: training config and the model).
NOISE_AWARE_IR = ("ir_drop = 'exact' with noise-aware training: every batch's fresh chip would need a nodal solve of "
                  "every crossbar array (1 to 2.5 s per 128 x 128 array, measured); train on a fixed chip "
                  "(noise_aware off) or with ir_drop = 'off'")

class IMCConfig(ConfigModel):
    """A mixed-signal IMC core type: its crossbars, converters, digital periphery and activation memory."""

    name: str = Field("imc", description="A label for reports (the preset name).")
    rows: int = Field(128, ge=1, description="Crossbar rows (input lines) per array. Source: ISAAC, 128 x 128.")
    cols: int = Field(128, ge=1, description="Crossbar columns (output signals) per array; with differential "
                      "encoding each column is a device pair read as one signed current. Source: ISAAC, 128 x 128.")
    cell_bits: int = Field(2, ge=1, le=16, description="Bits stored per cell (bits). Source: ISAAC, 2-bit cells.")
    weight_bits: int = Field(16, ge=1, le=32, description="Weight precision (bits); a weight spans "
                             "ceil(magnitude bits / cell_bits) columns (bit slices). Source: ISAAC, 16-bit weights.")
    encoding: Literal["differential", "offset"] = Field(
        "offset", description="Signed weights: 'offset' stores w + 2^(weight_bits-1) in one device per cell and "
                              "subtracts the offset digitally (ISAAC), all weight_bits as magnitude; 'differential' "
                              "stores |w| on one device of a pair per cell (G+ / G-, read as one signed current: "
                              "IMAC-Sim, HERMES), weight_bits - 1 magnitude bits.")
    input_bits: int = Field(16, ge=1, le=32, description="Activation precision (bits) fed to the crossbars. Source: "
                            "ISAAC, 16-bit inputs.")
    activation_bits: int = Field(16, ge=1, le=32, description="Bits per activation value held in the activation "
                                 "memory (bits). Source: ISAAC, 16-bit fixed point.")
    cols_per_adc: int = Field(128, ge=1, description="Columns sharing one ADC, converted one after another. "
                              "Source: ISAAC, one ADC sweeps the 128 columns of a crossbar.")
    adc: ADCConfig = Field(default_factory=ADCConfig, description="Column ADC (bits, energy per "
                           "conversion at ref_bits, conversion time, area). Default: ISAAC's 8-bit 1.28 GS/s SAR ADC, "
                           "2 mW = 1.5625 pJ per conversion, 0.0012 mm^2 (Table 6: 16 mW, 0.0096 mm^2 for 8).")
    dac: DACConfig = Field(default_factory=lambda: DACConfig(bits=1), description="Row DAC; bits = 1 drives the "
                           "input bit-serially (ISAAC), more bits take ceil(input_bits / dac bits) cycles. Energy and "
                           "area per bit: ISAAC Table 6 (4 mW and 0.00017 mm^2 for 1,024 one-bit DACs at 100 ns).")
    crossbar_read_time_s: float = Field(100e-9, gt=0, description="Time of one crossbar read (s): input pulse, "
                                        "settling and sample-and-hold. Source: ISAAC, 100 ns.")
    read_pulse_s: float = Field(100e-9, gt=0, description="Time the read current flows per input cycle (s). "
                                "Source: ISAAC's 100 ns crossbar cycle.")
    read_voltage_v: float = Field(0.01657, gt=0, description="Read voltage across a cell driven by a full input "
                                  "(V). Default derived: the voltage at which a 128 x 128 crossbar of the default "
                                  "devices (5 / 15 kOhm, mean conductance 1.33e-4 S) at input_activity 0.5 for 100 ns "
                                  "draws ISAAC's 0.3 mW per crossbar (Table 6: 2.4 mW for 8 crossbars).")
    input_activity: float = Field(0.5, gt=0, le=1, description="Mean fraction of full read energy an input line "
                                  "draws per input cycle: 0.5 for random bits through 1-bit DACs, the mean duty of "
                                  "pulse-width-modulated inputs. Assumption: inputs uniformly distributed.")
    device: DeviceConfig = Field(default_factory=DeviceConfig, description="Cell devices (the project's one device "
                                 "model; R_low / R_high set G_on / G_off).")
    wires: WireConfig = Field(default_factory=WireConfig, description="Crossbar metal lines (the project's one wire "
                              "model: segment resistance per cell on the input lines and on the column lines), read "
                              "when the layers simulate wire IR drop (ir_drop = exact). Default: IMAC-Sim's 9 nm "
                              "node (9.24 / 11.55 ohm per cell), the technology the project's crossbar solver is "
                              "validated on.")
    cell_area_m2: float = Field(0.0002e-6 / (8 * 128 * 128), gt=0, description="Area of one cell (m^2), device pair "
                                "included for differential encoding. Source: ISAAC Table 6, 8 crossbars of 128 x 128 "
                                "in 0.0002 mm^2 = 1.53e-15 m^2 per cell.")
    shift_add_energy_j: float = Field(0.2e-3 / (8 * 1.28e9), gt=0, description="Energy of one digital "
                                      "shift-and-add (J), one per ADC conversion. Source: ISAAC Table 6, 4 shift-add "
                                      "units at 0.2 mW per IMA serve its 8 ADCs' 10.24 G conversions/s: 0.0195 pJ.")
    shift_add_area_m2: float = Field(0.00024e-6 / 8, ge=0, description="Shift-and-add area per crossbar array (m^2). "
                                     "Source: ISAAC Table 6, 4 S+A units in 0.00024 mm^2 per 8 crossbars.")
    post_energy_per_op_j: float = Field(0.1e-12, gt=0, description="Energy of one post-processing element "
                                        "operation (activation, pooling compare or add, residual add, partial-sum "
                                        "add) (J). Source: Horowitz, ISSCC 2014, 45 nm, 32-bit add 0.1 pJ.")
    post_ops_per_s: float = Field(1.2e9 * 128, gt=0, description="Element operations per second of the "
                                  "post-processing unit serving a layer (1/s). Assumption: a 128-lane vector unit at "
                                  "ISAAC's 1.2 GHz digital clock.")
    post_area_m2: float = Field(0.0006e-6 + 0.00024e-6 + 0.00006e-6, ge=0, description="Area of the post-processing "
                                "unit (m^2). Source: ISAAC Table 6 tile: sigmoid (0.0006 mm^2), max-pool "
                                "(0.00024 mm^2) and shift-add (0.00006 mm^2) units.")
    memory_kind: Literal["sram", "edram"] = Field("edram", description="Activation memory technology. Source: "
                                                  "ISAAC, eDRAM buffers between pipeline stages.")
    memory_energy_per_byte_j: float = Field(2.5e-12, gt=0, description="Activation memory energy per byte read or "
                                            "written (J). Source: Horowitz, ISSCC 2014, 32 KB SRAM, 20 pJ per 64-bit "
                                            "access; used for eDRAM too (ISAAC gives eDRAM power, not energy per "
                                            "access).")
    memory_area_per_byte_m2: float = Field(0.083e-6 / 65536, gt=0, description="Activation memory area per byte "
                                           "(m^2). Source: ISAAC Table 6, 64 KB eDRAM in 0.083 mm^2.")
    chip_arrays: int = Field(168 * 12 * 8, ge=1, description="Crossbar arrays on the chip: the core budget of the "
                             "'balanced' duplication. Source: ISAAC, 168 tiles x 12 IMAs x 8 crossbars = 16,128.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_floor(cls, data):
        """``adc_floor_bits`` (earlier versions) is now the shared ADC model's ``adc.floor_bits``."""
        if isinstance(data, dict) and "adc_floor_bits" in data:
            data = dict(data)
            adc = data.get("adc")
            adc = dict(adc) if isinstance(adc, dict) else (adc.model_dump() if isinstance(adc, ADCConfig) else {})
            adc.setdefault("floor_bits", data.pop("adc_floor_bits"))
            data["adc"] = adc
        return data

    @model_validator(mode="after")
    def _check(self) -> "IMCConfig":
        if self.cols_per_adc > self.cols:
            raise ValueError(f"cols_per_adc = {self.cols_per_adc} exceeds cols = {self.cols}")
        if self.dac.bits > self.input_bits:
            raise ValueError(f"dac.bits = {self.dac.bits} exceeds input_bits = {self.input_bits}")
        if self.encoding == "differential" and self.weight_bits < 2:
            raise ValueError("weight_bits must be at least 2 with differential encoding (a sign and a magnitude)")
        return self

    # ----- derived figures (one place each) -------------------------------------------------------------------------
    @property
    def slices(self) -> int:
        """Columns per weight (bit slices): ceil(magnitude bits / cell_bits)."""
        magnitude = self.weight_bits - (1 if self.encoding == "differential" else 0)
        return math.ceil(magnitude / self.cell_bits)

    @property
    def devices_per_cell(self) -> int:
        """Devices per cell: 2 for a differential pair, 1 for offset encoding."""
        return 2 if self.encoding == "differential" else 1

    @property
    def input_cycles(self) -> int:
        """Crossbar reads per MVM: ceil(input_bits / DAC bits)."""
        return math.ceil(self.input_bits / self.dac.bits)

    @property
    def adcs_per_array(self) -> int:
        """ADCs per crossbar array: ceil(cols / cols_per_adc)."""
        return math.ceil(self.cols / self.cols_per_adc)

    @property
    def adc_energy_j(self) -> float:
        """Energy per ADC conversion (J): the shared ADC model's
        :attr:`~imcsim.config.adc.ADCConfig.energy_per_conversion_j` (survey scaling with its low-resolution floor);
        the column ADCs sweep their columns back to back, so the full-rate figure holds."""
        return self.adc.energy_per_conversion_j

    @property
    def cell_read_energy_j(self) -> float:
        """Mean energy one used cell draws per input cycle (J): devices x input_activity x V^2 x G_mean x t_pulse,
        with G_mean = (G_on + G_off) / 2 (levels spread evenly)."""
        g_on, g_off = self.device.conductances
        return (self.devices_per_cell * self.input_activity * self.read_voltage_v**2 * 0.5 * (g_on + g_off)
                * self.read_pulse_s)

    @property
    def array_area_m2(self) -> float:
        """Area of one crossbar array with its converters and shift-add (m^2)."""
        return (self.rows * self.cols * self.cell_area_m2 + self.adcs_per_array * self.adc.area_m2
                + self.rows * self.dac.area_m2 + self.shift_add_area_m2)

    @property
    def activation_bytes(self) -> float:
        """Bytes per activation value in the activation memory."""
        return self.activation_bits / 8.0


def load_imc(spec: str) -> IMCConfig:
    """An IMC core config from a preset name (``isaac``, ``puma``, ``hermes``) or a YAML file of IMCConfig fields."""
    from pathlib import Path

    from imcsim.config.presets import load_preset, preset_path

    if spec.endswith((".yaml", ".yml")) or Path(spec).is_file():
        return load_config(IMCConfig, spec)
    preset_path(spec)  # ConfigError naming the valid presets
    cfg = load_preset(spec)
    if not isinstance(cfg, IMCConfig):
        raise ConfigError(f"preset '{spec}' is a {type(cfg).__name__}, not an IMC core (try isaac, puma or hermes)")
    return cfg
