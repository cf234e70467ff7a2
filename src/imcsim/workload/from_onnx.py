"""Read an ONNX model into a :class:`~imcsim.workload.network.Network` (the same layers as
:func:`~imcsim.workload.from_torch.from_torch` gives for the module the file was exported from).

The file is parsed with the ``onnx`` package, checked (``onnx.checker``), its input fixed at batch 1 and its shapes
inferred with ONNX's shape inference (with data propagation, so that ``Reshape`` targets computed from ``Shape``
resolve). Each graph node that computes on activations becomes one layer, in graph order, by the shape rules of
:mod:`imcsim.workload.shapes`:

* ``conv2d``: ``Conv`` (2-d, or 1-d as a 1-high 2-d convolution; groups, strides, pads, ``auto_pad``; dilation 1);
* ``linear``: ``Gemm`` and ``MatMul`` with one constant operand (an initializer or a ``Constant``), on one feature
  vector or on token rows; an ``Add`` of a constant vector right after such a ``MatMul`` is its bias (torch exports
  ``nn.Linear`` on a 3-d input that way) and adds no layer;
* ``gemm``: ``ConvTranspose`` (as the product it is computed with, see
  :func:`~imcsim.workload.shapes.conv_transpose_layer`) and ``MatMul`` / ``Gemm`` of two activations (dynamic);
* ``pool``: ``MaxPool``, ``AveragePool``, ``GlobalAveragePool``, ``GlobalMaxPool``, and ``ReduceMean`` over the
  spatial dimensions;
* ``elementwise``: ``BatchNormalization``, ``LayerNormalization``, ``InstanceNormalization``,
  ``GroupNormalization``, activations (``Relu``, ``Sigmoid``, ``Tanh``, ``LeakyRelu``, ``Clip``, ``Gelu``,
  ``Softmax``, ...), arithmetic (``Add``, ``Sub``, ``Mul``, ``Div``, ``Pow``, ...), ``Resize`` / ``Upsample``, other
  reductions;
* ``reshape``: ``Reshape``, ``Flatten``, ``Transpose``, ``Squeeze``, ``Unsqueeze``, ``Concat``, ``Slice``,
  ``Gather``, ``Split`` (one layer per output), ``Expand``, ``Tile``, ``Pad``.

``Identity``, ``Dropout`` and ``Cast`` do nothing at inference and are left out, and so is every node computed from
constants and shapes only (``Shape`` -> ``Gather`` -> ``Concat`` chains, weight transposes). Anything else raises
:class:`~imcsim.errors.ModelError` naming the node and its op type, as do files that are empty, truncated or not
ONNX. Layer names are the node names (``/layer1/layer1.0/conv1/Conv`` for a torch export), or ``<OpType>_<index>``
for unnamed nodes.

Each layer's ``extra["inputs"]`` names the layers whose outputs it reads (``[]`` for the graph input), as from_torch
records them. Parameters: a layer's weights are its weight (and bias) initializers. ``meta["other_params"]`` counts
the scale and shift of normalisation nodes, ``PRelu`` slopes and transposed-convolution biases; ``meta["source"]`` is
the file.
A torch export folds batch norm into the preceding convolution (which then has a bias), so the layers with
multiply-accumulates match ``from_torch``'s while its batch-norm layers have no ONNX counterpart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from imcsim.errors import ModelError
from imcsim.workload import shapes
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network

__all__ = ["from_onnx", "SUPPORTED_OPS"]

_NOOP = {"Identity", "Dropout", "Cast"}
# Ops whose outputs depend only on the *shape* of their input, never its values.
_SHAPE_OPS = {"Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike"}
_ELEMENTWISE = {
    "Relu", "Sigmoid", "Tanh", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Erf", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Mish", "Clip", "ThresholdedRelu", "Softmax", "LogSoftmax", "Exp", "Log",
    "Sqrt", "Reciprocal", "Neg", "Abs", "Pow", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Where",
    "Equal", "Less", "Greater", "Not", "And", "Or", "Floor", "Ceil", "Round", "Sign",
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
}
_RESHAPE = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Slice", "Gather", "Split",
            "Expand", "Tile", "Pad", "DepthToSpace", "SpaceToDepth"}
_POOL = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
_REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"}
_MAC = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
_RESIZE = {"Resize", "Upsample"}
#: Op types read into layers (the default ``ai.onnx`` domain).
SUPPORTED_OPS = frozenset(_NOOP | _SHAPE_OPS | _ELEMENTWISE | _RESHAPE | _POOL | _REDUCE | _MAC | _RESIZE)
# Normalisation-like ops: which inputs are learned parameters (counted in meta["other_params"]).
_PARAM_INPUTS = {"BatchNormalization": (1, 2), "LayerNormalization": (1, 2), "InstanceNormalization": (1, 2),
                 "GroupNormalization": (1, 2), "PRelu": (1,)}


def from_onnx(source: str | os.PathLike | bytes | onnx.ModelProto, input_shape: Sequence[int] | None = None,
              name: str | None = None) -> Network:
    """Read an ONNX model at batch 1.

    Args:
        source: a ``.onnx`` file path, its bytes, or a loaded ``onnx.ModelProto``.
        input_shape: shape of one input without the batch dimension, e.g. (3, 224, 224); needed when the file's
            input has symbolic dimensions other than the batch, and overrides the file's dimensions otherwise.
        name: the network's name (default: the file's stem, else the graph's name).

    Returns:
        A :class:`Network` with ``input_shape`` set and ``meta`` holding ``other_params``, ``source`` and
        ``format = "onnx"``.

    Raises:
        ModelError: the file is missing, empty, truncated or not ONNX; its input shape is not fixed; shape
            inference fails; or a node uses an unsupported op (``"model.onnx: unsupported op 'LSTM' at node
            'lstm_1'"``).
    """
    label, full = _load(source)
    init = {t.name: t for t in full.graph.initializer}  # dims and sizes of every weight
    model = _light(full)  # what checking and shape inference see: large weights as typed inputs, no data
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError
        raise ModelError(f"{label}: not a valid ONNX model ({_first_line(exc)})") from None
    graph = model.graph
    data_inputs = [i for i in graph.input if i.name not in init]
    if len(data_inputs) != 1:
        names = ", ".join(i.name for i in data_inputs) or "none"
        raise ModelError(f"{label}: {len(data_inputs)} graph inputs ({names}); only single-input models are "
                         "supported")
    shape = _fix_input(label, data_inputs[0], input_shape)
    static = _static_tensors(graph, init)
    for i, node in enumerate(graph.node):  # refuse unsupported ops before shape inference can trip on them
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            if not all(x in static for x in node.input if x):
                op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
                raise ModelError(f"{label}: unsupported op '{op}' at node '{_node_name(node, i)}'")
    inferred = _fold_shape_arithmetic(label, model, static)
    all_init = {t.name: t for t in inferred.graph.initializer}
    known = _known_shapes(inferred.graph, all_init)
    consts = _constants(inferred.graph, all_init)
    biased, absorbed = _matmul_biases(inferred.graph, static, known)

    layers: list[Layer] = []
    other_params = 0
    seen_params: set[str] = set()
    used: dict[str, int] = {}
    sources: dict[str, tuple[str, ...]] = {}  # tensor -> the layers whose outputs it carries
    for i, node in enumerate(inferred.graph.node):
        op = node.op_type
        reads = tuple(dict.fromkeys(n for x in node.input if x for n in sources.get(x, ())))
        if op in _NOOP or op in _SHAPE_OPS or all(x in static for x in node.input if x) or i in absorbed:
            # a no-op or a dense layer's bias passes its producers on; constants and shapes carry no data
            for o in node.output:
                sources[o] = () if (op in _SHAPE_OPS or o in static) else reads
            continue
        lname = shapes.unique_name(_node_name(node, i), used)
        ctx = _Node(label, node, lname, known, static, consts)
        for idx in _PARAM_INPUTS.get(op, ()):
            if idx < len(node.input) and node.input[idx] in init and node.input[idx] not in seen_params:
                seen_params.add(node.input[idx])
                other_params += int(math.prod(init[node.input[idx]].dims))
        if op == "ConvTranspose" and len(node.input) > 2 and node.input[2] in init:
            other_params += int(math.prod(init[node.input[2]].dims))  # added after the overlap-add
        made = _layers(ctx, node.output[0] in biased)
        for o, layer in zip([o for o in node.output if o] if op == "Split" else node.output[:1], made):
            layer.extra["inputs"] = list(reads)
            sources[o] = (layer.name,)
        layers.extend(made)
    meta = {"other_params": other_params, "source": label, "format": "onnx",
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)}
    net_name = name or (Path(label).stem if not label.startswith("<") else (graph.name or "onnx"))
    return Network(net_name, tuple(layers), tuple(shape), meta)


# ----- one node -> layers -------------------------------------------------------------------------------------------

class _Node:
    """A node with its shapes and attributes at hand."""

    def __init__(self, label: str, node: onnx.NodeProto, name: str, known: dict, static: set, consts: dict):
        self.label, self.node, self.name = label, node, name
        self.known, self.static, self.consts = known, static, consts
        self.op = node.op_type
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def shape(self, tensor: str) -> tuple[int, ...]:
        s = self.known.get(tensor)
        if s is None:
            raise ModelError(f"{self.label}: the shape of tensor '{tensor}' at node '{self.name}' ({self.op}) is "
                             "not known after shape inference")
        return s

    def inp(self, i: int) -> tuple[int, ...]:
        return self.shape(self.node.input[i])

    def out(self, i: int = 0) -> tuple[int, ...]:
        return self.shape(self.node.output[i])

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def is_const(self, i: int) -> bool:
        return self.has(i) and self.node.input[i] in self.static

    def activations(self) -> list[tuple[int, ...]]:
        return [self.shape(x) for x in self.node.input if x and x not in self.static]

    def error(self, why: str) -> ModelError:
        return ModelError(f"{self.label}: unsupported op '{self.op}' {why} at node '{self.name}'")


def _layers(n: _Node, matmul_bias: bool) -> list[Layer]:
    op = n.op
    if op in ("Conv", "ConvTranspose"):
        return [_conv(n)]
    if op == "Gemm":
        return [_gemm(n)]
    if op == "MatMul":
        weight = "b" if n.is_const(1) else "a" if n.is_const(0) else None
        layer = shapes.matmul_layer(n.name, op, n.inp(0), n.inp(1), weight)
        if matmul_bias:
            layer = Layer.linear(layer.name, layer.in_c, layer.out_c, bias=True, op=op,
                                 tokens=(layer.in_h, layer.in_w))
        return [layer]
    if op in _POOL:
        x, y = n.inp(0), n.out()
        if op.startswith("Global"):
            kernel = tuple(x[2:])
            return [shapes.pool_layer(n.name, op, x, y, kernel, kernel, 0)]
        if any(d != 1 for d in n.attrs.get("dilations", [])):
            raise n.error(f"with dilations {n.attrs['dilations']}")
        kernel = n.attrs["kernel_shape"]
        strides = n.attrs.get("strides") or [1] * len(kernel)  # ONNX's default stride is 1, not the window
        return [shapes.pool_layer(n.name, op, x, y, kernel, strides, _begin_pads(n, x, y, kernel, strides))]
    if op in _REDUCE:
        axes = n.attrs.get("axes")
        if axes is None and n.has(1):
            if n.node.input[1] not in n.consts:
                raise n.error("with axes computed at run time")
            axes = [int(a) for a in np.asarray(n.consts[n.node.input[1]]).reshape(-1)]
        if op == "ReduceMean":
            return [shapes.mean_layer(n.name, op, n.inp(0), n.out(), axes)]
        x, y = n.inp(0), n.out()
        (ih, iw, ic), (oh, ow, oc) = shapes.hwc(x), shapes.hwc(y)
        layer = Layer(n.name, LayerKind.ELEMENTWISE, ih, iw, ic, oh, ow, oc, op=op)
        layer.extra.update(operands=1, input_elems=int(math.prod(x[1:])))
        return [layer]
    if op in _RESIZE:
        return [shapes.resize_layer(n.name, op, n.inp(0), n.out())]
    if op in _ELEMENTWISE:
        return [shapes.shape_layer(n.name, LayerKind.ELEMENTWISE, op, n.out(), n.activations())]
    if op == "Split":  # one layer per part, as from_torch makes one per part taken
        parts = [o for o in n.node.output if o]
        return [shapes.shape_layer(n.name if len(parts) == 1 else f"{n.name}_{j}", LayerKind.RESHAPE, op,
                                   n.shape(o), n.activations()) for j, o in enumerate(parts)]
    if op in _RESHAPE:
        return [shapes.shape_layer(n.name, LayerKind.RESHAPE, op, n.out(), n.activations())]
    raise n.error("")  # pragma: no cover - SUPPORTED_OPS is checked before


def _conv(n: _Node) -> Layer:
    x, w, y = n.inp(0), n.inp(1), n.out()
    if len(x) not in (3, 4):
        raise n.error(f"on a {len(x) - 2}-d input {x}")
    if any(d != 1 for d in n.attrs.get("dilations", [])):
        raise n.error(f"with dilations {n.attrs['dilations']}")
    groups = int(n.attrs.get("group", 1))
    kernel = n.attrs.get("kernel_shape") or list(w[2:])
    if n.op == "ConvTranspose":
        if not n.is_const(1):
            raise n.error("with a weight computed at run time")
        layer = shapes.conv_transpose_layer(n.name, n.op, x, w[1] * groups, kernel, groups)
        layer.extra.update(out_shape=tuple(y))
        return layer
    strides = n.attrs.get("strides") or [1] * len(kernel)
    return shapes.conv_layer(n.name, n.op, x, y, kernel, strides, _begin_pads(n, x, y, kernel, strides), groups,
                             n.has(2))


def _gemm(n: _Node) -> Layer:
    a, b = n.inp(0), n.inp(1)
    if len(a) != 2 or len(b) != 2:
        raise n.error(f"on shapes {a} and {b}")
    if float(n.attrs.get("alpha", 1.0)) == 0.0:
        raise n.error("with alpha = 0")
    m, k = (a[1], a[0]) if n.attrs.get("transA", 0) else (a[0], a[1])
    nn_ = b[0] if n.attrs.get("transB", 0) else b[1]
    bias = n.has(2)
    if n.is_const(1):
        return Layer.linear(n.name, k, nn_, bias=bias, op=n.op, tokens=m)
    if n.is_const(0):  # W (m x k) @ X (k x n): a dense layer of k -> m on each of the n columns
        return Layer.linear(n.name, k, m, bias=bias, op=n.op, tokens=nn_)
    return Layer.gemm(n.name, m=m, n=nn_, k=k, dynamic=True, op=n.op)


def _begin_pads(n: _Node, x: Sequence[int], y: Sequence[int], kernel: Sequence[int], strides: Sequence[int]
                ) -> list[int]:
    """Padding before each spatial dimension (the layer keeps one value per dimension; the output shape comes from
    shape inference, so an asymmetric pad's extra row is already in it)."""
    auto = n.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    nd = len(kernel)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((y[2 + i] - 1) * strides[i] + kernel[i] - x[2 + i], 0) for i in range(nd)]
        return [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
    if auto == "VALID":
        return [0] * nd
    pads = list(n.attrs.get("pads") or [0] * (2 * nd))
    return [int(p) for p in pads[:nd]]


# ----- graph-level passes -------------------------------------------------------------------------------------------

def _infer(label: str, model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=True, data_prop=True)
    except Exception as exc:  # InferenceError, ValidationError
        raise ModelError(f"{label}: ONNX shape inference failed ({_first_line(exc)})") from None


def _fold_shape_arithmetic(label: str, model: onnx.ModelProto, static: set[str], rounds: int = 16
                           ) -> onnx.ModelProto:
    """Shape inference, with the shape arithmetic exporters emit (``Shape`` -> ``Slice`` / ``Mod`` / ``Concat`` ->
    ``Reshape``, as in torch's ``nn.MultiheadAttention``) evaluated to constants where ONNX's own data propagation
    stops: every node computed from constants and shapes only is run once the shapes it reads are known
    (``onnx.reference``), its outputs become initializers, and inference runs again, until nothing changes."""
    from onnx.reference import ReferenceEvaluator

    inferred = _infer(label, model)
    for _ in range(rounds):
        graph = inferred.graph
        init = {t.name: t for t in graph.initializer}
        known = _known_shapes(graph, init)
        values = _constants(graph, init)
        folded: dict[str, np.ndarray] = {}
        for node in graph.node:
            if not any(o in static for o in node.output) or node.op_type == "Constant":
                continue
            if node.op_type == "Shape":
                shape = known.get(node.input[0])
                if shape is None:
                    continue
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                out = [np.asarray(shape[attrs.get("start", 0):attrs.get("end")], dtype=np.int64)]
            elif all(x in values for x in node.input if x):
                try:
                    out = ReferenceEvaluator(node).run(None, {x: values[x] for x in node.input if x})
                except Exception:  # an op the reference runtime lacks: leave it to shape inference
                    continue
            else:
                continue
            for name, val in zip(node.output, out):
                values[name] = folded[name] = np.asarray(val)
        if not folded:
            return inferred
        keep = [n for n in graph.node if not all(o in folded or not o for o in n.output)]
        new = onnx.ModelProto()
        new.CopyFrom(model)
        del new.graph.node[:]
        new.graph.node.extend(keep)
        new.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in folded.items())
        model = new
        inferred = _infer(label, model)
    return inferred

def _static_tensors(graph: onnx.GraphProto, init: dict) -> set[str]:
    """Tensors computed from initializers, constants and shapes only (no activation values)."""
    static = set(init)
    for node in graph.node:
        if node.op_type in _SHAPE_OPS or all(x in static for x in node.input if x):
            static.update(o for o in node.output if o)
    return static


def _known_shapes(graph: onnx.GraphProto, init: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, for every tensor whose dimensions shape inference fixed."""
    out: dict[str, tuple[int, ...]] = {name: tuple(int(d) for d in t.dims) for name, t in init.items()}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[vi.name] = tuple(int(d.dim_value) for d in t.shape.dim)
    for node in graph.node:  # Constant nodes: their value's shape
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = tuple(int(d) for d in a.t.dims)
    return out


def _constants(graph: onnx.GraphProto, init: dict) -> dict[str, np.ndarray]:
    """Values of initializers and ``Constant`` outputs (for axes and similar small inputs)."""
    vals = {name: numpy_helper.to_array(t) for name, t in init.items()}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    vals[node.output[0]] = numpy_helper.to_array(a.t)
    return vals


def _matmul_biases(graph: onnx.GraphProto, static: set, known: dict) -> tuple[set[str], set[int]]:
    """(outputs of weight ``MatMul`` nodes that have a bias, indices of the ``Add`` nodes that are those biases): an
    ``Add`` of a constant vector that is the only consumer of a weight ``MatMul``'s output is that dense layer's
    bias (torch exports ``nn.Linear`` on token rows so)."""
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for x in node.input:
            consumers.setdefault(x, []).append(i)
    biased: set[str] = set()
    absorbed: set[int] = set()
    for node in graph.node:
        if node.op_type != "MatMul" or not any(x in static for x in node.input) \
                or all(x in static for x in node.input):
            continue
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or graph.node[users[0]].op_type != "Add":
            continue
        add = graph.node[users[0]]
        other = [x for x in add.input if x != node.output[0]]
        n_out = known.get(node.output[0], (0,))[-1]
        if len(other) == 1 and other[0] in static and known.get(other[0]) in ((n_out,), (1, n_out)):
            biased.add(node.output[0])
            absorbed.add(users[0])
    return biased, absorbed


# ----- loading ------------------------------------------------------------------------------------------------------

def _load(source: str | os.PathLike | bytes | onnx.ModelProto) -> tuple[str, onnx.ModelProto]:
    """(label for messages, checked model)."""
    if isinstance(source, onnx.ModelProto):
        label, model = "<onnx model>", source  # not changed: checking and inference work on a light copy
    else:
        if isinstance(source, (bytes, bytearray)):
            label, data = "<onnx bytes>", bytes(source)
        else:
            label = str(source)
            path = Path(source)
            if not path.is_file():
                raise ModelError(f"{label}: no such ONNX file")
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ModelError(f"{label}: cannot read ({exc.strerror})") from None
        if not data:
            raise ModelError(f"{label}: empty file, not an ONNX model")
        try:
            model = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf DecodeError and friends
            raise ModelError(f"{label}: not an ONNX model or truncated ({_first_line(exc)})") from None
    if model.ir_version < 1 or not model.HasField("graph") or not model.graph.node:
        raise ModelError(f"{label}: not an ONNX model or truncated (no graph nodes)")
    return label, model


#: Initializers with more elements than this are weights, never shape arithmetic: checking and shape inference see
#: them as typed graph inputs without data (a 550 MB VGG-16 file is not copied through them; external data files
#: are never read).
_LIGHT_LIMIT = 4096


def _light(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every initializer of more than :data:`_LIGHT_LIMIT` elements replaced by a graph input of its
    type and shape."""
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    g, lg = model.graph, light.graph
    lg.name = g.name
    lg.node.extend(g.node)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    inputs = {i.name for i in g.input}
    for t in g.initializer:
        if math.prod(t.dims) <= _LIGHT_LIMIT and t.data_location != onnx.TensorProto.EXTERNAL:
            lg.initializer.append(t)
        elif t.name not in inputs:
            lg.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return light


def _fix_input(label: str, vi: onnx.ValueInfoProto, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """Set the graph input to batch 1 (and to ``input_shape`` when given), in place; return (C, H, W)."""
    dims = vi.type.tensor_type.shape.dim
    if input_shape is not None:
        shape = tuple(input_shape)
        if not shape or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in shape):
            raise ModelError(f"input_shape = {input_shape!r} must be a sequence of positive integers, e.g. "
                             "(3, 224, 224)")
        if dims and len(dims) != len(shape) + 1:
            raise ModelError(f"{label}: input '{vi.name}' has {len(dims)} dimensions (batch included); "
                             f"input_shape = {tuple(shape)} has {len(shape)}")
    else:
        if not dims:
            raise ModelError(f"{label}: input '{vi.name}' has no fixed shape; give input_shape")
        free = [d.dim_param or "?" for d in dims[1:] if not d.HasField("dim_value")]
        if free:
            raise ModelError(f"{label}: input '{vi.name}' has a symbolic dimension '{free[0]}'; give input_shape")
        shape = tuple(int(d.dim_value) for d in dims[1:])
    full = (1, *shape)
    tshape = vi.type.tensor_type.shape
    del tshape.dim[:]
    for d in full:
        tshape.dim.add().dim_value = int(d)
    return shape


def _node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _first_line(exc: BaseException) -> str:
    text = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {text[0] if text else ''}"
