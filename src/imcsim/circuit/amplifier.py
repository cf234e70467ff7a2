"""Re-exports :class:`AmplifierConfig`, which lives in :mod:`imcsim.config.amplifier` (configs sit below circuit/ in
the import order). ``imcsim.circuit.amplifier`` stays importable because it was a public path."""

from imcsim.config.amplifier import AmplifierConfig

__all__ = ["AmplifierConfig"]
