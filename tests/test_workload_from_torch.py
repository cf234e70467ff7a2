"""from_torch on small hand-written modules, checked against shapes and MACs computed by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from imcsim.errors import ModelError
from imcsim.workload.from_torch import from_torch
from imcsim.workload.layer import LayerKind


def _shape(lay):
    return (lay.in_h, lay.in_w, lay.in_c, lay.out_h, lay.out_w, lay.out_c)


def test_grouped_conv_non_square_input():
    net = from_torch(nn.Conv2d(8, 16, 3, padding=1, groups=4), (8, 10, 12))
    (lay,) = net.layers
    assert lay.kind == LayerKind.CONV2D and lay.name == "Conv2d" and lay.groups == 4
    assert _shape(lay) == (10, 12, 8, 10, 12, 16)
    # each output: 3x3 window over 8/4 = 2 channels
    assert lay.macs == 10 * 12 * 16 * 2 * 9 == 34_560
    assert lay.weights == 16 * 2 * 9 + 16
    assert (lay.pad_h, lay.pad_w) == (1, 1)


def test_depthwise_strided_conv():
    net = from_torch(nn.Sequential(nn.Conv2d(6, 6, 3, stride=2, groups=6, bias=False)), (6, 9, 9))
    (lay,) = net.layers
    assert lay.name == "0" and lay.is_depthwise and not lay.bias
    assert _shape(lay) == (9, 9, 6, 4, 4, 6)  # floor((9 - 3) / 2) + 1 = 4
    assert lay.macs == 4 * 4 * 6 * 9 == 864
    assert lay.as_gemm().groups == 6


def test_padded_non_square_kernel_and_stride():
    conv = nn.Conv2d(3, 4, (3, 5), stride=(2, 1), padding=(1, 2))
    (lay,) = from_torch(nn.Sequential(conv), (3, 7, 11)).layers
    # out h = (7 + 2 - 3) // 2 + 1 = 4, out w = (11 + 4 - 5) // 1 + 1 = 11
    assert _shape(lay) == (7, 11, 3, 4, 11, 4)
    assert (lay.kernel_h, lay.kernel_w, lay.stride_h, lay.stride_w, lay.pad_h, lay.pad_w) == (3, 5, 2, 1, 1, 2)
    assert lay.macs == 4 * 11 * 4 * 3 * 15 == 7_920


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        y = self.relu(self.bn(self.conv(x)))
        y = self.relu(y + x)  # residual addition; the same ReLU module called twice
        y = self.drop(y)
        return self.fc(torch.flatten(y, 1))


def test_residual_add_batchnorm_and_functional_flatten():
    model = _Residual()
    net = from_torch(model, (4, 5, 5))
    assert [lay.name for lay in net.layers] == ["conv", "bn", "relu", "add", "relu_1", "flatten", "fc"]
    kinds = [lay.kind for lay in net.layers]
    assert kinds == [LayerKind.CONV2D, LayerKind.ELEMENTWISE, LayerKind.ELEMENTWISE, LayerKind.ELEMENTWISE,
                     LayerKind.ELEMENTWISE, LayerKind.RESHAPE, LayerKind.LINEAR]
    add = net["add"]
    assert add.extra["operands"] == 2 and add.extra["input_elems"] == 2 * 100
    assert _shape(net["flatten"]) == (1, 1, 100, 1, 1, 100)
    assert net.macs == 5 * 5 * 4 * 4 * 9 + 100 * 3
    # conv 144 + fc 303 in layers; batch norm's 8 affine parameters in other_params
    assert net.weights == 144 + 303 and net.meta["other_params"] == 8
    assert net.weights + net.meta["other_params"] == sum(p.numel() for p in model.parameters())


def test_training_flags_are_restored():
    model = _Residual().train()
    model.bn.eval()
    from_torch(model, (4, 5, 5))
    assert model.training and model.conv.training and not model.bn.training


class _Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 5, 1)
        self.fc = nn.Linear(7, 2)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), torch.sigmoid(self.b(x))], dim=1)
        y = F.max_pool2d(y, 2)
        y = F.adaptive_avg_pool2d(y, 1)
        y = y.view(y.size(0), -1)
        return torch.tanh(self.fc(y))


def test_functional_ops_cat_pools_and_view():
    net = from_torch(_Functional(), (3, 8, 6))
    names = [lay.name for lay in net.layers]
    assert names == ["a", "relu", "b", "sigmoid", "cat", "max_pool2d", "adaptive_avg_pool2d", "view", "fc", "tanh"]
    cat = net["cat"]
    assert cat.kind == LayerKind.RESHAPE and cat.out_c == 7 and cat.extra["input_elems"] == 8 * 6 * 7
    mp = net["max_pool2d"]
    assert mp.kind == LayerKind.POOL and _shape(mp) == (8, 6, 7, 4, 3, 7) and (mp.kernel_h, mp.stride_h) == (2, 2)
    gap = net["adaptive_avg_pool2d"]
    assert _shape(gap) == (4, 3, 7, 1, 1, 7) and (gap.kernel_h, gap.kernel_w) == (4, 3)
    assert net.macs == 8 * 6 * (2 * 3 + 5 * 3) + 7 * 2


class _PoolsAndMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.mp = nn.MaxPool2d(3, stride=2, padding=1)
        self.ap = nn.AvgPool2d(2)
        self.id = nn.Identity()

    def forward(self, x):
        return self.id(self.ap(self.mp(x))).mean((2, 3))


def test_pool_modules_and_global_mean():
    net = from_torch(_PoolsAndMean(), (2, 9, 9))
    assert [lay.name for lay in net.layers] == ["mp", "ap", "mean"]
    mp, ap, mean = net.layers
    assert _shape(mp) == (9, 9, 2, 5, 5, 2) and (mp.kernel_h, mp.stride_h, mp.pad_h) == (3, 2, 1)
    assert _shape(ap) == (5, 5, 2, 2, 2, 2)
    assert mean.kind == LayerKind.POOL and _shape(mean) == (2, 2, 2, 1, 1, 2) and mean.kernel_h == 2
    assert net.macs == 0


def test_unsupported_module_names_op_and_node():
    class Rnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 4)

        def forward(self, x):
            return self.rnn(x)

    with pytest.raises(ModelError) as exc:
        from_torch(Rnn(), (3, 4))
    assert str(exc.value) == "unsupported op 'LSTM' at node 'rnn'"


def test_unsupported_function_names_op_and_node():
    class Running(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    with pytest.raises(ModelError, match=r"^unsupported op 'cumsum' at node 'cumsum'$"):
        from_torch(Running(), (3, 4))


def test_dilated_conv_is_refused():
    with pytest.raises(ModelError, match="dilation"):
        from_torch(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2)), (1, 9, 9))


def test_linear_on_sequence_is_one_product_per_row():
    # (1, 3, 4) -> (1, 3, 2): 3 token rows, each a 4 -> 2 matrix-vector product: 3 * 4 * 2 = 24 MACs, 4 * 2 + 2
    # parameters.
    (layer,) = from_torch(nn.Sequential(nn.Linear(4, 2)), (3, 4)).layers
    assert (layer.kind, layer.in_h, layer.in_w, layer.in_c, layer.out_c) == (LayerKind.LINEAR, 1, 3, 4, 2)
    assert (layer.macs, layer.weights) == (24, 10)


def test_untraceable_model_and_bad_input_shape():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(ModelError, match="cannot trace") as exc:
        from_torch(Branchy(), (1, 2, 2))
    assert "\n" not in str(exc.value)
    with pytest.raises(ModelError, match="forward pass on input shape"):
        from_torch(nn.Sequential(nn.Conv2d(3, 4, 3)), (5, 8, 8))
    for bad in [(0, 4, 4), (3, -1), (), "3x4"]:
        with pytest.raises(ModelError, match="input_shape"):
            from_torch(nn.Sequential(nn.ReLU()), bad)


def test_network_name_and_meta():
    net = from_torch(nn.Sequential(nn.Linear(3, 2)), (3,))
    assert net.name == "Sequential" and net.meta["model_class"] == "Sequential" and net.meta["params_total"] == 8
    assert from_torch(nn.Sequential(nn.Linear(3, 2)), (3,), name="tiny").name == "tiny"
    assert net.input_shape == (3,)


def _hook_count(conv: nn.Conv2d, x: torch.Tensor) -> tuple[tuple[int, ...], int]:
    out = conv(x)
    return tuple(out.shape), out.numel() * conv.kernel_size[0] * conv.kernel_size[1] * conv.in_channels // conv.groups


@settings(max_examples=30, deadline=None)
@given(groups=st.integers(1, 3), cin_per=st.integers(1, 3), cout_per=st.integers(1, 3), kh=st.integers(1, 4),
       kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       h=st.integers(4, 12), w=st.integers(4, 12))
def test_conv_shapes_and_macs_match_torch(groups, cin_per, cout_per, kh, kw, sh, sw, ph, pw, h, w):
    conv = nn.Conv2d(groups * cin_per, groups * cout_per, (kh, kw), stride=(sh, sw), padding=(ph, pw), groups=groups)
    (lay,) = from_torch(nn.Sequential(conv), (groups * cin_per, h, w)).layers
    shape, macs = _hook_count(conv, torch.zeros(1, groups * cin_per, h, w))
    assert (1, lay.out_c, lay.out_h, lay.out_w) == shape
    assert lay.macs == macs
    assert lay.weights == sum(p.numel() for p in conv.parameters())


def test_subclassed_layers_are_leaves():
    class QuantLinear(nn.Linear):  # like a quantization-aware layer: a custom forward with functional calls
        def __init__(self, *args):
            super().__init__(*args)
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return F.linear(x, torch.sign(self.weight) * self.scale, self.bias)

    net = from_torch(nn.Sequential(nn.Flatten(), QuantLinear(12, 5)), (3, 2, 2))
    assert [(lay.name, lay.kind, lay.op) for lay in net.layers] == [("0", LayerKind.RESHAPE, "Flatten"),
                                                                  ("1", LayerKind.LINEAR, "QuantLinear")]
    assert net.macs == 60
    assert net.weights == 65 and net.meta["other_params"] == 1 and net.meta["params_total"] == 66


def test_chunk_slice_and_method_forms():
    class Split(nn.Module):
        def forward(self, x):
            a, b = x.chunk(2, dim=1)
            c = x[:, :1]
            return torch.cat([a.relu(), b.sigmoid(), c], 1).flatten(1)

    net = from_torch(Split(), (4, 3, 3))
    assert [(lay.name, lay.kind.value) for lay in net.layers] == [
        ("getitem", "reshape"), ("getitem_1", "reshape"), ("getitem_2", "reshape"), ("relu", "elementwise"),
        ("sigmoid", "elementwise"), ("cat", "reshape"), ("flatten", "reshape")]
    assert net["getitem_2"].out_c == 1 and net["cat"].out_c == 5 and net["flatten"].out_c == 45
