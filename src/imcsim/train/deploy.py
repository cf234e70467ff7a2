"""Deployment export: what a trained mixed-precision model puts on the hardware.

A deployment directory holds

* ``deployment.json``: model (zoo name), target, input shape, dataset, readout, per-layer metadata (name, kind,
  unit, precision, shapes, IMAC transimpedance and input scale), ``config`` (the hardware config the model was
  trained with, ``config["imac"]`` an :class:`~imcsim.config.imac.IMACConfig` dump with the trained per-layer
  transimpedances, and ``config["train"]`` the training settings) and ``metrics``;
* ``weights.npz``: per layer ``<name>.weight`` (int codes for digital layers, {-1, 0, +1} for IMAC layers),
  ``<name>.bias`` and, for digital layers, ``<name>.weight_scale`` (per output channel, weight = code * scale);
* ``model.pt``: the torch state dict of the trained model, so :meth:`Deployment.frontend` and the evaluator run the
  exact digital front end (activation ranges included).

:func:`load_deployment` raises :class:`~imcsim.errors.CheckpointError` on anything missing or malformed (and
:class:`~imcsim.errors.WeightLevelError` for IMAC weights outside {-1, 0, +1}, as every weight path does).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from pydantic import Field, model_validator

from imcsim.config.base import ConfigModel, parse_config
from imcsim.config.imac import IMACConfig
from imcsim.config.imc import IMCConfig
from imcsim.errors import CheckpointError, ConfigError, TopologyError, WeightLevelError
from imcsim.train.config import TrainConfig, build_run_model
from imcsim.workload.layer import UNITS
from imcsim.workload.network import Network

if TYPE_CHECKING:
    from imcsim.train.data import Dataset

__all__ = ["DeployedLayer", "Deployment", "DeploymentConfig", "export_deployment", "save_deployment", "load_deployment",
           "compare_deployment", "write_bytes_atomic", "build_run_model"]

_FORMAT = 1


class DeploymentConfig(ConfigModel):
    """The hardware and the training settings a deployment was made with (``config`` in deployment.json)."""

    imac: IMACConfig | None = Field(None, description="The IMAC unit the model was trained for, with the trained "
                                    "per-layer transimpedances; None when the target has no IMAC layers.")
    train: TrainConfig | None = Field(None, description="The training run's settings; None for a deployment made "
                                      "outside imcsim's trainer.")
    imc: IMCConfig | None = Field(None, description="The IMC core the model was trained for (targets all-imc, "
                                  "tpu-imc); None otherwise.")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_none(cls, data: Any) -> Any:
        """Deployments of targets without IMAC layers stored ``"imac": {}``; read that as None."""
        if isinstance(data, dict) and data.get("imac") == {}:
            data = {**data, "imac": None}
        return data


@dataclass
class DeployedLayer:
    """One weight layer as deployed.

    Attributes:
        name: the layer's module path in the float model (matches :class:`~imcsim.workload.layer.Layer` names).
        kind: ``conv2d`` or ``linear``.
        unit: ``digital`` (TPU / CPU), ``imac`` or ``imc`` (:data:`imcsim.workload.layer.UNITS`).
        precision: ``int<N>``, ``binary``, ``ternary`` or ``float32`` (float runs).
        weight: digital: integer codes (out, ...) (int32 array); IMAC: values in {-1, 0, +1} of shape (out, in).
        bias: float bias (digital) or bias weights in {-1, 0, +1} on the Vdd row (IMAC); None without bias.
        weight_scale: per-output-channel scale of digital and IMC codes (weight = code * scale); None for IMAC.
        extra: IMAC: ``transimpedance_ohm``, ``in_scale_v`` (first layer: V per digital activation unit); IMC:
            ``adc_step_levels`` (the layer's ADC step in cell-level units) and ``layer_index``.
    """

    name: str
    kind: str
    unit: str
    precision: str
    weight: np.ndarray
    bias: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Deployment:
    """A trained model as deployed on a target (see the module docstring)."""

    model: str
    target: str
    input_shape: tuple[int, ...]
    dataset: str
    layers: list[DeployedLayer]
    config: DeploymentConfig
    metrics: dict = field(default_factory=dict)
    readout: str = "argmax"
    num_classes: int = 10
    state_dict: dict | None = field(default=None, repr=False)
    _torch_model: Any = field(default=None, repr=False, compare=False)
    source: str = field(default="deployment.json", repr=False, compare=False)
    network: Network | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.config, DeploymentConfig):  # a mapping of DeploymentConfig fields
            self.config = parse_config(DeploymentConfig, self.config, source="deployment config")

    def load_data(self, data: Dataset | None = None, data_dir: str | None = None,
                  dataset: str | None = None) -> Dataset:
        """The images the deployed model takes: those of its training run
        (:meth:`~imcsim.train.config.TrainConfig.load_data`: its dataset and directory unless ``dataset`` /
        ``data_dir`` name others, resized to the run's ``image_size``); ``data`` is a preloaded dataset. A
        deployment made outside the trainer has no run settings: the dataset as it is."""
        if self.config.train is not None:
            return self.config.train.load_data(data, data_dir, dataset)
        from imcsim.train.data import load_dataset

        return data if data is not None else load_dataset(dataset or self.dataset, data_dir)

    def imac_layers(self) -> list[DeployedLayer]:
        """The IMAC dense layers, in order."""
        return [lay for lay in self.layers if lay.unit == "imac"]

    def imac_config(self) -> IMACConfig:
        """The :class:`~imcsim.config.imac.IMACConfig` the model was trained with (trained transimpedances); the
        defaults when the target has no IMAC layers."""
        return self.config.imac if self.config.imac is not None else IMACConfig()

    def torch_model(self, module: nn.Module | None = None) -> nn.Module:
        """The trained torch model in eval mode: ``model.pt`` loaded into ``module`` (a freshly built model of the
        deployed architecture, converted as the target was), or by default into the zoo model the training config
        names (:func:`imcsim.train.config.build_run_model`)."""
        if module is not None or self._torch_model is None:
            if self.state_dict is None:
                raise CheckpointError(f"deployment of '{self.model}' holds no model state (model.pt)")
            if module is not None:
                model = module
            elif self.config.train is None:
                raise CheckpointError(f"{self.source}: no training config to rebuild '{self.model}' from; pass the "
                                      "model to load model.pt into")
            else:
                model = build_run_model(self.config.train, self.num_classes, converted=self.target != "float")
            try:
                model.load_state_dict(self.state_dict)
            except RuntimeError as exc:
                raise CheckpointError(f"model.pt does not fit model '{self.model}' ({str(exc).splitlines()[0]})") \
                    from None
            model.eval()
            self._torch_model = model
        return self._torch_model

    @torch.no_grad()
    def frontend(self, x: np.ndarray) -> np.ndarray:
        """Input voltages (batch, n_in) (V) of the first IMAC layer for input images ``x`` (batch, C, H, W): the
        digital layers, the digital input scaling and the DAC."""
        model = self.torch_model()
        if not self.imac_layers():
            raise CheckpointError(f"deployment target '{self.target}' has no IMAC layers")
        h = model.features(torch.as_tensor(np.asarray(x, np.float32)))
        return model.imac[0].input_voltages(h).double().numpy()

    def to_network(self, network: Network | None = None) -> Network:
        """The deployed model's :class:`~imcsim.workload.network.Network` with :attr:`Layer.unit` and
        :attr:`Layer.precision` set on the deployed layers.

        The workload is ``network`` when given (e.g. ``from_torch(module, input_shape)``), else the one the deployment
        carries (``network`` in deployment.json, written by :func:`export_deployment`), else, for deployments written
        before they carried one, the zoo model named ``model``."""
        network = network if network is not None else self.network
        if network is None:
            from imcsim.workload.zoo import load_network

            network = load_network(self.model)
        by_name = {lay.name: lay for lay in self.layers}
        missing = sorted(set(by_name) - {lay.name for lay in network.layers})
        if missing:
            raise CheckpointError(f"deployment of '{self.model}': layer '{missing[0]}' is not a layer of network "
                                  f"'{network.name}' (its layers: "
                                  f"{', '.join(lay.name for lay in network.compute_layers)})")
        layers = []
        for layer in network.layers:
            d = by_name.get(layer.name)
            layers.append(layer if d is None else dataclasses.replace(layer, unit=d.unit, precision=d.precision))
        return Network(network.name, tuple(layers), network.input_shape, dict(network.meta))


def compare_deployment(dep: Deployment, system: "SystemConfig", batch: int = 1):
    """``(Comparison, Network)``: a deployment on a heterogeneous system against the system's digital unit alone.

    The network is :meth:`Deployment.to_network` (each layer on the unit it was deployed to), the IMAC layers use the
    deployed weight levels, and the system's IMAC unit is the one the model was trained for
    (:meth:`Deployment.imac_config`); ``batch`` inputs per run (:meth:`imcsim.arch.system.System.compare`)."""
    from imcsim.arch.system import System, weights_from_deployment

    network = dep.to_network()
    system = system.replace(imac=dep.imac_config())
    return System(system).compare(network, weights=weights_from_deployment(dep), batch=batch), network


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`imcsim.io.write_atomic`), creating its directory."""
    from imcsim.io import write_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def export_deployment(model: nn.Module, cfg: TrainConfig, num_classes: int, input_shape: tuple[int, ...],
                      metrics: dict | None = None, network: Network | None = None) -> Deployment:
    """The :class:`Deployment` of a trained model built by :func:`build_run_model` for ``cfg``; ``network`` is the
    model's workload (its layers' shapes), stored with the deployment so that reading it needs no model zoo."""
    from imcsim.nn.convert import HybridModel
    from imcsim.nn.imc_convert import IMCModel
    from imcsim.nn.imc_layers import IMCLayerMixin
    from imcsim.nn.quant import QuantConv2d, QuantLinear, weight_scale_per_channel

    layers: list[DeployedLayer] = []
    hw: IMACConfig | None = None
    digital_root = model.frontend if isinstance(model, HybridModel) else model.net if isinstance(model, IMCModel) \
        else model
    for name, m in digital_root.named_modules():
        if isinstance(m, IMCLayerMixin):  # the integer codes programmed into the crossbars, per-channel scales
            k, scale = m.weight_codes()
            layers.append(DeployedLayer(
                name, "conv2d" if isinstance(m, nn.Conv2d) else "linear", "imc", f"int{m.imc.weight_bits}",
                k.detach().reshape(m.weight.shape).to(torch.int32).numpy(),
                None if m.bias is None else m.bias.detach().double().numpy(), scale.flatten().double().numpy(),
                {"adc_step_levels": float(m.adc_step), "layer_index": m.layer_index}))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            kind = "conv2d" if isinstance(m, nn.Conv2d) else "linear"
            w = m.weight.detach()
            b = None if m.bias is None else m.bias.detach().double().numpy()
            if isinstance(m, (QuantConv2d, QuantLinear)):
                scale = weight_scale_per_channel(w, m.weight_bits)
                q = 2 ** (m.weight_bits - 1) - 1
                codes = torch.clamp(torch.round(w / scale), -q, q).to(torch.int32).numpy()
                layers.append(DeployedLayer(name, kind, "digital", f"int{m.weight_bits}", codes, b,
                                            scale.flatten().double().numpy()))
            else:
                layers.append(DeployedLayer(name, kind, "digital", "float32", w.double().numpy(), b))
    if isinstance(model, HybridModel):
        for layer in model.imac:
            wq, bq = layer.quantized()
            extra = {"transimpedance_ohm": layer.transimpedance_ohm, "layer_index": layer.layer_index}
            if layer.first:
                extra["in_scale_v"] = layer.in_scale
            layers.append(DeployedLayer(layer.name, "linear", "imac", layer.precision,
                                        wq.detach().double().numpy(), bq.detach().double().numpy(), None, extra))
        hw = model.hardware_config()
    config = DeploymentConfig(imac=hw, train=cfg, imc=model.imc if isinstance(model, IMCModel) else None)
    return Deployment(cfg.model, cfg.target, tuple(int(s) for s in input_shape), cfg.dataset, layers, config,
                      dict(metrics or {}), "argmax", int(num_classes),
                      {k: v.detach().clone() for k, v in model.state_dict().items()}, model, network=network)


def save_deployment(dep: Deployment, path: str | Path) -> None:
    """Write ``dep`` to directory ``path`` (deployment.json, weights.npz, model.pt), each file atomically."""
    import io

    p = Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta_layers = []
    for lay in dep.layers:
        arrays[f"{lay.name}.weight"] = np.asarray(lay.weight)
        if lay.bias is not None:
            arrays[f"{lay.name}.bias"] = np.asarray(lay.bias)
        if lay.weight_scale is not None:
            arrays[f"{lay.name}.weight_scale"] = np.asarray(lay.weight_scale)
        meta_layers.append({"name": lay.name, "kind": lay.kind, "unit": lay.unit, "precision": lay.precision,
                            "shape": list(np.shape(lay.weight)), "extra": lay.extra})
    meta = {"format": _FORMAT, "model": dep.model, "target": dep.target, "input_shape": list(dep.input_shape),
            "dataset": dep.dataset, "readout": dep.readout, "num_classes": dep.num_classes, "layers": meta_layers,
            "config": dep.config.model_dump(mode="json"), "metrics": dep.metrics}
    if dep.network is not None:
        meta["network"] = dep.network.to_record()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(p / "weights.npz", buf.getvalue())
    if dep.state_dict is not None:
        buf = io.BytesIO()
        torch.save(dep.state_dict, buf)
        write_bytes_atomic(p / "model.pt", buf.getvalue())
    write_bytes_atomic(p / "deployment.json", (json.dumps(meta, indent=1) + "\n").encode())


_TARGETS = ("float", "tpu-imac", "cpu-imac", "digital", "all-imc", "tpu-imc")


def _check_meta(meta: dict, jp: Path) -> None:
    """The types and ranges of deployment.json's fields; CheckpointError naming the field and its value."""
    def bad(field_: str, value: Any, expected: str) -> CheckpointError:
        return CheckpointError(f"{jp}: field '{field_}' = {json.dumps(value)[:60]} is not {expected}")

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    for key in ("model", "dataset"):
        if not isinstance(meta[key], str):
            raise bad(key, meta[key], "a string")
    if meta["target"] not in _TARGETS:
        raise bad("target", meta["target"], f"one of {', '.join(_TARGETS)}")
    shape = meta["input_shape"]
    if not (isinstance(shape, list) and shape and all(count(s) for s in shape)):
        raise bad("input_shape", shape, "a list of positive sizes")
    if "num_classes" in meta and not count(meta["num_classes"]):
        raise bad("num_classes", meta["num_classes"], "a positive number of classes")
    for key in ("config", "metrics"):
        if key in meta and not isinstance(meta[key], dict):
            raise bad(key, meta[key], "an object")
    for key in ("imac", "train", "imc"):
        if meta["config"].get(key) is not None and not isinstance(meta["config"][key], dict):
            raise bad(f"config.{key}", meta["config"][key], "an object (or null)")
    if not isinstance(meta.get("readout", "argmax"), str):
        raise bad("readout", meta["readout"], "a string")
    if not isinstance(meta["layers"], list):
        raise bad("layers", meta["layers"], "a list of layers")
    for i, lm in enumerate(meta["layers"]):
        if not isinstance(lm, dict):
            raise bad(f"layers[{i}]", lm, "an object")
        for key, ok, expected in (("name", lambda v: isinstance(v, str) and v, "a layer name"),
                                  ("kind", lambda v: v in ("conv2d", "linear"), "conv2d or linear"),
                                  ("precision", lambda v: isinstance(v, str), "a precision name"),
                                  ("shape", lambda v: isinstance(v, list) and all(count(s) for s in v),
                                   "a list of positive sizes"),
                                  ("extra", lambda v: isinstance(v, dict), "an object")):
            if key in lm and not ok(lm[key]):
                raise bad(f"layers[{i}].{key}", lm[key], expected)
        for key in ("transimpedance_ohm", "in_scale_v"):
            v = lm.get("extra", {}).get(key)
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and
                                      np.isfinite(v) and v > 0):
                raise bad(f"layers[{i}].extra.{key}", v, "a positive, finite number")


def load_deployment(path: str | Path) -> Deployment:
    """Read a deployment directory written by :func:`save_deployment`; CheckpointError when malformed."""
    p = Path(path)
    jp, wp = p / "deployment.json", p / "weights.npz"
    if not jp.is_file():
        raise CheckpointError(f"{jp}: no such file (not a deployment or training run directory)")
    try:
        meta = json.loads(jp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{jp}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{jp}: expected a JSON object")
    for key in ("model", "target", "input_shape", "dataset", "layers", "config"):
        if key not in meta:
            raise CheckpointError(f"{jp}: missing key '{key}'")
    _check_meta(meta, jp)
    if not wp.is_file():
        raise CheckpointError(f"{wp}: no such file")
    try:
        with np.load(wp, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # truncated or empty archive (BadZipFile, EOFError), a bad member (zlib, CRC), pickles
        raise CheckpointError(f"{wp}: not a valid .npz archive ({type(exc).__name__}: {str(exc)[:120]})") from None
    for key, arr in arrays.items():
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise CheckpointError(f"{wp}: array '{key}' is not finite numbers (dtype {arr.dtype})")
    layers = []
    for i, lm in enumerate(meta["layers"]):
        try:
            name = lm["name"]
            w = arrays[f"{name}.weight"]
            layer = DeployedLayer(name, lm["kind"], lm["unit"], lm["precision"], w, arrays.get(f"{name}.bias"),
                                  arrays.get(f"{name}.weight_scale"), dict(lm.get("extra", {})))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{jp}: layer {i}: missing {exc}") from None
        if layer.unit not in UNITS:
            raise CheckpointError(f"{jp}: layer '{name}': field 'unit' = {layer.unit!r}: expected one of "
                                  f"{', '.join(UNITS)}")
        if list(w.shape) != list(lm.get("shape", w.shape)):
            raise CheckpointError(f"{wp}: '{name}.weight' has shape {list(w.shape)}, deployment.json says "
                                  f"{lm['shape']}")
        if layer.bias is not None and layer.bias.shape != (w.shape[0],):
            raise CheckpointError(f"{wp}: '{name}.bias' has shape {list(layer.bias.shape)}, expected "
                                  f"[{w.shape[0]}] (one per output of '{name}.weight')")
        if layer.unit == "imac" and (w.ndim != 2 or not np.isin(w, (-1.0, 0.0, 1.0)).all()):
            raise WeightLevelError(f"{wp}: IMAC layer '{name}' holds weights outside {{-1, 0, +1}}")
        layers.append(layer)
    state = None
    mp = p / "model.pt"
    if mp.is_file():
        try:
            state = torch.load(mp, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt files
            raise CheckpointError(f"{mp}: cannot load ({type(exc).__name__})") from None
    try:
        config = parse_config(DeploymentConfig, meta["config"], source=f"{jp} config")
        network = Network.from_record(meta["network"], source=f"{jp} network") if "network" in meta else None
    except (ConfigError, TopologyError) as exc:
        raise CheckpointError(str(exc)) from None
    try:
        dep = Deployment(meta["model"], meta["target"], tuple(meta["input_shape"]), meta["dataset"], layers,
                         config, meta.get("metrics", {}), meta.get("readout", "argmax"),
                         int(meta.get("num_classes", 10)), state, source=str(jp), network=network)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{jp}: malformed ({exc})") from None
    if layers and layers[-1].weight.shape[0] != dep.num_classes:
        raise CheckpointError(f"{jp}: field 'num_classes' = {dep.num_classes}, but the last layer "
                              f"'{layers[-1].name}' has {layers[-1].weight.shape[0]} outputs")
    train = dep.config.train  # parsed above; it must describe this deployment's own model and target
    if train is not None and (train.model, train.target) != (dep.model, dep.target):
        raise CheckpointError(f"{jp}: field 'model', 'target' = {dep.model!r}, {dep.target!r}, but config.train says "
                              f"{train.model!r}, {train.target!r}")
    return dep
