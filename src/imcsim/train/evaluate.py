"""Evaluation of a trained run: nominal accuracy and Monte Carlo over non-ideality seeds.

The hardware parameters are those of the run's own :class:`~imcsim.config.imac.IMACConfig` (the config the circuit
simulator and the cost models read), with the requested hardware changes (variation, ADC resolution and
non-linearity, ...) applied. The nominal run has no random effects (ideal devices, an ideal ADC of the configured
resolution); Monte Carlo sample ``k`` programs chip ``seed + k`` (:func:`imcsim.circuit.chip.draw_chip`, every
effect its own stream: the chip ``imcsim xbar evaluate --seed <seed + k>`` builds).

The default evaluation is the physical one: wire IR drop exact (:data:`DEFAULT_IR_DROP`, the crossbar transfer
matrices of the circuit solver), whatever the run trained with. Every result lists the effects it includes
(:func:`imcsim.circuit.chip.effects`).
The digital front end is deterministic, so it runs once and only the analog layers run per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imcsim.config.base import changed_fields
from imcsim.config.imac import IMACConfig
from imcsim.config.imc import IMCConfig
from imcsim.errors import ConfigError, DataError
from imcsim.nn.convert import HybridModel
from imcsim.nn.imc_convert import IMCModel
from imcsim.nn.nonideal import IRDrop, NonIdealities
from imcsim.train.config import HARDWARE_FIELDS
from imcsim.train.data import Dataset
from imcsim.train.deploy import Deployment, load_deployment

__all__ = ["CHANGE_PATHS", "HardwareChanges", "EvalResult", "apply_changes", "monte_carlo", "monte_carlo_imc",
           "evaluate_run", "DEFAULT_IR_DROP"]

#: The wire model of an evaluation that names none: exact, through the crossbar transfer matrices.
DEFAULT_IR_DROP: IRDrop = "exact"


@dataclass(frozen=True)
class HardwareChanges:
    """Evaluation-time changes to the run's hardware config; None keeps the trained value.

    Attributes map to IMACConfig fields: variation / variation_kind / stuck_low / stuck_high / read_noise ->
    ``device.*``; adc_bits / adc_inl / adc_dnl / adc_offset / adc_gain -> ``adc.bits``, ``adc.inl_lsb``,
    ``adc.dnl_lsb``, ``adc.offset_sigma_lsb``, ``adc.gain_sigma``; dac_bits -> ``dac.bits``. ``ir_drop`` selects
    the wire model: ``off``, ``first-order`` or ``exact`` (the circuit solver's transfer matrix per crossbar).
    """

    variation: float | None = None
    variation_kind: str | None = None
    stuck_low: float | None = None
    stuck_high: float | None = None
    read_noise: float | None = None
    adc_bits: int | None = None
    adc_inl: float | None = None
    adc_dnl: float | None = None
    adc_offset: float | None = None
    adc_gain: float | None = None
    dac_bits: int | None = None
    ir_drop: IRDrop | None = None


CHANGE_PATHS: dict[str, str] = HARDWARE_FIELDS
"""The IMACConfig field (dotted path) each :class:`HardwareChanges` attribute sets (defined in
:data:`imcsim.train.config.HARDWARE_FIELDS`, which the CLI flags read without importing torch); ``ir_drop`` is not a
config field (it picks the wire model)."""


def apply_changes(hw, ov: HardwareChanges):
    """``hw`` (an IMACConfig, or an IMCConfig: the same device, adc and dac sections) with the changes applied (validated: a bad value raises ConfigError naming the field)."""
    return hw.replace_paths({path: getattr(ov, name) for name, path in CHANGE_PATHS.items()
                             if getattr(ov, name) is not None})


@dataclass
class EvalResult:
    """Nominal accuracy and Monte Carlo statistics (fractions in [0, 1]), the hardware simulated, the effects each
    includes (``{"nominal": ..., "mc": ...}``, :func:`imcsim.circuit.chip.effects`; empty for digital runs) and the
    hardware fields changed from the run's config (``{"device.variation": 0.1, ...}``)."""

    accuracy: float
    mc: dict | None
    n_test: int
    hardware: dict = field(default_factory=dict)
    effects: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "mc": self.mc, "n_test": self.n_test, "hardware": self.hardware,
                "effects": self.effects, "changed": self.changed}


@torch.no_grad()
def _analog_accuracy(model: HybridModel, h: torch.Tensor, y: torch.Tensor, seed: int | None,
                     batch_size: int = 2000) -> float:
    model.set_chip(seed)
    correct = 0
    for i in range(0, len(h), batch_size):
        y_read, v_n = model.analog(h[i:i + batch_size])
        correct += int((model.scores(y_read, v_n).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(len(h), 1)


@torch.no_grad()
def monte_carlo(model: HybridModel, x: np.ndarray, y: np.ndarray, mc: int, seed: int = 0,
                hw: IMACConfig | None = None, nonideal: NonIdealities | None = None) -> EvalResult:
    """Nominal accuracy and, for ``mc`` > 0, accuracy over chips ``seed .. seed + mc - 1`` of ``model`` on (x, y).

    ``hw`` / ``nonideal`` replace the model's hardware config / simulated effects for this evaluation (the model is
    restored afterwards).
    """
    saved = model.hw, model.nonideal, model.training
    model.eval()
    try:
        if hw is not None:
            model.hw = hw
            for layer in model.imac:
                layer.hw = hw
        if nonideal is not None:
            model.nonideal = nonideal
        h = torch.cat([model.features(torch.as_tensor(x[i:i + 2000])) for i in range(0, len(x), 2000)])
        yt = torch.as_tensor(y)
        nominal = _analog_accuracy(model, h, yt, None)
        stats = None
        if mc > 0:
            acc = np.array([_analog_accuracy(model, h, yt, seed + k) for k in range(mc)])
            stats = {"n": int(mc), "seed": int(seed), "mean": float(acc.mean()), "std": float(acc.std(ddof=1))
                     if mc > 1 else 0.0, "min": float(acc.min()), "max": float(acc.max()),
                     "samples": [float(a) for a in acc]}
        # the hardware as simulated: the evaluation config with the layers' own (calibrated) transimpedances
        return EvalResult(nominal, stats, int(len(x)), model.hardware_config().model_dump(mode="json"),
                          model_effects(model, mc > 0))
    finally:
        model.hw, model.nonideal = saved[0], saved[1]
        for layer in model.imac:
            layer.hw = saved[0]
        model.set_chip(None)
        model.train(saved[2])


def model_effects(model: HybridModel, mc: bool) -> dict:
    """The effects of ``model``'s evaluation under its current hardware and non-idealities: ``{"nominal": ...}``
    and, when ``mc``, ``{"mc": ...}`` (:func:`imcsim.circuit.chip.effects`)."""
    from imcsim.circuit.chip import effects

    hw, ni = model.hw, model.nonideal

    def one(chip: bool) -> dict:
        return effects(hw.device, hw.adc if ni.adc else None, ni.ir_drop, chip=chip, read_noise=ni.read_noise,
                       device_effects=ni.device, dac_bits=hw.dac.bits if ni.dac else None,
                       wires=(hw.wires.r_in_ohm, hw.wires.r_out_ohm), clipping=model.imac[0].clipping,
                       readout=hw.amplifier.readout)

    out = {"nominal": one(False)}
    if mc:
        out["mc"] = one(True)
    return out


@torch.no_grad()
def monte_carlo_imc(model: IMCModel, x: np.ndarray, y: np.ndarray, mc: int, seed: int = 0,
                    imc: IMCConfig | None = None, nonideal: NonIdealities | None = None) -> EvalResult:
    """Nominal accuracy (ideal devices and ADCs of the configured resolution) and, for ``mc`` > 0, accuracy over
    chips ``seed .. seed + mc - 1`` of an IMC model: devices and ADC instances fixed per chip, no calibration (each
    layer keeps its trained ADC range). ``imc`` / ``nonideal`` replace the core config / simulated effects (wire IR
    drop ``off`` or ``exact``, on the nominal chip too) for this evaluation (restored after)."""
    from imcsim.train.trainer import evaluate_accuracy

    saved, saved_ni, was = model.imc, model.nonideal, model.training
    try:
        if imc is not None or nonideal is not None:
            model.set_hardware(imc or model.imc, nonideal)
        nominal = evaluate_accuracy(model, x, y)
        stats = None
        if mc > 0:
            model.eval()
            xt, yt = torch.as_tensor(x), torch.as_tensor(y)
            acc = []
            for k in range(mc):
                model.set_chip(seed + k)
                acc.append(sum(int((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum())
                               for i in range(0, len(xt), 1000)) / max(len(xt), 1))
            acc = np.array(acc)
            stats = {"n": int(mc), "seed": int(seed), "mean": float(acc.mean()), "std": float(acc.std(ddof=1))
                     if mc > 1 else 0.0, "min": float(acc.min()), "max": float(acc.max()),
                     "samples": [float(a) for a in acc]}
        return EvalResult(nominal, stats, int(len(x)), model.imc.model_dump(mode="json"))
    finally:
        model.set_hardware(saved, saved_ni)
        model.train(was)


def _imc_effects(imc: IMCConfig, ni: NonIdealities, mc: bool) -> dict:
    """The effects of an IMC-core evaluation (:func:`imcsim.circuit.chip.effects`): devices, column ADCs and the
    wire model (``off`` or ``exact`` with the core's segment resistances); outputs bounded by each layer's
    calibrated column-ADC range."""
    from imcsim.circuit.chip import effects

    def one(chip: bool) -> dict:
        return effects(imc.device, imc.adc if ni.adc else None, ni.ir_drop, chip=chip, read_noise=ni.read_noise,
                       device_effects=ni.device, dac_bits=imc.dac.bits,
                       wires=(imc.wires.r_in_ohm, imc.wires.r_out_ohm),
                       clipping="column ADC range (calibrated per layer)")

    return {"nominal": one(False), **({"mc": one(True)} if mc else {})}


def evaluate_run(path: str | Path, mc: int = 0, seed: int = 0, changes: HardwareChanges | None = None,
                 data: Dataset | None = None, data_dir: str | None = None, test_limit: int | None = None
                 ) -> EvalResult:
    """Evaluate the run (or deployment) directory ``path`` on its dataset's test split, as the run saw it
    (:meth:`~imcsim.train.deploy.Deployment.load_data`: resized to the run's ``image_size``; ``data`` is a preloaded
    dataset, resized the same way).

    Digital and float runs have no analog non-idealities: their nominal accuracy is returned and ``mc`` must be 0.
    """
    dep: Deployment = load_deployment(path)
    model = dep.torch_model()
    ov = changes or HardwareChanges()
    if isinstance(model, IMCModel):
        # the wire model: as asked, else the run's own (off unless it trained with exact IR drop)
        ni = replace(model.nonideal, ir_drop=ov.ir_drop or model.nonideal.ir_drop)
        if ni.ir_drop == "first-order":
            raise ConfigError("ir_drop = 'first-order': the IMC core layers simulate wire IR drop exactly or not at "
                              "all (use exact or off)")
        imc = apply_changes(model.imc, ov)
        ds = dep.load_data(data, data_dir).subset(None, test_limit)
        res = monte_carlo_imc(model, ds.x_test, ds.y_test, mc, seed, imc, ni)
        res.effects = _imc_effects(imc, ni, mc > 0)
        res.changed = changed_fields(model.imc, imc)
        return res
    if isinstance(model, HybridModel):  # validate the changes before reading the data
        hw = apply_changes(model.hw, ov)
        ni = model.nonideal  # NonIdealities raises ConfigError naming an unknown mode
        ni = NonIdealities(ni.device, ni.read_noise, ov.ir_drop or DEFAULT_IR_DROP, ni.adc, ni.dac)
    else:
        given = [name for name in HardwareChanges.__dataclass_fields__ if getattr(ov, name) is not None]
        if mc > 0:
            raise ConfigError(f"{path}: mc = {mc}: target '{dep.target}' has no IMAC layers, so Monte Carlo over "
                              "analog non-idealities does not apply (use mc = 0)")
        if given:
            raise ConfigError(f"{path}: target '{dep.target}' has no IMAC layers; the analog hardware setting "
                              f"'{given[0]}' does not apply")
    ds = dep.load_data(data, data_dir).subset(None, test_limit)
    if tuple(ds.x_test.shape[1:]) != tuple(dep.input_shape):
        raise DataError(f"{path}: the model takes inputs of shape {tuple(dep.input_shape)}, the test images of "
                          f"'{ds.name}' are {tuple(ds.x_test.shape[1:])}")
    if not isinstance(model, HybridModel):
        from imcsim.train.trainer import evaluate_accuracy

        return EvalResult(evaluate_accuracy(model, ds.x_test, ds.y_test), None, len(ds.x_test))
    res = monte_carlo(model, ds.x_test, ds.y_test, mc, seed, hw, ni)
    res.changed = changed_fields(model.hw, hw)
    return res
