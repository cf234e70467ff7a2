"""Options shared by every command: one ``--format`` choice, and flag defaults read from the config models.

``table`` is for people, ``json`` (SI units, fractions) for scripts, ``csv`` where the result is one table. A
command that cannot print a format says so naming the flag and the value (:func:`check_format`).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from imcsim.errors import ConfigError
from imcsim.train.config import HARDWARE_FIELDS

__all__ = ["Format", "check_format", "config_default", "HARDWARE_FLAGS", "VariationOpt", "VariationKindOpt",
           "StuckLowOpt", "StuckHighOpt", "ReadNoiseOpt", "AdcBitsOpt", "AdcInlOpt", "AdcDnlOpt", "AdcOffsetOpt",
           "AdcGainOpt", "DacBitsOpt"]


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


# ----- IMAC hardware flags shared by `train` and `evaluate` ---------------------------------------------------------
# Each flag changes one IMACConfig field; None keeps the value of the config in use (the run's for evaluate, the
# target's IMAC unit or --imac for train). The help names the field and its config default, read from the model.
def _hw_help(what: str, path: str) -> str:
    from imcsim.config.imac import DACConfig, IMACConfig

    section, field = path.split(".")
    model = {"dac": DACConfig}.get(section) or type(getattr(IMACConfig(), section))
    return f"{what} (sets {section}.{field}; unset keeps the config's value, default {config_default(model, field)!r})."


#: flag parameter name -> IMACConfig field (dotted path): the one map from flags to config fields.
HARDWARE_FLAGS = HARDWARE_FIELDS

VariationOpt = Annotated[Optional[float], typer.Option(
    "--variation", help=_hw_help("Relative device variation (fraction)", HARDWARE_FLAGS["variation"]))]
VariationKindOpt = Annotated[Optional[str], typer.Option(
    "--variation-kind", help=_hw_help("uniform or gaussian", HARDWARE_FLAGS["variation_kind"]))]
StuckLowOpt = Annotated[Optional[float], typer.Option(
    "--stuck-low", help=_hw_help("Fraction of devices stuck at R_low", HARDWARE_FLAGS["stuck_low"]))]
StuckHighOpt = Annotated[Optional[float], typer.Option(
    "--stuck-high", help=_hw_help("Fraction of devices stuck at R_high", HARDWARE_FLAGS["stuck_high"]))]
ReadNoiseOpt = Annotated[Optional[float], typer.Option(
    "--read-noise", help=_hw_help("Relative read noise (sigma)", HARDWARE_FLAGS["read_noise"]))]
AdcBitsOpt = Annotated[Optional[int], typer.Option(
    "--adc-bits", help=_hw_help("Output ADC resolution (bits)", HARDWARE_FLAGS["adc_bits"]))]
AdcInlOpt = Annotated[Optional[float], typer.Option(
    "--adc-inl", help=_hw_help("ADC peak INL (LSB)", HARDWARE_FLAGS["adc_inl"]))]
AdcDnlOpt = Annotated[Optional[float], typer.Option(
    "--adc-dnl", help=_hw_help("ADC DNL (LSB, sigma)", HARDWARE_FLAGS["adc_dnl"]))]
AdcOffsetOpt = Annotated[Optional[float], typer.Option(
    "--adc-offset", help=_hw_help("ADC offset (LSB, sigma)", HARDWARE_FLAGS["adc_offset"]))]
AdcGainOpt = Annotated[Optional[float], typer.Option(
    "--adc-gain", help=_hw_help("ADC gain error (fraction, sigma)", HARDWARE_FLAGS["adc_gain"]))]
DacBitsOpt = Annotated[Optional[int], typer.Option(
    "--dac-bits", help=_hw_help("Input DAC resolution (bits)", HARDWARE_FLAGS["dac_bits"]))]
