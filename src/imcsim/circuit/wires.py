"""Re-exports the wire technology config, which lives in :mod:`imcsim.config.wires` (configs sit below circuit/ in
the import order). ``imcsim.circuit.wires`` stays importable because it was a public path."""

from imcsim.config.wires import EPS0_F_PER_M, TECH_NODES, WireConfig, size_effect_resistivity, tech

__all__ = ["WireConfig", "size_effect_resistivity", "tech", "TECH_NODES", "EPS0_F_PER_M"]
