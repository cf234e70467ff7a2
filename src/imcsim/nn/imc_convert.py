"""``convert_imc(model, target, imc)``: a float torch model -> a model whose layers run on mixed-signal IMC cores.

Targets (the systems of the IMC-cores issue):

* ``all-imc``: every convolution and dense layer on IMC crossbars (:class:`~imcsim.nn.imc_layers.IMCConv2d`,
  :class:`~imcsim.nn.imc_layers.IMCLinear`);
* ``tpu-imc``: the convolutions int-``conv_bits`` on the digital systolic array
  (:class:`~imcsim.nn.quant.QuantConv2d`), the dense layers on IMC crossbars.

The result is an :class:`IMCModel`: the converted network plus the chip state of its IMC layers. Like
:class:`~imcsim.nn.convert.HybridModel` it has ``set_chip(seed)`` (one programmed chip: device variation, stuck-at
faults and ADC instances, every effect and layer its own stream, :func:`imcsim.nn.nonideal.effect_rng`; None: ideal
devices and ADCs) and ``noise_aware`` (a fresh chip for every training batch, seeded from ``noise_rng``: the devices
drawn in torch, :meth:`IMCModel.resample_chip`). With ``nonideal.ir_drop = "exact"`` the wires act on every chip, the
nominal one included (a nodal solve per array, once per chip and weights): fixed chips only, so noise-aware training
refuses it.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from imcsim.config.imc import NOISE_AWARE_IR, IMCConfig
from imcsim.errors import ModelError
from imcsim.nn.imc_layers import IMCConv2d, IMCLayerMixin, IMCLinear
from imcsim.nn.nonideal import NonIdealities
from imcsim.nn.quant import QuantConv2d, QuantLinear

__all__ = ["IMC_TARGETS", "IMCModel", "convert_imc"]

IMC_TARGETS = ("all-imc", "tpu-imc")


class IMCModel(nn.Module):
    """A network with IMC layers (see the module docstring). ``net`` is the converted module."""

    def __init__(self, net: nn.Module, imc: IMCConfig, target: str, nonideal: NonIdealities, noise_seed: int = 0):
        super().__init__()
        self.net = net
        self.imc = imc
        self.target = target
        self.nonideal = nonideal
        self.noise_aware = False
        self.noise_rng = np.random.default_rng(noise_seed)
        self.chip_seed: int | None = None

    def imc_layers(self) -> list[IMCLayerMixin]:
        """The IMC layers, in order (their ``layer_index`` is their position here)."""
        return [m for m in self.net.modules() if isinstance(m, IMCLayerMixin)]

    def set_chip(self, seed: int | None) -> None:
        """Program every IMC layer as chip ``seed`` (None: ideal devices and ADCs)."""
        self.chip_seed = seed
        for m in self.imc_layers():
            m.set_chip(seed)

    def set_hardware(self, imc: IMCConfig, nonideal: NonIdealities | None = None) -> None:
        """Evaluate with another core config (same mapping: rows, cols, cell and weight bits unchanged) or set of
        simulated effects; the chip is reset to the ideal one."""
        for name in ("rows", "cols", "cell_bits", "weight_bits", "encoding", "input_bits"):
            if getattr(imc, name) != getattr(self.imc, name):
                raise ModelError(f"set_hardware: {name} = {getattr(imc, name)!r} differs from the trained "
                                 f"{getattr(self.imc, name)!r}")
        self.imc = imc
        self.nonideal = nonideal or self.nonideal
        for m in self.imc_layers():
            m.imc, m.nonideal = imc, self.nonideal
        self.set_chip(None)

    def resample_chip(self, seed: int) -> None:
        """A fresh training chip for every IMC layer, drawn from ``seed`` (:meth:`IMCLayerMixin.resample_chip`:
        devices and read noise from one torch generator, ADC instances from one numpy generator, layer after
        layer). Not the chip :meth:`set_chip` gives for that seed: training chips only share its distributions."""
        self.chip_seed = None
        gen = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        for m in self.imc_layers():
            m.resample_chip(gen, rng)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise_aware:
            if self.nonideal.ir_drop == "exact":
                raise ModelError(NOISE_AWARE_IR)
            self.resample_chip(int(self.noise_rng.integers(2**62)))
        return self.net(x)


def convert_imc(model: nn.Module, target: str, imc: IMCConfig, conv_bits: int = 8, act_bits: int = 8,
                nonideal: NonIdealities | None = None, noise_seed: int = 0, adc_step: str | float = "calibrate",
                adc_quantile: float = 0.999) -> IMCModel:
    """The IMC model of ``model`` for ``target`` (a deep copy; ``model`` is untouched).

    Args:
        model: a float torch model (Conv2d, grouped and depthwise too; Linear).
        target: ``all-imc`` or ``tpu-imc``.
        imc: the IMC core (rows, cols, cell and weight bits, encoding, input and DAC bits, ADC, device).
        conv_bits, act_bits: the digital convolutions' weight and activation bits (``tpu-imc``).
        nonideal: which effects the IMC layers simulate (device, read noise, ADC; ``ir_drop`` ``off`` or ``exact``:
            the arrays' wires through the circuit solver, :mod:`imcsim.nn.imc_layers`).
        noise_seed: seed of the noise-aware training stream.
        adc_step, adc_quantile: the ADC range per layer (:mod:`imcsim.nn.imc_layers`).
    """
    if target not in IMC_TARGETS:
        raise ModelError(f"unknown IMC target {target!r}; choose one of: {', '.join(IMC_TARGETS)}")
    nonideal = nonideal or NonIdealities()
    if nonideal.ir_drop not in ("off", "exact"):
        raise ModelError(f"ir_drop = {nonideal.ir_drop!r}: IMC layers simulate wire IR drop exactly or not at all "
                         "(use 'exact' or 'off')")
    model = copy.deepcopy(model)
    index = [0]

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            new = None
            kw = dict(imc=imc, layer_index=index[0], nonideal=nonideal, adc_step=adc_step, adc_quantile=adc_quantile)
            if isinstance(child, nn.Conv2d) and not isinstance(child, (IMCConv2d, QuantConv2d)):
                new = IMCConv2d.from_float(child, **kw) if target == "all-imc" else \
                    QuantConv2d.from_float(child, conv_bits, act_bits)
            elif isinstance(child, nn.Linear) and not isinstance(child, (IMCLinear, QuantLinear)):
                new = IMCLinear.from_float(child, **kw)
            if new is None:
                swap(child)
                continue
            if isinstance(new, IMCLayerMixin):
                index[0] += 1
            setattr(module, name, new)

    swap(model)
    if index[0] == 0:
        raise ModelError(f"convert_imc: the model has no layers to place on IMC cores for target {target!r}")
    return IMCModel(model, imc, target, nonideal, noise_seed)
