"""One layer of a workload: its kind, shapes and the work it does at batch size 1.

Shapes follow the NHWC convention of SCALE-Sim (height, width, channels); a dense layer is a 1 x 1 spatial layer
whose channels are its features. Output shapes are stored, not recomputed, so that a layer taken from torch keeps
torch's shape and a layer read from a SCALE-Sim topology keeps SCALE-Sim's (the two round the last partial window
differently; see :mod:`imcsim.workload.scalesim_csv`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum

from imcsim.errors import TopologyError

__all__ = ["LayerKind", "Layer", "Gemm", "MAX_MACS", "UNITS"]

UNITS = ("digital", "imac", "imc")
"""The units a deployment places a weight layer on (:attr:`Layer.unit`)."""

_PRECISION = re.compile(r"int[1-9][0-9]*|binary|ternary|float32")

#: The most multiply-accumulates one layer may do: counts up to 2**53 are exact in float64 and leave the cost models'
#: int64 products (folds x cycles per fold, words x folds) far from overflow. The largest zoo layer does about 1e8.
MAX_MACS = 2**53


class LayerKind(str, Enum):
    """What a layer computes.

    ``conv2d`` covers plain, grouped and depthwise convolutions (``groups``) and 1-d convolutions (height 1);
    ``linear`` a dense layer, applied to one feature vector or to each of ``in_h x in_w`` token rows; ``gemm`` a bare
    matrix product (a SCALE-Sim GEMM file, a transposed convolution, or, with ``dynamic``, a product of two
    activations such as attention's scores); ``pool``, ``elementwise`` (residual additions, activations,
    normalisations, resizing) and ``reshape`` (flatten, view, concatenation) do no multiply-accumulates but still
    move activations.
    """

    CONV2D = "conv2d"
    LINEAR = "linear"
    GEMM = "gemm"
    POOL = "pool"
    ELEMENTWISE = "elementwise"
    RESHAPE = "reshape"

    @property
    def has_weights(self) -> bool:
        return self in (LayerKind.CONV2D, LayerKind.LINEAR, LayerKind.GEMM)


@dataclass(frozen=True)
class Gemm:
    """A layer as matrix products, SCALE-Sim's view: ``groups`` independent products of (M x K) by (K x N).

    M: output pixels (rows of the ifmap operand matrix), K: the reduction length (one filter window), N: output
    channels per group. A dense layer at batch 1 has M = 1.
    """

    m: int
    n: int
    k: int
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.groups


@dataclass(frozen=True)
class Layer:
    """A layer at batch size 1.

    Attributes:
        name: unique name within its network (the torch module path, or the topology file's layer name).
        kind: see :class:`LayerKind`.
        in_h, in_w, in_c: input height, width (pixels) and channels, before padding.
        out_h, out_w, out_c: output height, width and channels.
        kernel_h, kernel_w: filter window (pixels); 1 for dense layers.
        stride_h, stride_w: stride (pixels).
        pad_h, pad_w: zero padding added on each side (pixels); the padded input is in_h + 2 pad_h high.
        groups: convolution groups; ``groups == in_c == out_c`` is a depthwise convolution.
        bias: whether the layer has a bias vector (counted in :attr:`weights`, not in :attr:`macs`).
        op: the source operation (torch module class or function name, ONNX op type, or ``"topology"``), for reports.
        m, k: for ``gemm`` layers only, SCALE-Sim's M and K (out_c holds N; in_c holds K); ``groups`` independent
            products of that size (the heads of a batched product).
        dynamic: for ``gemm`` layers only: the (K x N) operand is an activation computed at run time (attention's
            Q K^T and A V), not stored weights. Such a layer has no weights and no analog unit can hold it.
        extra: source-specific details (a topology file's row and sparsity, an elementwise op's operand count).
        unit: the unit a deployment placed the layer on, :data:`UNITS` (``"digital"``, ``"imac"``, ``"imc"``); None = let
            the system place it.
        precision: the deployed weight precision, ``"int<N>"``, ``"binary"``, ``"ternary"`` or ``"float32"``; None =
            the unit's native precision.

    A ``linear`` layer's input is ``in_h x in_w`` token rows of ``in_c`` features (1 x 1 for a plain feature vector):
    each row is one matrix-vector product with the same weights, so M = in_h * in_w.
    """

    name: str
    kind: LayerKind
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    groups: int = 1
    bias: bool = False
    op: str = ""
    m: int = 0
    k: int = 0
    dynamic: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    unit: str | None = field(default=None, compare=False, hash=False)
    precision: str | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        self._check_deployment_fields()
        for f in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kernel_h", "kernel_w", "stride_h",
                  "stride_w", "groups"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TopologyError(f"layer '{self.name}': field '{f}' = {v!r} must be a positive integer")
        for f in ("pad_h", "pad_w"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 0:
                raise TopologyError(f"layer '{self.name}': field '{f}' = {v!r} must be a non-negative integer")
        if self.kind == LayerKind.CONV2D and (self.in_c % self.groups or self.out_c % self.groups):
            raise TopologyError(
                f"layer '{self.name}': groups = {self.groups} must divide in_c = {self.in_c} and out_c = {self.out_c}")
        if self.kind == LayerKind.LINEAR and (self.in_h, self.in_w) != (self.out_h, self.out_w):
            raise TopologyError(f"layer '{self.name}': a linear layer keeps its {self.in_h}x{self.in_w} token rows, "
                                f"got output {self.out_h}x{self.out_w}")
        if self.dynamic and self.kind != LayerKind.GEMM:
            raise TopologyError(f"layer '{self.name}': only a gemm layer can be dynamic, not {self.kind.value}")
        if self.kind == LayerKind.GEMM and (self.m < 1 or self.k < 1):
            raise TopologyError(f"layer '{self.name}': GEMM needs positive M and K, got M={self.m}, K={self.k}")
        if self.kind.has_weights and self.macs > MAX_MACS:
            raise TopologyError(f"layer '{self.name}': {self.macs:.3g} multiply-accumulates, more than the 2**53 "
                                f"the cost models count exactly (a typo in a size?)")

    def _check_deployment_fields(self) -> None:
        """Validate ``unit`` and ``precision``. Workloads written before they were fields carried them in ``extra``:
        those are read from there, and the typed precision is mirrored into a copy of ``extra`` for
        arch/systolic.py, which still reads it there (the typed fields are the source of truth)."""
        extra = self.extra
        unit = self.unit if self.unit is not None else extra.get("unit")
        precision = self.precision if self.precision is not None else extra.get("precision")
        if unit is not None and unit not in UNITS:
            raise TopologyError(f"layer '{self.name}': field 'unit' = {unit!r}: expected one of {', '.join(UNITS)}")
        if precision is not None and not _PRECISION.fullmatch(str(precision)):
            raise TopologyError(f"layer '{self.name}': field 'precision' = {precision!r}: expected int<N>, binary, "
                                "ternary or float32")
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "precision", precision)
        # only the precision is mirrored: arch/systolic.py still reads extra["precision"]; nothing reads extra["unit"]
        mirror = {"precision": precision} if precision is not None and extra.get("precision") != precision else {}
        if mirror:
            object.__setattr__(self, "extra", {**extra, **mirror})

    # ----- constructors -------------------------------------------------------------------------------------------
    @classmethod
    def conv2d(cls, name: str, in_hw: tuple[int, int], in_c: int, out_c: int, kernel: int | tuple[int, int],
               stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, groups: int = 1,
               bias: bool = False, op: str = "Conv2d") -> "Layer":
        """A convolution with torch's output-shape rule ``floor((H + 2P - F) / S) + 1``."""
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride)
        ph, pw = _pair(padding)
        h, w = in_hw
        out_h = (h + 2 * ph - kh) // sh + 1
        out_w = (w + 2 * pw - kw) // sw + 1
        return cls(name, LayerKind.CONV2D, h, w, in_c, out_h, out_w, out_c, kh, kw, sh, sw, ph, pw, groups, bias, op)

    @classmethod
    def linear(cls, name: str, in_features: int, out_features: int, bias: bool = True,
               op: str = "Linear", tokens: int | tuple[int, int] = 1) -> "Layer":
        """A dense layer at batch 1: one matrix-vector product per token row (``tokens`` rows, or an (H, W) grid)."""
        th, tw = (1, tokens) if isinstance(tokens, int) else _pair(tokens)
        return cls(name, LayerKind.LINEAR, th, tw, in_features, th, tw, out_features, bias=bias, op=op)

    @classmethod
    def gemm(cls, name: str, m: int, n: int, k: int, groups: int = 1, dynamic: bool = False,
             op: str = "gemm") -> "Layer":
        """``groups`` bare (M x K) by (K x N) products, as in SCALE-Sim's GEMM topology format; ``dynamic`` when the
        (K x N) operand is an activation rather than weights."""
        return cls(name, LayerKind.GEMM, 1, 1, k, 1, 1, n, groups=groups, m=m, k=k, op=op, dynamic=dynamic)

    # ----- derived quantities ---------------------------------------------------------------------------------------
    @property
    def padded_in_h(self) -> int:
        return self.in_h + 2 * self.pad_h

    @property
    def padded_in_w(self) -> int:
        return self.in_w + 2 * self.pad_w

    @property
    def is_depthwise(self) -> bool:
        return self.kind == LayerKind.CONV2D and self.groups > 1 and self.groups == self.in_c == self.out_c

    def as_gemm(self) -> Gemm:
        """The matrix products this layer is, per SCALE-Sim's im2col mapping (one per group).

        Raises :class:`TopologyError` for layers without multiply-accumulates.
        """
        if self.kind == LayerKind.GEMM:
            return Gemm(self.m, self.out_c, self.k, self.groups)
        if self.kind == LayerKind.LINEAR:
            return Gemm(self.in_h * self.in_w, self.out_c, self.in_c)
        if self.kind == LayerKind.CONV2D:
            return Gemm(self.out_h * self.out_w, self.out_c // self.groups,
                        self.kernel_h * self.kernel_w * (self.in_c // self.groups), self.groups)
        raise TopologyError(f"layer '{self.name}' ({self.kind.value}) has no matrix product")

    @property
    def macs(self) -> int:
        """Multiply-accumulates at batch 1 (0 for MAC-free layers)."""
        return self.as_gemm().macs if self.kind.has_weights else 0

    @property
    def weights(self) -> int:
        """Trainable parameters: the weight tensor plus the bias vector (none for a dynamic GEMM)."""
        if not self.kind.has_weights or self.dynamic:
            return 0
        g = self.as_gemm()
        bias = self.out_c * (self.groups if self.kind == LayerKind.GEMM else 1)  # gemm: out_c is N per product
        return g.k * g.n * g.groups + (bias if self.bias else 0)

    @property
    def input_elems(self) -> int:
        """Input activation elements (unpadded); for a GEMM layer the M x K operands (and the K x N ones when it is
        dynamic), over all groups."""
        if self.kind == LayerKind.GEMM:
            return self.groups * self.k * (self.m + (self.out_c if self.dynamic else 0))
        return self.in_h * self.in_w * self.in_c

    @property
    def output_elems(self) -> int:
        if self.kind == LayerKind.GEMM:
            return self.groups * self.m * self.out_c
        return self.out_h * self.out_w * self.out_c

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        d.pop("extra")
        for key in ("unit", "precision"):  # deployment fields: only when set
            if d[key] is None:
                d.pop(key)
        d["macs"] = self.macs
        d["weights"] = self.weights
        return d


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)
