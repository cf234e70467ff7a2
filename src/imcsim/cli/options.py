"""Options shared by every command: one ``--format`` choice, and flag defaults read from the config models.

``table`` is for people, ``json`` (SI units, fractions) for scripts, ``csv`` where the result is one table. A
command that cannot print a format says so naming the flag and the value (:func:`check_format`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from imcsim.errors import ConfigError

__all__ = ["Format", "check_format", "config_default"]


class Format(str, Enum):
    """The output formats of every command."""

    table = "table"
    json = "json"
    csv = "csv"


def check_format(fmt: Format | str, allowed: tuple[str, ...], command: str) -> Format:
    """``fmt`` as a :class:`Format` when ``command`` prints it; ConfigError naming ``--format`` and the value
    otherwise."""
    value = fmt.value if isinstance(fmt, Format) else str(fmt)
    if value not in allowed:
        raise ConfigError(f"--format {value!r}: {command} prints {', '.join(allowed)}")
    return Format(value)


def config_default(model: type, field: str) -> Any:
    """The default of ``model``'s field ``field`` (a pydantic config class): CLI flags take their defaults from
    here so that a default lives in one place, the config."""
    info = model.model_fields[field]
    return info.get_default(call_default_factory=True)
