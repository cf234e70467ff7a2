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

__all__ = ["KINDS", "PresetInfo", "PresetValue", "PRESET_DIR", "list_presets", "load_preset", "preset_path",
           "preset_class", "preset_values", "field_unit"]

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


# ----- where each value of a preset comes from ----------------------------------------------------------------------

# Field-name suffixes and the units they stand for (configs name every dimensional field with its SI unit); the
# longest matching suffix wins.
_UNIT_SUFFIXES = (
    ("_j_per_byte", "J/B"), ("_per_byte_j", "J/B"), ("_per_bit_j", "J/bit"), ("_per_instruction_j", "J/instruction"),
    ("_per_conversion_j", "J/conversion"), ("_per_mac_op_j", "J/op"), ("_bytes_per_s", "B/s"),
    ("_bytes_per_cycle", "B/cycle"), ("_words_per_cycle", "words/cycle"), ("_per_bit_m2", "m^2/bit"),
    ("_m2_per_byte", "m^2/B"),
    ("_f_per_m2", "F/m^2"), ("_per_v", "1/V"), ("_a", "A"), ("_ohm_um2", "ohm um^2"), ("_ohm_m", "ohm m"), ("_times_s", "s"), ("_m2", "m^2"), ("_ohm", "ohm"), ("_hz", "Hz"),
    ("_nm", "nm"), ("_lsb", "LSB"), ("_bytes", "B"), ("_j", "J"), ("_w", "W"), ("_v", "V"), ("_s", "s"), ("_m", "m"),
)
_UNIT_NAMES = {"bits": "bit", "ref_bits": "bit", "floor_bits": "bit", "bytes_per_activation": "B",
               "bytes_per_weight": "B", "word_bytes": "B", "v_high": "V", "v_low": "V", "gain": "V/V"}


def field_unit(name: str) -> str:
    """The unit of config field ``name`` read from its name (``clock_hz`` -> ``Hz``, ``mac_energy_j`` -> ``J``); ""
    for dimensionless fields (counts, fractions, choices)."""
    if name in _UNIT_NAMES:
        return _UNIT_NAMES[name]
    for suffix, unit in sorted(_UNIT_SUFFIXES, key=lambda su: -len(su[0])):
        if name.endswith(suffix):
            return unit
    return ""


@dataclass(frozen=True)
class PresetValue:
    """One value of a preset: the whole dotted field name, the value, its unit and where it comes from (the preset
    file's comment on that line, the preset it was taken from, or the config default and its documented source)."""

    field: str
    value: Any
    unit: str
    source: str


def _strip_comment(line: str) -> tuple[str, str]:
    """(YAML text, comment) of one line; a ``#`` inside quotes is text."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote is None:
            quote = ch
        elif ch == quote:
            quote = None
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def _line_comments(path: Path) -> dict[str, str]:
    """{dotted key: the comment on its line} of a block-style YAML file (the presets' layout)."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for raw in path.read_text().splitlines():
        text, comment = _strip_comment(raw)
        if not text.strip() or ":" not in text:
            continue
        indent = len(text) - len(text.lstrip())
        key = text.strip().split(":", 1)[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if comment:
            out[".".join(k for _, k in stack)] = comment
    return out


def _references(path: Path) -> dict[str, str]:
    """{tag: text} of the ``[tag] text`` source list in a preset's leading comment."""
    refs: dict[str, str] = {}
    tag = None
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if body.startswith("[") and "]" in body:
            tag, _, text = body[1:].partition("]")
            refs[tag] = text.strip()
        elif tag is not None and line.startswith("#   "):  # an indented continuation of the last source
            refs[tag] += " " + body
        else:
            tag = None
    return refs


def _with_references(comment: str, refs: dict[str, str]) -> str:
    used = [t for t in refs if f"[{t}]" in comment]
    return comment + "".join(f" [{t}: {refs[t]}]" for t in used)


def preset_values(name: str) -> list[PresetValue]:
    """Every field of preset ``name``, nested configs as dotted names, with its unit and its source: the comment on
    the preset file's line (source tags like ``[horowitz]`` expanded from the file's source list), the preset a
    nested config names (``systolic: edge-tpu``) and that preset's comments, or ``default: <the field's documented
    source>`` for a field the preset leaves out."""
    path = preset_path(name)
    kind, _, fields = _classify(name, path, read_yaml(path))
    cfg = parse_config(preset_class(kind), fields, source=f"preset '{name}' ({path.name})")
    return _values(cfg, fields if isinstance(fields, dict) else {}, path, "config." if _explicit(path) else "", "")


def _explicit(path: Path) -> bool:
    data = read_yaml(path)
    return isinstance(data, dict) and "kind" in data and "config" in data


def _given(given: dict, fname: str) -> tuple[Any, str | None]:
    """(raw value, its key path in the file) of field ``fname``: at the top of ``given`` or one mapping down (the
    system presets name their units' presets under ``units:``); (None, None) when the file does not set it."""
    if fname in given:
        return given[fname], fname
    for key, sub in given.items():
        if isinstance(sub, dict) and fname in sub:
            return sub[fname], f"{key}.{fname}"
    return None, None


def _values(cfg: ConfigModel, given: dict, path: Path, key_prefix: str, prefix: str) -> list[PresetValue]:
    comments, refs = _line_comments(path), _references(path)
    used = cfg.used_values() if hasattr(cfg, "used_values") else {}  # values the models use instead of the stored
    rows: list[PresetValue] = []
    for fname, info in type(cfg).model_fields.items():
        value = getattr(cfg, fname)
        if fname in used:
            rows.append(PresetValue(f"{prefix}{fname}", used[fname][0], field_unit(fname), used[fname][1]))
            continue
        dotted = f"{prefix}{fname}"
        raw, key = _given(given, fname)
        comment = _with_references(comments.get(f"{key_prefix}{key}", ""), refs) if key else ""
        if isinstance(value, ConfigModel):
            if isinstance(raw, str) and (PRESET_DIR / f"{raw}.yaml").is_file():  # a nested config named by its preset
                sub_path = preset_path(raw)
                sub_fields = read_yaml(sub_path)
                sub_fields = sub_fields.get("config", sub_fields) if isinstance(sub_fields, dict) else {}
                rows.extend(_values(value, sub_fields, sub_path, "config." if _explicit(sub_path) else "",
                                    f"{dotted}."))
            else:
                rows.extend(_values(value, raw if isinstance(raw, dict) else {}, path, f"{key_prefix}{key}.",
                                    f"{dotted}."))
            continue
        if key is not None:
            source = f"{path.stem}: {comment}" if comment else f"{path.stem} (no comment on this value)"
        else:
            source = f"default: {info.description or 'no documented source'}"
        rows.append(PresetValue(dotted, value, field_unit(fname), source))
    return rows
