"""Re-exports :mod:`imcsim.io` (atomic writes, strict JSON), which moved to the bottom layer so that circuit/,
workload/ and train/ can use it without importing upward. Import from :mod:`imcsim.io` in new code."""

from imcsim.io import dumps_json, json_safe, write_atomic

__all__ = ["write_atomic", "json_safe", "dumps_json"]
