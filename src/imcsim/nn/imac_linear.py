"""The IMAC dense layer: binary or ternary weights as differential conductance pairs, amplifiers, analog neurons.

Forward pass of IMAC layer ``l`` (the canonical equation of :mod:`imcsim.circuit.amplifier`):

    v_n = transimpedance_l * sum_p (I+_p - I-_p),   I+_p - I-_p = sum_{r in partition p} (G+_rj - G-_rj) V_r
    y   = neuron_transfer(v_n)                       (V, the inverting sigmoid of :mod:`imcsim.circuit.neuron`)

with V = [v, Vdd] the input voltages and the bias row driven at Vdd, and (G+, G-) the device pair of each weight
(+1 = (G_on, G_off), -1 = (G_off, G_on), 0 = (G_on, G_on), :func:`imcsim.circuit.devices.weights_to_conductances`).
Every horizontal partition of ``rows`` rows has its own amplifier of the layer's transimpedance and the partition
outputs are summed; each amplifier's output saturates at its rails [Vss, Vdd] (``hw.vss_v``, ``hw.vdd_v``), as in
the circuit solver and the SPICE export, so the layer is v_n = sum_p clip(T (I+_p - I-_p), Vss, Vdd). Partitions
also matter for the wire IR drop (:func:`imcsim.nn.nonideal.ir_drop_exact`), computed per crossbar. Ideal devices
and unsaturated amplifiers reduce this to v_n = T dG (W v + b Vdd).

IMAC-Sim's read-out (``hw.amplifier.readout == "imacsim"``, :mod:`imcsim.config.amplifier`): the line ends see the
difference amplifier's input resistors (R1 = R2 = r_d, R3 = R4 = T), so with ideal wires, per column of partition p,
with S+- = sum_r G+-_rj V_r and G+-_sum = sum_r G+-_rj:

    I+ = S+ / (1 + (r_d + T) G+_sum),   V- = (S- + T I+ / r_d) / (G-_sum + 1 / r_d),   I- = (V- - T I+) / r_d

and v_amp = T (I+ - I-); the neuron input is the mean (not the sum) of the partition outputs. With exact IR drop the
transfer matrices of the same circuit (:class:`imcsim.circuit.crossbar.Crossbar` with ``diff_amp``) give I+ and I-.
Read noise is added to I+ - I- as for the virtual-ground read-out (an approximation here: the loaded lines scale each
device's contribution; circuit/ refuses per-read noise with this read-out).

Gain. With IMAC-Sim's 30 kOhm transimpedance and 5 k / 15 k devices, T dG = 4 V per weight-volt and the neuron
slope is 15 /V, so a 120-input layer's pre-activation spans hundreds of sigmoid widths: the neurons act as sign
functions and their gradients vanish. We keep all scaling physical: (1) the first IMAC layer's input is scaled in
the *digital* domain (``in_scale``, V per activation unit, before the DAC clamps to [-Vdd, Vdd] and quantizes to
``dac.bits``), and (2) each layer's amplifier transimpedance (a real circuit parameter, the feedback resistor) is
calibrated on the first training batch so the neuron inputs have a standard deviation of ``target_std`` sigmoid
units, then kept fixed (or, optionally, trained as log T with the weights). Both end up in the deployment (the
transimpedances in the exported hardware config's ``amplifier.transimpedance_ohm``) so the circuit simulator runs
the very same circuit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from imcsim.circuit.chip import read_noise_normals
from imcsim.circuit.neuron import neuron_transfer
from imcsim.circuit.partition import row_slices
from imcsim.config.imac import IMACConfig
from imcsim.nn.nonideal import Chip, ir_drop_exact, ir_drop_factors, read_noise_current
from imcsim.nn.quant import quantize_imac_weight, quantize_symmetric

__all__ = ["IMACLinear", "dac_quantize"]


def dac_quantize(v: torch.Tensor, vdd: float, bits: int) -> torch.Tensor:
    """DAC output (V): ``v`` clamped to [-vdd, vdd] and rounded to 2^(bits-1) - 1 levels per polarity (STE)."""
    q = 2 ** (bits - 1) - 1
    return quantize_symmetric(torch.clamp(v, -vdd, vdd), torch.tensor(vdd / q, dtype=v.dtype), bits)


class IMACLinear(nn.Module):
    """One IMAC dense layer (``in_features`` -> ``out_features``), IMAC layer number ``layer_index`` (0-based).

    Parameters: ``weight`` (out, in) and ``bias`` (out,) latent floats clipped to [-1, 1] after each step by
    :meth:`clip_`; ``log_transimpedance`` (log ohm); for the first IMAC layer (``first``) ``log_in_scale``
    (log V per digital activation unit). Buffers: ``calibrated`` (bool).

    Non-idealities are set from outside (:class:`imcsim.nn.convert.HybridModel`): ``chip`` (a
    :class:`~imcsim.nn.nonideal.Chip` or None), ``ir_drop`` ("off", "first-order" or "exact"), ``read_noise_gen``
    (the chip's numpy ``read`` stream, :func:`imcsim.circuit.chip.effect_rng`, so the draws are circuit/'s; or a
    torch Generator; or None), ``dac`` (bool).
    """

    def __init__(self, in_features: int, out_features: int, layer_index: int, hw: IMACConfig, first: bool = False,
                 precision: str | None = None, name: str = "", train_transimpedance: bool = False):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.layer_index = int(layer_index)
        self.hw = hw
        self.first = bool(first)
        self.precision = precision or hw.weight_precision
        self.name = name
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(out_features))
        t0 = hw.amplifier.transimpedance(layer_index)
        # float64 so that exp(log T) reproduces the configured resistance exactly; as a 0-d tensor it does not
        # promote the float32 activations it multiplies.
        self.log_transimpedance = nn.Parameter(torch.tensor(math.log(t0), dtype=torch.float64),
                                               requires_grad=train_transimpedance)
        if self.first:
            self.log_in_scale = nn.Parameter(torch.tensor(0.0))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))
        self.chip: Chip | None = None
        self.ir_drop = "off"
        self.ir_refresh_steps = 50
        self._ir_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self._ir_age = 0
        self.read_noise_gen: np.random.Generator | torch.Generator | None = None
        self.dac = True

    # ----- parameters in physical units ---------------------------------------------------------------------------
    @property
    def transimpedance_ohm(self) -> float:
        return float(self.log_transimpedance.detach().exp())

    @property
    def in_scale(self) -> float:
        """Digital scaling before the DAC (V per activation unit); 1 for layers fed by neurons."""
        return float(self.log_in_scale.detach().exp()) if self.first else 1.0

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, b): the binary/ternary weights (out, in) and bias weights (out,) with straight-through gradients."""
        return quantize_imac_weight(self.weight, self.precision), quantize_imac_weight(self.bias, self.precision)

    @torch.no_grad()
    def clip_(self) -> None:
        """Keep the latent weights in [-1, 1] (BinaryConnect)."""
        self.weight.clamp_(-1.0, 1.0)
        self.bias.clamp_(-1.0, 1.0)

    # ----- the circuit ---------------------------------------------------------------------------------------------
    def input_voltages(self, x: torch.Tensor) -> torch.Tensor:
        """Row voltages (V) for this layer's input ``x`` (batch, in): the DAC output for the first layer (digital
        activations scaled by ``in_scale``), the previous neurons' voltages unchanged otherwise."""
        if not self.first:
            return x
        v = x * self.log_in_scale.exp()
        return dac_quantize(v, self.hw.vdd_v, self.hw.dac.bits) if self.dac else torch.clamp(v, -self.hw.vdd_v,
                                                                                               self.hw.vdd_v)

    def conductances(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Device conductances (G+, G-), each (out, in + 1) in S (bias row last), with the chip's faults and
        variation and the first-order IR drop applied when set. Differentiable in the latent weights (STE)."""
        w, b = self.quantized()
        wb = torch.cat([w, b[:, None]], dim=1)
        g_on, g_off = self.hw.device.conductances
        g_mid, half = 0.5 * (g_on + g_off), 0.5 * (g_on - g_off)
        # +1 -> (G_on, G_off), -1 -> (G_off, G_on), 0 -> (G_on, G_on); linear in w and |w| so the STE passes through.
        common = g_mid + half * (1.0 - wb.abs())
        g_plus, g_minus = common + half * wb, common - half * wb
        if self.chip is not None:
            g_plus, g_minus = self.chip.apply(g_plus, g_minus, g_on, g_off)
        if self.ir_drop == "first-order":
            fp, fm = ir_drop_factors(g_plus.detach().double().T.numpy(), g_minus.detach().double().T.numpy(),
                                     self.hw.rows, self.hw.cols, self.hw.wires.r_in_ohm, self.hw.wires.r_out_ohm)
            g_plus = g_plus * torch.as_tensor(fp.T, dtype=g_plus.dtype)
            g_minus = g_minus * torch.as_tensor(fm.T, dtype=g_minus.dtype)
        elif self.ir_drop == "exact":
            # Exact effective conductances from circuit/'s nodal solve, as a factor T / G per device position.
            # Evaluation solves every time; training reuses the factors for ``ir_refresh_steps`` forward passes
            # (one solve of a LeNet-5 dense part takes about 2 s; binary weights change slowly between refreshes).
            if not self.training or self._ir_cache is None or self._ir_age >= self.ir_refresh_steps:
                gp_np, gm_np = g_plus.detach().double().T.numpy(), g_minus.detach().double().T.numpy()
                amp = self.hw.amplifier
                imacsim = amp.readout == "imacsim"
                tp, tm = ir_drop_exact(gp_np, gm_np, self.hw.rows, self.hw.cols, self.hw.wires.r_in_ohm,
                                       self.hw.wires.r_out_ohm, 0.0 if imacsim else amp.input_resistance_ohm,
                                       diff_amp=(amp.diff_input_resistance_ohm, self.transimpedance_ohm)
                                       if imacsim else None)
                self._ir_cache = (torch.as_tensor((tp / gp_np).T), torch.as_tensor((tm / gm_np).T))
                self._ir_age = 0
            self._ir_age += 1
            fp, fm = self._ir_cache
            g_plus = g_plus * fp.to(g_plus.dtype)
            g_minus = g_minus * fm.to(g_minus.dtype)
        elif self.ir_drop != "off":
            raise ValueError(f"ir_drop must be one of off, first-order, exact; got {self.ir_drop!r}")
        return g_plus, g_minus

    @property
    def clipping(self) -> str:
        """How the amplifier outputs are bounded, for reports."""
        return f"each partition amplifier at its rails [{self.hw.vss_v:g}, {self.hw.vdd_v:g}] V"

    def preactivation(self, v: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """Neuron input voltages v_n (batch, out) (V) for row voltages ``v`` (batch, in) (V): the sum over horizontal
        partitions of each partition amplifier's output, clipped at the rails unless ``clip`` is False."""
        rows = torch.cat([v, torch.full_like(v[:, :1], self.hw.vdd_v)], dim=1)
        g_plus, g_minus = self.conductances()
        t = self.log_transimpedance.exp()
        sigma = self.hw.device.read_noise
        noisy = self.read_noise_gen is not None and sigma > 0
        out = None
        slices = row_slices(self.in_features, self.hw.rows)
        gen = self.read_noise_gen
        if noisy and isinstance(gen, np.random.Generator):  # the chip's read stream: the draws circuit/ uses
            z_all = torch.as_tensor(read_noise_normals(gen, len(v), len(slices), self.out_features))
        else:
            z_all = None
        # IMAC-Sim's difference amplifier loads the lines (closed form above); with exact IR drop the effective
        # conductances already are those of that circuit
        diff = self.hw.amplifier.readout == "imacsim" and self.ir_drop != "exact"
        r_d = self.hw.amplifier.diff_input_resistance_ohm
        for p, rs in enumerate(slices):
            r, gp, gm = rows[:, rs], g_plus[:, rs], g_minus[:, rs]
            if diff:
                i_p = (r @ gp.T) / (1.0 + (r_d + t) * gp.sum(dim=1))
                v_m = ((r @ gm.T) + t * i_p / r_d) / (gm.sum(dim=1) + 1.0 / r_d)
                i_diff = i_p - (v_m - t * i_p) / r_d
            else:
                i_diff = r @ (gp - gm).T
            if noisy:
                i_diff = i_diff + read_noise_current(r, gp, gm, sigma, None if z_all is not None else gen,
                                                     z=None if z_all is None else z_all[:, p])
            v_amp = t * i_diff
            if clip:
                v_amp = torch.clamp(v_amp, self.hw.vss_v, self.hw.vdd_v)
            out = v_amp if out is None else out + v_amp
        return out / len(slices) if self.hw.amplifier.averages_partitions else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, v_n): neuron output voltages and neuron input voltages, each (batch, out), for input ``x``."""
        v_n = self.preactivation(self.input_voltages(x))
        return neuron_transfer(v_n, self.hw.neuron), v_n

    @torch.no_grad()
    def calibrate_(self, x: torch.Tensor, target_std: float = 2.0, in_quantile: float = 0.999) -> None:
        """Set ``in_scale`` (first layer: the ``in_quantile`` of |x| maps to Vdd) and the transimpedance (the neuron
        inputs' standard deviation becomes ``target_std`` / slope) from one ideal batch ``x``; marks the layer."""
        if self.first:
            amax = torch.quantile(x.abs().flatten().float(), in_quantile).clamp(min=1e-6)
            self.log_in_scale.fill_(math.log(self.hw.vdd_v / float(amax)))
        v = self.input_voltages(x)
        saved = self.chip, self.ir_drop, self.read_noise_gen
        self.chip, self.ir_drop, self.read_noise_gen = None, "off", None
        # With the imacsim read-out the output is gain x (V+ - V-) of line-end voltages that are nearly weighted
        # means of the inputs (the lines' conductance >> 1 / (R2 + R4)), so it stays close to proportional to R3 = R4
        # and the same one-step rule applies (within 0.1% on the 400-120-84-10 MLP's layers, measured).
        std = float((self.preactivation(v, clip=False) / self.log_transimpedance.exp()).std())
        if std > 0:
            self.log_transimpedance.fill_(math.log(target_std / self.hw.neuron.slope_per_v / std))
        self.chip, self.ir_drop, self.read_noise_gen = saved
        self.calibrated.fill_(True)

    def extra_repr(self) -> str:
        return (f"{self.in_features} -> {self.out_features}, layer {self.layer_index}, {self.precision}, "
                f"T = {self.transimpedance_ohm:.4g} ohm")
