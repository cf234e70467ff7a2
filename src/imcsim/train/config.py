"""The settings of a training run (:class:`TrainConfig`) and the model they describe (:func:`build_run_model`).

Both the training loop (:mod:`imcsim.train.trainer`) and deployments (:mod:`imcsim.train.deploy`) import from here,
so neither imports the other's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from imcsim.config.base import ConfigModel
from imcsim.config.imac import IMACConfig
from imcsim.config.imc import NOISE_AWARE_IR, IMCConfig
from imcsim.config.wires import IRDrop

if TYPE_CHECKING:
    from imcsim.train.data import Dataset

__all__ = ["TrainConfig", "build_run_model", "convert_for_imc", "run_network", "IMAC_TARGETS", "IMC_TARGETS",
           "HARDWARE_FIELDS"]

#: Hardware changes a user can make from the command line (``train`` and ``evaluate`` take the same flags) and in
#: :class:`imcsim.train.evaluate.HardwareChanges`: name -> IMACConfig field (dotted path).
HARDWARE_FIELDS: dict[str, str] = {
    "variation": "device.variation", "variation_kind": "device.variation_kind",
    "stuck_low": "device.stuck_low_rate", "stuck_high": "device.stuck_high_rate",
    "read_noise": "device.read_noise", "adc_bits": "adc.bits", "adc_inl": "adc.inl_lsb", "adc_dnl": "adc.dnl_lsb",
    "adc_offset": "adc.offset_sigma_lsb", "adc_gain": "adc.gain_sigma", "dac_bits": "dac.bits"}

#: Targets whose dense layers run on the IMAC unit of the system preset of the same name.
IMAC_TARGETS = ("tpu-imac", "cpu-imac")

#: Targets whose layers with weights run on mixed-signal IMC cores (imcsim.nn.imc_convert).
IMC_TARGETS = ("all-imc", "tpu-imc")


def _merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` laid on top, nested mappings merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class TrainConfig(ConfigModel):
    """Everything that determines a training run (stored in the checkpoint and the deployment)."""

    model: str = Field("lenet5", description="Zoo model name (imcsim.workload.zoo) or path/to/file.py:ClassName (a "
                       "torch.nn.Module built with model_args; see imcsim.workload.resolve).")
    model_args: dict | None = Field(None, description="Constructor keyword arguments of the model (None: none; a zoo "
                                    "model also gets the dataset's num_classes).")
    input_shape: list[int] | None = Field(None, description="The input shape (C, H, W) the model is meant for; "
                                          "checked against the dataset's (None: the dataset's).")
    dataset: str = Field("fashion-mnist", description="Dataset name (imcsim.train.data.DATASETS).")
    data_dir: str | None = Field(None, description="Dataset directory (default: the dataset's standard location).")
    image_size: tuple[int, int] | None = Field(None, description="Images resized to (height, width) pixels before "
                                               "the run sees them, by area averaging, shrinking only "
                                               "(imcsim.train.data.Dataset.resized), e.g. (20, 20) for the zoo MLP "
                                               "on 28 x 28 MNIST digits; evaluations of the run read it and resize "
                                               "the same way. None: the dataset's own size. Also 'HxW' or one size.")
    target: Literal["float", "tpu-imac", "cpu-imac", "digital", "all-imc", "tpu-imc"] = Field(
        "tpu-imac", description="Conversion target (all-imc / tpu-imc: IMC cores, imcsim.nn.imc_convert).")
    epochs: int = Field(10, ge=0, description="Epochs in the target's precision (float epochs for target float).")
    pretrain_epochs: int = Field(0, ge=0, description="Float pre-training epochs before conversion.")
    batch_size: int = Field(128, ge=1, description="Mini-batch size (examples).")
    optimizer: Literal["adamw", "sgd"] = Field("adamw", description="Optimizer.")
    lr: float = Field(1e-3, gt=0, description="Learning rate of the target phase.")
    pretrain_lr: float = Field(1e-3, gt=0, description="Learning rate of the float pre-training phase.")
    weight_decay: float = Field(0.0, ge=0, description="Decoupled (AdamW) or L2 (SGD) weight decay.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    schedule: Literal["cosine", "step", "constant"] = Field("cosine", description="LR schedule within a phase "
                                                            "(step: x0.1 at 1/2 and 3/4 of the phase).")
    seed: int = Field(0, description="Seed of initialisation, data order and noise-aware draws.")
    train_limit: int | None = Field(None, ge=1, description="Use only the first N training examples.")
    test_limit: int | None = Field(None, ge=1, description="Use only the first N test examples.")
    conv_bits: int = Field(8, ge=2, le=16, description="Digital weight bits.")
    act_bits: int = Field(8, ge=2, le=16, description="Digital activation bits.")
    precision: Literal["binary", "ternary"] | None = Field(None, description="IMAC weights (default: the IMAC "
                                                           "config's weight_precision).")
    train_transimpedance: bool = Field(False, description="Train the IMAC amplifiers' transimpedance after its "
                                       "calibration (see imcsim.nn.convert.convert).")
    init_from: str | None = Field(None, description="Run directory of a trained float run (its model.pt) whose model "
                                  "is converted instead of a fresh one: float pre-training done by another run.")
    noise_aware: bool = Field(False, description="Draw a fresh chip of non-idealities for every training batch.")
    imac: IMACConfig = Field(default_factory=IMACConfig, description="The IMAC unit trained for. For the tpu-imac and "
                             "cpu-imac targets, fields left out are those of the target system preset's IMAC unit "
                             "(sot-mram-imac: MTJ synapses), so the trained network is the one `imcsim compare "
                             "--arch <target>` costs; for other targets the IMACConfig defaults. In YAML: IMACConfig "
                             "fields as nested mappings.")
    ir_drop: IRDrop = Field("exact", description="Wire IR drop model in the IMAC layers during training (see "
                            "imcsim.nn.nonideal; 'exact' refreshes the nodal solve every 50 batches). Default exact: "
                            "IR-drop-aware training. Measured on LeNet-5 / Fashion-MNIST (2 epochs, 5,000 images, "
                            "sot-mram-imac on 32 x 32 crossbars with 9 nm wires), evaluated with exact IR drop on "
                            "10,000 images: trained with 'off' 35.8% (58.8% on ideal wires), trained with 'exact' "
                            "59.2%.")
    adc: bool = Field(True, description="Simulate the output ADC (imac.adc), or the column ADCs (imc.adc) of the "
                      "IMC targets.")
    imc: IMCConfig = Field(default_factory=IMCConfig, description="The IMC core of the all-imc / tpu-imc targets "
                           "(in YAML: IMCConfig fields as nested mappings; fields left out keep their defaults).")

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size(cls, value: Any) -> Any:
        """'20x20', 20 or a pair -> (20, 20) (:func:`imcsim.train.data.parse_image_size`)."""
        from imcsim.errors import ConfigError
        from imcsim.train.data import parse_image_size

        if value is None:
            return None
        try:
            return parse_image_size(value)
        except ConfigError:
            raise ValueError("expected HEIGHTxWIDTH or one size for both, positive integers (e.g. 20x20 or 20)") \
                from None

    @model_validator(mode="before")
    @classmethod
    def _imc_wires(cls, data: Any) -> Any:
        """IMC targets default to ``ir_drop = off`` (exact IR drop costs a nodal solve per crossbar array and set of
        weights: asked for, not assumed; see imcsim.nn.imc_layers)."""
        if isinstance(data, dict) and data.get("target") in IMC_TARGETS and "ir_drop" not in data:
            return {**data, "ir_drop": "off"}
        return data

    @model_validator(mode="after")
    def _imc_ir_drop(self) -> "TrainConfig":
        if self.target in IMC_TARGETS:
            if self.ir_drop == "first-order":
                raise ValueError("ir_drop = 'first-order': IMC layers simulate wire IR drop exactly or not at all "
                                 "(use exact or off)")
            if self.ir_drop == "exact" and self.noise_aware:
                raise ValueError(NOISE_AWARE_IR)
        return self

    @model_validator(mode="before")
    @classmethod
    def _target_imac(cls, data: Any) -> Any:
        """Fill the IMAC fields left out from the target system's IMAC preset (see the ``imac`` field)."""
        if not isinstance(data, dict) or data.get("target", "tpu-imac") not in IMAC_TARGETS:
            return data
        given = data.get("imac")
        if isinstance(given, IMACConfig) or (given is not None and not isinstance(given, dict)):
            return data
        from imcsim.config.system import load_system

        base = load_system(data.get("target", "tpu-imac")).imac.model_dump(mode="json")
        given = dict(given or {})
        dev = given.get("device")
        if isinstance(dev, dict) and "kind" not in dev and ({"r_low_ohm", "r_high_ohm"} & set(dev)):
            given["device"] = {**dev, "kind": "resistor"}  # resistances given: they are meant, not the MTJ's
        return {**data, "imac": _merge(base, given)}

    def load_data(self, data: Dataset | None = None, data_dir: str | None = None,
                  dataset: str | None = None) -> Dataset:
        """The run's images: ``data`` (a preloaded :class:`~imcsim.train.data.Dataset`) or the dataset ``dataset``
        (default: the run's) read from ``data_dir`` (default: the run's), resized to ``image_size``. The one place
        where training and every evaluation of the run get their data, so they see the same pixels."""
        from imcsim.train.data import load_dataset

        if data is None:
            name = dataset or self.dataset
            own = name.lower() == self.dataset.lower()  # the run's data_dir is that of the run's dataset
            data = load_dataset(name, data_dir or (self.data_dir if own else None))
        return data.resized(*self.image_size) if self.image_size is not None else data

    def imac_config(self) -> IMACConfig:
        """The IMAC config (the ``imac`` field; kept as a method for callers of the former dict field)."""
        return self.imac

    def nonidealities(self):
        """The :class:`~imcsim.nn.nonideal.NonIdealities` simulated in training (``ir_drop``, ``adc``)."""
        from imcsim.nn.nonideal import NonIdealities

        return NonIdealities(ir_drop=self.ir_drop, adc=self.adc)

    def phases(self) -> list[tuple[str, int]]:
        """(phase name, epochs): ``float`` pre-training then the target phase."""
        if self.target == "float":
            return [("float", self.pretrain_epochs + self.epochs)]
        return [p for p in (("float", self.pretrain_epochs), (self.target, self.epochs)) if p[1] > 0]


def build_run_model(cfg: TrainConfig, num_classes: int, converted: bool = True):
    """A fresh model (a ``torch.nn.Module``) for a training config: the zoo model or the model class of a Python file
    ``cfg.model`` (built with ``cfg.model_args``; a zoo model also gets ``num_classes``) initialised under
    ``torch.manual_seed(cfg.seed)``, converted to ``cfg.target`` unless ``converted`` is False or the target is
    float."""
    import torch

    from imcsim.nn.convert import convert
    from imcsim.workload.resolve import load_module

    torch.manual_seed(cfg.seed)
    model = load_module(cfg.model, cfg.model_args, num_classes=num_classes)
    if not converted or cfg.target == "float":
        return model
    if cfg.target in ("all-imc", "tpu-imc"):
        return convert_for_imc(cfg, model)
    return convert(model, cfg.target, cfg.imac, conv_bits=cfg.conv_bits, act_bits=cfg.act_bits,
                   precision=cfg.precision, nonideal=cfg.nonidealities(), noise_seed=cfg.seed,
                   train_transimpedance=cfg.train_transimpedance)


def convert_for_imc(cfg: TrainConfig, model):
    """``model`` converted to the IMC target of ``cfg`` (:func:`imcsim.nn.imc_convert.convert_imc`)."""
    from imcsim.nn.imc_convert import convert_imc
    from imcsim.nn.nonideal import NonIdealities

    return convert_imc(model, cfg.target, cfg.imc, conv_bits=cfg.conv_bits, act_bits=cfg.act_bits,
                       nonideal=NonIdealities(adc=cfg.adc), noise_seed=cfg.seed)


def run_network(cfg: TrainConfig, num_classes: int, input_shape: tuple[int, ...]):
    """The :class:`~imcsim.workload.network.Network` of the model ``cfg`` trains (``num_classes`` outputs for a zoo
    model), traced with :func:`~imcsim.workload.from_torch.from_torch` on torch's meta device (shapes only, no weights
    drawn)."""
    import torch

    from imcsim.workload.from_torch import from_torch
    from imcsim.workload.resolve import load_workload, workload_kind
    from imcsim.workload.zoo import build_model

    if workload_kind(cfg.model) != "zoo":  # a file's model class, built as written
        net = load_workload(cfg.model, tuple(input_shape), cfg.model_args)
        net.meta.update(dataset=cfg.dataset, num_classes=num_classes)
        return net
    with torch.device("meta"):
        model = build_model(cfg.model, num_classes=num_classes)
    net = from_torch(model, tuple(input_shape), name=cfg.model)
    net.meta.update(dataset=cfg.dataset, num_classes=num_classes)
    return net
