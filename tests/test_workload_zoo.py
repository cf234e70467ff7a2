"""The model zoo: published parameter counts, MACs counted independently with forward hooks, the registry API."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imcsim.errors import ModelError
from imcsim.workload import zoo
from imcsim.workload.layer import LayerKind

NAMES = ["lenet5", "mlp", "alexnet", "vgg9", "vgg16-cifar10", "vgg16", "mobilenetv1", "resnet18", "resnet50"]


def _meta_model(name: str) -> nn.Module:
    # Shapes and counts only: the meta device allocates nothing (VGG-16 has 138 M parameters).
    with torch.device("meta"):
        return zoo.build_model(name)


def _hook_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs by forward hooks: output elements x (kernel volume x input channels per group) for each Conv2d, output
    elements x in_features for each Linear. Independent of from_torch and of Layer."""
    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)

    def linear_hook(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros((1, *input_shape), device="meta"))
    for h in handles:
        h.remove()
    return total


def test_zoo_names_are_the_agreed_ones():
    assert [e.name for e in zoo.list_models()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_equals_published(name):
    entry = zoo.get_model(name)
    # real CPU weights where that is cheap; the meta device (shapes only) for the two 60-140 M parameter models
    model = _meta_model(name) if name in ("alexnet", "vgg16") else zoo.build_model(name)
    assert sum(p.numel() for p in model.parameters()) == entry.published_params
    assert entry.source and entry.description
    assert len(entry.input_shape) == 3


@pytest.mark.parametrize("name", NAMES)
def test_network_macs_and_params_match_hooks(name):
    entry = zoo.get_model(name)
    net = zoo.load_network(name)
    assert net.macs == _hook_macs(_meta_model(name), entry.input_shape)
    assert net.weights + net.meta["other_params"] == entry.published_params
    assert net.input_shape == entry.input_shape


@pytest.mark.parametrize("name, published_gmacs", [
    # Published multiply-accumulate counts at 224x224: torchvision's weight metadata (GFLOPS there = GMACs) and
    # MobileNetV1 paper table 1 (569 million mult-adds).
    ("resnet50", 4.09), ("resnet18", 1.81), ("vgg16", 15.47), ("alexnet", 0.71), ("mobilenetv1", 0.569),
])
def test_macs_near_published(name, published_gmacs):
    assert zoo.load_network(name).macs / 1e9 == pytest.approx(published_gmacs, rel=0.01)


def test_lenet5_macs_by_hand():
    # conv1: 28x28 outputs x 6 filters x 5x5x1; conv2: 10x10 x 16 x 5x5x6; dense 400x120 + 120x84 + 84x10.
    hand = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert hand == 416_520
    assert zoo.load_network("lenet5").macs == hand


def test_lenet5_structure_for_training():
    model = zoo.build_model("lenet5")
    names = [n for n, _ in model.named_children()]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten", "fc1", "act3", "fc2", "act4",
                     "fc3"]
    assert [(m.in_features, m.out_features) for m in (model.fc1, model.fc2, model.fc3)] == [(400, 120), (120, 84),
                                                                                           (84, 10)]
    assert model.conv1.padding == (2, 2)
    out = model(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3, 10)


def test_lenet5_activation_kwarg():
    model = zoo.build_model("lenet5", activation=nn.Sigmoid)
    assert isinstance(model.act1, nn.Sigmoid) and isinstance(model.act2, nn.Sigmoid)
    assert isinstance(zoo.build_model("lenet5").act1, nn.ReLU)
    mixed = zoo.build_model("lenet5", activation=nn.Tanh, dense_activation=nn.Sigmoid)
    assert isinstance(mixed.act1, nn.Tanh) and isinstance(mixed.act3, nn.Sigmoid)


def test_mlp_is_imac_sim_network():
    net = zoo.load_network("mlp")
    dense = [lay for lay in net.layers if lay.kind == LayerKind.LINEAR]
    assert [(lay.in_c, lay.out_c) for lay in dense] == [(400, 120), (120, 84), (84, 10)]
    assert zoo.build_model("mlp")(torch.zeros(2, 1, 20, 20)).shape == (2, 10)


@pytest.mark.parametrize("name", ["lenet5", "vgg9", "vgg16-cifar10", "resnet18", "mobilenetv1", "alexnet"])
def test_num_classes_kwarg(name):
    with torch.device("meta"):
        model = zoo.build_model(name, num_classes=7)
        out = model.eval()(torch.zeros((1, *zoo.get_model(name).input_shape)))
    assert out.shape == (1, 7)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ModelError) as exc:
        zoo.get_model("resnet51")
    msg = str(exc.value)
    assert "resnet51" in msg and "\n" not in msg
    for name in NAMES:
        assert name in msg
    with pytest.raises(ModelError):
        zoo.load_network("nope")


def test_lookup_is_case_insensitive():
    assert zoo.get_model("ResNet50").name == "resnet50"


def test_bad_build_kwarg_is_model_error():
    with pytest.raises(ModelError, match="lenet5"):
        zoo.build_model("lenet5", colour="blue")


def test_load_network_is_cached_and_leaves_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    net = zoo.load_network("vgg9")
    assert torch.equal(torch.rand(3), expected)
    assert zoo.load_network("vgg9") is net


def test_layer_names_follow_torchvision():
    net = zoo.load_network("resnet50")
    names = {lay.name for lay in net.layers}
    assert {"conv1", "layer1.0.conv1", "layer1.0.downsample.0", "layer4.2.conv3", "fc"} <= names
    assert len(net.compute_layers) == 54  # 53 convs + fc, as in SCALE-Sim's ResNet-50 topology


def test_mobilenet_depthwise_layers():
    net = zoo.load_network("mobilenetv1")
    dw = [lay for lay in net.layers if lay.is_depthwise]
    assert len(dw) == 13
    assert dw[0].groups == 32 and dw[0].as_gemm().k == 9 and dw[0].as_gemm().n == 1


def test_model_info_row():
    info = zoo.model_info("resnet18")
    assert info["params"] == 11_689_512 and info["layers"] == 21 and info["input_shape"] == [3, 224, 224]


@pytest.mark.parametrize("name", NAMES)
def test_listing_data_matches_the_traced_network(name):
    # zoo_info's counts let `imcsim models` list the zoo without torch; they must be those of the traced model
    from imcsim.workload import zoo_info

    info, net = zoo_info.get_info(name), zoo.load_network(name)
    assert (info.macs, info.layers, info.all_layers) == (net.macs, len(net.compute_layers), len(net))
    assert info.published_params == net.params
    entry = zoo.get_model(name)
    assert (entry.input_shape, entry.dataset, entry.num_classes) == (info.input_shape, info.dataset, info.num_classes)


def test_network_params_and_select_keep_meta():
    from imcsim.workload.layer import LayerKind as K

    net = zoo.load_network("resnet18")
    assert net.params == 11_689_512
    dense = net.select([K.LINEAR])
    assert len(dense) == 1 and dense.meta["dataset"] == "ImageNet"
