"""Bias current and footprint of the IMAC peripherals, derived from what they must drive in one sampling window.

No published absolute figure exists for the bias power or the area of IMAC-Sim's read-out op-amp (an ideal source in
its netlists) or for the bias current of the SOT-MRAM neuron's inverter, so they are sized here from first principles
by the gm/ID method (Silveira, Flandre, Jespers, "A gm/ID based methodology for the design of CMOS analog circuits and
its application to the synthesis of a silicon-on-insulator micropower OTA", IEEE JSSC 31(9), 1996; Jespers and
Murmann, "Systematic Design of Analog CMOS Circuits", Cambridge University Press, 2017): the transconductance the
circuit needs follows from its load and its bandwidth, and the drain current from the transconductance efficiency
gm/I_D chosen for the transistors.

Settling. An output within half an LSB of an n-bit converter after a step, for a single-pole closed loop, needs
(n + 1) ln 2 time constants (the rule :mod:`imcsim.circuit.settling` and :func:`imcsim.arch.imac.settling_time_s`
apply to the crossbar): tau = t_window / ((n + 1) ln 2). The closed-loop bandwidth is 1 / (2 pi tau); a feedback
amplifier with noise gain NG = 1 + R_f / R_in (the inverse of its feedback factor) needs an open-loop
gain-bandwidth GBW = NG / (2 pi tau).

Two-stage Miller op-amp (Allen and Holberg, "CMOS Analog Circuit Design", 2nd ed., Oxford 2002, section 6.3: the
eight-transistor op-amp M1..M8): GBW = gm1 / (2 pi C_c). For 60 degrees of phase margin with the right-half-plane
zero at ten times GBW, the output pole gm6 / C_L sits at 2.2 GBW and gm6 = 10 gm1, which needs C_c = 0.22 C_L.
Hence gm1 = 2 pi GBW C_c = NG * 0.22 C_L / tau and gm6 = 10 gm1 = 2.2 NG C_L / tau. At one gm/I_D for every
transistor the input pair carries I_D1 = gm1 / (gm/I_D) each, the tail I_5 = 2 I_D1, the second stage
I_6 = gm6 / (gm/I_D) = 5 I_5 (so k = I_6 / I_5 = 5, set by the phase-margin rules rather than chosen), at least the
full-swing load current it must sink; the reference branch M8 carries I_5 (a 1:1 mirror, one reference per op-amp,
a conservative choice: a reference shared by many op-amps would save it). The bias power is
(I_ref + I_5 + I_6) (Vdd - Vss). Two more conservative choices: the op-amp is compensated for unity-gain stability,
as Allen and Holberg's design is, although it works at a noise gain of 25-130 (a decompensated op-amp whose output
pole sits at 2.2 times the closed-loop bandwidth only would need a second stage NG times smaller: about 3.4x less
bias current at NG = 129); and slewing is not modelled (at the defaults I_5 / C_c slews a full 1.6 V swing in about
15 ps of the 1 ns window). Not checked either: that the transistors' transit frequency allows the GBW (128 GHz on
the defaults), and the DC gain the two stages reach (a finite gain is a fixed gain error, not a settling error).
A state-space simulation of the sized small-signal op-amp in its loop (tests/test_arch_imac_peripherals.py) settles
to half an LSB within 5% of the window.

Inverter neuron. Biased at its switching point by its resistive feedback, the inverter is a single-stage amplifier
whose NMOS and PMOS both carry the same drain current I_D and both contribute transconductance:
gm = gm_n + gm_p = 2 (gm/I_D) I_D. Two needs set I_D, the larger wins:

* settling: its unity-gain bandwidth gm / (2 pi C_L) must be NG / (2 pi tau), with NG = 1 + R_fb / R_in, so
  I_D = NG C_L / (2 (gm/I_D) tau). (The node equations of the stage give the closed-loop pole
  (gm + 1 / R_in) / (NG C_L): the input resistor helps, so this is conservative.)
* gain: the stage is the amplifier of gain -R_fb / R_in it is meant to be only while its loop gain
  T = gm (R_in || R_fb) is large: its DC gain is (1 - gm R_fb) / (1 + gm R_in), -R_fb / R_in to within a relative
  1 / T. I_D = T / (2 (gm/I_D) (R_in || R_fb)) for a required T (``IMACConfig.neuron_loop_gain``).

The bias (short-circuit) power is I_D Vdd.

Footprint. A FinFET's width comes in whole fins. A device carrying I_D at a per-fin current I_fin needs
ceil(I_D / I_fin) fins, at least one (the layout-rule minimum); with no per-fin current given, every device is a
one-fin device. A device of f fins takes (f + 1) fin pitches (its share of the n-to-p well spacing) by three
contacted gate pitches (gate, source and drain contacts), the rule the neuron's footprint uses
(:data:`imcsim.config.imac.FINFET14_FIN_PITCH_M`). The Miller capacitor is a metal-oxide-metal finger capacitor of
the crossbar's metal (:attr:`imcsim.config.wires.WireConfig.mom_density_f_per_m2`) beside the transistors.

Everything here is SI and pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imcsim.errors import ConfigError

__all__ = ["MILLER_CC_OVER_CL", "MILLER_GM6_OVER_GM1", "OPAMP_TRANSISTORS", "closed_loop_tau_s",
           "noise_gain", "MillerOpAmp", "miller_opamp", "inverter_bias_current_a", "inverter_gain_current_a", "fins",
           "device_footprint_m2", "opamp_area_m2"]

MILLER_CC_OVER_CL = 0.22
"""C_c / C_L of a two-stage Miller op-amp for 60 degrees of phase margin with gm6 = 10 gm1 (Allen and Holberg,
section 6.3)."""

MILLER_GM6_OVER_GM1 = 10.0
"""gm6 / gm1: the right-half-plane zero gm6 / C_c at ten times GBW (Allen and Holberg, section 6.3)."""

OPAMP_TRANSISTORS = 8
"""Transistors of the two-stage Miller op-amp: input pair M1, M2; mirror load M3, M4; tail M5; second stage M6;
its current sink M7; bias reference M8 (Allen and Holberg, Fig. 6.3-1)."""

_GATE_PITCHES_PER_DEVICE = 3   # gate, source contact, drain contact (as in an inverter standard cell)


def _positive(**values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ConfigError(f"peripherals: {name} = {v!r} must be a finite number > 0")


def closed_loop_tau_s(window_s: float, time_constants: float) -> float:
    """Closed-loop time constant (s) that settles in ``window_s`` to within the accuracy ``time_constants``
    stands for: tau = window / k, with k = (bits + 1) ln 2 for half an LSB of an n-bit converter."""
    _positive(window_s=window_s, time_constants=time_constants)
    return window_s / time_constants


def noise_gain(r_feedback_ohm: float, r_source_ohm: float) -> float:
    """Noise gain 1 + R_f / R_in (dimensionless) of an inverting stage whose inverting input sees ``r_source_ohm``
    to AC ground besides its feedback resistor ``r_feedback_ohm``; the inverse of its feedback factor."""
    _positive(r_feedback_ohm=r_feedback_ohm, r_source_ohm=r_source_ohm)
    return 1.0 + r_feedback_ohm / r_source_ohm


@dataclass(frozen=True)
class MillerOpAmp:
    """A two-stage Miller op-amp sized by :func:`miller_opamp` (SI units): gain-bandwidth (Hz), load and
    compensation capacitances (F), the transconductances of the input pair and the second stage (S), and the
    currents of the reference branch, the tail and the second stage (A)."""

    gbw_hz: float
    c_load_f: float
    c_comp_f: float
    gm1_s: float
    gm6_s: float
    i_ref_a: float
    i_tail_a: float
    i_out_a: float

    @property
    def bias_current_a(self) -> float:
        """Total quiescent current from the rails (A): I_ref + I_5 + I_6."""
        return self.i_ref_a + self.i_tail_a + self.i_out_a

    @property
    def drain_currents_a(self) -> tuple[float, ...]:
        """Drain current (A) of M1..M8: I_5 / 2 through each input and load device, I_5, I_6 twice (M6 and its sink
        M7), I_ref."""
        half = self.i_tail_a / 2.0
        return (half, half, half, half, self.i_tail_a, self.i_out_a, self.i_out_a, self.i_ref_a)


def miller_opamp(noise_gain_: float, c_load_f: float, tau_s: float, gm_over_id_per_v: float,
                 i_load_a: float = 0.0) -> MillerOpAmp:
    """Size a two-stage Miller op-amp that settles with closed-loop time constant ``tau_s`` (s) at noise gain
    ``noise_gain_`` into ``c_load_f`` (F), every transistor at ``gm_over_id_per_v`` (S/A), its second stage sinking
    at least ``i_load_a`` (A). See the module docstring for the equations."""
    _positive(noise_gain=noise_gain_, c_load_f=c_load_f, tau_s=tau_s, gm_over_id_per_v=gm_over_id_per_v)
    if not i_load_a >= 0:
        raise ConfigError(f"peripherals: i_load_a = {i_load_a!r} must be >= 0 A")
    gbw = noise_gain_ / (2.0 * math.pi * tau_s)
    c_c = MILLER_CC_OVER_CL * c_load_f
    gm1 = 2.0 * math.pi * gbw * c_c
    gm6 = MILLER_GM6_OVER_GM1 * gm1
    i_tail = 2.0 * gm1 / gm_over_id_per_v
    i_out = max(gm6 / gm_over_id_per_v, i_load_a)
    return MillerOpAmp(gbw_hz=gbw, c_load_f=c_load_f, c_comp_f=c_c, gm1_s=gm1, gm6_s=gm6, i_ref_a=i_tail,
                       i_tail_a=i_tail, i_out_a=i_out)


def inverter_bias_current_a(noise_gain_: float, c_load_f: float, tau_s: float, gm_over_id_per_v: float) -> float:
    """Drain current (A) an inverter amplifier needs to settle with closed-loop time constant ``tau_s`` (s) at noise
    gain ``noise_gain_`` into ``c_load_f`` (F): NG C_L / (2 (gm/I_D) tau), NMOS and PMOS both transconducting."""
    _positive(noise_gain=noise_gain_, c_load_f=c_load_f, tau_s=tau_s, gm_over_id_per_v=gm_over_id_per_v)
    return noise_gain_ * c_load_f / (2.0 * gm_over_id_per_v * tau_s)


def inverter_gain_current_a(loop_gain: float, r_in_ohm: float, r_feedback_ohm: float,
                            gm_over_id_per_v: float) -> float:
    """Drain current (A) that gives an inverter amplifier with input resistor ``r_in_ohm`` and feedback resistor
    ``r_feedback_ohm`` the loop gain ``loop_gain`` = gm (R_in || R_fb), NMOS and PMOS both transconducting:
    T / (2 (gm/I_D) (R_in || R_fb))."""
    _positive(loop_gain=loop_gain, r_in_ohm=r_in_ohm, r_feedback_ohm=r_feedback_ohm,
              gm_over_id_per_v=gm_over_id_per_v)
    r_par = r_in_ohm * r_feedback_ohm / (r_in_ohm + r_feedback_ohm)
    return loop_gain / (2.0 * gm_over_id_per_v * r_par)


def fins(current_a: float, fin_current_a: float | None) -> int:
    """Fins of a device carrying ``current_a`` (A) at ``fin_current_a`` (A per fin): ceil(I / I_fin), at least 1;
    1 (the minimum device) when no per-fin current is given."""
    if fin_current_a is None:
        return 1
    _positive(fin_current_a=fin_current_a)
    return max(1, math.ceil(current_a / fin_current_a))


def device_footprint_m2(n_fins: int, fin_pitch_m: float, gate_pitch_m: float) -> float:
    """Footprint (m^2) of one FinFET of ``n_fins`` fins: (n_fins + 1) fin pitches by 3 contacted gate pitches."""
    return (n_fins + 1) * fin_pitch_m * _GATE_PITCHES_PER_DEVICE * gate_pitch_m


def opamp_area_m2(amp: MillerOpAmp, fin_current_a: float | None, fin_pitch_m: float, gate_pitch_m: float,
                  cap_density_f_per_m2: float) -> float:
    """Footprint (m^2) of ``amp``: its eight transistors (:func:`fins`, :func:`device_footprint_m2`) plus its Miller
    capacitor at ``cap_density_f_per_m2`` beside them."""
    _positive(fin_pitch_m=fin_pitch_m, gate_pitch_m=gate_pitch_m, cap_density_f_per_m2=cap_density_f_per_m2)
    devices = sum(device_footprint_m2(fins(i, fin_current_a), fin_pitch_m, gate_pitch_m)
                  for i in amp.drain_currents_a)
    return devices + amp.c_comp_f / cap_density_f_per_m2
