"""A multi-layer IMAC network at circuit level: partitioned crossbars, amplifiers and analog neurons.

Each dense layer of ternary weights W (n_out, n_in) and bias b (n_out,) is cut into crossbars by
:func:`imcsim.circuit.partition.row_slices` and ``cols`` column pairs per vertical partition (IMAC-Sim's
partitioning, GLSVLSI 2023). Crossbar rows are the layer inputs followed by the bias row, driven at Vdd;
each tile holds only the cells it uses (as IMAC-Sim's netlists do), and every vertical partition drives its own copy
of the input lines. With linear devices and wires the neuron input of a layer is linear in its inputs:

    v_n = sum_p clip(transimpedance * (I+_p - I-_p), Vss, Vdd) = sum_p clip([x, Vdd]_p @ A_p.T, Vss, Vdd),
    A_p = transimpedance * (T+_p - T-_p)

(:mod:`imcsim.circuit.amplifier`), where T_p is the transfer matrix of tile p from :class:`Crossbar` and every
partition amplifier saturates at its rails (``rails``; IMACConfig's ``vss_v``, ``vdd_v``). While no amplifier
saturates, v_n = [x, Vdd] @ A.T with A the sum of the A_p (:attr:`IMACLayer.effective_matrix`). With ideal
wires A = transimpedance (G_on - G_off) [W, b]. A is computed once per programmed chip (device variation, stuck-at
faults and the output ADC instances of chip ``seed`` from :func:`imcsim.circuit.chip.program_chip`, the chip nn/
evaluates for the same seed); a whole test set then costs one matrix product per layer, and the neuron
(:func:`imcsim.circuit.neuron.neuron_transfer`) drives the next layer. Power per input vector is the power the input
drivers and the bias supply deliver to all crossbars (devices and wires; amplifiers and neurons are not modelled
here), a quadratic form u^T P u with P assembled from the tiles' input admittances.

Weight files in IMAC-Sim's sample layout (its data/README.md): ``W<k>.csv`` holds n_in rows by n_out columns,
``B<k>.csv`` n_out rows by one column, k = 1, 2, ...; ``test_data.csv`` one input per row (IMAC-Sim drives
sign(x) * Vdd), ``test_labels.csv`` one-hot rows (or one integer label per row).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imcsim.circuit.crossbar import Crossbar
from imcsim.circuit.adc import ADCInstances, adc_codes
from imcsim.circuit.chip import Chip, effect_rng, program_chip, read_noise_normals, read_noise_sigma
from imcsim.circuit.devices import check_ternary
from imcsim.circuit.neuron import neuron_transfer
from imcsim.circuit.partition import Partition, partition_layer, tile_slices
from imcsim.config.adc import ADCConfig
from imcsim.config.amplifier import AmplifierConfig
from imcsim.config.device import DeviceConfig
from imcsim.config.neuron import NeuronConfig
from imcsim.config.wires import WireConfig
from imcsim.errors import ConfigError, DataError, WeightLevelError

__all__ = ["IMACLayer", "IMACNetwork", "CircuitEvalResult", "read_matrix_csv", "write_matrix_csv",
           "load_imacsim_weights",
           "save_imacsim_weights", "load_imacsim_dataset", "write_text_atomic"]


# ---------------------------------------------------------------------------------------------------------- CSV I/O
def read_matrix_csv(path: str | Path, allowed: Sequence[float] | None = None, what: str = "value") -> np.ndarray:
    """Read a numeric CSV (no header) as a 2-D float array.

    Raises :class:`DataError` naming the file, the 1-based row and column and the bad cell when a cell is not a
    number, is not finite or when rows differ in length, and :class:`WeightLevelError` when it is not one of
    ``allowed``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a spreadsheet's byte-order mark is not data
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not a text CSV (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not "
                        "UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if "\x00" in text:
        raise DataError(f"{p}: not a text CSV (NUL byte at offset {text.index(chr(0))})")
    rows: list[list[float]] = []
    with io.StringIO(text, newline="") as fh:
        for r, rec in enumerate(csv.reader(fh), start=1):
            if not rec or all(not c.strip() for c in rec):
                continue
            vals = []
            for c, cell in enumerate(rec, start=1):
                try:
                    x = float(cell)
                except ValueError:
                    raise DataError(f"{p}: row {r}, column {c}: {cell.strip()!r} is not a number") from None
                if not np.isfinite(x):
                    raise DataError(f"{p}: row {r}, column {c}: {cell.strip()!r} is not finite")
                if allowed is not None and x not in allowed:
                    ok = ", ".join(f"{a:+g}" if a else "0" for a in allowed)
                    raise WeightLevelError(f"{p}: row {r}, column {c}: {what} {cell.strip()!r} is not one of {ok}")
                vals.append(x)
            if rows and len(vals) != len(rows[0]):
                raise DataError(f"{p}: row {r} has {len(vals)} columns, expected {len(rows[0])}")
            rows.append(vals)
    if not rows:
        raise DataError(f"{p}: empty file")
    return np.array(rows, dtype=float)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, creating missing parent directories (a weights directory);
    :class:`~imcsim.errors.ImcsimError` naming the path when it cannot be written."""
    from imcsim.io import write_atomic

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{p}: cannot create directory '{p.parent}' ({exc.strerror or exc})") from None
    write_atomic(p, text)


def write_matrix_csv(path: str | Path, a: np.ndarray) -> None:
    """Write a 2-D array as CSV (integers without a decimal point), atomically."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    fmt = (lambda x: str(int(x))) if np.all(a == np.round(a)) else (lambda x: repr(float(x)))
    write_text_atomic(Path(path), "".join(",".join(fmt(x) for x in row) + "\n" for row in a))


def load_imacsim_weights(directory: str | Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights and biases from IMAC-Sim's layout: [(W (n_out, n_in), b (n_out,)), ...] from W1.csv/B1.csv, ..."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: no such directory")
    layers = []
    k = 1
    while (d / f"W{k}.csv").is_file():
        w = read_matrix_csv(d / f"W{k}.csv", allowed=(-1.0, 0.0, 1.0), what="weight")  # (n_in, n_out)
        bfile = d / f"B{k}.csv"
        if not bfile.is_file():
            raise DataError(f"{bfile}: missing (every W<k>.csv needs its B<k>.csv)")
        b = read_matrix_csv(bfile, allowed=(-1.0, 0.0, 1.0), what="bias")
        if b.shape[1] != 1 and b.shape[0] == 1:
            b = b.T
        if b.shape != (w.shape[1], 1):
            raise DataError(f"{bfile}: shape {b.shape[0]}x{b.shape[1]}, expected {w.shape[1]}x1 to match {w.shape[1]} "
                            f"columns of W{k}.csv")
        if layers and layers[-1][0].shape[0] != w.shape[0]:
            raise DataError(f"{d / f'W{k}.csv'}: {w.shape[0]} rows, expected {layers[-1][0].shape[0]} (the outputs "
                            f"of layer {k - 1})")
        layers.append((w.T.copy(), b[:, 0].copy()))
        k += 1
    if not layers:
        raise DataError(f"{d}: no W1.csv")
    return layers


def save_imacsim_weights(directory: str | Path, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """Write [(W (n_out, n_in), b (n_out,)), ...] in IMAC-Sim's layout (W<k>.csv n_in x n_out, B<k>.csv n_out x 1)."""
    d = Path(directory)
    for k, (w, b) in enumerate(layers, start=1):
        w = check_ternary(w, f"layer {k} weights")
        b = check_ternary(np.asarray(b).reshape(-1), f"layer {k} bias")
        write_matrix_csv(d / f"W{k}.csv", w.T)
        write_matrix_csv(d / f"B{k}.csv", b[:, None])


def load_imacsim_dataset(inputs: str | Path, labels: str | Path, vdd_v: float = 0.8,
                         binarize: bool = True, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, n_in) in V and integer labels (n,) from IMAC-Sim's test_data.csv / test_labels.csv.

    IMAC-Sim drives sign(x) * Vdd (testIMAC.py); with ``binarize=False`` the values are taken as volts. Labels are
    one-hot rows or a single column of class indices; with ``n_classes`` (the network's outputs) a label outside
    ``0 .. n_classes - 1`` is a DataError naming the file and row.
    """
    x = read_matrix_csv(inputs)
    y = read_matrix_csv(labels)
    if y.shape[1] == 1:
        if not np.all((y >= 0) & (y == np.round(y))):
            r = int(np.argwhere(~((y >= 0) & (y == np.round(y))))[0, 0])
            raise DataError(f"{labels}: row {r + 1}, column 1: label {y[r, 0]:g} is not a class index")
        lab = y[:, 0].astype(int)
    else:
        onehot = (np.isin(y, (0.0, 1.0)).all(axis=1)) & (y.sum(axis=1) == 1)
        if not onehot.all():
            r = int(np.argwhere(~onehot)[0, 0])
            raise DataError(f"{labels}: row {r + 1} is not a one-hot label")
        lab = y.argmax(axis=1)
    if len(lab) != len(x):
        raise DataError(f"{labels}: {len(lab)} labels for {len(x)} inputs in {inputs}")
    if n_classes is not None and len(lab) and lab.max() >= n_classes:
        r = int(np.argmax(lab >= n_classes))
        raise DataError(f"{labels}: row {r + 1}: label {int(lab[r])} is not a class of the {n_classes} network "
                        "outputs")
    return (np.sign(x) * vdd_v if binarize else x), lab


# ---------------------------------------------------------------------------------------------------------- network
@dataclass
class IMACLayer:
    """One IMAC dense layer on partitioned crossbars.

    Attributes:
        weight: (n_out, n_in) in {-1, 0, +1}; bias: (n_out,) in {-1, 0, +1}.
        partition: the crossbar tiling.
        tiles: (p, q) -> (row slice of [inputs, bias], column slice of outputs, Crossbar).
        transimpedance_ohm: amplifier transimpedance of this layer (ohm).
        neuron: the neuron transfer curve.
        vdd_v: bias-row voltage (V).
        rails: (Vss, Vdd) (V) at which each partition amplifier's output saturates; None = unbounded.
        average: True when the neuron input is the mean of the partition outputs (IMAC-Sim's read-out, partitions
            joined through equal resistors), False for their sum (the virtual-ground read-out).
    """

    weight: np.ndarray
    bias: np.ndarray
    partition: Partition
    tiles: dict[tuple[int, int], tuple[slice, slice, Crossbar]]
    transimpedance_ohm: float
    neuron: NeuronConfig
    vdd_v: float
    g_plus: np.ndarray = field(repr=False)   # (n_in + 1, n_out) programmed conductances (S)
    g_minus: np.ndarray = field(repr=False)
    ideal_wires: bool = True
    rails: tuple[float, float] | None = None
    average: bool = False
    join_resistance_ohm: float = 1e-3  # the resistors joining averaged partition outputs (SPICE export only)
    _A: np.ndarray | None = field(default=None, init=False, repr=False)
    _Ap: list | None = field(default=None, init=False, repr=False)
    _P: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    def _with_bias(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, np.full((len(x), 1), self.vdd_v)], axis=1)

    @property
    def effective_matrix(self) -> np.ndarray:
        """A (n_out, n_in + 1): unclipped neuron inputs are ``[x, Vdd] @ A.T`` (V per V), wires and devices folded
        in (the partitions' A_p summed, or averaged with :attr:`average`)."""
        if self._A is None:
            a = np.zeros((self.n_out, self.n_in + 1))
            for rs, cs, xb in self.tiles.values():
                tp, tm = xb.transfer_matrix()
                a[cs, rs] += self.transimpedance_ohm * (tp - tm)
            self._A = a / self.n_partitions if self.average else a
        return self._A

    @property
    def partition_matrices(self) -> list[tuple[slice, np.ndarray]]:
        """[(row slice, A_p (n_out, rows in the slice)), ...] per horizontal partition: partition p's amplifier
        outputs are ``[x, Vdd][:, rows] @ A_p.T`` before clipping (V)."""
        if self._Ap is None:
            by_rows: dict[tuple[int, int], np.ndarray] = {}
            for rs, cs, xb in self.tiles.values():
                key = (rs.start, rs.stop)
                a = by_rows.setdefault(key, np.zeros((self.n_out, rs.stop - rs.start)))
                tp, tm = xb.transfer_matrix()
                a[cs] += self.transimpedance_ohm * (tp - tm)
            self._Ap = [(slice(*k), a) for k, a in sorted(by_rows.items())]
        return self._Ap

    @property
    def n_partitions(self) -> int:
        """Number of horizontal partitions (amplifiers per neuron)."""
        return len({(rs.start, rs.stop) for rs, _, _ in self.tiles.values()})

    def _join(self, parts: Any) -> np.ndarray:
        """The neuron input from the partition outputs (an iterable of (batch, n_out) arrays): their sum, or their
        mean with :attr:`average`."""
        total = sum(parts)
        return total / self.n_partitions if self.average else total

    def _clip(self, v: np.ndarray) -> np.ndarray:
        return v if self.rails is None else np.clip(v, self.rails[0], self.rails[1])

    def amplifier_outputs(self, x: np.ndarray) -> np.ndarray:
        """Partition amplifier outputs (batch, horizontal partitions, n_out) in V, clipped at the rails, for layer
        inputs ``x`` (batch, n_in) (V)."""
        u = self._with_bias(np.asarray(x, dtype=float))
        return np.stack([self._clip(u[:, rs] @ a.T) for rs, a in self.partition_matrices], axis=1)

    @property
    def power_matrix(self) -> np.ndarray:
        """P (n_in + 1, n_in + 1) in S: crossbar power for inputs x is ``u^T P u`` with u = [x, Vdd]."""
        if self._P is None:
            p = np.zeros((self.n_in + 1, self.n_in + 1))
            for rs, _, xb in self.tiles.values():
                p[rs, rs] += xb.input_admittance
            self._P = 0.5 * (p + p.T)
        return self._P

    def neuron_inputs(self, x: np.ndarray, rng: np.random.Generator | None = None,
                      device: DeviceConfig | None = None) -> np.ndarray:
        """Neuron input voltages (batch, n_out) for layer inputs ``x`` (batch, n_in) in V.

        With ``device.read_noise > 0`` and an ``rng`` (this layer's ``read`` stream of the chip,
        :meth:`IMACNetwork.read_streams`) every read adds to each partition's I+ - I- the gaussian that independent
        G (1 + N(0, read_noise)) reads of every device sum to (:func:`imcsim.circuit.chip.read_noise_sigma`), from the
        draws :func:`imcsim.circuit.chip.read_noise_normals` gives nn/ for the same chip. That is exact only with ideal
        wires and the virtual-ground read-out (other circuits have one transfer matrix per conductance set), so it
        raises :class:`ConfigError` otherwise.
        """
        u = self._with_bias(np.asarray(x, dtype=float))
        if device is None or device.read_noise == 0 or rng is None:
            return self._join(self._clip(u[:, rs] @ a.T) for rs, a in self.partition_matrices)
        if not self.ideal_wires or self.average:
            raise ConfigError("read_noise: per-vector read noise is only supported with ideal wires and the "
                              "virtual-ground read-out (other circuits have one transfer matrix per conductance set)")
        z = read_noise_normals(rng, len(u), self.n_partitions, self.n_out)
        g2 = (self.g_plus ** 2 + self.g_minus ** 2)
        out = np.zeros((len(u), self.n_out))
        for p, (rs, a) in enumerate(self.partition_matrices):
            noise = z[:, p] * read_noise_sigma((u[:, rs] ** 2) @ g2[rs], device.read_noise)
            out += self._clip(u[:, rs] @ a.T + self.transimpedance_ohm * noise)
        return out

    def forward(self, x: np.ndarray, **kw: Any) -> np.ndarray:
        """Neuron outputs (batch, n_out) in V."""
        return neuron_transfer(self.neuron_inputs(x, **kw), self.neuron)

    def power(self, x: np.ndarray) -> np.ndarray:
        """Crossbar power (W) per input vector, shape (batch,)."""
        u = self._with_bias(np.asarray(x, dtype=float))
        return np.einsum("bi,bi->b", u, u @ self.power_matrix)


@dataclass(frozen=True)
class CircuitEvalResult:
    """Accuracy (fraction), mean and per-layer mean power (W) over the set, wall time (s), and number of inputs."""

    accuracy: float
    mean_power_w: float
    layer_power_w: tuple[float, ...]
    seconds: float
    n: int


@dataclass
class IMACNetwork:
    """Consecutive IMAC dense layers; ``readout`` picks the class from the last layer's neuron outputs."""

    layers: list[IMACLayer]
    device: DeviceConfig
    vdd_v: float
    readout: Literal["argmax", "argmin"] = "argmax"
    chip: Chip | None = None  # the programmed chip (its seed, conductances and output ADC instances)
    adc_config: ADCConfig | None = None  # the output ADC the chip's instances were drawn for

    def effects(self) -> dict:
        """The physical effects this network's accuracy includes (:func:`imcsim.circuit.chip.effects`)."""
        from imcsim.circuit.chip import effects

        xb = next(iter(self.layers[0].tiles.values()))[2]
        ideal = all(lay.ideal_wires for lay in self.layers)
        rails = self.layers[0].rails
        return effects(self.device, self.adc_config if self.adc is not None else None,
                       "off" if ideal else "exact", chip=self.chip is not None and self.chip.seed is not None,
                       wires=(xb.r_in_ohm, xb.r_out_ohm),
                       clipping="none" if rails is None else
                       f"each partition amplifier at its rails [{rails[0]:g}, {rails[1]:g}] V",
                       readout="imacsim" if self.layers[0].average else "virtual-ground")

    @property
    def adc(self) -> ADCInstances | None:
        """The chip's output ADC instances read before the readout; None reads the analog voltages."""
        return None if self.chip is None else self.chip.adc

    def read(self, out: np.ndarray) -> np.ndarray:
        """Last-layer outputs (batch, n_out) (V) as the output ADC instances read them (``code * lsb``, V; the
        converter nn/ uses, :func:`imcsim.circuit.adc.adc_codes`), or unchanged without an ADC."""
        return out if self.adc is None else adc_codes(out, self.adc) * self.adc.lsb_v

    def classify(self, out: np.ndarray) -> np.ndarray:
        """Class indices (batch,) from last-layer outputs (batch, n_out) in V: through the output ADC (:meth:`read`;
        ties go to the lowest index, as in torch), then ``readout``."""
        out = self.read(out)
        return out.argmax(axis=1) if self.readout == "argmax" else out.argmin(axis=1)

    @classmethod
    def from_weights(cls, weights: Sequence[tuple[np.ndarray, np.ndarray]], *, rows: int = 32, cols: int = 32,
                     device: DeviceConfig | None = None, wires: WireConfig | None = None,
                     amplifier: AmplifierConfig | None = None, neuron: NeuronConfig | None = None,
                     vdd_v: float = 0.8, seed: int | None = 0, readout: Literal["argmax", "argmin"] = "argmax",
                     adc: ADCConfig | None = None, vss_v: float | None = None) -> "IMACNetwork":
        """Build from [(W (n_out, n_in), b (n_out,)), ...] with values in {-1, 0, +1}.

        ``wires=None`` means ideal wires; pass :class:`WireConfig` for parasitics. The devices (variation and
        stuck-at faults of ``device``) and, with ``adc``, the output ADC instances are those of chip ``seed``
        (:func:`imcsim.circuit.chip.program_chip`; ``seed=None`` is the nominal chip). Amplifier outputs saturate at
        [``vss_v``, ``vdd_v``] (``vss_v=None``: -``vdd_v``, IMAC-Sim's symmetric supply).
        """
        device = device or DeviceConfig()
        amplifier = amplifier or AmplifierConfig()
        neuron = neuron or NeuronConfig()
        if rows < 1 or cols < 1:
            raise ConfigError(f"crossbar size {rows}x{cols}: rows and cols must be >= 1")
        r_in = wires.r_in_ohm if wires is not None else 0.0
        r_out = wires.r_out_ohm if wires is not None else 0.0
        prev = None
        checked = []
        for k, (w, b) in enumerate(weights):
            w = check_ternary(np.atleast_2d(w), f"layer {k + 1} weights")
            b = check_ternary(np.asarray(b).reshape(-1), f"layer {k + 1} bias")
            n_out, n_in = w.shape
            if b.shape != (n_out,):
                raise DataError(f"layer {k + 1}: bias has {b.size} values for {n_out} outputs")
            if prev is not None and n_in != prev:
                raise DataError(f"layer {k + 1}: {n_in} inputs, expected {prev} (the outputs of layer {k})")
            prev = n_out
            checked.append((w, b))
        if not checked:
            raise DataError("IMAC network: no layers")
        chip = program_chip(checked, device, adc, seed)
        layers: list[IMACLayer] = []
        for k, cl in enumerate(chip.layers):
            gp, gm = cl.g_plus.T, cl.g_minus.T  # (n_in + 1, n_out): crossbar rows x columns
            n_out, n_in = cl.weight.shape
            imacsim = amplifier.readout == "imacsim"
            r_amp = 0.0 if imacsim else amplifier.input_resistance_ohm
            diff = (amplifier.diff_input_resistance_ohm, amplifier.transimpedance(k)) if imacsim else None
            tiles = {pq: (rs, cs, Crossbar(gp[rs, cs], gm[rs, cs], r_in, r_out, r_amp, diff_amp=diff))
                     for pq, (rs, cs) in tile_slices(n_in, n_out, rows, cols).items()}
            layers.append(IMACLayer(cl.weight, cl.bias, partition_layer(n_in, n_out, rows, cols), tiles,
                                    amplifier.transimpedance(k), neuron, vdd_v, gp, gm,
                                    ideal_wires=(r_in == 0 and r_out == 0 and r_amp == 0),
                                    rails=(-vdd_v if vss_v is None else vss_v, vdd_v), average=imacsim,
                                    join_resistance_ohm=amplifier.join_resistance_ohm))
        return cls(layers, device, vdd_v, readout, chip, adc)

    @classmethod
    def from_config(cls, weights: Sequence[tuple[np.ndarray, np.ndarray]], cfg: Any, *, parasitics: bool = True,
                    seed: int | None = 0, readout: Literal["argmax", "argmin"] = "argmax", output_adc: bool = False
                    ) -> "IMACNetwork":
        """Build with the crossbar size, devices, wires, amplifiers, neuron and Vdd of an
        :class:`imcsim.config.imac.IMACConfig`; ``parasitics=False`` uses ideal wires; ``output_adc`` reads the
        last layer through the config's ADC instances of chip ``seed``."""
        adc = cfg.adc if output_adc else None
        return cls.from_weights(weights, rows=cfg.rows, cols=cfg.cols, device=cfg.device,
                                wires=cfg.wires if parasitics else None, amplifier=cfg.amplifier,
                                neuron=cfg.neuron, vdd_v=cfg.vdd_v, seed=seed, readout=readout, adc=adc,
                                vss_v=cfg.vss_v)

    @classmethod
    def from_imacsim_dir(cls, directory: str | Path, **kw: Any) -> "IMACNetwork":
        """Build from W1..Wn / B1..Bn CSVs in IMAC-Sim's layout (see :func:`load_imacsim_weights`)."""
        return cls.from_weights(load_imacsim_weights(directory), **kw)

    @classmethod
    def from_deployment(cls, dep: Any, *, parasitics: bool = True, rows: int | None = None, cols: int | None = None,
                        variation: float | None = None, seed: int | None = 0, output_adc: bool = True,
                        hw: Any = None) -> "IMACNetwork":
        """Build from a :class:`imcsim.train.deploy.Deployment`: its IMAC layers (weights (out, in) and bias weights
        in {-1, 0, +1}), the IMAC hardware it was trained with (``dep.imac_config()``: crossbar size, devices,
        wires, neuron, Vdd), each layer's trained transimpedance (``extra['transimpedance_ohm']``) and its readout.
        ``rows``/``cols``/``variation`` override the trained hardware (e.g. to sweep crossbar sizes). With
        ``output_adc`` (default) the class is read through the deployment's output ADC instances of chip ``seed``
        (ideal for ``seed=None``), as ``imcsim evaluate`` reads chip ``seed``; without, from the analog voltages.
        ``hw`` (an IMACConfig) replaces the deployment's hardware config, as ``imcsim evaluate`` applies its hardware
        changes (the trained transimpedances are kept)."""
        layers = dep.imac_layers()
        if not layers:
            raise DataError(f"deployment of '{getattr(dep, 'model', '?')}': no IMAC layers")
        cfg = dep.imac_config() if hw is None else hw
        amp = cfg.amplifier
        tz = [lay.extra.get("transimpedance_ohm") for lay in layers]
        if all(t is not None for t in tz):
            amp = amp.replace(transimpedance_ohm=tuple(float(t) for t in tz))
        device = cfg.device if variation is None else cfg.device.replace(variation=variation)
        weights = [(np.asarray(lay.weight), np.zeros(np.asarray(lay.weight).shape[0]) if lay.bias is None
                    else np.asarray(lay.bias)) for lay in layers]
        net = cls.from_weights(weights, rows=rows or cfg.rows, cols=cols or cfg.cols, device=device,
                               wires=cfg.wires if parasitics else None, amplifier=amp, neuron=cfg.neuron,
                               vdd_v=cfg.vdd_v, seed=seed, readout=getattr(dep, "readout", "argmax"),
                               adc=cfg.adc if output_adc else None, vss_v=cfg.vss_v)
        return net

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W, b), ...] as programmed (nominal ternary values)."""
        return [(lay.weight.copy(), lay.bias.copy()) for lay in self.layers]

    def read_streams(self, seed: int | None = None) -> list[np.random.Generator] | None:
        """Fresh read-noise streams, one per layer: the chip's ``read`` streams (:func:`imcsim.circuit.chip.effect_rng`,
        the streams nn/ reads chip ``seed`` with), or for the nominal chip those of ``seed``; None without read noise
        or without a seed."""
        s = self.chip.seed if self.chip is not None and self.chip.seed is not None else seed
        if self.device.read_noise == 0 or s is None:
            return None
        return [effect_rng(s, "read", i) for i in range(len(self.layers))]

    def _streams(self, rng: Any) -> list:
        if rng is None or isinstance(rng, np.random.Generator):
            return [rng] * len(self.layers)
        if len(rng) != len(self.layers):
            raise ConfigError(f"read-noise streams: {len(rng)} for {len(self.layers)} layers")
        return list(rng)

    def forward(self, x: np.ndarray, rng: Any = None) -> np.ndarray:
        """Last-layer neuron outputs (batch, n_out) in V for inputs ``x`` (batch, n_in) in V. ``rng``: read-noise
        streams, one per layer (:meth:`read_streams`), or one Generator for all, or None (no read noise)."""
        return self.forward_with_power(x, rng, power=False)[0]

    def forward_with_power(self, x: np.ndarray, rng: Any = None, power: bool = True
                           ) -> tuple[np.ndarray, np.ndarray | None]:
        """(outputs (batch, n_out) in V, power (batch, n_layers) in W, or None without ``power``)."""
        h = np.atleast_2d(np.asarray(x, dtype=float))
        if h.shape[1] != self.layers[0].n_in:
            raise DataError(f"inputs have {h.shape[1]} columns, the network expects {self.layers[0].n_in}")
        powers = []
        for lay, r in zip(self.layers, self._streams(rng)):
            if power:
                powers.append(lay.power(h))
            h = lay.forward(h, rng=r, device=self.device)
        return h, (np.stack(powers, axis=1) if power else None)

    def predict(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Class indices (batch,) by ``readout`` of the last layer's outputs."""
        return self.classify(self.forward(x, rng))

    def evaluate(self, x: np.ndarray, labels: np.ndarray, seed: int | None = 0, batch: int = 4096) -> CircuitEvalResult:
        """Accuracy and mean crossbar power over inputs ``x`` (n, n_in) in V with integer ``labels`` (n,). Read noise
        comes from the chip's read streams (:meth:`read_streams`; ``seed`` only for the nominal chip)."""
        t0 = time.perf_counter()
        x = np.atleast_2d(np.asarray(x, dtype=float))
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x):
            raise DataError(f"{len(labels)} labels for {len(x)} inputs")
        n_out = self.layers[-1].n_out
        bad = (labels < 0) | (labels >= n_out)
        if bad.any():
            r = int(np.argmax(bad))
            raise DataError(f"labels: row {r + 1}: {labels[r]!s} is not a class of the {n_out} network outputs")
        for lay in self.layers:  # build A and P before timing-sensitive batches (once per chip)
            lay.effective_matrix, lay.power_matrix
        rng = self.read_streams(seed)
        correct = 0
        psum = np.zeros(len(self.layers))
        for s in range(0, len(x), batch):
            out, pw = self.forward_with_power(x[s:s + batch], rng)
            pred = self.classify(out)
            correct += int((pred == labels[s:s + batch]).sum())
            psum += pw.sum(axis=0)
        n = len(x)
        lp = psum / max(n, 1)
        return CircuitEvalResult(correct / max(n, 1), float(lp.sum()), tuple(float(p) for p in lp),
                          time.perf_counter() - t0, n)
