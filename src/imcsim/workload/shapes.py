"""Layers from tensor shapes: the rules :mod:`~imcsim.workload.from_torch` and :mod:`~imcsim.workload.from_onnx`
share, so that a model read either way gives the same layers.

Every shape here is a batch-1 tensor shape *with* its batch dimension, in the source framework's layout (NCHW,
NCL for 1-d data, (N, ..., features) for token rows). Torch-free and I/O-free.

Layouts: a 4-d tensor (1, C, H, W) is an H x W image of C channels; a 3-d one (1, C, L) is a 1 x L image (Conv1d's
layout); a 2-d one (1, F) is F features at 1 x 1. A dense layer (``linear``) reads its *last* dimension as features
and every leading one as token rows: (1, T, F) is T rows, (1, A, B, F) an A x B grid of rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from imcsim.errors import ModelError
from imcsim.workload.layer import Layer, LayerKind

__all__ = ["check_input_shape", "hwc", "token_grid", "shape_layer", "resize_layer", "pool_layer", "mean_layer", "conv_layer",
           "conv_transpose_layer", "linear_layer", "matmul_layer", "unique_name"]

Shape = Sequence[int]



def check_input_shape(value: Any) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints (an input shape such as (C, H, W)); ModelError naming it otherwise."""
    try:
        shape = tuple(value)
    except TypeError:
        raise ModelError(f"input_shape = {value!r} must be a sequence of positive integers") from None
    if not shape or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in shape):
        raise ModelError(f"input_shape = {value!r} must be positive integers, e.g. (3, 32, 32)")
    return shape

def hwc(shape: Shape) -> tuple[int, int, int]:
    """(H, W, C) of a batch-1 tensor shape: (1, C, H, W) -> (H, W, C), (1, F) -> (1, 1, F), (1, C, L) -> (1, L, C),
    anything else -> (1, 1, elements). Empty dimensions count as 1 so that the layer stays valid."""
    dims = [max(int(d), 1) for d in shape[1:]]
    if len(dims) == 3:
        return dims[1], dims[2], dims[0]
    if len(dims) == 2:
        return 1, dims[1], dims[0]
    return 1, 1, max(math.prod(dims), 1)


def token_grid(shape: Shape) -> tuple[int, int]:
    """The (H, W) grid of token rows of a dense layer's input (1, *rows, features): 1 x 1 for (1, F), 1 x T for
    (1, T, F), A x B for (1, A, B, F), 1 x prod(rows) beyond. Dimensions of 1 are dropped first, so that a
    sequence-first tensor inside an exported graph, (T, 1, F), is the same 1 x T rows."""
    rows = [int(d) for d in shape[:-1] if int(d) != 1]
    if len(rows) == 2:
        return rows[0], rows[1]
    return 1, max(math.prod(rows), 1)


def _elems(shape: Shape) -> int:
    return int(math.prod(int(d) for d in shape[1:]))


def shape_layer(name: str, kind: LayerKind, op: str, out_shape: Shape, in_shapes: Sequence[Shape]) -> Layer:
    """A MAC-free layer (elementwise or reshape): input and output both take the output's (H, W, C);
    ``extra['operands']`` counts the tensor inputs (2 for a residual addition), ``extra['input_elems']`` their total
    elements (batch dimension excluded)."""
    h, w, c = hwc(out_shape)
    layer = Layer(name, kind, h, w, c, h, w, c, op=op)
    layer.extra.update(operands=len(in_shapes), input_elems=int(sum(_elems(s) for s in in_shapes)))
    return layer


def resize_layer(name: str, op: str, in_shape: Shape, out_shape: Shape) -> Layer:
    """Interpolation / upsampling: an elementwise layer from the input's (H, W, C) to the output's (one operation per
    output element)."""
    (ih, iw, ic), (oh, ow, oc) = hwc(in_shape), hwc(out_shape)
    layer = Layer(name, LayerKind.ELEMENTWISE, ih, iw, ic, oh, ow, oc, op=op)
    layer.extra.update(operands=1, input_elems=_elems(in_shape))
    return layer


def pool_layer(name: str, op: str, in_shape: Shape, out_shape: Shape, kernel: Any = None, stride: Any = None,
               padding: Any = 0) -> Layer:
    """A pool layer over a 4-d (1, C, H, W) or 3-d (1, C, L) input; ``kernel=None`` means adaptive: the window is
    derived from the input and output sizes (``ceil(in / out)`` wide with stride ``floor(in / out)``, exact when
    ``out`` divides ``in``). An output that dropped the pooled dimensions (a global mean) counts as 1 x 1."""
    if len(in_shape) not in (3, 4):
        raise ModelError(f"layer '{name}' ({op}): pooling needs a (1, C, H, W) or (1, C, L) input, got "
                         f"{tuple(in_shape)}")
    c, h, w = int(in_shape[1]), (int(in_shape[2]) if len(in_shape) == 4 else 1), int(in_shape[-1])
    oc = int(out_shape[1]) if len(out_shape) > 1 else c
    if len(out_shape) == len(in_shape):
        oh, ow = (int(out_shape[2]) if len(out_shape) == 4 else 1), int(out_shape[-1])
    else:  # the pooled dimensions were dropped (x.mean((2, 3)))
        oh, ow = 1, 1
    if kernel is None:
        kh, kw = math.ceil(h / oh), math.ceil(w / ow)
        sh, sw = max(h // oh, 1), max(w // ow, 1)
    else:
        kh, kw = _window(kernel, len(in_shape))
        sh, sw = _window(stride, len(in_shape)) if stride else (kh, kw)
    ph, pw = _window(padding, len(in_shape), fill=0)
    return Layer(name, LayerKind.POOL, h, w, c, oh, ow, oc, kh, kw, sh, sw, ph, pw, op=op)


def mean_layer(name: str, op: str, in_shape: Shape, out_shape: Shape, dims: Sequence[int] | None) -> Layer:
    """A mean over ``dims`` (None: all). Over the spatial dimensions of an image ((2, 3) of (1, C, H, W), 2 of
    (1, C, L)) it is a global average pool; over anything else (the features of a token, the tokens of a sequence)
    an elementwise reduction from the input's (H, W, C) to the output's."""
    nd = len(in_shape)
    reduced = sorted({int(d) % nd for d in dims}) if dims is not None else list(range(1, nd))
    if (nd == 4 and reduced == [2, 3]) or (nd == 3 and reduced == [2]):
        kernel = (int(in_shape[2]), int(in_shape[3])) if nd == 4 else (1, int(in_shape[2]))
        return pool_layer(name, op, in_shape, out_shape, kernel, kernel, 0)
    (ih, iw, ic), (oh, ow, oc) = hwc(in_shape), hwc(out_shape)
    layer = Layer(name, LayerKind.ELEMENTWISE, ih, iw, ic, oh, ow, oc, op=op)
    layer.extra.update(operands=1, input_elems=_elems(in_shape))
    return layer


def conv_layer(name: str, op: str, in_shape: Shape, out_shape: Shape, kernel: Sequence[int], stride: Sequence[int],
               padding: Sequence[int], groups: int, bias: bool) -> Layer:
    """A 2-d convolution on (1, C, H, W), or a 1-d one on (1, C, L) as a 1-high 2-d one; ``kernel``, ``stride`` and
    ``padding`` (per side) have one entry per spatial dimension. The output shape is the source's."""
    nd = len(in_shape)
    if nd not in (3, 4) or len(out_shape) != nd:
        raise ModelError(f"layer '{name}' ({op}): a convolution needs a (1, C, H, W) or (1, C, L) input and output, "
                         f"got {tuple(in_shape)} -> {tuple(out_shape)}")
    (h, w, c), (oh, ow, oc) = hwc(in_shape), hwc(out_shape)
    (kh, kw), (sh, sw), (ph, pw) = _window(kernel, nd), _window(stride, nd), _window(padding, nd, fill=0)
    return Layer(name, LayerKind.CONV2D, h, w, c, oh, ow, oc, kh, kw, sh, sw, ph, pw, int(groups), bool(bias), op)


def conv_transpose_layer(name: str, op: str, in_shape: Shape, out_channels: int, kernel: Sequence[int],
                         groups: int) -> Layer:
    """A transposed convolution as the product it is computed with (then scattered and overlap-added, col2im):
    every input pixel times the (in / groups) x (out / groups * kernel window) weight matrix of its group, i.e. a
    GEMM with M = input pixels, K = in_c / groups, N = out_c / groups * kh * kw, ``groups`` products. Its
    multiply-accumulates are the transposed convolution's, its weights the weight tensor (the bias, added after the
    overlap-add, is not a weight of the product: callers count it with the other parameters). The input and output
    shapes are kept in ``extra`` (``in_shape``, ``out_shape``)."""
    nd = len(in_shape)
    if nd not in (3, 4):
        raise ModelError(f"layer '{name}' ({op}): a transposed convolution needs a (1, C, H, W) or (1, C, L) input, "
                         f"got {tuple(in_shape)}")
    h, w, c = hwc(in_shape)
    kh, kw = _window(kernel, nd)
    g = int(groups)
    if c % g or out_channels % g:
        raise ModelError(f"layer '{name}' ({op}): groups = {g} must divide {c} input and {out_channels} output "
                         f"channels")
    layer = Layer.gemm(name, m=h * w, n=out_channels // g * kh * kw, k=c // g, groups=g, op=op)
    layer.extra.update(in_shape=tuple(int(d) for d in in_shape))
    return layer


def linear_layer(name: str, op: str, in_shape: Shape, in_features: int, out_features: int, bias: bool) -> Layer:
    """A dense layer of ``in_features -> out_features`` on every token row of ``in_shape`` (see :func:`token_grid`)."""
    if len(in_shape) < 2 or int(in_shape[-1]) != in_features:
        raise ModelError(f"layer '{name}' ({op}): input {tuple(in_shape)} does not end in its {in_features} "
                         f"input features")
    return Layer.linear(name, int(in_features), int(out_features), bias=bool(bias), op=op,
                        tokens=token_grid(in_shape))


def matmul_layer(name: str, op: str, a_shape: Shape, b_shape: Shape, weight: str | None) -> Layer:
    """``a @ b`` (numpy/torch matmul broadcasting) at batch 1.

    ``weight``: which operand is a stored weight matrix: ``"b"`` (``x @ W``, W of shape (K, N): a dense layer on
    every row of x), ``"a"`` (``W @ x``, W (N, K), x (1, ..., K, T): a dense layer on each of the T columns), or None
    (two activations: a dynamic GEMM of ``groups`` = the broadcast leading dimensions, M = a's rows, K, N = b's
    columns; digital units only). Operands of fewer than 2 dimensions are not supported.
    """
    a, b = [int(d) for d in a_shape], [int(d) for d in b_shape]
    if len(a) < 2 or len(b) < 2:
        raise ModelError(f"unsupported op '{op}' on shapes {tuple(a)} @ {tuple(b)} at node '{name}' "
                         "(operands of 2 or more dimensions only)")
    if a[-1] != b[-2]:
        raise ModelError(f"node '{name}' ({op}): shapes {tuple(a)} @ {tuple(b)} do not multiply")
    if weight == "b":
        if len(b) != 2:
            raise ModelError(f"unsupported op '{op}' with a {len(b)}-d weight {tuple(b)} at node '{name}'")
        return linear_layer(name, op, a, b[0], b[1], bias=False)
    if weight == "a":
        if len(a) != 2:
            raise ModelError(f"unsupported op '{op}' with a {len(a)}-d weight {tuple(a)} at node '{name}'")
        cols = math.prod(b[:-2]) * b[-1]  # every column of every leading slice is one product
        return Layer.linear(name, a[1], a[0], bias=False, op=op, tokens=max(cols, 1))
    lead_a, lead_b = a[:-2], b[:-2]
    n = max(len(lead_a), len(lead_b))
    lead = [max(x, y) for x, y in zip([1] * (n - len(lead_a)) + lead_a, [1] * (n - len(lead_b)) + lead_b)]
    return Layer.gemm(name, m=a[-2], n=b[-1], k=a[-1], groups=max(math.prod(lead), 1), dynamic=True, op=op)


def _window(v: Any, ndim: int, fill: int = 1) -> tuple[int, int]:
    """(height, width) of a kernel / stride / padding given as an int or a per-dimension sequence; a 1-d (3-d
    tensor) value is (1, value) for kernels and strides and (fill, value) in general."""
    if isinstance(v, (tuple, list)):
        vals = [int(x) for x in v]
        if ndim == 3:
            return fill, vals[-1]
        return (vals[0], vals[1]) if len(vals) >= 2 else (vals[0], vals[0])
    if ndim == 3:
        return fill, int(v)
    return int(v), int(v)


def unique_name(base: str, used: dict[str, int]) -> str:
    """``base``, or ``base_<n>`` with the smallest n not yet taken when ``base`` was given before; records the name
    returned in ``used`` (name -> times asked), so layer names stay unique even when the graph already holds a name
    of the ``base_<n>`` form."""
    n = used.get(base, 0)
    used[base] = n + 1
    if n == 0:
        return base
    cand = f"{base}_{n}"
    while cand in used:
        n += 1
        cand = f"{base}_{n}"
    used[cand] = 1
    return cand
