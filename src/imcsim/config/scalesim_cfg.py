"""Read a SCALE-Sim (v2/v3) ``.cfg`` file into a :class:`~imcsim.config.systolic.SystolicConfig`.

Names and units follow SCALE-Sim 3.0.0's own parser (``scalesim/scale_config.py``) and its sample configs
(``configs/scale.cfg``, ``configs/google.cfg``). Keys are case-insensitive, as in Python's ``configparser``.

``[architecture_presets]`` (required):
  ``ArrayHeight``, ``ArrayWidth`` (PEs), ``IfmapSramSzkB``, ``FilterSramSzkB``, ``OfmapSramSzkB`` (KiB = 1024 bytes
  of 1-byte words), ``Dataflow`` (os | ws | is), ``Bandwidth`` (words/cycle; a comma-separated list, of which
  SCALE-Sim uses the first; required in USER mode). Offsets, request-buffer sizes and ``MemoryBanks`` are read by
  SCALE-Sim but do not change its cycle counts; we accept and ignore them.
``[run_presets]``:
  ``InterfaceBandwidth``: ``CALC`` = ideal memory (SCALE-Sim estimates the bandwidth a stall-free run needs; we set
  ``dram_bandwidth_words_per_cycle = None``) or ``USER`` = the given ``Bandwidth``. Absent = CALC.
  ``UseRamulatorTrace: True`` is not supported (it needs Ramulator traces on disk).
``[layout]`` (optional): with ``USER`` bandwidth, SCALE-Sim 3.0.0 reads ifmaps and filters from DRAM at
  ``IfmapSRAMBankBandwidth`` and ``FilterSRAMBankBandwidth`` and uses ``Bandwidth`` only for the ofmap drain; we do
  the same (the per-operand bandwidth overrides of SystolicConfig). Custom layouts are not supported.
``[sparsity]`` (optional): ``SparsitySupport: true`` is not supported.

Any other section or key is ignored, as SCALE-Sim ignores it. Errors name the file, section, key and value.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from imcsim.config.base import parse_config
from imcsim.config.systolic import SystolicConfig
from imcsim.errors import ConfigError

__all__ = ["read_scalesim_cfg"]

_ARCH = "architecture_presets"


def _get(cp: configparser.ConfigParser, path: Path, section: str, key: str, required: bool = True) -> str | None:
    if not cp.has_section(section):
        if required:
            raise ConfigError(f"{path}: missing section [{section}]")
        return None
    if not cp.has_option(section, key):
        if required:
            raise ConfigError(f"{path}: [{section}] missing key '{key}'")
        return None
    return cp.get(section, key).strip()


def _positive_int(path: Path, section: str, key: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{path}: [{section}] {key} = {raw!r}: not an integer") from None
    if value < 1:
        raise ConfigError(f"{path}: [{section}] {key} = {raw!r}: must be a positive integer")
    return value


def _bool(path: Path, section: str, key: str, raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{path}: [{section}] {key} = {raw!r}: expected True or False")


def read_scalesim_cfg(path: str | Path) -> SystolicConfig:
    """Parse a SCALE-Sim ``.cfg`` file; ConfigError with one line naming file, section, key and value on error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such SCALE-Sim config file")
    cp = configparser.ConfigParser()
    try:
        cp.read_string(p.read_text(), source=str(p))
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{p}: not a valid SCALE-Sim config ({first})") from None

    def arch_int(key: str) -> int:
        return _positive_int(p, _ARCH, key, _get(cp, p, _ARCH, key))

    rows, cols = arch_int("ArrayHeight"), arch_int("ArrayWidth")
    ifmap_kb, filter_kb, ofmap_kb = arch_int("IfmapSramSzkB"), arch_int("FilterSramSzkB"), arch_int("OfmapSramSzkB")
    dataflow = _get(cp, p, _ARCH, "Dataflow")
    if dataflow not in ("os", "ws", "is"):
        raise ConfigError(f"{p}: [{_ARCH}] Dataflow = {dataflow!r}: expected os, ws or is")

    mode = _get(cp, p, "run_presets", "InterfaceBandwidth", required=False) or "CALC"
    if mode not in ("CALC", "USER"):
        raise ConfigError(f"{p}: [run_presets] InterfaceBandwidth = {mode!r}: expected CALC or USER")
    ramulator = _get(cp, p, "run_presets", "UseRamulatorTrace", required=False)
    if ramulator is not None and _bool(p, "run_presets", "UseRamulatorTrace", ramulator):
        raise ConfigError(f"{p}: [run_presets] UseRamulatorTrace = {ramulator!r}: Ramulator traces are not supported")
    sparsity = _get(cp, p, "sparsity", "SparsitySupport", required=False)
    if sparsity is not None and _bool(p, "sparsity", "SparsitySupport", sparsity):
        raise ConfigError(f"{p}: [sparsity] SparsitySupport = {sparsity!r}: sparse arrays are not supported")
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        raw = _get(cp, p, "layout", key, required=False)
        if raw is not None and _bool(p, "layout", key, raw):
            raise ConfigError(f"{p}: [layout] {key} = {raw!r}: custom layouts are not supported")

    bw = bw_if = bw_f = None
    if mode == "USER":
        raw = _get(cp, p, _ARCH, "Bandwidth")
        first = raw.split(",")[0].strip()
        bw = _positive_int(p, _ARCH, "Bandwidth", first)
        for key in ("IfmapSRAMBankBandwidth", "FilterSRAMBankBandwidth"):
            rawl = _get(cp, p, "layout", key, required=False)
            if rawl is not None:
                value = _positive_int(p, "layout", key, rawl)
                if key.startswith("Ifmap"):
                    bw_if = value
                else:
                    bw_f = value

    data = {
        "rows": rows, "cols": cols, "dataflow": dataflow,
        "ifmap_sram_bytes": ifmap_kb * 1024, "filter_sram_bytes": filter_kb * 1024, "ofmap_sram_bytes": ofmap_kb * 1024,
        "dram_bandwidth_words_per_cycle": bw,
        "ifmap_dram_bandwidth_words_per_cycle": bw_if, "filter_dram_bandwidth_words_per_cycle": bw_f,
        "word_bytes": 1,
    }
    return parse_config(SystolicConfig, data, source=str(p))
