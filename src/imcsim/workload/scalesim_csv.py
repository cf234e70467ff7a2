"""Read and write SCALE-Sim topology files (the conv format and the ``M, N, K`` GEMM format).

Conventions follow SCALE-Sim 3.0.0's own reader (``scalesim/topology_utils.py``) and the sample topologies it ships:

* The first line is a header and is skipped; blank lines are skipped; fields are separated by commas and stripped.
* SCALE-Sim drops whatever follows the last comma of a row, so its files end every row with a comma (and some put a
  ``#`` note after it). We drop that last field when it is empty or starts with ``#``; a row without the trailing
  comma is accepted as is (SCALE-Sim itself would lose that row's last value). Files we write always end each row,
  the header included, with a comma.
* Conv format, 8 columns: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides`` and an optional 9th, ``Sparsity`` as ``N:M`` (kept in ``Layer.extra["sparsity"]``). There is
  one stride for both directions.
* GEMM format, 4 columns: ``Layer Name, M, N, K`` and the same optional ``Sparsity``. SCALE-Sim's GEMM is
  (M x K) x (K x N): M output rows (pixels), K the reduction length, N the outputs (filters).

Reading:

* A conv row's output size uses SCALE-Sim's rule ``E = ceil((H - F + S) / S)`` per dimension. torch's rule,
  ``floor((H - F) / S) + 1``, gives one less when ``(H - F)`` is not a multiple of ``S``: a layer read from a file
  keeps SCALE-Sim's size. SCALE-Sim has no padding: the IFMAP size in a file is the already padded size, and layers
  read back have ``pad = 0``.
* A conv row whose name contains ``DP`` is depthwise, as in SCALE-Sim (which runs it as one single-channel layer
  per input channel, each with ``Num Filter`` filters): it becomes one ``conv2d`` layer with ``groups = Channels``
  and ``Channels x Num Filter`` outputs, whose :meth:`Layer.as_gemm` is exactly those per-channel products.
* A dense layer at batch 1 (a conv row with a 1x1 IFMAP, a 1x1 filter and stride 1; a GEMM row with M = 1) is read
  as kind ``linear``; any other GEMM row as kind ``gemm``. Layers read from files have no bias.
* A repeated layer name (SCALE-Sim allows them) gets ``_row<N>`` appended, N its row number.
* Malformed input raises :class:`~imcsim.errors.TopologyError` with one line naming the file, the 1-based row number
  (the header is row 1) and column, and the bad value.

Writing (:func:`write_topology`, atomic: a temporary file in the same directory, then ``os.replace``):

* Only layers with multiply-accumulates are written (conv2d, linear, gemm); pooling, activations, additions and
  reshapes have no row in SCALE-Sim.
* A padded conv layer is written with its **pre-padded input size** ``H + 2P`` (SCALE-Sim users pre-pad), so that
  SCALE-Sim convolves the same window positions. Where torch's floor rule and SCALE-Sim's ceil rule differ, SCALE-Sim
  then computes one more output row/column than torch did; the GEMM format writes the layer's own M instead.
* A dense layer is written as SCALE-Sim users write one: a 1x1 IFMAP, a 1x1 filter, Channels = inputs,
  Num Filter = outputs (conv format), or M = 1 (GEMM format); a dense layer on T token rows has an IFMAP of its
  token grid (1 x T), or M = T. A bare GEMM layer in the conv format becomes an M x 1 IFMAP with a 1x1 filter,
  Channels = K and Num Filter = N (one row per group, as below).
* SCALE-Sim has no grouped convolution. A depthwise layer (groups = in channels) is written in the conv format as
  one ``DP`` row (the name gets ``_DP`` appended unless it already holds ``DP``; Channels = in channels, Num Filter =
  the depth multiplier), SCALE-Sim's own convention. Any other grouped layer, and every grouped layer in the GEMM
  format, is written as one row per group named ``<name>_g<i>``, each with ``in/groups`` channels and ``out/groups``
  filters. A non-depthwise layer whose name contains ``DP`` is written with ``DP`` replaced by ``Dp`` so that
  SCALE-Sim does not take it for a depthwise layer.
* The conv format has one stride column: a layer with different vertical and horizontal strides is refused
  (TopologyError; write the GEMM format instead). Names may not contain commas or line breaks.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from imcsim.errors import TopologyError
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["read_topology", "write_topology", "CONV_COLUMNS", "GEMM_COLUMNS", "to_rows"]

#: Column names of the conv format, as in SCALE-Sim's sample topologies.
CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
#: Column names of the GEMM format, as in SCALE-Sim's sample topologies.
GEMM_COLUMNS = ("Layer Name", "M", "N", "K")
_SPARSITY = "Sparsity"


# ----- reading ------------------------------------------------------------------------------------------------------

def read_topology(path: str | os.PathLike, gemm: bool = False) -> Network:
    """Read a SCALE-Sim topology file.

    Args:
        path: the CSV file.
        gemm: True for the GEMM format (``Layer Name, M, N, K``), False for the conv format.

    Returns:
        A :class:`Network` named after the file's stem, one layer per row (see the module docstring for kinds).

    Raises:
        TopologyError: missing or unreadable file, no layer rows, wrong column count, a non-integer, zero or negative
            size, a malformed sparsity, or a filter larger than its IFMAP.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise TopologyError(f"{p}: no such topology file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"{p}: cannot read topology file ({exc})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TopologyError(f"{p}: row 1: empty file; expected a header row ({', '.join(_columns(gemm))},)")
    _check_header(p, lines[0], gemm)

    layers: list[Layer] = []
    names: set[str] = set()
    for row, line in enumerate(lines[1:], start=2):
        fields = _fields(line)
        if fields is None:
            continue
        try:
            layer = _gemm_row(p, row, fields) if gemm else _conv_row(p, row, fields)
        except TopologyError as exc:
            if str(exc).startswith(f"{p}: "):
                raise
            raise TopologyError(f"{p}: row {row}: {exc}") from None  # a Layer check: add the file and row
        if layer.name in names:
            layer = _renamed(layer, f"{layer.name}_row{row}")
        names.add(layer.name)
        layers.append(layer)
    if not layers:
        raise TopologyError(f"{p}: no layer rows after the header")
    return Network(p.stem, tuple(layers), meta={"source": str(p), "format": "gemm" if gemm else "conv"})


def _columns(gemm: bool) -> tuple[str, ...]:
    return GEMM_COLUMNS if gemm else CONV_COLUMNS


def _fields(line: str) -> list[str] | None:
    """The stripped fields of a row, without SCALE-Sim's ignored text after the last comma; None for a blank row."""
    if not line.strip():
        return None
    fields = [f.strip() for f in line.split(",")]
    if len(fields) > 1 and (fields[-1] == "" or fields[-1].startswith("#")):
        fields.pop()
    return fields


def _check_header(path: Path, line: str, gemm: bool) -> None:
    """SCALE-Sim skips the first line unread; refuse a first line that is clearly a layer row (a lost layer)."""
    fields = _fields(line) or []
    numeric = [f for f in fields[1:] if f.lstrip("+-").isdigit()]
    if len(fields) >= len(_columns(gemm)) and len(numeric) >= len(_columns(gemm)) - 1:
        raise TopologyError(f"{path}: row 1: {line.strip()!r} looks like a layer row, but the first row must be the "
                            f"header ({', '.join(_columns(gemm))},)")


def _check_count(path: Path, row: int, fields: list[str], columns: tuple[str, ...]) -> None:
    if len(fields) not in (len(columns), len(columns) + 1):
        raise TopologyError(
            f"{path}: row {row}: expected {len(columns)} columns ({', '.join(columns)}) and an optional "
            f"{_SPARSITY}, got {len(fields)}: {','.join(fields)!r}")


def _positive(path: Path, row: int, column: str, value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise TopologyError(f"{path}: row {row}, column '{column}': {value!r} is not an integer") from None
    if v < 1:
        raise TopologyError(f"{path}: row {row}, column '{column}': {value!r} must be a positive integer")
    return v


def _name(path: Path, row: int, column: str, value: str) -> str:
    if not value:
        raise TopologyError(f"{path}: row {row}, column '{column}': empty layer name")
    return value


def _sparsity(path: Path, row: int, fields: list[str], n_columns: int) -> dict:
    if len(fields) == n_columns:
        return {}
    value = fields[n_columns]
    parts = value.split(":")
    try:
        n, m = (int(x) for x in parts)
    except ValueError:
        n = m = -1
    if len(parts) != 2 or not (0 < n <= m):
        raise TopologyError(f"{path}: row {row}, column '{_SPARSITY}': {value!r} must be N:M with 0 < N <= M")
    return {"sparsity": f"{n}:{m}"}


def _conv_row(path: Path, row: int, fields: list[str]) -> Layer:
    _check_count(path, row, fields, CONV_COLUMNS)
    name = _name(path, row, CONV_COLUMNS[0], fields[0])
    h, w, fh, fw, c, nf, s = (_positive(path, row, col, v) for col, v in zip(CONV_COLUMNS[1:], fields[1:8]))
    if fh > h:
        raise TopologyError(f"{path}: row {row}, column 'Filter Height': {fh} is larger than IFMAP Height {h}")
    if fw > w:
        raise TopologyError(f"{path}: row {row}, column 'Filter Width': {fw} is larger than IFMAP Width {w}")
    extra = _sparsity(path, row, fields, len(CONV_COLUMNS))
    # SCALE-Sim's output rule (topology_utils.topo_calc_hyperparams): E = ceil((H - F + S) / S).
    eh, ew = math.ceil((h - fh + s) / s), math.ceil((w - fw + s) / s)
    if "DP" in name:
        layer = Layer(name, LayerKind.CONV2D, h, w, c, eh, ew, c * nf, fh, fw, s, s, groups=c, op="topology")
    elif h == w == fh == fw == s == 1:
        layer = Layer(name, LayerKind.LINEAR, 1, 1, c, 1, 1, nf, op="topology")
    else:
        layer = Layer(name, LayerKind.CONV2D, h, w, c, eh, ew, nf, fh, fw, s, s, op="topology")
    layer.extra.update(extra, row=row)
    return layer


def _gemm_row(path: Path, row: int, fields: list[str]) -> Layer:
    _check_count(path, row, fields, GEMM_COLUMNS)
    name = _name(path, row, GEMM_COLUMNS[0], fields[0])
    m, n, k = (_positive(path, row, col, v) for col, v in zip(GEMM_COLUMNS[1:], fields[1:4]))
    extra = _sparsity(path, row, fields, len(GEMM_COLUMNS))
    if m == 1:
        layer = Layer(name, LayerKind.LINEAR, 1, 1, k, 1, 1, n, op="topology")
    else:
        layer = Layer.gemm(name, m, n, k)
    layer.extra.update(extra, row=row)
    return layer


def _renamed(layer: Layer, name: str) -> Layer:
    from dataclasses import replace

    return replace(layer, name=name, extra=dict(layer.extra))  # its own extra dict, not the original's


# ----- writing ------------------------------------------------------------------------------------------------------

def to_rows(network: Network, gemm: bool = False) -> list[list[str | int]]:
    """The rows :func:`write_topology` writes (without the header), one list of values per row."""
    rows: list[list[str | int]] = []
    for layer in network.layers:
        if not layer.kind.has_weights:
            continue
        if any(ch in layer.name for ch in ",\n\r"):
            raise TopologyError(f"layer '{layer.name}': a SCALE-Sim layer name may not contain commas or line breaks")
        sparsity = [layer.extra["sparsity"]] if "sparsity" in layer.extra else []
        rows.extend(r + sparsity for r in (_gemm_rows(layer) if gemm else _conv_rows(layer)))
    if not rows:
        raise TopologyError(f"network '{network.name}': no conv2d, linear or gemm layer to write")
    return rows


def _group_names(layer: Layer) -> list[str]:
    return [layer.name] if layer.groups == 1 else [f"{layer.name}_g{i}" for i in range(layer.groups)]


def _gemm_rows(layer: Layer) -> list[list[str | int]]:
    g = layer.as_gemm()
    return [[name, g.m, g.n, g.k] for name in _group_names(layer)]


def _conv_rows(layer: Layer) -> list[list[str | int]]:
    if layer.kind == LayerKind.LINEAR:  # a 1 x 1 convolution over its token rows (M = in_h * in_w)
        return [[_no_dp(layer.name), layer.in_h, layer.in_w, 1, 1, layer.in_c, layer.out_c, 1]]
    if layer.kind == LayerKind.GEMM:
        return [[_no_dp(name), layer.m, 1, 1, 1, layer.k, layer.out_c, 1] for name in _group_names(layer)]
    if layer.stride_h != layer.stride_w:
        raise TopologyError(f"layer '{layer.name}': stride {layer.stride_h}x{layer.stride_w} cannot be written in "
                            f"SCALE-Sim's conv format (one stride column); write the GEMM format")
    geometry = [layer.padded_in_h, layer.padded_in_w, layer.kernel_h, layer.kernel_w]
    if layer.is_depthwise or (layer.groups > 1 and layer.groups == layer.in_c):
        name = layer.name if "DP" in layer.name else f"{layer.name}_DP"
        return [[name, *geometry, layer.in_c, layer.out_c // layer.groups, layer.stride_h]]
    per_group = [layer.in_c // layer.groups, layer.out_c // layer.groups, layer.stride_h]
    return [[_no_dp(name), *geometry, *per_group] for name in _group_names(layer)]


def _no_dp(name: str) -> str:
    return name.replace("DP", "Dp")


def write_topology(network: Network, path: str | os.PathLike, gemm: bool = False) -> None:
    """Write ``network`` as a SCALE-Sim topology file (conv format, or GEMM format when ``gemm``), atomically.

    See the module docstring for how padded, dense, GEMM, depthwise and grouped layers are written; layers without
    multiply-accumulates are skipped. Raises :class:`TopologyError` when a layer cannot be written (a non-square
    stride in the conv format, a comma in a name) or no layer has multiply-accumulates, and
    :class:`~imcsim.errors.ImcsimError` naming the path when the file cannot be written.
    """
    rows = to_rows(network, gemm)
    header = GEMM_COLUMNS if gemm else CONV_COLUMNS
    if any("sparsity" in lay.extra for lay in network.layers if lay.kind.has_weights):
        rows = [r if len(r) > len(header) else r + ["1:1"] for r in rows]  # a column present in one row, in all
        header = (*header, _SPARSITY)
    text = "".join(", ".join(str(v) for v in r) + ",\n" for r in [list(header), *rows])
    from imcsim.io import write_atomic

    directory = Path(path).parent
    if not directory.is_dir():
        raise TopologyError(f"{path}: directory {directory} does not exist")
    write_atomic(Path(path), text)
