"""Cost model of the IMAC unit: dense layers on partitioned crossbars, fully analog between converters.

A dense layer of ``n_in`` inputs and ``n_out`` neurons is cut into crossbars with IMAC-Sim's formulas
(:func:`imcsim.circuit.partition.partition_layer`: h = ceil((n_in + 1) / rows) horizontal and v = ceil(n_out / cols)
vertical partitions, the bias row included). Consecutive dense layers pass analog neuron voltages straight to the
next crossbar, so converters sit only at the boundaries of an analog segment: a DAC per input line where digital data
enter (``dac_in``) and an ADC per neuron where results leave (``adc_out``).

Per layer (all SI):

* latency = t_DAC (if ``dac_in``) + waves * t_window + t_ADC (if ``adc_out``), where a converter shared by k lines
  converts them one after another (``inputs_per_dac``, ``outputs_per_adc``). The window is
  t_window = max(t_sampling, k * tau): tau the Elmore delay of the crossbar's wire and device RC network
  (:func:`elmore_tau_s`, checked against an ngspice transient in the tests), k = (ADC bits + 1) ln 2 by default.
  ``waves`` is the number of windows the layer's crossbars need under the analog budget (``peak_power_w``,
  ``active_crossbars``): every crossbar's share of the layer's power is the layer's analog power over its crossbars,
  so floor(budget * crossbars / power) crossbars fire per window, by column group (:func:`firing_waves`);
* energy = E_devices + E_amplifiers + E_neurons + E_DAC + E_ADC with

  - E_devices = t_sampling * sum_i v_i^2 * sum_j (G+_ij + G-_ij): every device sees its row voltage across it (the
    column lines sit at the amplifiers' virtual ground; ideal wires). Row i is an input line driven at v_i, or the
    bias row driven at Vdd. A weight +1 or -1 is a (G_on, G_off) pair, a ternary 0 is (G_on, G_on). With actual
    weights the sum is exact; without, each pair contributes its expected conductance under the weight mix
    (``ternary_zero_fraction``), and v_i^2 is the mean square of the given input voltages, else
    (``input_rms_fraction`` * Vdd)^2;
  - E_amplifiers = h * n_out * P_amp(layer) * t_sampling; E_neurons = n_out * P_neuron * t_sampling, each the
    load power of the circuit (:class:`~imcsim.config.imac.IMACConfig`) plus a bias power derived from what it must
    settle within the window (:func:`amplifier_design`, :func:`neuron_bias_power_w`), or the configured figure;
  - E_DAC = n_in * E_conv_DAC; E_ADC = n_out * E_conv_ADC + P_static_ADC * idle time, each ADC powered from the
    start of the window it converts to the end of its conversions (:meth:`imcsim.config.adc.ADCConfig.energy_j`), so
    sharing ADCs saves static energy; a shared converter needs a sample-and-hold on every line it serves (ISAAC's
    S+H), which costs energy and area. The budget does not change the energy: every crossbar fires once;

* area = h * v crossbars of rows x 2 cols bitcells, plus the boundary converters (and their sample-and-holds), plus
  n_out neurons (by default a footprint derived from 14 nm layout pitches, see
  :class:`~imcsim.config.imac.IMACConfig`), plus h * n_out amplifiers (by default the derived op-amp's footprint,
  :func:`amplifier_area_m2`); a term set to 0 is not counted
  (:attr:`~imcsim.config.imac.IMACConfig.uncounted_terms`);
* weight memory = weights (bias included) * bits per weight (1 binary, 2 ternary).

A dense layer applied to T token rows (a ``linear`` layer with ``in_h * in_w = T``, a transformer's projection) keeps
its weights in the crossbars and runs T matrix-vector products one after another: latency, energy and conversions
are T times those of one product; area and weight memory are those of one.

The functions are pure: numpy in, :class:`~imcsim.arch.cost.LayerCost` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from imcsim.arch.cost import LayerCost, NetworkCost
from imcsim.circuit.partition import Partition, partition_layer
from imcsim.circuit.peripherals import (MillerOpAmp, closed_loop_tau_s, inverter_bias_current_a,
                                        inverter_gain_current_a, miller_opamp, noise_gain, opamp_area_m2)
from imcsim.config.imac import FINFET14_FIN_PITCH_M, FINFET14_GATE_PITCH_M, NEURON_AREA_M2, IMACConfig
from imcsim.errors import ConfigError, WeightLevelError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["dense_shape", "mvm_count", "map_layer", "expected_pair_conductance_s", "device_energy_j",
           "device_energy_wired_j", "settling_time_constants", "elmore_tau_s", "settling_time_s", "firing_waves",
           "amplifier_noise_gain", "amplifier_load_capacitance_f", "amplifier_design", "amplifier_power_w",
           "amplifier_area_m2", "neuron_noise_gain", "neuron_load_capacitance_f", "neuron_bias_power_w",
           "neuron_power_w", "neuron_area_m2", "simulate_layer", "simulate_network"]


def dense_shape(layer: Layer) -> tuple[int, int]:
    """(n_in, n_out) of a layer the IMAC unit can run: a dense layer (on one or more token rows), or a GEMM of stored
    weights with M = 1 and one group (a matrix-vector product).

    Raises :class:`ConfigError` for anything else (convolutions, and products of two activations, run on the digital
    unit).
    """
    if layer.kind == LayerKind.GEMM and layer.dynamic:
        raise ConfigError(f"layer '{layer.name}': a product of two activations cannot be mapped to the IMAC unit "
                          "(its crossbars hold stored weights)")
    if layer.kind == LayerKind.LINEAR or (layer.kind == LayerKind.GEMM and layer.m == 1 and layer.groups == 1):
        return layer.in_c if layer.kind == LayerKind.LINEAR else layer.k, layer.out_c
    raise ConfigError(f"layer '{layer.name}': a {layer.kind.value} layer cannot be mapped to the IMAC unit "
                      "(dense layers only)")


def mvm_count(layer: Layer) -> int:
    """Matrix-vector products a dense layer runs at batch 1: its token rows (1 for a plain dense layer)."""
    dense_shape(layer)
    return layer.in_h * layer.in_w if layer.kind == LayerKind.LINEAR else 1


def map_layer(layer: Layer, cfg: IMACConfig) -> Partition:
    """The crossbar tiling of a dense layer on ``cfg``'s rows x cols arrays (bias row included)."""
    n_in, n_out = dense_shape(layer)
    return partition_layer(n_in, n_out, cfg.rows, cfg.cols)


def expected_pair_conductance_s(cfg: IMACConfig) -> float:
    """Expected G+ + G- of one weight's device pair (S) under the configured weight mix.

    Binary: every pair is (G_on, G_off). Ternary: a zero is (G_on, G_on), with probability ``ternary_zero_fraction``.
    """
    g_on, g_off = cfg.device.conductances
    if cfg.weight_precision == "binary":
        return g_on + g_off
    z = cfg.ternary_zero_fraction
    return (1.0 - z) * (g_on + g_off) + z * 2.0 * g_on


def _pair_conductance(values: np.ndarray, cfg: IMACConfig, what: str, layer: str) -> np.ndarray:
    """G+ + G- (S) of each device pair holding ``values`` in {-1, 0, +1} (binary: {-1, +1})."""
    v = np.asarray(values, dtype=float)
    allowed = (-1.0, 1.0) if cfg.weight_precision == "binary" else (-1.0, 0.0, 1.0)
    bad = ~np.isin(v, allowed)
    if bad.any():
        first = float(v[bad].flat[0])
        raise WeightLevelError(f"layer '{layer}': {what} value {first!r} is not a {cfg.weight_precision} level "
                          f"({', '.join(f'{a:+g}' for a in allowed)})")
    g_on, g_off = cfg.device.conductances
    return np.where(v == 0.0, 2.0 * g_on, g_on + g_off)


def device_energy_j(layer: Layer, cfg: IMACConfig, weights: np.ndarray | None = None,
                    bias: np.ndarray | None = None, inputs_v: np.ndarray | None = None,
                    sampling_time_s: float | None = None) -> float:
    """Energy (J) dissipated in the synapse devices of one dense layer during one sampling window.

    Args:
        layer: a dense layer (see :func:`dense_shape`).
        cfg: the IMAC unit.
        weights: actual weight levels, shape (n_out, n_in), values in {-1, 0, +1}; None = the expected mix.
        bias: actual bias levels, shape (n_out,); None = the expected mix (or no bias row if the layer has no bias).
        inputs_v: input voltages (V), shape (batch, n_in) or (n_in,); the energy is the mean over the batch.
            None = every input at RMS ``input_rms_fraction * vdd_v``.
        sampling_time_s: the window (s); None = ``cfg.sampling_time_s``.
    """
    n_in, n_out = dense_shape(layer)
    t = cfg.sampling_time_s if sampling_time_s is None else sampling_time_s
    g_mean = expected_pair_conductance_s(cfg)
    if weights is None:
        row_g = np.full(n_in, n_out * g_mean)                                  # (n_in,) S per input row
    else:
        w = np.asarray(weights)
        if w.shape != (n_out, n_in):
            raise ConfigError(f"layer '{layer.name}': weights have shape {w.shape}, expected {(n_out, n_in)}")
        row_g = _pair_conductance(w, cfg, "weight", layer.name).sum(axis=0)    # (n_in,)
    if bias is not None:
        b = np.asarray(bias).reshape(-1)
        if b.shape != (n_out,):
            raise ConfigError(f"layer '{layer.name}': bias has shape {b.shape}, expected {(n_out,)}")
        bias_g = float(_pair_conductance(b, cfg, "bias", layer.name).sum())
    else:
        bias_g = n_out * g_mean if layer.bias else 0.0
    if inputs_v is None:
        v2 = np.full(n_in, (cfg.input_rms_fraction * cfg.vdd_v) ** 2)
    else:
        x = np.atleast_2d(np.asarray(inputs_v, dtype=float))
        if x.shape[1] != n_in:
            raise ConfigError(f"layer '{layer.name}': inputs have {x.shape[1]} columns, expected n_in = {n_in}")
        v2 = np.mean(x**2, axis=0)
    return float(t * (v2 @ row_g + cfg.vdd_v**2 * bias_g))


def device_energy_wired_j(layer: Layer, cfg: IMACConfig, weights: np.ndarray, bias: np.ndarray | None = None,
                          inputs_v: np.ndarray | None = None, sampling_time_s: float | None = None,
                          seed: int | None = None, imac_index: int = 0) -> float:
    """Device and wire energy (J) of one dense layer in one sampling window, with wire IR drop: every crossbar tile
    is solved by :class:`imcsim.circuit.crossbar.Crossbar` with the configured segment resistances (and amplifier
    input resistance), and the power its input sources deliver is summed.

    Tiles follow IMAC-Sim's layout: rows dealt out ``cfg.rows`` at a time with the bias row (driven at Vdd) last
    (:func:`imcsim.circuit.partition.tile_slices`), columns ``cfg.cols`` at a time. One sparse solve per tile, so
    use it for layers of up to a few thousand tiles; :func:`device_energy_j` (ideal wires) is the fast upper bound.

    Args:
        weights: weight levels, shape (n_out, n_in). bias: bias levels (n_out,); required when the layer has a bias.
        inputs_v: input voltages (V), (batch, n_in) or (n_in,); None = every input at ``input_rms_fraction * vdd_v``.
        seed: the programmed chip whose devices dissipate (:func:`imcsim.circuit.chip.program_chip`: the variation
            and stuck-at faults of ``cfg.device`` that nn/ and circuit/ draw for chip ``seed``, this layer being IMAC
            layer ``imac_index``); None = nominal devices.
    """
    from imcsim.circuit.chip import program_chip
    from imcsim.circuit.crossbar import Crossbar
    from imcsim.circuit.partition import tile_slices

    n_in, n_out = dense_shape(layer)
    t = cfg.sampling_time_s if sampling_time_s is None else sampling_time_s
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_out, n_in):
        raise ConfigError(f"layer '{layer.name}': weights have shape {w.shape}, expected {(n_out, n_in)}")
    _pair_conductance(w, cfg, "weight", layer.name)  # validates the levels
    if bias is None:
        if layer.bias:
            raise ConfigError(f"layer '{layer.name}': the wired energy needs the bias levels (the bias row is driven)")
        b = np.zeros(n_out)
        bias_v = 0.0
    else:
        b = np.asarray(bias, dtype=float).reshape(-1)
        if b.shape != (n_out,):
            raise ConfigError(f"layer '{layer.name}': bias has shape {b.shape}, expected {(n_out,)}")
        _pair_conductance(b, cfg, "bias", layer.name)
        bias_v = cfg.vdd_v
    x = (np.full((1, n_in), cfg.input_rms_fraction * cfg.vdd_v) if inputs_v is None
         else np.atleast_2d(np.asarray(inputs_v, dtype=float)))
    if x.shape[1] != n_in:
        raise ConfigError(f"layer '{layer.name}': inputs have {x.shape[1]} columns, expected n_in = {n_in}")
    v_rows = np.hstack([x, np.full((x.shape[0], 1), bias_v)])               # (batch, n_in + 1)
    chip = program_chip([(w, b)], cfg.device, None, seed, first_layer=imac_index)  # the one chip model
    g_plus, g_minus = chip.layers[0].g_plus.T, chip.layers[0].g_minus.T   # (n_in + 1, n_out): inputs, bias row
    power = 0.0
    for rs, cs in tile_slices(n_in, n_out, cfg.rows, cfg.cols).values():
        xbar = Crossbar(g_plus[rs, cs], g_minus[rs, cs], cfg.wires.r_in_ohm, cfg.wires.r_out_ohm,
                        cfg.amplifier.input_resistance_ohm)
        power += float(xbar.power(v_rows[:, rs]).mean())
    return t * power


def settling_time_constants(cfg: IMACConfig) -> float:
    """k, the Elmore time constants a crossbar is given to settle: ``cfg.settling_time_constants``, else
    (adc.bits + 1) ln 2 (a single-pole response within half an LSB of the ADC)."""
    k = cfg.settling_time_constants
    return float(k) if k is not None else (cfg.adc.bits + 1) * math.log(2.0)


@lru_cache(maxsize=64)
def _elmore_tau_s(rows: int, cols: int, r_in: float, r_out: float, r_amp: float, c_seg: float, g_on: float,
                  g_off: float) -> float:
    from imcsim.circuit.crossbar import Crossbar
    from imcsim.circuit.settling import elmore_delays_s

    xb = Crossbar(np.full((rows, cols), g_on), np.full((rows, cols), g_off), r_in, r_out, r_amp)
    return float(elmore_delays_s(xb, c_seg, c_seg).max())


def elmore_tau_s(cfg: IMACConfig) -> float:
    """Elmore delay (s) of a ``cfg.rows x cfg.cols`` crossbar: the slowest terminal current after every input steps
    together (:func:`imcsim.circuit.settling.elmore_delays_s`), with the configured wire segments (resistance and
    ``c_segment_f`` per segment of every line), devices (every pair (G_on, G_off): the loading of a binary layer) and
    amplifier input resistance. Cached per geometry: one sparse solve."""
    g_on, g_off = cfg.device.conductances
    w = cfg.wires
    return _elmore_tau_s(cfg.rows, cfg.cols, w.r_in_ohm, w.r_out_ohm, cfg.amplifier.input_resistance_ohm,
                         w.c_segment_f, g_on, g_off)


def settling_time_s(cfg: IMACConfig) -> float:
    """Time (s) a crossbar needs to settle: k * tau (:func:`settling_time_constants`, :func:`elmore_tau_s`). A
    layer's sampling window is the larger of this and its configured sampling time."""
    return settling_time_constants(cfg) * elmore_tau_s(cfg)


# ----- peripherals: bias power and area derived from what they must settle in the window ----------------------------
# The equations and every assumption are in imcsim.circuit.peripherals; here the circuit's numbers go in.

def amplifier_noise_gain(cfg: IMACConfig, imac_index: int) -> float:
    """Noise gain 1 + R_f / R_in of an amplifier of IMAC layer ``imac_index`` (dimensionless). R_f is the layer's
    transimpedance; R_in what the op-amp's inverting input sees besides it: the column line, whose ``rows`` devices
    lead to the input drivers (AC ground), 1 / (rows * E[G]) with E[G] the expected device conductance under the weight
    mix (half of :func:`expected_pair_conductance_s`; ideal column wire, which makes the gain and the power upper
    bounds), in series with the amplifier's input resistance (``input_resistance_ohm``, virtual-ground read-out) or
    the difference amplifier's R1 (``diff_input_resistance_ohm``, IMAC-Sim's read-out)."""
    amp = cfg.amplifier
    r_series = amp.diff_input_resistance_ohm if amp.readout == "imacsim" else amp.input_resistance_ohm
    r_column = 2.0 / (cfg.rows * expected_pair_conductance_s(cfg))
    return noise_gain(amp.transimpedance(imac_index), r_series + r_column)


def amplifier_load_capacitance_f(cfg: IMACConfig) -> float:
    """Capacitance (F) an amplifier drives: its output line to the neuron, assumed to run the height of one crossbar,
    ``rows`` wire segments of ``wires.c_segment_f``. The neuron's MTJ input resistor separates the inverter's gate
    from it, and no gate capacitance figure is configured, so none is added (a lower bound)."""
    return cfg.rows * cfg.wires.c_segment_f


def amplifier_design(cfg: IMACConfig, imac_index: int, window_s: float) -> MillerOpAmp:
    """The two-stage Miller op-amp an amplifier of IMAC layer ``imac_index`` needs to settle to the ADC's half LSB
    within ``window_s`` (s): closed-loop time constant window / k (:func:`settling_time_constants`), noise gain
    :func:`amplifier_noise_gain`, load :func:`amplifier_load_capacitance_f`, gm/ID ``peripheral_gm_over_id_per_v``,
    second stage sinking at least the full-swing feedback current Vdd / R_f
    (:func:`imcsim.circuit.peripherals.miller_opamp`)."""
    tau = closed_loop_tau_s(window_s, settling_time_constants(cfg))
    return miller_opamp(amplifier_noise_gain(cfg, imac_index), amplifier_load_capacitance_f(cfg), tau,
                        cfg.peripheral_gm_over_id_per_v, cfg.vdd_v / cfg.amplifier.transimpedance(imac_index))


def amplifier_power_w(cfg: IMACConfig, imac_index: int, window_s: float) -> float:
    """Power of one amplifier of IMAC layer ``imac_index`` with sampling window ``window_s`` (W): the output-stage load
    power (:meth:`~imcsim.config.imac.IMACConfig.amplifier_load_power_w`) plus the bias power, ``amplifier_bias_power_w``
    when set, else the derived op-amp's bias current times (Vdd - Vss)."""
    bias = cfg.amplifier_bias_power_w
    if bias is None:
        bias = amplifier_design(cfg, imac_index, window_s).bias_current_a * (cfg.vdd_v - cfg.vss_v)
    return cfg.amplifier_load_power_w(imac_index) + bias


def amplifier_area_m2(cfg: IMACConfig, imac_index: int, window_s: float) -> float:
    """Area of one amplifier of IMAC layer ``imac_index`` (m^2): ``amplifier_area_m2`` when set, else the derived
    op-amp's footprint (:func:`imcsim.circuit.peripherals.opamp_area_m2`) at the 14 nm pitches, fins from
    ``peripheral_fin_current_a``, Miller capacitor at ``capacitor_density_f_per_m2`` (or the wire geometry's MOM
    density)."""
    if cfg.amplifier_area_m2 is not None:
        return cfg.amplifier_area_m2
    density = cfg.capacitor_density_f_per_m2 or cfg.wires.mom_density_f_per_m2
    return opamp_area_m2(amplifier_design(cfg, imac_index, window_s), cfg.peripheral_fin_current_a,
                         FINFET14_FIN_PITCH_M, FINFET14_GATE_PITCH_M, density)


def neuron_noise_gain(cfg: IMACConfig) -> float:
    """Noise gain of the neuron's inverter amplifier, 1 + R_fb / R_in (dimensionless; 4.0 for the MTJ pair)."""
    return noise_gain(cfg.neuron_feedback_resistance_ohm, cfg.neuron_input_resistance_ohm)


def neuron_load_capacitance_f(cfg: IMACConfig) -> float:
    """Capacitance (F) a neuron drives: an input line of the next layer's crossbar, ``cols`` wire segments of
    ``wires.c_segment_f`` (one segment per cell along the line). Assumptions: one crossbar's line (a neuron feeding
    several vertical partitions of the next layer loads each of them), and no device or gate capacitance (none is
    configured), so a lower bound; the last layer's neurons are taken to drive the same load into their ADCs."""
    return cfg.cols * cfg.wires.c_segment_f


def neuron_bias_power_w(cfg: IMACConfig, window_s: float) -> float:
    """Bias (short-circuit) power of one neuron's inverter with sampling window ``window_s`` (W):
    ``neuron_bias_power_w`` when set, else Vdd times the larger of the drain currents that settle
    :func:`neuron_load_capacitance_f` to the ADC's half LSB within the window at :func:`neuron_noise_gain`
    (:func:`imcsim.circuit.peripherals.inverter_bias_current_a`) and that give the stage the loop gain
    ``neuron_loop_gain`` (:func:`imcsim.circuit.peripherals.inverter_gain_current_a`)."""
    if cfg.neuron_bias_power_w is not None:
        return cfg.neuron_bias_power_w
    tau = closed_loop_tau_s(window_s, settling_time_constants(cfg))
    gm_id = cfg.peripheral_gm_over_id_per_v
    i_settle = inverter_bias_current_a(neuron_noise_gain(cfg), neuron_load_capacitance_f(cfg), tau, gm_id)
    i_gain = inverter_gain_current_a(cfg.neuron_loop_gain, cfg.neuron_input_resistance_ohm,
                                     cfg.neuron_feedback_resistance_ohm, gm_id)
    return max(i_settle, i_gain) * cfg.vdd_v


def neuron_power_w(cfg: IMACConfig, window_s: float) -> float:
    """Power of one neuron (W): its resistor path (:attr:`~imcsim.config.imac.IMACConfig.neuron_resistor_power_w`)
    plus its inverter's bias power (:func:`neuron_bias_power_w`)."""
    return cfg.neuron_resistor_power_w + neuron_bias_power_w(cfg, window_s)


def neuron_area_m2(cfg: IMACConfig) -> float:
    """Area of one neuron (m^2): ``neuron_area_m2`` when set, else the derived 14 nm footprint (0.194 um^2)."""
    return NEURON_AREA_M2 if cfg.neuron_area_m2 is None else cfg.neuron_area_m2


def firing_waves(horizontal: int, vertical: int, per_wave: int) -> int:
    """Sampling windows a layer of ``horizontal`` x ``vertical`` crossbars needs when at most ``per_wave`` crossbars
    fire in one window.

    Crossbars fire by column group (the ``horizontal`` crossbars of a vertical partition together, so each neuron
    sums its partitions in one window): floor(per_wave / horizontal) groups per window. A column group larger than
    the budget fires its horizontal partitions ``per_wave`` at a time, ceil(horizontal / per_wave) windows per group,
    its partial sums held between windows.
    """
    if per_wave >= horizontal:
        return math.ceil(vertical / (per_wave // horizontal))
    return vertical * math.ceil(horizontal / per_wave)


def simulate_layer(layer: Layer, cfg: IMACConfig, *, imac_index: int = 0, dac_in: bool = True,
                   adc_out: bool = True, weights: np.ndarray | None = None, bias: np.ndarray | None = None,
                   inputs_v: np.ndarray | None = None) -> LayerCost:
    """Latency, energy, area and weight memory of one dense layer on the IMAC unit.

    Args:
        layer: a dense layer (``linear``, or ``gemm`` with M = 1).
        cfg: the IMAC unit.
        imac_index: the layer's position among the network's IMAC layers (0-based); picks the amplifier
            transimpedance (IMAC-Sim's per-layer gains) and the layer's sampling time.
        dac_in: the layer's inputs come from the digital side (a DAC per input line).
        adc_out: the layer's outputs go to the digital side (an ADC per neuron).
        weights, bias, inputs_v: actual values for the device energy, see :func:`device_energy_j`.

    A layer on T token rows runs T products back to back (see the module docstring).

    ``metrics`` (SI units or counts): mvms, horizontal_partitions, vertical_partitions, crossbars, devices, amplifiers,
    neurons, dacs, adcs, dac_conversions, adc_conversions, sampling_time_s (the window: configured, or the settling
    time if longer), settling_time_s, waves (windows the layer fires in), crossbars_per_wave (in the fullest
    window), analog_power_w (the power of all its crossbars firing together), peak_power_w (of the fullest window),
    dac_time_s, adc_time_s, device_energy_j, amplifier_energy_j, neuron_energy_j, dac_energy_j, adc_energy_j,
    sample_holds, sample_hold_energy_j, amplifier_power_w (of one amplifier of the layer), neuron_power_w (of one
    neuron), amplifier_bias_power_w and neuron_bias_power_w (their bias shares), amplifier_gbw_hz (the gain-bandwidth
    the derived op-amp needs, whether or not its power is configured), area_m2 (the sum of:) crossbar_area_m2,
    converter_area_m2 (DACs, ADCs, sample-and-holds), amplifier_area_m2 and neuron_area_m2 (0 when not counted).
    """
    n_in, n_out = dense_shape(layer)
    mvms = mvm_count(layer)
    part = partition_layer(n_in, n_out, cfg.rows, cfg.cols)
    t_settle = settling_time_s(cfg)
    t_s = max(cfg.sampling_time(imac_index), t_settle)

    dacs = math.ceil(n_in / cfg.inputs_per_dac) if dac_in else 0
    adcs = math.ceil(n_out / cfg.outputs_per_adc) if adc_out else 0
    dac_time = min(cfg.inputs_per_dac, n_in) * cfg.dac.conversion_time_s if dac_in else 0.0
    adc_time = min(cfg.outputs_per_adc, n_out) * cfg.adc.time_per_conversion_s if adc_out else 0.0

    # Every crossbar fires once, for one window, whatever the number of waves: the analog energy does not depend on
    # the budget, only the latency does.
    e_dev = device_energy_j(layer, cfg, weights, bias, inputs_v, t_s)          # per product, then times mvms
    p_amp, p_neu = amplifier_power_w(cfg, imac_index, t_s), neuron_power_w(cfg, t_s)
    e_amp = part.amplifiers * p_amp * t_s
    e_neu = part.neurons * p_neu * t_s
    analog_power = (e_dev + e_amp + e_neu) / t_s
    e_dev, e_amp, e_neu = mvms * e_dev, mvms * e_amp, mvms * e_neu

    # Analog budget: crossbars per window from the peak power (each crossbar's share of the layer's power) and the
    # crossbar limit; at least one crossbar per window.
    per_wave = part.crossbars
    if cfg.peak_power_w is not None:
        per_wave = min(per_wave, max(1, math.floor(cfg.peak_power_w * part.crossbars / analog_power)))
    if cfg.active_crossbars is not None:
        per_wave = min(per_wave, cfg.active_crossbars)
    waves = firing_waves(part.horizontal, part.vertical, per_wave)
    if per_wave >= part.horizontal:   # whole column groups per window: the fullest window
        per_wave = min(per_wave // part.horizontal, part.vertical) * part.horizontal
    latency = mvms * (dac_time + waves * t_s + adc_time)

    # Converters: DACs per conversion; ADCs per conversion plus their static power while powered but idle. An ADC is
    # powered from the start of the window whose outputs it converts to the end of its conversions (t_s + adc_time):
    # with k outputs per ADC, n_out / k ADCs wait t_s each, so sharing saves static energy and costs latency.
    e_dac = mvms * n_in * cfg.dac.energy_per_conversion_j if dac_in else 0.0
    e_adc = mvms * cfg.adc.energy_j(adcs, n_out, t_s + adc_time) if adc_out else 0.0
    # A shared converter needs every line it serves held: a sample-and-hold per input line (shared DACs) and per
    # output (shared ADCs), one sample each.
    holds = (n_in if dac_in and cfg.inputs_per_dac > 1 else 0) + (n_out if adc_out and cfg.outputs_per_adc > 1 else 0)
    e_sh = mvms * holds * cfg.sample_hold_energy_j

    xbar_area = part.crossbars * cfg.rows * 2 * cfg.cols * cfg.cell_area_m2
    amp_area = part.amplifiers * amplifier_area_m2(cfg, imac_index, t_s)
    neu_area = part.neurons * neuron_area_m2(cfg)
    conv_area = dacs * cfg.dac.area_m2 + adcs * cfg.adc.area_m2 + holds * cfg.sample_hold_area_m2
    area = xbar_area + conv_area + amp_area + neu_area

    adc_bytes = math.ceil(cfg.adc.bits / 8)
    dac_bytes = math.ceil(cfg.dac.bits / 8)
    metrics = {
        "mvms": mvms, "horizontal_partitions": part.horizontal, "vertical_partitions": part.vertical,
        "crossbars": part.crossbars, "devices": part.devices, "amplifiers": part.amplifiers,
        "neurons": part.neurons, "dacs": dacs, "adcs": adcs,
        "dac_conversions": mvms * n_in if dac_in else 0, "adc_conversions": mvms * n_out if adc_out else 0,
        "sampling_time_s": t_s, "settling_time_s": t_settle, "waves": waves, "crossbars_per_wave": per_wave,
        "analog_power_w": analog_power, "peak_power_w": analog_power * per_wave / part.crossbars,
        "dac_time_s": dac_time, "adc_time_s": adc_time,
        "device_energy_j": e_dev, "amplifier_energy_j": e_amp, "neuron_energy_j": e_neu,
        "dac_energy_j": e_dac, "adc_energy_j": e_adc, "sample_holds": holds, "sample_hold_energy_j": e_sh,
        "amplifier_power_w": p_amp, "neuron_power_w": p_neu,
        "amplifier_bias_power_w": p_amp - cfg.amplifier_load_power_w(imac_index),
        "neuron_bias_power_w": p_neu - cfg.neuron_resistor_power_w,
        "amplifier_gbw_hz": amplifier_design(cfg, imac_index, t_s).gbw_hz,
        "area_m2": area, "crossbar_area_m2": xbar_area, "converter_area_m2": conv_area,
        "amplifier_area_m2": amp_area, "neuron_area_m2": neu_area,
    }
    return LayerCost(
        name=layer.name, unit="imac", latency_s=latency,
        energy_j=e_dev + e_amp + e_neu + e_dac + e_adc + e_sh,
        weight_bits=layer.weights * cfg.bits_per_weight,
        activation_bytes=mvms * ((n_in * dac_bytes if dac_in else 0) + (n_out * adc_bytes if adc_out else 0)),
        metrics=metrics)


def simulate_network(network: Network | Sequence[Layer], cfg: IMACConfig, *,
                     weights: Mapping[str, tuple[np.ndarray, np.ndarray | None]] | None = None,
                     inputs_v: np.ndarray | None = None) -> NetworkCost:
    """An all-dense network (an MLP) on the IMAC unit, fully analog from its first DAC to its last ADC.

    MAC-free layers (activations, flatten, dropout) between dense layers cost nothing here: the neurons are the
    activation and a flatten is wiring; they are skipped. ``weights`` maps layer names to (weight, bias) levels;
    ``inputs_v`` are the first layer's input voltages (the later layers' inputs are not known without a circuit
    solve, so they use the configured RMS).
    """
    layers = list(network.layers if isinstance(network, Network) else network)
    dense = [lay for lay in layers if lay.kind.has_weights]
    for lay in layers:
        if not lay.kind.has_weights and lay.kind == LayerKind.POOL:
            raise ConfigError(f"layer '{lay.name}': pooling cannot run on the IMAC unit")
    weights = weights or {}
    costs = []
    for i, lay in enumerate(dense):
        w, b = weights.get(lay.name, (None, None))
        costs.append(simulate_layer(lay, cfg, imac_index=i, dac_in=(i == 0), adc_out=(i == len(dense) - 1),
                                    weights=w, bias=b, inputs_v=inputs_v if i == 0 else None))
    name = network.name if isinstance(network, Network) else "network"
    return NetworkCost(name, costs)
