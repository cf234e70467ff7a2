"""A heterogeneous system: one digital unit (a systolic array or a mobile CPU) beside an IMAC unit, the mapping
policy that places layers on them, and the interface that carries activations between them.

The digital unit, the IMAC unit and the interface are typed configs; in a YAML file a unit may be given by preset
name (``systolic: edge-tpu``, ``imac: sot-mram-imac``) or as a mapping of fields. The default policy runs
convolutions (and every layer without a dense matrix-vector product) on the digital unit and dense layers on IMAC,
the split of TPU-IMAC (arXiv 2304.09258) and CPU-IMAC (arXiv 2105.13904); ``overrides`` moves single layers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from imcsim.config.base import ConfigModel
from imcsim.config.cpu import CPUConfig
from imcsim.config.imac import IMACConfig
from imcsim.config.systolic import SystolicConfig

__all__ = ["SystemConfig", "load_system"]

# An on-chip transfer writes each byte into a buffer on one side and reads it out on the other: two accesses of an
# 8 KB SRAM at 10 pJ per 64-bit access (Horowitz, ISSCC 2014, 45 nm) = 2 x 1.25 pJ per byte.
_SRAM_8KB_J_PER_BYTE = 10e-12 / 8


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


class SystemConfig(ConfigModel):
    """Units, mapping policy and interface of a heterogeneous (digital + IMAC) system."""

    name: str = Field("tpu-imac", description="Label for reports. Default: 'tpu-imac', or 'cpu-imac' when digital "
                      "= cpu.")
    digital: Literal["systolic", "cpu"] = Field("systolic", description="Which digital unit runs the non-IMAC "
                                                "layers: 'systolic' (TPU-IMAC) or 'cpu' (CPU-IMAC).")
    systolic: SystolicConfig = Field(default_factory=SystolicConfig, description="The systolic array (used when "
                                     "digital = systolic); a preset name or fields.")
    cpu: CPUConfig = Field(default_factory=CPUConfig, description="The CPU (used when digital = cpu); a preset "
                           "name or fields.")
    imac: IMACConfig = Field(default_factory=IMACConfig, description="The IMAC unit; a preset name or fields.")
    dense_to_imac: bool = Field(True, description="Default policy: dense layers on IMAC (True) or everything on "
                                "the digital unit (False).")
    overrides: dict[str, Literal["digital", "imac"]] = Field(
        default_factory=dict, description="Per-layer placement by layer name, over the default policy.")
    interface_bandwidth_bytes_per_s: float = Field(
        8e9, gt=0, description="Bandwidth between the digital unit and the IMAC unit (bytes/s). Assumption: a 64-bit "
                               "on-chip bus at 1 GHz (8 bytes per cycle).")
    interface_energy_per_byte_j: float = Field(
        2 * _SRAM_8KB_J_PER_BYTE, ge=0, description="Energy to move one byte across the interface (J): a write and a "
                                                    "read of an 8 KB SRAM buffer, 2 x 10 pJ / 8 bytes (Horowitz, "
                                                    "ISSCC 2014) = 2.5 pJ/byte.")

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        """A system without a name is labelled after its digital unit, so a CPU system never reads 'tpu-imac'."""
        if isinstance(data, dict) and "name" not in data and data.get("digital") == "cpu":
            return {**data, "name": "cpu-imac"}
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

    @property
    def digital_unit(self) -> SystolicConfig | CPUConfig:
        """The config of the digital unit in use."""
        return self.systolic if self.digital == "systolic" else self.cpu


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
