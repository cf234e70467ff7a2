"""Errors a user can cause.

Every error that comes from user input (a config file, a topology file, a checkpoint, a CLI flag, a model with an
unsupported op) is an :class:`ImcsimError`. Its message is one line that names the file, row or field and the bad
value; the CLI prints that line and exits with status 2. Anything else escaping the library is a bug.
"""

from __future__ import annotations


class ImcsimError(Exception):
    """Base class of every user-caused error in imcsim."""


class ConfigError(ImcsimError):
    """A hardware config, preset name or config file field is invalid."""


class TopologyError(ImcsimError):
    """A topology file (SCALE-Sim conv or GEMM CSV) is malformed."""


class ModelError(ImcsimError):
    """A model name is unknown or a torch model uses an unsupported op."""


class DataError(ImcsimError):
    """A dataset file is missing or malformed."""


class WeightLevelError(DataError):
    """A weight or bias value is not a level of its precision (IMAC: -1, 0, +1; binary: -1, +1). Every path raises
    this one class: a CSV of weights, a deployment's weights, an array given to the cost model or the circuit."""


class CheckpointError(ImcsimError):
    """A checkpoint or deployment directory is missing or malformed."""


class OutputError(ImcsimError):
    """An output path cannot be written (its directory is missing, it is a directory, the write failed)."""


class DivergenceError(ImcsimError):
    """Training diverged (a non-finite loss or weights); the run directory keeps its last good checkpoint."""
