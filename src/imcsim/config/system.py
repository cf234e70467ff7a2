"""A heterogeneous system: the compute units it holds, the placement policy that puts layers on them, and the
interface that carries activations between them.

A system lists its units by kind (``systolic``, ``cpu``, ``imac``, or any kind registered in
:mod:`imcsim.arch.unit`); the first is the *host*: the digital unit the network's input and output live on, that runs
the all-digital baseline and every layer no other unit takes. In a YAML file a unit is given by preset name or as a
mapping of fields::

    units: {systolic: edge-tpu, imac: sot-mram-imac}
    placement: {policy: dense-to-analog, layers: {fc3: systolic}}

Placement policies (:class:`PlacementConfig`): ``dense-to-analog`` runs dense layers on the first analog unit that
can run them and everything else on the host (the split of TPU-IMAC, arXiv 2304.09258, and CPU-IMAC, arXiv
2105.13904); ``all-analog`` sends every layer with weights that an analog unit can run there; ``all-digital`` runs
everything on the host; ``auto`` picks the placement that minimises latency, energy or their product under an analog
area or crossbar budget. ``layers`` pins single layers by name, over any policy.

The two-unit form of earlier versions still loads and maps onto these fields: ``digital: systolic|cpu`` (the host,
beside ``imac``), ``dense_to_imac: true|false`` (policy ``dense-to-analog`` or ``all-digital``) and ``overrides``
(``placement.layers``; ``digital`` names the host). Given together with the new fields, they apply on top of them.
The configs of ``systolic``, ``cpu`` and ``imac`` stay top-level fields, so their dotted paths (``systolic.rows``,
``imac.adc.bits``) hold in either form; other kinds' configs live in ``unit_configs``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from imcsim.config.base import ConfigModel
from imcsim.config.cpu import CPUConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.systolic import SystolicConfig

__all__ = ["SystemConfig", "PlacementConfig", "AnalogBudget", "load_system", "HOST_ALIAS"]

# An on-chip transfer writes each byte into a buffer on one side and reads it out on the other: two accesses of an
# 8 KB SRAM at 10 pJ per 64-bit access (Horowitz, ISSCC 2014, 45 nm) = 2 x 1.25 pJ per byte.
_SRAM_8KB_J_PER_BYTE = 10e-12 / 8

#: The name placement entries may use for the host unit (the two-unit form's ``digital``).
HOST_ALIAS = "digital"

#: Unit kinds whose configs are top-level fields of :class:`SystemConfig`.
_FIELD_KINDS = ("systolic", "cpu", "imac")


def _resolve_preset(value: Any, kind: type) -> Any:
    """A preset name becomes that preset's config (must be of ``kind``); anything else passes through."""
    if isinstance(value, str):
        from imcsim.config.presets import load_preset
        from imcsim.errors import ConfigError

        # A ValueError, so that pydantic reports it under the field's name and parse_config adds the file's.
        try:
            cfg = load_preset(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(cfg, kind):
            raise ValueError(f"preset '{value}' is a {type(cfg).__name__}, expected a {kind.__name__}")
        return cfg
    return value


def _config_class(kind: str) -> type:
    """The config class of unit ``kind`` (its preset kind); ValueError naming the known kinds otherwise."""
    from imcsim.config.presets import KINDS, preset_class
    from imcsim.errors import ConfigError

    if kind == "system" or kind not in KINDS:
        known = ", ".join(k for k in KINDS if k != "system")
        raise ValueError(f"unknown unit kind '{kind}' (known: {known})")
    try:
        return preset_class(kind)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class AnalogBudget(ConfigModel):
    """What the analog units may occupy under placement policy ``auto`` (None = unbounded)."""

    area_m2: float | None = Field(None, gt=0, description="Most silicon area (m^2) the layers placed on analog units "
                                  "may take (the sum of their layer costs' area_m2: crossbars, converters and, on "
                                  "IMAC, amplifiers and neurons).")
    crossbars: int | None = Field(None, ge=0, description="Most crossbar arrays (or cores) the layers placed on analog "
                                  "units may take (the sum of their layer costs' crossbars).")


class PlacementConfig(ConfigModel):
    """Which unit runs each layer (see the module docstring)."""

    policy: Literal["dense-to-analog", "all-analog", "all-digital", "auto"] = Field(
        "dense-to-analog", description="dense-to-analog: dense layers on the first analog unit that runs them (TPU-IMAC, "
        "CPU-IMAC); all-analog: every layer with weights an analog unit runs; all-digital: everything on the host; "
        "auto: the placement minimising the objective under the budget.")
    objective: Literal["latency", "energy", "edp"] = Field(
        "latency", description="What policy auto minimises: latency (s), energy (J) or their product (edp, J s).")
    budget: AnalogBudget = Field(default_factory=AnalogBudget, description="Analog area or crossbar budget of "
                                 "policy auto.")
    layers: dict[str, str] = Field(default_factory=dict, description="Per-layer placement by layer name: a unit kind of "
                                   "the system, or 'digital' for the host; over the policy.")


class SystemConfig(ConfigModel):
    """Units, placement policy and interface of a heterogeneous system."""

    name: str = Field("tpu-imac", description="Label for reports. Default: the unit kinds joined by '-', systolic "
                      "read as 'tpu' (tpu-imac, cpu-imac).")
    units: tuple[str, ...] = Field(("systolic", "imac"), min_length=1, description="The unit kinds of the system; "
                                   "the first is the host (network input and output, the baseline, layers no other "
                                   "unit takes). In YAML also a mapping of kind to a preset name or fields.")
    systolic: SystolicConfig = Field(default_factory=SystolicConfig, description="The systolic array (used when "
                                     "units include systolic); a preset name or fields.")
    cpu: CPUConfig = Field(default_factory=CPUConfig, description="The CPU (used when units include cpu); a preset "
                           "name or fields.")
    imac: IMACConfig = Field(default_factory=IMACConfig, description="The IMAC unit (used when units include imac); "
                             "a preset name or fields.")
    unit_configs: dict[str, Any] = Field(default_factory=dict, description="Configs of unit kinds without a field of "
                                         "their own (e.g. imc), by kind: a preset name or fields.")
    placement: PlacementConfig = Field(default_factory=PlacementConfig, description="The placement policy.")
    interface_bandwidth_bytes_per_s: float = Field(
        8e9, gt=0, description="Bandwidth between any two units (bytes/s). Assumption: a 64-bit on-chip bus at 1 GHz "
                               "(8 bytes per cycle).")
    interface_energy_per_byte_j: float = Field(
        2 * _SRAM_8KB_J_PER_BYTE, ge=0, description="Energy to move one byte between two units (J): a write and a "
                                                    "read of an 8 KB SRAM buffer, 2 x 10 pJ / 8 bytes (Horowitz, "
                                                    "ISSCC 2014) = 2.5 pJ/byte.")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """The mapping form of ``units`` and the two-unit fields (``digital``, ``dense_to_imac``, ``overrides``)
        become ``units``, unit configs and ``placement``; a missing name is derived from the units."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        units = data.get("units")
        if isinstance(units, dict):
            kinds = []
            configs = dict(data.get("unit_configs") or {})
            for kind, value in units.items():
                kinds.append(kind)
                if value is None:
                    continue
                if kind in _FIELD_KINDS:
                    if kind in data:
                        raise ValueError(f"unit '{kind}' is given twice: under units and as the field '{kind}'")
                    data[kind] = value
                else:
                    configs[kind] = value
            data["units"] = tuple(kinds)
            if configs:
                data["unit_configs"] = configs
        legacy = {k: data.pop(k) for k in ("digital", "dense_to_imac", "overrides") if k in data}
        if legacy:
            placement = data.get("placement")
            placement = dict(placement.model_dump() if isinstance(placement, ConfigModel) else placement or {})
            if "digital" in legacy:
                host = legacy["digital"]
                if host not in ("systolic", "cpu"):
                    raise ValueError(f"field 'digital' = {host!r}: expected 'systolic' or 'cpu'")
                rest = [k for k in data.get("units", ("systolic", "imac"))[1:] if k != host]
                data["units"] = (host, *rest)
            if "dense_to_imac" in legacy:
                flag = legacy["dense_to_imac"]
                if not isinstance(flag, bool):
                    raise ValueError(f"field 'dense_to_imac' = {flag!r}: expected true or false")
                placement["policy"] = "dense-to-analog" if flag else "all-digital"
            if "overrides" in legacy:
                overrides = legacy["overrides"]
                if not isinstance(overrides, dict):
                    raise ValueError(f"field 'overrides' = {overrides!r}: expected a mapping of layer name to unit")
                placement["layers"] = {**dict(placement.get("layers") or {}), **overrides}
            data["placement"] = placement
        placement = data.get("placement")
        if isinstance(placement, ConfigModel):
            placement = placement.model_dump()
        if isinstance(placement, dict) and isinstance(placement.get("layers"), dict):
            kinds = data.get("units", ("systolic", "imac"))
            host = kinds[0] if isinstance(kinds, (list, tuple)) and kinds else None
            if isinstance(host, str):  # 'digital' names the host: store the kind, so both forms load equal
                placement = {**placement, "layers": {k: host if v == HOST_ALIAS else v
                                                     for k, v in placement["layers"].items()}}
                data["placement"] = placement
        if "name" not in data:
            kinds = data.get("units", ("systolic", "imac"))
            if isinstance(kinds, (list, tuple)) and all(isinstance(k, str) for k in kinds):
                data["name"] = "-".join("tpu" if k == "systolic" else k for k in kinds)
        return data

    @field_validator("systolic", mode="before")
    @classmethod
    def _systolic_preset(cls, v: Any) -> Any:
        return _resolve_preset(v, SystolicConfig)

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu_preset(cls, v: Any) -> Any:
        return _resolve_preset(v, CPUConfig)

    @field_validator("imac", mode="before")
    @classmethod
    def _imac_preset(cls, v: Any) -> Any:
        return _resolve_preset(v, IMACConfig)

    @field_validator("unit_configs", mode="before")
    @classmethod
    def _unit_configs(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        from imcsim.config.base import parse_config
        from imcsim.errors import ConfigError

        out = {}
        for kind, value in v.items():
            if kind in _FIELD_KINDS:
                raise ValueError(f"unit '{kind}' has its own field '{kind}', not an entry in unit_configs")
            if isinstance(value, ConfigModel):  # a config object given in Python: its kind's class is the caller's
                out[kind] = value
                continue
            klass = _config_class(kind)
            if isinstance(value, klass):
                out[kind] = value
            elif isinstance(value, str):
                out[kind] = _resolve_preset(value, klass)
            else:
                try:
                    out[kind] = parse_config(klass, value, source=f"unit '{kind}'")
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return out

    @model_validator(mode="after")
    def _check(self) -> "SystemConfig":
        if len(set(self.units)) != len(self.units):
            raise ValueError(f"units = {list(self.units)}: each kind at most once")
        for kind in self.units:
            if kind not in _FIELD_KINDS and kind not in self.unit_configs:
                _config_class(kind)  # an unknown kind fails here; a known one without a config gets its defaults
        extra = set(self.unit_configs) - set(self.units)
        if extra:
            raise ValueError(f"unit_configs: '{sorted(extra)[0]}' is not among units {list(self.units)}")
        for layer, unit in self.placement.layers.items():
            if unit != HOST_ALIAS and unit not in self.units:
                raise ValueError(f"placement.layers: layer '{layer}' = {unit!r}: not a unit of this system "
                                 f"(units: {', '.join(self.units)}, or '{HOST_ALIAS}' for the host)")
        return self

    # ----- read-outs ------------------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The host unit's kind (the first of ``units``)."""
        return self.units[0]

    @property
    def digital(self) -> str:
        """The host unit's kind (the two-unit form's name for it)."""
        return self.host

    def unit_config(self, kind: str) -> Any:
        """The config of unit ``kind``: its field, its ``unit_configs`` entry, or its config class's defaults."""
        if kind in _FIELD_KINDS:
            return getattr(self, kind)
        if kind in self.unit_configs:
            return self.unit_configs[kind]
        return _config_class(kind)()

    @property
    def digital_unit(self) -> Any:
        """The config of the host unit."""
        return self.unit_config(self.host)


def load_system(arch: str) -> SystemConfig:
    """A system by preset name (``tpu-imac``, ``cpu-imac``) or from a YAML file of :class:`SystemConfig` fields;
    ConfigError naming the valid presets otherwise."""
    from pathlib import Path

    from imcsim.config.base import load_config
    from imcsim.config.presets import list_presets, load_preset
    from imcsim.errors import ConfigError

    if arch.endswith((".yaml", ".yml")) or Path(arch).is_file():
        return load_config(SystemConfig, arch)
    systems = [p.name for p in list_presets() if p.kind == "system"]
    if arch not in systems:
        raise ConfigError(f"unknown architecture '{arch}' (valid: {', '.join(systems)}, or a system YAML file)")
    return load_preset(arch)
