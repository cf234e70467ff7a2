"""How a dense layer is cut into crossbars: IMAC-Sim's partition formulas, one source for circuit/, nn/ and arch/.

A layer with ``n_in`` inputs and ``n_out`` neurons needs ``n_in + 1`` crossbar rows (the extra row is the bias,
driven from Vdd) and ``n_out`` differential column pairs. On crossbars of ``rows`` x ``cols`` (rows = input lines,
cols = differential column pairs) it is cut into

    horizontal partitions h = ceil((n_in + 1) / rows)   (each with its own differential amplifier per neuron;
                                                          the partition outputs are summed into the neuron input)
    vertical partitions   v = ceil(n_out / cols)

(IMAC-Sim's partitioning, GLSVLSI 2023). The 400-120-84-10 MLP on 32 x 32 crossbars gives h = 13/4/3 and v = 4/3/1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Partition", "partition_layer", "row_slices", "tile_slices"]

@dataclass(frozen=True)
class Partition:
    """The crossbar tiling of one dense layer.

    Attributes:
        n_in: layer inputs (excluding the bias row).
        n_out: layer outputs (neurons).
        rows, cols: crossbar size (input lines x differential column pairs).
        horizontal: partitions along the inputs, ceil((n_in + 1) / rows).
        vertical: partitions along the outputs, ceil(n_out / cols).
    """

    n_in: int
    n_out: int
    rows: int
    cols: int
    horizontal: int
    vertical: int

    @property
    def crossbars(self) -> int:
        """Crossbar arrays used: horizontal x vertical."""
        return self.horizontal * self.vertical

    @property
    def devices(self) -> int:
        """Resistive devices programmed: two per weight and per bias (a differential pair)."""
        return 2 * (self.n_in + 1) * self.n_out

    @property
    def amplifiers(self) -> int:
        """Differential amplifiers: one per neuron in every horizontal partition."""
        return self.horizontal * self.n_out

    @property
    def neurons(self) -> int:
        return self.n_out

def partition_layer(n_in: int, n_out: int, rows: int, cols: int) -> Partition:
    """Tile a dense layer of ``n_in`` inputs and ``n_out`` outputs onto ``rows`` x ``cols`` crossbars."""
    for name, v in (("n_in", n_in), ("n_out", n_out), ("rows", rows), ("cols", cols)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    h = -(-(n_in + 1) // rows)
    v = -(-n_out // cols)
    return Partition(n_in, n_out, rows, cols, h, v)

def row_slices(n_in: int, rows: int) -> list[slice]:
    """Slices of the ``n_in + 1`` crossbar rows (inputs, then the bias row last) held by each horizontal partition.

    Rows are dealt out in order, ``rows`` per partition, so the last partition holds the remainder and the bias row.
    """
    total = n_in + 1
    return [slice(s, min(s + rows, total)) for s in range(0, total, rows)]


def tile_slices(n_in: int, n_out: int, rows: int, cols: int) -> dict[tuple[int, int], tuple[slice, slice]]:
    """The crossbars of a layer: (horizontal p, vertical q) -> (slice of the ``n_in + 1`` rows as in
    :func:`row_slices`, slice of the ``n_out`` outputs, ``cols`` at a time). The one tiling circuit/ and nn/ use."""
    return {(p, q): (rs, slice(c0, min(c0 + cols, n_out)))
            for p, rs in enumerate(row_slices(n_in, rows)) for q, c0 in enumerate(range(0, n_out, cols))}
