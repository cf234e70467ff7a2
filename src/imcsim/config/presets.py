"""Named hardware presets shipped with imcsim (YAML files in ``imcsim/config/presets/``).

A preset file is either ``{kind: <kind>, description: ..., config: {fields}}`` or, as the system, CPU and IMAC
presets are written, the config's fields at the top level. For the latter the kind is the first registered config
class (in :data:`KINDS` order) whose fields include every key in the file, and the description is the first sentence
of the file's leading comment; the explicit ``kind`` layout avoids any ambiguity. Every number carries a comment
naming its source.

Kinds resolve through :data:`KINDS` (dotted paths imported lazily), so a kind whose module is missing or broken only
hides its own presets from :func:`list_presets` rather than breaking the listing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imcsim.config.base import ConfigModel, parse_config, read_yaml
from imcsim.errors import ConfigError

__all__ = ["KINDS", "PresetInfo", "PRESET_DIR", "list_presets", "load_preset", "preset_path", "preset_class"]

PRESET_DIR = Path(__file__).with_name("presets")

KINDS: dict[str, str] = {
    "systolic": "imcsim.config.systolic:SystolicConfig",
    "cpu": "imcsim.config.cpu:CPUConfig",
    "imac": "imcsim.config.imac:IMACConfig",
    "system": "imcsim.config.system:SystemConfig",
    "imc": "imcsim.config.imc:IMCConfig",
}


@dataclass(frozen=True)
class PresetInfo:
    """A preset's name (the file stem), kind (a key of :data:`KINDS`) and one-line description."""

    name: str
    kind: str
    description: str


def _import_kind(kind: str) -> type[ConfigModel]:
    module, _, cls = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def preset_class(kind: str) -> type[ConfigModel]:
    """The config class of a preset kind; ConfigError for an unknown kind."""
    if kind not in KINDS:
        raise ConfigError(f"unknown preset kind '{kind}' (valid: {', '.join(sorted(KINDS))})")
    try:
        return _import_kind(kind)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"preset kind '{kind}' is not available: {KINDS[kind]} cannot be imported ({exc})") from None


def _names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of preset ``name``; ConfigError naming it and the valid names when there is none."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset '{name}' (valid: {', '.join(_names())})")
    return path


def _leading_comment(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    return text.split(". ")[0].rstrip(".") if text else ""


def _classify(name: str, path: Path, data: Any) -> tuple[str, str, dict]:
    """(kind, description, config fields) of a preset file in either layout."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of keys to values")
    if "kind" in data and "config" in data:
        extra = set(data) - {"kind", "description", "config"}
        if extra:
            raise ConfigError(f"{path}: unknown key '{sorted(extra)[0]}' (expected kind, description, config)")
        kind = data["kind"]
        if kind not in KINDS:
            raise ConfigError(f"{path}: field 'kind' = {kind!r}: unknown kind (valid: {', '.join(sorted(KINDS))})")
        return kind, str(data.get("description", "")), data["config"]
    keys = set(data)
    for kind in KINDS:
        try:
            cls = _import_kind(kind)
        except Exception:  # a kind whose module is not there yet hides only its own presets
            continue
        if keys <= set(cls.model_fields):
            return kind, _leading_comment(path), data
    raise ConfigError(f"{path}: preset '{name}' names no 'kind' and its keys fit no config class")


def load_preset(name: str) -> ConfigModel:
    """The validated config of preset ``name`` (a :class:`SystolicConfig`, CPU, IMAC or system config)."""
    path = preset_path(name)
    kind, _, fields = _classify(name, path, read_yaml(path))
    return parse_config(preset_class(kind), fields, source=f"preset '{name}' ({path.name})")


def list_presets() -> list[PresetInfo]:
    """Every preset that can be read, sorted by name. A preset whose kind cannot be imported is left out."""
    out = []
    for name in _names():
        path = PRESET_DIR / f"{name}.yaml"
        try:
            kind, desc, _ = _classify(name, path, read_yaml(path))
            _import_kind(kind)
        except Exception:
            continue
        out.append(PresetInfo(name, kind, desc))
    return out
