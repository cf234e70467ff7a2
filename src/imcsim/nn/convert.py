"""``convert(model, target)``: a float torch model -> the mixed-precision, hardware-aware model of a target.

Targets (TPU-IMAC, arXiv 2304.09258; CPU-IMAC, arXiv 2105.13904):

* ``tpu-imac`` / ``cpu-imac``: convolutions (and any dense layer that is not part of the final chain of dense
  layers) become int-``conv_bits`` fake-quantized layers for the digital unit; the final chain of dense layers runs
  on the IMAC unit as :class:`~imcsim.nn.imac_linear.IMACLinear` layers with analog neurons, which replace the float
  model's activations between those layers. The two targets differ only in which digital unit runs the
  convolutions, so their layers are the same.
* ``digital``: every convolution and dense layer int-``conv_bits`` (the all-int8 baseline).

The IMAC targets return a :class:`HybridModel`: the digital front end (a torch.fx graph of the float model up to
the first IMAC layer's input), the IMAC layers, and the output ADC. Its ``forward`` returns class scores for a
cross-entropy loss: the log-odds of the normalised neuron output voltage as the ADC reads it, with the gradient of
the ideal neuron input (straight-through through the ADC and the saturating sigmoid). The predicted class is the
argmax of the output voltages (``readout = "argmax"``): training learns the inversion of the inverting neuron.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.fx
from torch import nn

from imcsim.config.imac import IMACConfig
from imcsim.errors import ModelError
from imcsim.circuit.chip import draw_chip, effect_rng
from imcsim.nn.adc import ADCInstances, adc_read
from imcsim.nn.imac_linear import IMACLinear
from imcsim.nn.nonideal import Chip, NonIdealities, check_first_order
from imcsim.nn.quant import QuantConv2d, QuantLinear
from imcsim.workload.ops import ACTIVATIONS

__all__ = ["TARGETS", "convert", "HybridModel", "clip_latent_"]

TARGETS = ("tpu-imac", "cpu-imac", "digital")

# Modules that may sit between the dense layers of the IMAC chain; the analog neuron replaces them.
_BETWEEN = (*(getattr(nn, name) for name in ACTIVATIONS), nn.Dropout, nn.Identity)
_SCORE_EPS = 1e-6


def _replace_digital(module: nn.Module, bits: int, act_bits: int, linear: bool) -> None:
    """Swap Conv2d (and Linear when ``linear``) children for fake-quantized copies, in place, recursively."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and not isinstance(child, QuantConv2d):
            setattr(module, name, QuantConv2d.from_float(child, bits, act_bits))
        elif linear and isinstance(child, nn.Linear) and not isinstance(child, QuantLinear):
            setattr(module, name, QuantLinear.from_float(child, bits, act_bits))
        else:
            _replace_digital(child, bits, act_bits, linear)


def _latent_from_float(w: torch.Tensor) -> torch.Tensor:
    """Latent IMAC weights from float weights: *opposite* signs (the neuron inverts: y = sigmoid(-slope v_n), so
    negated weights make each neuron rise with the float layer's pre-activation, as a sigmoid would), scaled by
    twice their standard deviation and clipped to [-1, 1]."""
    s = float(w.std()) if w.numel() > 1 else float(w.abs().max())
    return torch.clamp(-w / (2.0 * s if s > 0 else 1.0), -1.0, 1.0)


class HybridModel(nn.Module):
    """Digital front end + IMAC dense layers + output ADC (see the module docstring).

    Attributes:
        frontend: the digital layers up to the first IMAC layer's input (a ``torch.fx.GraphModule``).
        imac: the IMAC layers, in order.
        hw: the hardware config (IMACConfig) the analog layers compute with.
        nonideal: which non-idealities are simulated (:class:`~imcsim.nn.nonideal.NonIdealities`).
        noise_aware: when True, every training forward draws a fresh chip (device variation, stuck-at faults, ADC
            instances) and read noise from :attr:`noise_rng`.
        target: the conversion target.
    """

    readout = "argmax"

    def __init__(self, frontend: nn.Module, imac: list[IMACLinear], hw: IMACConfig, target: str,
                 nonideal: NonIdealities | None = None, noise_seed: int = 0):
        super().__init__()
        self.frontend = frontend
        self.imac = nn.ModuleList(imac)
        self.hw = hw
        self.target = target
        self.nonideal = nonideal or NonIdealities()
        self.noise_aware = False
        self.noise_rng = np.random.default_rng(noise_seed)
        self.adc_instances: ADCInstances | None = None
        self.set_chip(None)

    # ----- non-idealities -------------------------------------------------------------------------------------------
    def set_chip(self, seed: int | None) -> None:
        """Fix the non-idealities of chip ``seed`` (:func:`imcsim.circuit.chip.draw_chip`: the chip circuit/
        programs for the same seed), or None: ideal devices and wires, no read noise, an ideal ADC of ``adc.bits``
        (when the ADC is simulated)."""
        hw, ni = self.hw, self.nonideal
        if ni.ir_drop == "first-order" and ni.check_first_order:
            check_first_order(hw)
        shapes = [(layer.out_features, layer.in_features + 1) for layer in self.imac]
        draws, self.adc_instances = draw_chip(shapes, hw.device, hw.adc if ni.adc else None, seed, ni.device)
        for i, layer in enumerate(self.imac):
            layer.chip = Chip.of(draws[i])
            layer.ir_drop = ni.ir_drop
            layer.dac = ni.dac
            layer.read_noise_gen = None
            if seed is not None and ni.read_noise and hw.device.read_noise > 0:
                # the chip's read stream itself: circuit/ reading the same vectors of chip ``seed`` draws the same
                # noise (imcsim.circuit.chip.read_noise_normals)
                layer.read_noise_gen = effect_rng(seed, "read", i)

    # ----- forward ----------------------------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Digital activations (batch, n_in) entering the first IMAC layer (before the DAC)."""
        return self.frontend(x).flatten(1)

    def analog(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y_read, v_n) for digital activations ``h``: the output voltages as the ADC reads them and the last
        layer's neuron input voltages, each (batch, classes)."""
        if self.training and self.noise_aware:
            self.set_chip(int(self.noise_rng.integers(2**62)))
        v = h
        for layer in self.imac:
            v, v_n = layer(v)
        y = v if self.adc_instances is None else adc_read(v, self.adc_instances)
        return y, v_n

    def scores(self, y: torch.Tensor, v_n: torch.Tensor) -> torch.Tensor:
        """Class scores: log-odds of the normalised read voltage (forward), gradient of -slope * v_n (backward)."""
        nc = self.hw.neuron
        yn = ((y - nc.v_low) / (nc.v_high - nc.v_low)).clamp(_SCORE_EPS, 1.0 - _SCORE_EPS)
        fwd = torch.log(yn) - torch.log1p(-yn)
        lin = -nc.slope_per_v * v_n
        return lin + (fwd - lin).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(*self.analog(self.features(x)))

    def output_voltages(self, x: torch.Tensor) -> torch.Tensor:
        """Output voltages (batch, classes) as read by the ADC (V); the class is their argmax."""
        return self.analog(self.features(x))[0]

    # ----- calibration and training helpers --------------------------------------------------------------------------
    @property
    def calibrated(self) -> bool:
        return all(bool(layer.calibrated) for layer in self.imac)

    @torch.no_grad()
    def calibrate_(self, x: torch.Tensor, target_std: float = 2.0) -> None:
        """Calibrate each IMAC layer's input scale and transimpedance on one batch ``x`` (ideal circuit)."""
        was = self.training
        self.eval()
        v = self.features(x)
        for layer in self.imac:
            layer.calibrate_(v, target_std)
            saved = layer.chip, layer.ir_drop, layer.read_noise_gen
            layer.chip, layer.ir_drop, layer.read_noise_gen = None, "off", None
            v, _ = layer(v)
            layer.chip, layer.ir_drop, layer.read_noise_gen = saved
        self.train(was)

    def hardware_config(self) -> IMACConfig:
        """The IMACConfig with the trained per-layer transimpedances (what the circuit simulator should run)."""
        t = tuple(layer.transimpedance_ohm for layer in self.imac)
        amp = self.hw.amplifier.replace(transimpedance_ohm=t)
        return self.hw.replace(amplifier=amp.model_dump())


def clip_latent_(model: nn.Module) -> None:
    """Clip the latent weights of every IMAC layer of ``model`` to [-1, 1] (call after each optimizer step)."""
    for m in model.modules():
        if isinstance(m, IMACLinear):
            m.clip_()


def _dense_chain(gm: torch.fx.GraphModule) -> tuple[list[torch.fx.Node], list[torch.fx.Node]]:
    """Split a traced chain into (front nodes, tail nodes), the tail starting at the first Linear of the final run
    of Linear / activation / dropout modules. Raises ModelError when the model is not a chain there."""
    nodes = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    mods = dict(gm.named_modules())
    i = len(nodes)
    while i > 0:
        n = nodes[i - 1]
        if n.op == "call_module" and isinstance(mods[n.target], (nn.Linear, *_BETWEEN)):
            i -= 1
        else:
            break
    tail = nodes[i:]
    while tail and not (tail[0].op == "call_module" and isinstance(mods[tail[0].target], nn.Linear)):
        tail = tail[1:]
    if not tail:
        raise ModelError("convert: the model has no dense (nn.Linear) layers at its end to map onto the IMAC unit")
    front = nodes[: len(nodes) - len(tail)]
    prev = front[-1] if front else next(n for n in gm.graph.nodes if n.op == "placeholder")
    for n in tail:
        if len(n.args) != 1 or n.args[0] is not prev or len(n.users) > 1:
            raise ModelError(f"convert: the dense layers at the end of the model are not a simple chain "
                             f"(at '{n.name}')")
        prev = n
    return front, tail


def convert(model: nn.Module, target: str, hw: IMACConfig | None = None, conv_bits: int = 8, act_bits: int = 8,
            precision: str | None = None, nonideal: NonIdealities | None = None, noise_seed: int = 0,
            train_transimpedance: bool = False) -> nn.Module:
    """The mixed-precision model of ``model`` for ``target`` (a deep copy; ``model`` is untouched).

    Args:
        model: a float torch model whose classifier ends in a chain of ``nn.Linear`` layers (and activations).
        target: ``tpu-imac``, ``cpu-imac`` or ``digital``.
        hw: IMAC hardware config (default ``IMACConfig()``): rows, cols, Vdd, device, wires, amplifiers, neuron,
            DAC and ADC.
        conv_bits, act_bits: digital weight and activation bits (8 = int8).
        precision: IMAC weights, ``binary`` or ``ternary`` (default ``hw.weight_precision``).
        nonideal: which non-idealities the IMAC layers simulate.
        noise_seed: seed of the noise-aware training stream.
        train_transimpedance: train each IMAC layer's (log) transimpedance with the weights after calibration.
            Off by default: with the ADC's top code capping the forward scores, cross-entropy keeps asking for more
            gain, and a growing transimpedance saturates the neurons (measured on Fashion-MNIST: accuracy fell
            from 87% to 80% over four epochs); the calibrated value stays fixed instead.
    """
    if target not in TARGETS:
        raise ModelError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    for name, bits in (("conv_bits", conv_bits), ("act_bits", act_bits)):
        if not 2 <= int(bits) <= 16:
            raise ModelError(f"convert: {name} = {bits!r} must be between 2 and 16")
    model = copy.deepcopy(model)
    if target == "digital":
        _replace_digital(model, conv_bits, act_bits, linear=True)
        return model
    hw = hw or IMACConfig()
    if precision is not None and precision not in ("binary", "ternary"):
        raise ModelError(f"convert: IMAC precision {precision!r} must be 'binary' or 'ternary'")
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types for untraceable control flow
        raise ModelError(f"convert: cannot trace {type(model).__name__} with torch.fx ({exc})") from None
    front, tail = _dense_chain(gm)
    mods = dict(gm.named_modules())
    linears = [n for n in tail if isinstance(mods[n.target], nn.Linear)]
    imac = []
    for i, n in enumerate(linears):
        lin = mods[n.target]
        layer = IMACLinear(lin.in_features, lin.out_features, i, hw, first=(i == 0), precision=precision,
                           name=str(n.target), train_transimpedance=train_transimpedance)
        with torch.no_grad():
            layer.weight.copy_(_latent_from_float(lin.weight))
            if lin.bias is not None:
                layer.bias.copy_(_latent_from_float(lin.bias))
        imac.append(layer)
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            env[n] = graph.node_copy(n, lambda a: env[a])
    for n in front:
        env[n] = graph.node_copy(n, lambda a: env[a])
    last = front[-1] if front else next(n for n in gm.graph.nodes if n.op == "placeholder")
    graph.output(env[last])
    frontend = torch.fx.GraphModule(gm, graph)
    _replace_digital(frontend, conv_bits, act_bits, linear=True)
    return HybridModel(frontend, imac, hw, target, nonideal, noise_seed)
