"""ONNX files read into layers: torch exports of zoo models match from_torch, hand-built graphs per supported op
(MAC counts worked out by hand in the comments), and one-line errors for unsupported ops and bad files."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
import onnx
from onnx import TensorProto, helper, numpy_helper

from imcsim.cli.app import main
from imcsim.errors import ModelError
from imcsim.workload.from_onnx import from_onnx
from imcsim.workload.layer import LayerKind
from imcsim.workload.zoo import build_model, get_model, load_network

F32 = TensorProto.FLOAT


def _init(name: str, *shape: int, values=None) -> TensorProto:
    arr = np.zeros(shape, np.float32) if values is None else np.asarray(values)
    return numpy_helper.from_array(arr, name)


def _graph(nodes, in_shape, inits=(), out="y", opset=17):
    """A model with input x of ``in_shape`` and output ``out``, whose output type is filled in by ONNX's shape
    inference as an exporter does (the checker wants it)."""
    graph = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info("x", F32, list(in_shape))],
                              [helper.make_tensor_value_info(out, F32, None)], initializer=list(inits))
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _export(model: torch.nn.Module, shape) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice (onnxscript is not installed)
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), buf, dynamo=False)
    return buf.getvalue()


def _geometry(layer):
    return (layer.kind, layer.in_h, layer.in_w, layer.in_c, layer.out_h, layer.out_w, layer.out_c, layer.kernel_h,
            layer.kernel_w, layer.stride_h, layer.stride_w, layer.pad_h, layer.pad_w, layer.groups, layer.m,
            layer.k, layer.dynamic, layer.macs)


# ----- torch exports of zoo models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lenet5", "mobilenetv1", "resnet18"])
def test_zoo_export_reads_back_as_from_torch(name):
    entry = get_model(name)
    net = from_onnx(_export(build_model(name), entry.input_shape))
    ref = load_network(name)
    # Layers with MACs and pools match one for one; batch norm is folded into the convolutions by the exporter, so
    # elementwise layers are compared only through the MAC totals.
    keep = (LayerKind.CONV2D, LayerKind.LINEAR, LayerKind.GEMM, LayerKind.POOL)
    assert [_geometry(lay) for lay in net if lay.kind in keep] == [_geometry(lay) for lay in ref if lay.kind in keep]
    assert net.macs == ref.macs and net.input_shape == entry.input_shape
    if name == "lenet5":  # no batch norm: the weights (bias included) are the model's parameters exactly
        assert net.weights == ref.weights == sum(p.numel() for p in build_model(name).parameters())


def test_token_model_export_matches_from_torch():
    from imcsim.workload.from_torch import from_torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(3, 8, 3, padding=1)
            self.norm = torch.nn.LayerNorm(8)
            self.q, self.k, self.v = (torch.nn.Linear(8, 8) for _ in range(3))
            self.up = torch.nn.ConvTranspose2d(2, 4, 3, stride=2)

        def forward(self, x):
            h = self.norm(self.conv(x).transpose(1, 2))
            a = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2), -1)
            o = torch.nn.functional.gelu(a @ self.v(h)).mean(1)
            u = torch.nn.functional.interpolate(self.up(o.view(1, 2, 2, 2)), scale_factor=2)
            return torch.cat([u.flatten(1), o], 1)

    model = Block()
    net, ref = from_onnx(_export(model, (3, 16))), from_torch(model, (3, 16))
    assert [_geometry(lay) for lay in net] == [_geometry(lay) for lay in ref]
    assert [lay.bias for lay in net] == [lay.bias for lay in ref]  # the MatMul + Add pairs are biased dense layers
    assert net.weights == ref.weights and net.meta["other_params"] == ref.meta["other_params"]
    # Which layer reads which (extra["inputs"], for the pixel pipeline) is the same graph, by position.
    from imcsim.arch.pipeline import producers

    assert producers(net) == producers(ref)
    assert net["/q/MatMul"].extra["inputs"] == ["/norm/LayerNormalization"]  # the query projection reads the norm


# ----- hand-built graphs, one per op ---------------------------------------------------------------------------------

def test_conv_groups_pads_strides_and_bias():
    # x (1, 4, 10, 10), W (6, 2, 3, 3), group 2, stride 2, pads 1: out floor((10 + 2 - 3) / 2) + 1 = 5.
    # MACs = 5 * 5 * 6 * 3 * 3 * 2 = 2700; weights = 6 * 2 * 9 + 6 = 114.
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv", group=2, strides=[2, 2], pads=[1, 1, 1, 1])
    (layer,) = from_onnx(_graph([node], [1, 4, 10, 10], [_init("W", 6, 2, 3, 3), _init("B", 6)])).layers
    assert (layer.kind, layer.out_h, layer.out_w, layer.out_c, layer.groups, layer.pad_h) == (
        LayerKind.CONV2D, 5, 5, 6, 2, 1)
    assert (layer.macs, layer.weights, layer.bias) == (2700, 114, True)


def test_conv_auto_pad_same_and_conv1d():
    # SAME_UPPER, stride 1, kernel 3 on 8 x 8: total pad 2, 1 per side, out 8 x 8; MACs = 64 * 5 * 3 * 9 = 8640.
    node = helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER")
    (layer,) = from_onnx(_graph([node], [1, 3, 8, 8], [_init("W", 5, 3, 3, 3)])).layers
    assert (layer.out_h, layer.out_w, layer.pad_h, layer.pad_w, layer.macs) == (8, 8, 1, 1, 8640)
    # 1-d: (1, 3, 20), W (4, 3, 5), no pad: L_out = 16, a 1 x 16 image; MACs = 16 * 4 * 3 * 5 = 960.
    node = helper.make_node("Conv", ["x", "W"], ["y"])
    (layer,) = from_onnx(_graph([node], [1, 3, 20], [_init("W", 4, 3, 5)])).layers
    assert (layer.in_h, layer.in_w, layer.out_w, layer.kernel_h, layer.kernel_w, layer.macs) == (1, 20, 16, 1, 5, 960)


def test_conv_transpose_is_the_scatter_product():
    # x (1, 4, 3, 3), W (4, 6, 2, 2), stride 2: every input pixel (9) times 4 -> 6 * 2 * 2 = 24 columns:
    # MACs = 9 * 4 * 24 = 864; output 6 x 6 x 6 (kept in extra); the bias B (6) is not a GEMM weight.
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], strides=[2, 2])
    net = from_onnx(_graph([node], [1, 4, 3, 3], [_init("W", 4, 6, 2, 2), _init("B", 6)]))
    (layer,) = net.layers
    assert (layer.kind, layer.m, layer.k, layer.out_c, layer.groups, layer.macs, layer.weights) == (
        LayerKind.GEMM, 9, 4, 24, 1, 864, 96)
    assert layer.extra["out_shape"] == (1, 6, 6, 6) and net.meta["other_params"] == 6


def test_gemm_and_weight_matmul_on_tokens_with_bias():
    # Gemm: (1, 12) x W^T (5, 12) + B: a 12 -> 5 dense layer: 60 MACs, 65 weights.
    node = helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)
    (layer,) = from_onnx(_graph([node], [1, 12], [_init("W", 5, 12), _init("B", 5)])).layers
    assert (layer.kind, layer.in_c, layer.out_c, layer.macs, layer.weights) == (LayerKind.LINEAR, 12, 5, 60, 65)
    # MatMul (1, 7, 12) @ W (12, 5) then Add B (5): 7 token rows of a biased 12 -> 5 layer: 7 * 60 = 420 MACs.
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "B"], ["y"], name="bias")]
    (layer,) = from_onnx(_graph(nodes, [1, 7, 12], [_init("W", 12, 5), _init("B", 5)])).layers
    assert (layer.name, layer.in_w, layer.macs, layer.weights, layer.bias) == ("mm", 7, 420, 65, True)


def test_activation_matmul_is_a_dynamic_gemm_per_head():
    # q (1, 2, 6, 4) @ k^T (1, 2, 4, 6): 2 heads of (6 x 4) @ (4 x 6): MACs = 2 * 6 * 6 * 4 = 288, no weights.
    nodes = [helper.make_node("Transpose", ["x"], ["kt"], perm=[0, 1, 3, 2], name="t"),
             helper.make_node("MatMul", ["x", "kt"], ["y"], name="scores")]
    net = from_onnx(_graph(nodes, [1, 2, 6, 4]))
    scores = net["scores"]
    assert (scores.kind, scores.groups, scores.m, scores.k, scores.out_c, scores.dynamic) == (
        LayerKind.GEMM, 2, 6, 4, 6, True)
    assert (scores.macs, scores.weights) == (288, 0)


def test_pools_global_and_reduce_mean():
    # MaxPool 3x3 stride 2 pad 1 on 9 x 9: out floor((9 + 2 - 3) / 2) + 1 = 5; AveragePool 2x2 with ONNX's default
    # stride 1: 5 - 2 + 1 = 4; the global pool's window is all 4 x 4.
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("AveragePool", ["p"], ["q"], kernel_shape=[2, 2]),
             helper.make_node("GlobalAveragePool", ["q"], ["y"])]
    net = from_onnx(_graph(nodes, [1, 8, 9, 9]))
    assert [(lay.kind, lay.out_h, lay.kernel_h, lay.stride_h, lay.pad_h) for lay in net] == [
        (LayerKind.POOL, 5, 3, 2, 1), (LayerKind.POOL, 4, 2, 1, 0), (LayerKind.POOL, 1, 4, 4, 0)]
    # ReduceMean over (2, 3) of (1, C, H, W), or over the length of (1, C, L), is a global pool; over the tokens of
    # (1, T, D) (axis 1) an elementwise reduction of 5 * 6 = 30 elements to 6.
    red = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)
    (layer,) = from_onnx(_graph([red], [1, 8, 6, 6])).layers
    assert (layer.kind, layer.kernel_h, layer.kernel_w, layer.out_c) == (LayerKind.POOL, 6, 6, 8)
    red = helper.make_node("ReduceMean", ["x"], ["y"], axes=[-1], keepdims=1)
    (layer,) = from_onnx(_graph([red], [1, 5, 6])).layers
    assert (layer.kind, layer.kernel_w, layer.out_w, layer.out_c) == (LayerKind.POOL, 6, 1, 5)
    red = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)
    (layer,) = from_onnx(_graph([red], [1, 5, 6])).layers
    assert (layer.kind, layer.input_elems, layer.output_elems) == (LayerKind.ELEMENTWISE, 30, 6)


def test_batchnorm_activations_add_concat_reshape_flatten_resize():
    c = 3
    bn = [_init(n, c) for n in ("s", "b", "m", "v")]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Sigmoid", ["r"], ["g"]),
             helper.make_node("Add", ["g", "r"], ["a"]),
             helper.make_node("Concat", ["a", "x"], ["c"], axis=1),
             helper.make_node("Resize", ["c", "", "scales"], ["u"], mode="nearest"),
             helper.make_node("Flatten", ["u"], ["f"]),
             helper.make_node("Reshape", ["f", "shape"], ["y"])]
    inits = [*bn, _init("scales", 4, values=np.array([1, 1, 2, 2], np.float32)),
             _init("shape", 2, values=np.array([1, -1], np.int64))]
    net = from_onnx(_graph(nodes, [1, c, 4, 4], inits))
    assert [(lay.op, lay.kind) for lay in net] == [
        ("BatchNormalization", LayerKind.ELEMENTWISE), ("Relu", LayerKind.ELEMENTWISE),
        ("Sigmoid", LayerKind.ELEMENTWISE), ("Add", LayerKind.ELEMENTWISE), ("Concat", LayerKind.RESHAPE),
        ("Resize", LayerKind.ELEMENTWISE), ("Flatten", LayerKind.RESHAPE), ("Reshape", LayerKind.RESHAPE)]
    add, cat, resize, flat = net[3], net[4], net[5], net[7]
    assert add.extra["operands"] == 2 and cat.out_c == 2 * c
    # Resize: (1, 6, 4, 4) -> (1, 6, 8, 8); the reshape ends at 6 * 8 * 8 = 384 features.
    assert (resize.in_h, resize.out_h, resize.out_c) == (4, 8, 6) and flat.out_c == 384
    assert net.macs == 0 and net.meta["other_params"] == 2 * c  # BN scale and shift; running stats are not weights


def test_layernorm_softmax_gelu_and_symbolic_batch():
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], axis=-1),
             helper.make_node("Softmax", ["n"], ["s"], axis=-1),
             helper.make_node("Gelu", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, ["N", 5, 8])],
                              [helper.make_tensor_value_info("y", F32, None)],
                              initializer=[_init("g", 8), _init("b", 8)])
    net = from_onnx(onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 20)])))
    assert [lay.op for lay in net] == ["LayerNormalization", "Softmax", "Gelu"]
    assert net.input_shape == (5, 8) and all(lay.output_elems == 40 for lay in net)


def test_input_shape_fixes_symbolic_dimensions():
    node = helper.make_node("Conv", ["x", "W"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F32, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", F32, None)], initializer=[_init("W", 2, 3, 3, 3)])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(ModelError, match=r"symbolic dimension 'H'; give input_shape$"):
        from_onnx(model)
    (layer,) = from_onnx(model, input_shape=(3, 10, 12)).layers
    assert (layer.out_h, layer.out_w) == (8, 10)


# ----- errors -------------------------------------------------------------------------------------------------------

def test_unsupported_op_names_node_and_op():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="act"),
             helper.make_node("Det", ["r"], ["y"], name="determinant")]
    with pytest.raises(ModelError) as exc:
        from_onnx(_graph(nodes, [1, 4, 4]))
    assert str(exc.value) == "<onnx model>: unsupported op 'Det' at node 'determinant'"


def _lenet_bytes() -> bytes:
    return _export(build_model("lenet5"), (1, 28, 28))


@pytest.mark.parametrize("content, message", [
    (b"", "empty file, not an ONNX model"),
    ("truncated", "not an ONNX model or truncated"),
    (b"layer,m,n,k\nfc1,1,10,20\n", "not an ONNX model or truncated"),
])
def test_bad_files_are_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(_lenet_bytes()[:1500] if content == "truncated" else content)
    with pytest.raises(ModelError, match=message) as exc:
        from_onnx(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)
    assert main(["simulate", "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: ") and message in err


def test_unsupported_op_on_the_command_line_exits_2(tmp_path, capsys):
    path = tmp_path / "det.onnx"
    path.write_bytes(_graph([helper.make_node("Det", ["x"], ["y"], name="d")], [1, 3, 3]).SerializeToString())
    assert main(["compare", "--model", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: unsupported op 'Det' at node 'd'\n"


def test_map_pipelines_an_onnx_file(capsys):
    # The example file's layers chain through extra["inputs"], so the pixel pipeline schedules it.
    assert main(["map", "--model", "examples/tiny_cnn.onnx", "--pipeline", "pixel", "--format", "json"]) == 0
    assert '"fc2"' in capsys.readouterr().out


def test_multihead_attention_export_folds_its_shape_arithmetic():
    # torch exports nn.MultiheadAttention with Shape -> Slice -> Concat -> Reshape chains that ONNX's own data
    # propagation cannot resolve; the reader evaluates them. The products are then from_torch's: packed in_proj
    # 10*16*48, scores and context 4 heads * 10*10*4 each, out_proj 10*16*16.
    from imcsim.arch.system import is_dense
    from imcsim.workload.from_torch import from_torch

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    model = Encoder()
    net, ref = from_onnx(_export(model, (10, 16))), from_torch(model, (10, 16))
    assert net.macs == ref.macs == 7680 + 2 * 1600 + 2560
    assert net.weights == ref.weights == sum(p.numel() for p in model.parameters())
    dense = sorted(lay.macs for lay in net if lay.kind.has_weights and is_dense(lay))
    assert dense == sorted(lay.macs for lay in ref if lay.kind.has_weights and is_dense(lay)) == [2560, 7680]
