"""The in-memory analog computing (IMAC) unit: crossbars, read-out amplifiers, analog neurons and the converters at
its boundaries with the digital world.

One config composes the shared device, wire, amplifier, neuron and ADC models (so circuit/, nn/ and arch/ read the
same numbers) and adds what only the cost model needs: supply rails, the sampling time, converter costs, and the
power and area of the peripheral circuits. Defaults follow IMAC-Sim (Amin, Elbtity, Zand, GLSVLSI 2023) and the
SOT-MRAM neuron of GLSVLSI 2022 (Amin, Elbtity, Mohammadi, Zand); every field names its source.

What the power figures cover (so a reader knows what is and is not counted):

* synapses: V^2 G of every programmed device over the sampling window, from the actual weights when given
  (see :mod:`imcsim.arch.imac`), else from the expected weight mix;
* amplifiers: the output stage sourcing a full-swing output current Vdd / R_f from the rails, (Vdd - Vss) Vdd / R_f
  per amplifier with R_f the layer's transimpedance, plus the op-amp's quiescent bias power
  (``amplifier_bias_power_w``), by default derived from what it must settle in the layer's window: a two-stage
  Miller op-amp sized by the gm/ID method (:mod:`imcsim.circuit.peripherals`, :func:`imcsim.arch.imac.amplifier_design`);
* neurons: Vdd^2 / (R_in + R_fb), the worst-case static current of the neuron's two MTJ resistors, plus the CMOS
  inverter's bias (short-circuit) power (``neuron_bias_power_w``), by default derived the same way from the input line
  of the next crossbar it must drive within the window, or from the loop gain it needs to hold its gain -R_fb / R_in
  (``neuron_loop_gain``), whichever needs more (:func:`imcsim.arch.imac.neuron_bias_power_w`);
* converters: DAC energy per conversion; ADC energy per conversion plus its static share while powered and idle
  (:class:`~imcsim.config.adc.ADCConfig`, ISAAC's ADC read per ADC, shared with the IMC cores).

Latency follows the sampling window, which is never shorter than the crossbar's settling time (its Elmore delay
times (ADC bits + 1) ln 2), and the analog power budget ``peak_power_w``: a layer whose crossbars together would
draw more fires them in successive windows (:mod:`imcsim.arch.imac`). The supply sets the ranges: unless set
explicitly, ``vss_v = -vdd_v``, ``neuron.v_high = vdd_v`` and ``adc.full_scale_v = neuron.v_high``.

Area counts the crossbar bitcells (the wire geometry's 135 nm x 108 nm cell at 9 nm), the converters and the
sample-and-holds that shared converters need (ISAAC), the neurons and the amplifiers: ``neuron_area_m2`` defaults to
the footprint of the neuron's 10-fin FinFET inverter derived from 14 nm layout pitches (its MTJs sit above it in the
back-end; the derivation and its assumptions are next to ``NEURON_AREA_M2``); ``amplifier_area_m2`` defaults to the
footprint of the derived eight-transistor Miller op-amp at the same pitches plus its Miller capacitor.

Why the peripheral bias powers and the amplifier area are derived rather than cited: we found no published absolute
figure for them. The GLSVLSI 2022 neuron paper states its power and area as ratios to other sigmoid neurons (1.8-27x
less power, 2.5-4931x less area); IMAC-Sim's read-out amplifier (spice/diff1..3.sp) is an ideal voltage-controlled
source with resistors; its inverter's 14 nm PTM-MG FinFET models are BSIM-CMG cards that ngspice 39 cannot run. So
each is sized from what it must do (settle its load to half an ADC LSB within the window; the inverter also hold
its gain; :mod:`imcsim.circuit.peripherals` lists every equation and assumption), so the op-amp's power and area
respond to the crossbar size, the ADC bits and the window (the inverter's only where settling, not its gain, sets
its current). Each of the four fields
takes None (derived, the default), a number of the design you target (counted as given), or 0 (not counted;
:attr:`IMACConfig.uncounted_terms` names those a config leaves out). The cost model (:mod:`imcsim.arch.imac`: metrics
``amplifier_power_w``, ``neuron_power_w``, ``amplifier_area_m2``, ``neuron_area_m2``) reports them.

Wire IR drop lowers the real synapse current: on the 400-120-84-10 MLP tiled on 32 x 32 SOT-MRAM arrays the
crossbar solver with 9 nm wires gives 1.24-1.66x less device power than the nominal V^2 G figure
(benchmarks/reproduce_papers.py), so the synapse energy here is an upper bound;
:func:`imcsim.arch.imac.device_energy_wired_j` solves the tiles for the exact figure when the weights are known.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_serializer, model_validator

from imcsim.config.adc import ADCConfig
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.base import ConfigModel
from imcsim.config.device import DeviceConfig, mtj_resistances
from imcsim.config.neuron import NeuronConfig
from imcsim.config.wires import WireConfig

__all__ = ["DACConfig", "IMACConfig", "FINFET14_FIN_PITCH_M", "FINFET14_GATE_PITCH_M", "NEURON_AREA_M2"]

# The GLSVLSI 2022 neuron's resistors: a 50 nm x 30 nm SOT-MRAM MTJ, RA = 10 ohm um^2, TMR = 200%, in the P state
# (input resistor) and in the AP state (feedback resistor): 8,488.26 ohm and 25,464.79 ohm (mtj_resistances).
_NEURON_R_P, _NEURON_R_AP = mtj_resistances(10.0, 50.0, 30.0, 2.0)

# Footprint of the GLSVLSI 2022 neuron's CMOS inverter, derived from the layout rules of a 14 nm FinFET process (no
# published area exists for the neuron; IMAC-Sim simulates it with 14 nm PTM-MG FinFETs). Sources: the inverter has a
# 10-fin NMOS and a 10-fin PMOS (IMAC-Sim spice/neuron.sp, nfin=10); Intel's 14 nm process has a 42 nm fin pitch and a
# 70 nm contacted gate pitch (Natarajan et al., IEDM 2014). Assumptions: the two devices stand one above the other,
# each 10 fin pitches tall, separated by 2 fin pitches for the n-to-p well spacing: (10 + 10 + 2) x 42 nm = 924 nm;
# the inverter is 3 contacted gate pitches wide (its gate, its source and drain contacts, half a diffusion break on
# each side, as in an inverter standard cell): 3 x 70 nm = 210 nm. Footprint 924 nm x 210 nm = 0.194 um^2. The two
# MTJs (50 nm x 30 nm ellipses, 0.0012 um^2 each) are built in the back-end metal stack above the transistors, as
# MRAM cells are, so they add no footprint.
FINFET14_FIN_PITCH_M = 42e-9
FINFET14_GATE_PITCH_M = 70e-9
_NEURON_FINS_PER_DEVICE = 10
_NEURON_NP_SPACING_FIN_PITCHES = 2
_NEURON_WIDTH_GATE_PITCHES = 3
NEURON_AREA_M2 = ((2 * _NEURON_FINS_PER_DEVICE + _NEURON_NP_SPACING_FIN_PITCHES) * FINFET14_FIN_PITCH_M
                  * _NEURON_WIDTH_GATE_PITCHES * FINFET14_GATE_PITCH_M)
"""The derived footprint of one neuron (m^2), 0.194 um^2: see the comment above."""

# ISAAC (Shafiee et al., ISCA 2016, Table 6): 8 x 128 one-bit DACs per in-situ multiply-accumulate unit take 4 mW and
# 0.00017 mm^2 in total, at ISAAC's 100 ns crossbar cycle. Per one-bit conversion: 4 mW * 100 ns / 1024 = 0.39 pJ;
# per one-bit DAC: 0.00017 mm^2 / 1024 = 1.66e-13 m^2.
_ISAAC_DAC_1B_ENERGY_J = 4e-3 * 100e-9 / 1024
_ISAAC_DAC_1B_AREA_M2 = 0.00017e-6 / 1024


def _derived(cfg: ConfigModel, field: str, value: float) -> ConfigModel:
    """``cfg`` with ``field`` set to the derived ``value``, still marked as not set by the user (so that it keeps
    following what it is derived from)."""
    out = type(cfg).model_validate({**cfg.model_dump(), field: value})
    out.__pydantic_fields_set__.intersection_update(cfg.model_fields_set - {field})
    return out


# ISAAC (Shafiee et al., ISCA 2016, Table 6): 8 x 128 sample-and-hold circuits per in-situ multiply-accumulate unit,
# 10 uW and 0.00004 mm^2 in total, one sample each per 100 ns crossbar cycle: per hold 10 uW x 100 ns / 1024 =
# 0.98 fJ; per circuit 0.00004 mm^2 / 1024 = 3.9e-14 m^2.
_ISAAC_SH_ENERGY_J = 10e-6 * 100e-9 / 1024
_ISAAC_SH_AREA_M2 = 0.00004e-6 / 1024


class DACConfig(ConfigModel):
    """A digital-to-analog converter at a digital-to-analog boundary: drives one crossbar input line per conversion.

    ISAAC feeds an 8-bit input as eight one-bit DAC pulses; an IMAC samples a whole vector in one window, so we
    model a multi-bit DAC whose energy and area equal ``bits`` one-bit ISAAC DACs (the same charge delivered in one
    step instead of ``bits`` steps) and whose conversion completes within one IMAC sampling window.
    """

    bits: int = Field(8, ge=1, le=16, description="Resolution (bits); 8 = the int8 activations of the digital "
                      "unit (TPU-IMAC, arXiv 2304.09258, feeds int8 TPU outputs to the IMAC).")
    energy_per_bit_j: float = Field(_ISAAC_DAC_1B_ENERGY_J, gt=0, description="Energy per conversion per bit of "
                                    "resolution (J). Source: ISAAC Table 6, 4 mW for 1024 one-bit DACs at a 100 ns "
                                    "cycle = 0.39 pJ.")
    conversion_time_s: float = Field(1e-9, gt=0, description="Time per conversion (s). Assumption: settles within "
                                     "one IMAC sampling window (IMAC-Sim default 1 ns), so the DAC adds one window.")
    area_per_bit_m2: float = Field(_ISAAC_DAC_1B_AREA_M2, gt=0, description="Area per bit of resolution (m^2). "
                                   "Source: ISAAC Table 6, 0.00017 mm^2 for 1024 one-bit DACs at 32 nm.")

    @property
    def energy_per_conversion_j(self) -> float:
        """Energy of one conversion (J): ``bits`` times the one-bit energy."""
        return self.bits * self.energy_per_bit_j

    @property
    def area_m2(self) -> float:
        """Area of one DAC (m^2)."""
        return self.bits * self.area_per_bit_m2


class IMACConfig(ConfigModel):
    """An IMAC unit: partitioned crossbars of differential synapse pairs, one amplifier per neuron per horizontal
    partition, SOT-MRAM sigmoid neurons, DACs where digital data enter and ADCs where analog results leave."""

    rows: int = Field(32, ge=1, description="Crossbar rows (input lines, bias row included) per array. Source: "
                      "IMAC-Sim default 32 x 32.")
    cols: int = Field(32, ge=1, description="Crossbar columns (differential I+/I- pairs = neurons) per array. "
                      "Source: IMAC-Sim default 32 x 32.")
    vdd_v: float = Field(0.8, gt=0, description="Positive supply (V); inputs swing in [-Vdd, Vdd] and the bias row "
                         "is driven at Vdd. Source: IMAC-Sim default +0.8 V. Unless set explicitly, vss_v = -vdd_v, "
                         "neuron.v_high = vdd_v and adc.full_scale_v = neuron.v_high follow it.")
    vss_v: float = Field(-0.8, lt=0, description="Negative supply (V); -vdd_v unless set. Source: IMAC-Sim default "
                         "-0.8 V.")
    sampling_time_s: float = Field(1e-9, gt=0, description="Time an input vector is held on a layer before its "
                                   "outputs are valid (s); sets the latency of each analog layer. Source: IMAC-Sim "
                                   "default tsampling = 1 ns. The window used is max(this, k * tau): tau the Elmore "
                                   "delay of the crossbar's wire and device RC network, k = settling_time_constants "
                                   "(imcsim.arch.imac.settling_time_s), so large crossbars get a longer window.")
    settling_time_constants: float | None = Field(
        None, gt=0, description="k, the number of Elmore time constants a crossbar needs to settle (dimensionless). "
                                "None = (adc.bits + 1) ln 2: a single-pole response within half an LSB of the ADC.")
    layer_sampling_times_s: tuple[float, ...] = Field(
        (), description="Per-layer sampling times of IMAC layers 1, 2, ... (s), overriding sampling_time_s; layers "
                        "past the end use sampling_time_s. IMAC-Sim takes one tsampling for the whole network, so the "
                        "default is empty.")
    weight_precision: Literal["binary", "ternary"] = Field(
        "binary", description="Weight levels: binary {-1,+1} or ternary {-1,0,+1}, each a differential device pair. "
                              "Source: CPU-IMAC (arXiv 2105.13904) binarized SOT-MRAM synapses; IMAC-Sim supports "
                              "ternary.")
    device: DeviceConfig = Field(default_factory=DeviceConfig, description="Synapse devices (R_low/R_high or MTJ).")
    wires: WireConfig = Field(default_factory=WireConfig, description="Crossbar interconnect (9 nm IMAC-Sim).")
    amplifier: AmplifierConfig = Field(default_factory=AmplifierConfig, description="Per-partition differential "
                                       "read-out amplifiers (transimpedance per layer).")
    neuron: NeuronConfig = Field(default_factory=NeuronConfig, description="Sigmoid neuron transfer curve.")
    adc: ADCConfig = Field(default_factory=ADCConfig, description="ADC at each analog-to-digital boundary.")
    dac: DACConfig = Field(default_factory=DACConfig, description="DAC at each digital-to-analog boundary.")

    input_rms_fraction: float = Field(
        1.0, gt=0, le=1, description="RMS of the input voltages as a fraction of Vdd, used for device power when no "
                                     "input statistics are given. 1.0 = every input at full swing: a worst-case bound "
                                     "(IMAC-Sim drives inputs in [-Vdd, Vdd]).")
    ternary_zero_fraction: float = Field(
        1.0 / 3.0, ge=0, le=1, description="Expected fraction of zero weights in a ternary layer when the weights are "
                                           "not given (fraction); 1/3 = the three levels equally likely, an "
                                           "assumption in the absence of trained weights.")
    amplifier_bias_power_w: float | None = Field(
        None, ge=0, description="Quiescent bias power of each op-amp (W), added to the output-stage load power. None "
                                "= derived per layer (no published figure): a two-stage Miller op-amp (Allen and "
                                "Holberg) settling to half an ADC LSB in the window at its noise gain 1 + R_f / R_in "
                                "into its output line, every transistor at peripheral_gm_over_id_per_v (gm/ID "
                                "method, Silveira et al., JSSC 1996); imcsim.circuit.peripherals. A number = your "
                                "design's figure; 0 = not counted.")
    neuron_input_resistance_ohm: float = Field(
        _NEURON_R_P, gt=0, description="Neuron input resistor (ohm): SOT-MRAM MTJ in the P state. Source: GLSVLSI "
                                       "2022 neuron (Amin et al.), 8,488.26 ohm.")
    neuron_feedback_resistance_ohm: float = Field(
        _NEURON_R_AP, gt=0, description="Neuron feedback resistor (ohm): SOT-MRAM MTJ in the AP state. Source: "
                                        "GLSVLSI 2022 neuron, 25,464.79 ohm.")
    neuron_bias_power_w: float | None = Field(
        None, ge=0, description="Bias (short-circuit) power of the neuron's CMOS inverter (W), added to the resistor "
                                "path power. None = derived per layer (no published absolute figure for the GLSVLSI "
                                "2022 neuron): the current its NMOS and PMOS, both at peripheral_gm_over_id_per_v, "
                                "need to settle the next crossbar's input line to half an ADC LSB in the window at "
                                "the noise gain 1 + R_fb / R_in, or to reach the loop gain neuron_loop_gain, "
                                "whichever is larger, times Vdd; imcsim.circuit.peripherals. A number = your "
                                "design's figure; 0 = not counted.")
    neuron_loop_gain: float = Field(
        10.0, gt=0, description="Loop gain gm (R_in || R_fb) the derived neuron inverter must reach (dimensionless), "
                                "so that its gain is -R_fb / R_in to within 1 / (1 + T), about 9% at 10. Assumption: "
                                "a loose figure, as the network is trained around the neuron's measured curve; at "
                                "the defaults it, not settling, sets the inverter's current.")
    amplifier_area_m2: float | None = Field(
        None, ge=0, description="Area of one read-out amplifier (m^2). None = derived per layer (no published "
                                "figure): the derived Miller op-amp's 8 FinFETs at Intel 14 nm's 42 nm fin and 70 nm "
                                "gate pitches (Natarajan et al., IEDM 2014), (fins + 1) fin pitches by 3 gate pitches "
                                "each, fins from peripheral_fin_current_a (one fin each when None), plus its Miller "
                                "capacitor (0.22 C_L) at capacitor_density_f_per_m2. A number = your design's "
                                "figure; 0 = not counted.")
    neuron_area_m2: float | None = Field(
        None, ge=0, description="Area of one neuron (m^2). None = derived, 0.194 um^2 (no published figure): the "
                                "footprint of the neuron's inverter, a 10-fin NMOS over a 10-fin PMOS (IMAC-Sim "
                                "spice/neuron.sp) at Intel 14 nm's 42 nm fin pitch and 70 nm contacted gate pitch "
                                "(Natarajan et al., IEDM 2014); assumption: 22 fin pitches tall (2 for the n-p "
                                "spacing) by 3 gate pitches wide, the two MTJs stacked above in the back-end. A "
                                "number = your design's figure; 0 = not counted.")
    peripheral_gm_over_id_per_v: float = Field(
        15.0, gt=0, le=40, description="Transconductance efficiency gm/I_D (S/A = 1/V) of the derived op-amp and "
                                       "inverter transistors. Assumption: 15, moderate inversion (gm/ID method: "
                                       "Silveira, Flandre, Jespers, JSSC 1996; Jespers and Murmann, CUP 2017): below "
                                       "the weak-inversion limit 1 / (n U_T), about 26-32 S/A at 300 K for n = "
                                       "1.2-1.5, where transit frequency collapses, above the strong-inversion "
                                       "values under about 10 S/A, where current efficiency does.")
    peripheral_fin_current_a: float | None = Field(
        None, gt=0, description="Drain current per fin (A) of the derived op-amp's transistors at "
                                "peripheral_gm_over_id_per_v; sets their fin counts, ceil(I_D / this). None = every "
                                "device one fin, the layout minimum: no citable per-fin current figure at moderate "
                                "inversion for a 14 nm FinFET was found, so the derived area is a lower bound.")
    capacitor_density_f_per_m2: float | None = Field(
        None, gt=0, description="Capacitance per area (F/m^2) of the derived op-amp's Miller capacitor. None = "
                                "derived from the wire geometry: a one-layer metal-oxide-metal finger capacitor of "
                                "the crossbar's lines (width, I+/I- spacing, Sakurai-Tamaru coupling; 0.73 fF/um^2 "
                                "at 9 nm; wires.mom_density_f_per_m2), an assumption in the "
                                "absence of a cited MIM/MOM density for the node.")
    outputs_per_adc: int = Field(1, ge=1, description="Neuron outputs sharing one ADC at an analog-to-digital "
                                 "boundary (time-multiplexed). 1 = one ADC per output, all converted in parallel: "
                                 "the fully parallel read-out TPU-IMAC assumes for its 1 ns IMAC latency.")
    inputs_per_dac: int = Field(1, ge=1, description="Input lines sharing one DAC at a digital-to-analog boundary "
                                "(time-multiplexed). 1 = one DAC per input line, all driven in parallel.")
    sample_hold_energy_j: float = Field(_ISAAC_SH_ENERGY_J, ge=0, description="Energy of one sample-and-hold "
                                        "(J). A line whose converter is shared holds its value while the converter "
                                        "serves the others: every input line when inputs_per_dac > 1, every output "
                                        "when outputs_per_adc > 1. Source: ISAAC Table 6, 1,024 S+H at 10 uW and a "
                                        "100 ns cycle = 0.98 fJ.")
    sample_hold_area_m2: float = Field(_ISAAC_SH_AREA_M2, ge=0, description="Area of one sample-and-hold (m^2). "
                                       "Source: ISAAC Table 6, 1,024 S+H in 0.00004 mm^2.")
    peak_power_w: float | None = Field(
        2.0, gt=0, description="Analog power budget (W): the most power the crossbars firing together in one "
                               "sampling window may draw (devices, amplifiers, neurons). A layer that needs more "
                               "fires its crossbars in successive windows (imcsim.arch.imac.firing_waves), so its "
                               "latency grows; one crossbar per window at least. Assumption: 2 W, the power envelope "
                               "of the edge TPU the unit sits beside (Google Coral: 4 TOPS at 2 TOPS/W); None = "
                               "unbounded (IMAC-Sim's one-window model).")
    active_crossbars: int | None = Field(
        None, ge=1, description="Most crossbars that may fire in one sampling window (e.g. the number of physical "
                                "arrays or read-out channels when weights are reloaded); None = no limit beyond "
                                "peak_power_w. Not placement.budget.crossbars, which bounds the arrays the layers "
                                "placed on analog units occupy.")

    @model_validator(mode="after")
    def _check(self) -> "IMACConfig":
        # Ranges that follow the supply unless set explicitly (a frozen model: set once, here, before anyone reads it).
        if "vss_v" not in self.model_fields_set:
            object.__setattr__(self, "vss_v", -self.vdd_v)
        if "v_high" not in self.neuron.model_fields_set:
            object.__setattr__(self, "neuron", _derived(self.neuron, "v_high", self.vdd_v))
        if "full_scale_v" not in self.adc.model_fields_set:
            object.__setattr__(self, "adc", _derived(self.adc, "full_scale_v", self.neuron.v_high))
        if self.rows < 2:
            raise ValueError(f"rows = {self.rows}: a crossbar needs at least 2 rows (one input and the bias row)")
        if any(not t > 0 for t in self.layer_sampling_times_s):
            raise ValueError(f"layer_sampling_times_s = {self.layer_sampling_times_s}: every time must be > 0 s")
        return self

    @model_serializer(mode="wrap")
    def _omit_derived(self, handler: Any) -> Any:
        """Dumps leave out the values derived from the supply (vss_v, neuron.v_high, adc.full_scale_v) unless they
        were set explicitly, so that a dump changed and validated again (``replace``, ``replace_path``, a CLI
        override, a sweep) derives them from the new supply."""
        data = handler(self)
        if isinstance(data, dict):
            if "vss_v" not in self.model_fields_set:
                data.pop("vss_v", None)
            if "v_high" not in self.neuron.model_fields_set and isinstance(data.get("neuron"), dict):
                data["neuron"].pop("v_high", None)
            if "full_scale_v" not in self.adc.model_fields_set and isinstance(data.get("adc"), dict):
                data["adc"].pop("full_scale_v", None)
        return data

    def sampling_time(self, layer_index: int) -> float:
        """Sampling time (s) of IMAC layer ``layer_index`` (0-based)."""
        if layer_index < 0:
            raise ValueError(f"layer_index must be >= 0, got {layer_index}")
        t = self.layer_sampling_times_s
        return float(t[layer_index]) if layer_index < len(t) else self.sampling_time_s

    @property
    def bits_per_weight(self) -> int:
        """Storage per weight (bits): 1 for binary, 2 for ternary (a differential pair of two-state devices)."""
        return 1 if self.weight_precision == "binary" else 2

    @property
    def cell_area_m2(self) -> float:
        """Area of one synapse device bitcell (m^2), from the wire geometry (135 nm x 108 nm at 9 nm)."""
        return self.wires.cell_length_m * self.wires.cell_width_m

    @property
    def neuron_resistor_power_w(self) -> float:
        """Static power of one neuron's resistor path (W): Vdd^2 / (R_in + R_fb), the worst-case current of its two
        MTJs (full swing across the pair). The inverter's bias power comes on top
        (:func:`imcsim.arch.imac.neuron_power_w`)."""
        return self.vdd_v**2 / (self.neuron_input_resistance_ohm + self.neuron_feedback_resistance_ohm)

    def used_values(self) -> dict[str, tuple[float, str]]:
        """Fields left None whose derived value does not depend on the layer, as {field: (value used, why)}, for
        reports (``imcsim presets``); the bias powers and the amplifier area are derived per layer by the cost model."""
        out = {}
        if self.neuron_area_m2 is None:
            out["neuron_area_m2"] = (NEURON_AREA_M2, "derived: the 10-fin inverter's footprint at Intel 14 nm pitches "
                                                     "(22 fin pitches x 42 nm by 3 gate pitches x 70 nm)")
        if self.capacitor_density_f_per_m2 is None:
            out["capacitor_density_f_per_m2"] = (self.wires.mom_density_f_per_m2, "derived: a one-layer MOM finger "
                                                 "capacitor of the crossbar's lines (wires.mom_density_f_per_m2)")
        return out

    @property
    def uncounted_terms(self) -> tuple[str, ...]:
        """The peripheral costs this config leaves out (set to 0), for reports; empty by default (every term derived,
        see the module docstring)."""
        terms = (("amplifier bias power", self.amplifier_bias_power_w), ("amplifier area", self.amplifier_area_m2),
                 ("neuron inverter bias power", self.neuron_bias_power_w), ("neuron area", self.neuron_area_m2))
        return tuple(name for name, value in terms if value == 0)

    def amplifier_load_power_w(self, layer_index: int) -> float:
        """Output-stage load power of one amplifier of IMAC layer ``layer_index`` (0-based), in W: sourcing the
        full-swing feedback current Vdd / R_f from the rails, (Vdd - Vss) * Vdd / R_f. The op-amp's bias power comes
        on top (:func:`imcsim.arch.imac.amplifier_power_w`)."""
        r_f = self.amplifier.transimpedance(layer_index)
        return (self.vdd_v - self.vss_v) * self.vdd_v / r_f
