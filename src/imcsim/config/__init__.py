"""Typed hardware configs (pydantic) and the presets shipped with imcsim."""

from imcsim.config.base import ConfigModel, load_config, parse_config, read_yaml

__all__ = ["ConfigModel", "load_config", "parse_config", "read_yaml"]
