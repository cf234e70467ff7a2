"""Turn a ``torch.nn.Module`` into a :class:`~imcsim.workload.network.Network` with torch.fx.

The model is traced symbolically with torch.fx (subclasses of the supported layers, such as a quantization-aware
``QuantConv2d(nn.Conv2d)``, count as those layers) and run once on a zero tensor of shape ``(1, *input_shape)``
through :class:`torch.fx.passes.shape_prop.ShapeProp`, which records every node's output shape (on the model's
device: a model built on the ``meta`` device is traced without allocating or computing anything).
Each graph node that computes on tensors becomes one :class:`~imcsim.workload.layer.Layer`, in graph order:

* ``conv2d``: ``nn.Conv2d`` (any padding, stride, non-square kernels, groups / depthwise; dilation 1 only) and
  ``nn.Conv1d`` (a 1-high image: (1, C, L) is 1 x L);
* ``linear``: ``nn.Linear`` and ``F.linear`` on (batch, features) or on token rows (batch, T, features), each row
  one matrix-vector product with the same weights; ``x @ W`` / ``torch.matmul`` with a parameter operand is the same;
* ``nn.MultiheadAttention``: its projections (``linear`` on the token rows), per-head score and context products
  (dynamic ``gemm``) and softmax, one layer each; ``F.scaled_dot_product_attention`` likewise (scores, softmax,
  context);
* ``gemm``: ``nn.ConvTranspose2d`` / ``nn.ConvTranspose1d`` as the product they are computed with (input pixels x
  in/groups by in/groups x out/groups * window, then overlap-added), and a matmul of two activations (``q @ k``,
  ``torch.bmm``: a *dynamic* GEMM, one group per leading dimension such as an attention head, digital units only);
* ``pool``: ``nn.MaxPool2d``, ``nn.AvgPool2d``, ``nn.AdaptiveAvgPool2d``, ``nn.AdaptiveMaxPool2d``, their 1-d forms,
  their functional forms, and a mean over the spatial dimensions (``x.mean((2, 3))``, a global average pool);
* ``elementwise``: ``nn.BatchNorm2d`` / ``nn.BatchNorm1d``, ``nn.LayerNorm``, ``nn.GroupNorm``, activations
  (``nn.ReLU``, ``nn.ReLU6``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.GELU``, ``nn.Softmax``, ... and their functional /
  method forms), residual additions (``+``, ``torch.add``), products and differences of tensors, interpolation
  (``F.interpolate``, ``nn.Upsample``: from the input's shape to the output's), and any other mean or sum (over the
  features of a token, the tokens of a sequence: from the input's shape to the output's);
* ``reshape``: ``nn.Flatten``, ``torch.flatten``, ``view``, ``reshape``, ``transpose``, ``torch.cat``, slices
  (``x[:, :4]``) and the parts of ``chunk`` / ``split`` (one layer per part taken).

``nn.Dropout`` and ``nn.Identity`` (and their functional forms) do nothing at inference and are left out. Nodes that
compute only Python values (``x.size(0)``, ``x.shape[1] * 2``) are left out too, and so are nodes that compute only
on parameters (``self.weight.t()``: they are part of the weight they feed). Anything else raises
:class:`~imcsim.errors.ModelError` naming the op and the node. The shape rules are those of
:mod:`imcsim.workload.shapes`, shared with the ONNX reader.

Layer names are the module paths for module calls (``layer1.0.conv1``; a module called a second time gets ``_1``,
``_2``, ... appended) and the fx node names for function and method calls (``add``, ``flatten``, ``relu_1``). A
bare torch layer (``from_torch(nn.Conv2d(...), shape)``) gives one layer named after its class.

Output shapes are torch's (they are read from shape propagation, not recomputed). The parameters that live in
no MAC layer (batch-norm scale and shift, ...) are counted in ``Network.meta["other_params"]``, so that
``network.weights + network.meta["other_params"] == sum(p.numel() for p in model.parameters())`` for a model that
uses each of its modules once. ``meta`` also holds ``"params_total"`` (that sum) and ``"model_class"``.

Each layer records the layers it reads in ``Layer.extra["inputs"]`` (names, in argument order; ``[]`` when it reads
only the network input; nodes that make no layer, such as dropout or ``chunk``, pass their operands' producers on,
and shape arithmetic such as ``x.size(0)`` carries none), so that a residual addition names both of its branches.
"""

from __future__ import annotations

import contextlib
import io
import math
import operator
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from imcsim.errors import ModelError
from imcsim.workload import shapes
from imcsim.workload.layer import Layer, LayerKind
from imcsim.workload.network import Network
from imcsim.workload.ops import ACTIVATIONS

__all__ = ["from_torch"]

# Modules and functions that do nothing at inference: no layer at all.
_NOOP_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
_NOOP_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, torch.dropout}
_NOOP_METHODS = {"contiguous", "clone", "detach", "float", "to", "type_as"}

# Elementwise modules (activations and per-channel affine maps).
_ELEMENTWISE_MODULES = (*(getattr(nn, name) for name in ACTIVATIONS), nn.Softmax, nn.LogSoftmax, nn.BatchNorm1d,
                        nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
_ELEMENTWISE_FUNCTIONS = {
    F.relu, torch.relu, F.relu6, F.sigmoid, torch.sigmoid, F.tanh, torch.tanh, F.hardtanh, F.leaky_relu, F.elu,
    F.selu, F.gelu, F.silu, F.hardswish, F.hardsigmoid, F.mish, F.softplus, F.softmax, torch.softmax,
    F.log_softmax, torch.log_softmax, F.relu_, torch.relu_,
    operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub, operator.mul, operator.imul,
    torch.mul, operator.truediv, torch.div, operator.neg, torch.neg, F.layer_norm, F.group_norm, torch.exp,
    torch.sqrt, torch.rsqrt, torch.erf, operator.pow, torch.pow, torch.where, torch.masked_fill,
}
_ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "add", "add_", "sub", "sub_",
                        "mul", "mul_", "div", "div_", "neg", "softmax", "clamp", "clamp_", "exp", "sqrt", "rsqrt",
                        "pow", "masked_fill", "masked_fill_", "erf"}

_RESHAPE_MODULES = (nn.Flatten, nn.Unflatten)
_RESHAPE_FUNCTIONS = {torch.flatten, torch.reshape, torch.cat, torch.concat, torch.stack, torch.squeeze,
                      torch.unsqueeze, torch.transpose, torch.permute}
_SPLIT_FUNCTIONS = {torch.chunk, torch.split, torch.unbind}
_SPLIT_METHODS = {"chunk", "split", "unbind"}
_RESHAPE_METHODS = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "expand",
                    "view_as", "reshape_as", "t"}

_POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.MaxPool1d, nn.AvgPool1d,
                 nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)
_ADAPTIVE_POOL_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)
_POOL_FUNCTIONS = {F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, torch.max_pool2d,
                   F.max_pool1d, F.avg_pool1d, F.adaptive_avg_pool1d, F.adaptive_max_pool1d}
_ADAPTIVE_POOL_FUNCTIONS = {F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.adaptive_avg_pool1d,
                            F.adaptive_max_pool1d}

_CONV_MODULES = (nn.Conv2d, nn.Conv1d)
_CONV_TRANSPOSE_MODULES = (nn.ConvTranspose2d, nn.ConvTranspose1d)
_RESIZE_MODULES = (nn.Upsample,)  # UpsamplingNearest2d / UpsamplingBilinear2d subclass it
_RESIZE_FUNCTIONS = {F.interpolate}
_MATMUL_FUNCTIONS = {torch.matmul, operator.matmul, torch.bmm, torch.mm}
_MATMUL_METHODS = {"matmul", "bmm", "mm"}
_REDUCE_FUNCTIONS = {torch.mean, torch.sum}
_REDUCE_METHODS = {"mean", "sum"}

# Pure-Python value functions (shape arithmetic) that may appear when their operands are ints.
_VALUE_FUNCTIONS = {operator.getitem, getattr, operator.floordiv, operator.mod, len, math.sqrt, math.ceil,
                    math.floor, math.log, math.log2, math.prod, int, float}


def from_torch(model: nn.Module, input_shape: Sequence[int], name: str | None = None) -> Network:
    """Trace ``model`` at batch 1 and return its layers.

    Args:
        model: a module made of the standard layers listed in the module docstring. Its training/eval flags are
            restored afterwards; its parameters are not changed.
        input_shape: shape of one input without the batch dimension, e.g. (C, H, W) = (3, 224, 224).
        name: the network's name (default: the model's class name).

    Returns:
        A :class:`Network` with ``input_shape`` set and ``meta`` holding ``other_params``, ``params_total`` and
        ``model_class``.

    Raises:
        ModelError: the model cannot be traced, fails on an input of that shape, or uses an unsupported op
            (``"unsupported op 'LSTM' at node 'rnn'"``).
    """
    shape = shapes.check_input_shape(input_shape)
    net_name = name or type(model).__name__
    if _is_leaf(model):  # fx would trace into a bare nn.Conv2d and see F.conv2d; trace it as a one-module model
        model = nn.Sequential(OrderedDict([(type(model).__name__, model)]))
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as exc:  # torch raises TraceError, TypeError, NotImplementedError... for untraceable code
        raise ModelError(f"model '{net_name}': torch.fx cannot trace it ({_first_line(exc)})") from None

    flags = {m: m.training for m in model.modules()}
    try:
        gm.eval()  # batch norm in training mode refuses batch 1 at 1x1 spatial size; eval is the inference shape
        # ShapeProp prints the failing node's traceback before it raises; the one-line ModelError below says it
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(torch.zeros((1, *shape), device=_device(model)))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"model '{net_name}': forward pass on input shape {(1, *shape)} failed "
                         f"({_first_line(exc)})") from None
    finally:
        for m, flag in flags.items():
            m.train(flag)

    layers: list[Layer] = []
    other_params = 0
    counted: set[int] = set()
    calls: dict[str, int] = {}
    sources: dict[fx.Node, tuple[str, ...]] = {}  # node -> the layers whose outputs it carries
    static = _static_nodes(gm.graph)
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr") or node in static:
            continue
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            layer = _module_layer(node, mod, shapes.unique_name(str(node.target), calls))
            if id(mod) not in counted:  # a module called twice holds its parameters once
                counted.add(id(mod))
                other_params += sum(p.numel() for p in mod.parameters())
                if isinstance(mod, (*_CONV_MODULES, nn.Linear)):
                    # weight and bias are the layer's; what a subclass adds (a learned scale) is not
                    other_params -= sum(p.numel() for p in (mod.weight, mod.bias) if p is not None)
                elif isinstance(mod, _CONV_TRANSPOSE_MODULES):  # the bias is added after the overlap-add
                    other_params -= mod.weight.numel()
                elif isinstance(mod, nn.MultiheadAttention):  # every parameter is a projection's
                    other_params -= sum(p.numel() for p in mod.parameters())
        elif node.op == "call_function":
            layer = _function_layer(node, shapes.unique_name(node.name, calls), static)
        elif node.op == "call_method":
            layer = _method_layer(node, shapes.unique_name(node.name, calls), static)
        else:  # pragma: no cover - fx has no other node kinds
            raise ModelError(f"unsupported op '{node.op}' at node '{node.name}'")
        reads = tuple(dict.fromkeys(n for a in _flat_args(node) if isinstance(a, fx.Node)
                                    for n in sources.get(a, ())))
        if isinstance(layer, list):  # a module that is several layers (nn.MultiheadAttention), chained inside
            for part in layer:
                inner = part.extra.get("inputs", [])
                also = part.extra.pop("_and_node_inputs", False)  # reads the node's operands besides inner layers
                part.extra["inputs"] = [*inner, *reads] if (also or not inner) else inner
            layers.extend(layer)
            sources[node] = (layer[-1].name,)
        elif layer is not None:
            layer.extra["inputs"] = list(reads)
            layers.append(layer)
            sources[node] = (layer.name,)
        elif node.meta.get("tensor_meta") is not None:  # a no-op or a split passes its operands' producers on
            sources[node] = reads
        else:  # a Python value (x.size(0)) carries no data
            sources[node] = ()

    meta = {"other_params": other_params, "params_total": sum(p.numel() for p in model.parameters()),
            "model_class": type(model).__name__}
    return Network(net_name, tuple(layers), tuple(shape), meta)


# ----- node -> layer ------------------------------------------------------------------------------------------------

def _module_layer(node: fx.Node, mod: nn.Module, name: str) -> Layer | list[Layer] | None:
    op = type(mod).__name__
    if isinstance(mod, _NOOP_MODULES):
        return None
    if isinstance(mod, nn.MultiheadAttention):
        return _attention_layers(node, mod, name)
    if isinstance(mod, (*_CONV_MODULES, *_CONV_TRANSPOSE_MODULES)):
        if any(d != 1 for d in mod.dilation):
            raise ModelError(f"unsupported op '{op}' with dilation {tuple(mod.dilation)} at node '{node.name}'")
        ndim = 4 if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)) else 3
        in_shape, out = _in_shape(node, ndim), _out_shape(node, ndim)
        if isinstance(mod, _CONV_TRANSPOSE_MODULES):
            layer = shapes.conv_transpose_layer(name, op, in_shape, mod.out_channels, mod.kernel_size, mod.groups)
            layer.extra.update(out_shape=tuple(out))
            return layer
        return shapes.conv_layer(name, op, in_shape, out, mod.kernel_size, mod.stride, _conv_padding(mod),
                                 mod.groups, mod.bias is not None)
    if isinstance(mod, nn.Linear):
        return shapes.linear_layer(name, op, _in_shape(node), mod.in_features, mod.out_features,
                                   mod.bias is not None)
    if isinstance(mod, _POOL_MODULES):
        if isinstance(mod, _ADAPTIVE_POOL_MODULES):
            return _pool_layer(node, name, op, None, None, 0)
        return _pool_layer(node, name, op, mod.kernel_size, mod.stride, mod.padding)
    if isinstance(mod, _RESIZE_MODULES):
        return shapes.resize_layer(name, op, _in_shape(node), _out_shape(node))
    if isinstance(mod, _ELEMENTWISE_MODULES):
        return _shape_layer(node, name, op, LayerKind.ELEMENTWISE)
    if isinstance(mod, _RESHAPE_MODULES):
        return _shape_layer(node, name, op, LayerKind.RESHAPE)
    raise ModelError(f"unsupported op '{op}' at node '{node.name}'")


def _function_layer(node: fx.Node, name: str, static: set[fx.Node]) -> Layer | list[Layer] | None:
    fn = node.target
    op = getattr(fn, "__name__", str(fn))
    if fn in _NOOP_FUNCTIONS:
        return None
    if not _is_tensor(node):
        if fn in _VALUE_FUNCTIONS or fn in _ELEMENTWISE_FUNCTIONS:
            return None  # shape arithmetic on Python ints
        if fn in _SPLIT_FUNCTIONS:
            return None  # a tuple of views; the getitem nodes that pick them out are the reshape layers
        raise ModelError(f"unsupported op '{op}' at node '{node.name}'")
    if fn in _ELEMENTWISE_FUNCTIONS:
        return _shape_layer(node, name, op, LayerKind.ELEMENTWISE)
    if fn in _RESHAPE_FUNCTIONS or fn is operator.getitem:  # getitem returning a tensor: a slice or a split part
        return _shape_layer(node, name, op, LayerKind.RESHAPE)
    if fn in _POOL_FUNCTIONS:
        kw = _normalized(node)
        if fn in _ADAPTIVE_POOL_FUNCTIONS:
            return _pool_layer(node, name, op, None, None, 0)
        kernel = kw.get("kernel_size", node.args[1] if len(node.args) > 1 else None)
        stride = kw.get("stride") or None
        return _pool_layer(node, name, op, kernel, stride, kw.get("padding", 0))
    if fn in _RESIZE_FUNCTIONS:
        return shapes.resize_layer(name, op, _in_shape(node), _out_shape(node))
    if fn in _MATMUL_FUNCTIONS:
        return _matmul_layer(node, name, op, static)
    if fn is F.linear:
        x, w = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
        b = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
        if w not in static:
            raise ModelError(f"unsupported op 'linear' with a weight computed from the input at node '{node.name}'")
        n_out, n_in = _node_shape(w)
        return shapes.linear_layer(name, op, _node_shape(x), n_in, n_out, b is not None)
    if fn in _REDUCE_FUNCTIONS:
        return _reduce_layer(node, name, op)
    if fn is F.scaled_dot_product_attention:
        return _sdpa_layers(node, name)
    raise ModelError(f"unsupported op '{op}' at node '{node.name}'")


def _sdpa_layers(node: fx.Node, name: str) -> list[Layer]:
    """``F.scaled_dot_product_attention(q, k, v)``: the scores q k^T (a dynamic GEMM per leading index, e.g. per
    head: (L x E) @ (E x S)), the softmax over them, and the context (L x S) @ (S x Ev); named ``<node>.scores``,
    ``<node>.softmax`` and ``<node>.context``."""
    q, k, v = (_node_shape(a) for a in node.args[:3])
    if min(len(q), len(k), len(v)) < 2:
        raise ModelError(f"unsupported op 'scaled_dot_product_attention' on shapes {q}, {k}, {v} at node "
                         f"'{node.name}'")
    scores = shapes.matmul_layer(f"{name}.scores", "scaled_dot_product_attention", q, (*k[:-2], k[-1], k[-2]), None)
    lead = (*q[:-1], k[-2])
    softmax = shapes.shape_layer(f"{name}.softmax", LayerKind.ELEMENTWISE, "softmax", lead, [lead])
    context = shapes.matmul_layer(f"{name}.context", "scaled_dot_product_attention", lead, v, None)
    softmax.extra["inputs"] = [scores.name]
    context.extra.update(inputs=[softmax.name], _and_node_inputs=True)  # and v
    return [scores, softmax, context]


def _method_layer(node: fx.Node, name: str, static: set[fx.Node]) -> Layer | None:
    meth = str(node.target)
    if meth in _NOOP_METHODS or not _is_tensor(node):
        if meth in _NOOP_METHODS or meth in _SPLIT_METHODS or meth in ("size", "dim", "numel"):
            return None
        raise ModelError(f"unsupported op '{meth}' at node '{node.name}'")
    if meth in _ELEMENTWISE_METHODS:
        return _shape_layer(node, name, meth, LayerKind.ELEMENTWISE)
    if meth in _RESHAPE_METHODS:
        return _shape_layer(node, name, meth, LayerKind.RESHAPE)
    if meth in _REDUCE_METHODS:
        return _reduce_layer(node, name, meth)
    if meth in _MATMUL_METHODS:
        return _matmul_layer(node, name, meth, static)
    raise ModelError(f"unsupported op '{meth}' at node '{node.name}'")


def _attention_layers(node: fx.Node, mod: nn.MultiheadAttention, name: str) -> list[Layer]:
    """``nn.MultiheadAttention`` as the layers it computes: the input projections (one packed E -> 3E layer on the
    L query tokens for self-attention, else q, k and v layers on their own tokens), the scores (a dynamic GEMM per
    head: (L x E/H) @ (E/H x S)), the softmax, the context (per head (L x S) @ (S x E/H)) and the output projection.
    Names are the module path plus ``.in_proj`` (or ``.q_proj``, ``.k_proj``, ``.v_proj``), ``.scores``,
    ``.softmax``, ``.context`` and ``.out_proj``."""
    op = "MultiheadAttention"
    if mod.bias_k is not None or mod.add_zero_attn:
        raise ModelError(f"unsupported op '{op}' with add_bias_kv or add_zero_attn at node '{node.name}'")
    kw = _normalized(node)
    args = list(node.args) + [None] * 3
    q, k, v = (args[i] if args[i] is not None else kw.get(key) for i, key in enumerate(("query", "key", "value")))
    shapes_ = [_node_shape(x) for x in (q, k, v)]
    if any(len(sh) != 3 for sh in shapes_):
        raise ModelError(f"unsupported op '{op}' on inputs of shapes {shapes_} at node '{node.name}' (batched "
                         "(batch, tokens, features) or (tokens, batch, features) inputs only)")
    tok = 1 if mod.batch_first else 0
    n_q, n_kv = shapes_[0][tok], shapes_[1][tok]
    e, h = mod.embed_dim, mod.num_heads
    bias = mod.in_proj_bias is not None
    if q is k is v and mod._qkv_same_embed_dim:
        proj = [Layer.linear(f"{name}.in_proj", e, 3 * e, bias=bias, op=op, tokens=n_q)]
    else:
        proj = [Layer.linear(f"{name}.{p}_proj", sh[-1], e, bias=bias, op=op, tokens=n)
                for p, sh, n in (("q", shapes_[0], n_q), ("k", shapes_[1], n_kv), ("v", shapes_[2], n_kv))]
    scores = Layer.gemm(f"{name}.scores", m=n_q, n=n_kv, k=e // h, groups=h, dynamic=True, op=op)
    softmax = shapes.shape_layer(f"{name}.softmax", LayerKind.ELEMENTWISE, "softmax", (1, h, n_q, n_kv),
                                 [(1, h, n_q, n_kv)])
    context = Layer.gemm(f"{name}.context", m=n_q, n=e // h, k=n_kv, groups=h, dynamic=True, op=op)
    out = Layer.linear(f"{name}.out_proj", e, e, bias=mod.out_proj.bias is not None, op=op, tokens=n_q)
    # Which layers each reads (the projections read the module's inputs, set by the caller).
    for layer, reads in ((scores, proj), (softmax, [scores]), (context, [softmax, *proj]), (out, [context])):
        layer.extra["inputs"] = [r.name for r in reads]
    return [*proj, scores, softmax, context, out]


def _pool_layer(node: fx.Node, name: str, op: str, kernel: Any, stride: Any, padding: Any) -> Layer:
    """A pool layer over a 4-d or 3-d input (see :func:`imcsim.workload.shapes.pool_layer`)."""
    in_shape = _in_shape(node)
    _check_ndim(node, in_shape, 4 if len(in_shape) != 3 else 3, "input")
    return shapes.pool_layer(name, op, in_shape, _out_shape(node), kernel, stride, padding)


def _reduce_layer(node: fx.Node, name: str, op: str) -> Layer:
    """``x.mean(dims)`` / ``x.sum(dims)``: a global pool over image dimensions, else an elementwise reduction."""
    kw = _normalized(node)
    dims = node.args[1] if len(node.args) > 1 else kw.get("dim", node.kwargs.get("dim"))
    return shapes.mean_layer(name, op, _in_shape(node), _out_shape(node),
                             None if dims is None else _as_tuple(dims))


def _matmul_layer(node: fx.Node, name: str, op: str, static: set[fx.Node]) -> Layer:
    """``a @ b``: a dense layer when one operand is computed from parameters only, else a dynamic GEMM."""
    a, b = node.args[0], node.args[1]
    weight = "b" if b in static else "a" if a in static else None
    return shapes.matmul_layer(name, op, _node_shape(a), _node_shape(b), weight)


def _shape_layer(node: fx.Node, name: str, op: str, kind: LayerKind) -> Layer:
    """A MAC-free layer (see :func:`imcsim.workload.shapes.shape_layer`)."""
    tensors = [a for a in _flat_args(node) if _is_tensor_arg(a)]
    return shapes.shape_layer(name, kind, op, _out_shape(node), [a.meta["tensor_meta"].shape for a in tensors])


# ----- helpers ------------------------------------------------------------------------------------------------------

class _Tracer(fx.Tracer):
    """torch.fx's tracer, plus: subclasses of the supported layers (a quantization-aware ``QuantConv2d(nn.Conv2d)``)
    are leaves too, so they map to the layer they specialise instead of being traced into functional calls."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return _is_leaf(m) or super().is_leaf_module(m, module_qualified_name)


def _is_leaf(model: nn.Module) -> bool:
    return isinstance(model, (*_CONV_MODULES, *_CONV_TRANSPOSE_MODULES, nn.Linear, nn.MultiheadAttention,
                              *_POOL_MODULES, *_ELEMENTWISE_MODULES, *_RESHAPE_MODULES, *_RESIZE_MODULES,
                              *_NOOP_MODULES))


def _static_nodes(graph: fx.Graph) -> set[fx.Node]:
    """Nodes computed from parameters and constants only (``get_attr`` and what is derived from it alone, such as
    ``self.weight.t()``): weights, not activations."""
    static: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "get_attr":
            static.add(node)
        elif node.op in ("call_function", "call_method"):
            if all(n in static for n in node.all_input_nodes):  # no inputs at all: a constant (torch.arange(4))
                static.add(node)
    return static


def _node_shape(a: Any) -> tuple[int, ...]:
    if not _is_tensor_arg(a):
        raise ModelError(f"operand {a!r} is not a tensor")
    return tuple(int(d) for d in a.meta["tensor_meta"].shape)


def _device(model: nn.Module) -> torch.device:
    """Where the model's tensors live (the meta device traces shapes without allocating anything)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _is_tensor(node: fx.Node) -> bool:
    tm = node.meta.get("tensor_meta")
    return tm is not None and hasattr(tm, "shape")


def _is_tensor_arg(a: Any) -> bool:
    return isinstance(a, fx.Node) and _is_tensor(a)


def _flat_args(node: fx.Node) -> list[Any]:
    out: list[Any] = []

    def walk(a: Any) -> None:
        if isinstance(a, (list, tuple)):
            for x in a:
                walk(x)
        elif isinstance(a, dict):
            for x in a.values():
                walk(x)
        else:
            out.append(a)

    walk(node.args)
    walk(node.kwargs)
    return out


def _in_shape(node: fx.Node, ndim: int | None = None) -> tuple[int, ...]:
    first = next((a for a in _flat_args(node) if _is_tensor_arg(a)), None)
    if first is None:  # pragma: no cover - every supported op takes a tensor
        raise ModelError(f"node '{node.name}' has no tensor input")
    return _check_ndim(node, tuple(first.meta["tensor_meta"].shape), ndim, "input")


def _out_shape(node: fx.Node, ndim: int | None = None) -> tuple[int, ...]:
    if not _is_tensor(node):
        raise ModelError(f"unsupported op '{node.target}' at node '{node.name}' (it does not return one tensor)")
    return _check_ndim(node, tuple(node.meta["tensor_meta"].shape), ndim, "output")


def _check_ndim(node: fx.Node, shape: tuple[int, ...], ndim: int | None, what: str) -> tuple[int, ...]:
    if ndim is not None and len(shape) != ndim:
        raise ModelError(f"node '{node.name}' ({node.target}): expected a {ndim}-d {what}, got shape {shape}")
    return shape


def _conv_padding(mod: nn.Conv2d | nn.Conv1d) -> tuple[int, ...]:
    """Zero padding per side, one entry per spatial dimension."""
    if isinstance(mod.padding, str):  # 'valid' or 'same' (stride 1): same pads (k - 1) / 2 per side
        if mod.padding == "valid":
            return tuple(0 for _ in mod.kernel_size)
        return tuple((k - 1) // 2 for k in mod.kernel_size)
    return tuple(int(p) for p in mod.padding)


def _normalized(node: fx.Node) -> dict[str, Any]:
    try:
        norm = node.normalized_arguments(node.graph.owning_module, normalize_to_only_use_kwargs=True)
    except Exception:  # normalisation is best effort; fall back to positional reading
        norm = None
    return dict(norm.kwargs) if norm is not None else dict(node.kwargs)


def _as_tuple(v: Any) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
