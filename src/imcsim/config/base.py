"""Shared machinery for the typed hardware configs.

Every config is a frozen pydantic model that forbids unknown keys, so a typo in a YAML file is an error rather than a
silently ignored setting. :func:`load_config` turns pydantic's multi-line validation report into one
:class:`~imcsim.errors.ConfigError` line naming the file, the field and the offending value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from imcsim.errors import ConfigError

__all__ = ["ConfigModel", "load_config", "parse_config", "read_yaml", "set_path", "changed_fields"]


class ConfigModel(BaseModel):
    """Base of all hardware configs: immutable, strict about unknown keys, about booleans given for numbers
    (``rows: true`` is a typo, not 1) and about infinite or NaN floats (a field that means something by ``.inf``
    opts in with ``Field(allow_inf_nan=True)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name in _numeric_fields(cls):
            raise ValueError("expected a number, not a boolean")
        return value

    def replace(self, **changes: Any) -> "ConfigModel":
        """Return a validated copy with ``changes`` applied (field name -> value)."""
        data = self.model_dump()
        data.update(changes)
        return parse_config(type(self), data, source=f"{type(self).__name__} override")

    def replace_path(self, path: str, value: Any) -> "ConfigModel":
        """Return a validated copy with the field at dotted ``path`` (``"imac.adc.bits"``) set to ``value``.

        The new value goes through the model's own validation (a preset name for a unit, bounds, cross-field
        checks); an unknown path or a refused value raises a one-line :class:`ConfigError` naming the path and the
        value.
        """
        return self.replace_paths({path: value})

    def replace_paths(self, changes: Mapping[str, Any]) -> "ConfigModel":
        """Return a validated copy with every ``{dotted path: value}`` of ``changes`` applied, validated once."""
        data = self.model_dump()
        for path, value in changes.items():
            set_path(self, data, path, value)
        if not changes:
            return self
        try:
            return type(self).model_validate(data)
        except ValidationError as exc:
            msg = _format_validation_error(exc, f"{type(self).__name__} override")
            if not any(f"'{p}'" in msg for p in changes):  # a check elsewhere refused: say what was set
                msg += " (setting " + ", ".join(f"'{p}' = {v!r}" for p, v in changes.items()) + ")"
            raise ConfigError(msg) from None


C = TypeVar("C", bound=ConfigModel)


@cache
def _numeric_fields(cls: type[ConfigModel]) -> frozenset[str]:
    """Names of the fields of ``cls`` that take an int or a float but not a bool."""

    def types_of(ann: Any) -> set[Any]:
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            return set().union(*(types_of(a) for a in typing.get_args(ann)))
        if typing.get_origin(ann) is typing.Annotated:
            return types_of(typing.get_args(ann)[0])
        return {ann}

    names = set()
    for name, field in cls.model_fields.items():
        kinds = types_of(field.annotation)
        if kinds & {int, float} and bool not in kinds:
            names.add(name)
    return frozenset(names)


def changed_fields(before: BaseModel, after: BaseModel) -> dict[str, Any]:
    """{dotted field: value in ``after``} of every field that differs between two configs of the same class (what
    an override changed, for reports)."""
    out: dict[str, Any] = {}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in b:
                walk(a.get(k), b[k], f"{path}.{k}" if path else k)
        elif a != b:
            out[path] = b

    walk(before.model_dump(mode="json"), after.model_dump(mode="json"), "")
    return out


def set_path(model: BaseModel, data: dict, path: str, value: Any) -> None:
    """Set dotted ``path`` in ``data`` (a ``model.model_dump()``) to ``value``, in place.

    Every step of the path must name a field of the model at that level (a mapping field such as
    ``placement.layers.fc3`` takes any key); ConfigError naming the path otherwise.
    """
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise ConfigError(f"config path {path!r}: expected dotted field names such as 'imac.adc.bits'")
    parts = path.split(".")
    node: Any = data
    current: Any = model
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(current, BaseModel):
            if part not in type(current).model_fields:
                where = ".".join(parts[:i]) or type(model).__name__
                known = ", ".join(type(current).model_fields)
                raise ConfigError(f"config path '{path}' = {value!r}: '{part}' is not a field of {where} "
                                  f"(fields: {known})")
            current = getattr(current, part)
        elif isinstance(current, Mapping) and isinstance(node, dict):
            current = current.get(part)
        else:
            raise ConfigError(f"config path '{path}' = {value!r}: '{'.'.join(parts[:i])}' has no fields")
        if last:
            node[part] = value
            return
        child = node.get(part)
        if child is None:  # an unset entry of a mapping field
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"config path '{path}' = {value!r}: '{'.'.join(parts[:i + 1])}' has no fields")
        node = child


def _format_validation_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{source}: unknown key '{loc}'"
    if kind == "missing":
        return f"{source}: missing required key '{loc}'"
    msg = err["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    if not err["loc"]:  # a check across fields (model validator): the message names the fields and values
        return f"{source}: {msg}{suffix}"
    if isinstance(value, dict):  # a check across a sub-config's fields: its message names them and their values
        return f"{source}: field '{loc}': {msg}{suffix}"
    return f"{source}: field '{loc}' = {value!r}: {msg}{suffix}"


def parse_config(cls: type[C], data: Any, source: str = "config") -> C:
    """Validate ``data`` (a mapping) as ``cls``; raise a one-line :class:`ConfigError` on failure."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, raising :class:`ConfigError` naming the file when it is missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file ({getattr(exc, 'strerror', None) or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None


def load_config(cls: type[C], path: str | Path, section: str | None = None) -> C:
    """Load ``cls`` from a YAML file, optionally from one top-level ``section`` of it."""
    data = read_yaml(path)
    if section is not None:
        if not isinstance(data, dict) or section not in data:
            raise ConfigError(f"{path}: missing section '{section}'")
        data = data[section]
    return parse_config(cls, data, source=str(path))
