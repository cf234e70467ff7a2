"""The model zoo: standard CNNs written with ``torch.nn``, each with its input shape and published parameter count.

torchvision is not available here, so every model is written out in this module. The ImageNet models follow
torchvision's definitions layer for layer and use its module names (``features.0``, ``layer1.0.conv1``,
``downsample.0``, ...), so a layer name in a report means the same thing it means in torchvision; their parameter
counts equal the ones torchvision publishes (``torchvision.models.<name>`` weight metadata, ``num_params``).

Entries (``list_models()``):

========================  =========  ===========  =================  ===========================================
name                      dataset    input        parameters         variant
========================  =========  ===========  =================  ===========================================
``lenet5``                MNIST      1x28x28      61,706             LeCun et al. 1998, conv1 padded by 2
``mlp``                   MNIST      1x20x20      59,134             IMAC-Sim's 400-120-84-10 MLP
``alexnet``               ImageNet   3x224x224    61,100,840         torchvision (one-GPU "OWT" variant)
``vgg9``                  CIFAR-10   3x32x32      3,491,530          FedMA's VGG-9 (Wang et al., ICLR 2020)
``vgg16-cifar10``         CIFAR-10   3x32x32      14,728,266         kuangliu/pytorch-cifar VGG16 (with BN)
``vgg16``                 ImageNet   3x224x224    138,357,544        torchvision vgg16 (configuration D)
``mobilenetv1``           ImageNet   3x224x224    4,231,976          Howard et al. 2017, alpha = 1
``resnet18``              ImageNet   3x224x224    11,689,512         torchvision resnet18
``resnet50``              ImageNet   3x224x224    25,557,032         torchvision resnet50 (v1.5)
========================  =========  ===========  =================  ===========================================

Parameter counts are ``sum(p.numel() for p in model.parameters())`` (trainable parameters; batch-norm running
statistics are buffers, not parameters).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch import nn

from imcsim.errors import ModelError
from imcsim.workload.zoo_info import ZOO, model_info

if TYPE_CHECKING:  # pragma: no cover
    from imcsim.workload.network import Network

__all__ = [
    "ZooEntry", "list_models", "get_model", "build_model", "load_network", "model_info",
    "LeNet5", "MLP", "AlexNet", "VGG", "MobileNetV1", "ResNet", "BasicBlock", "Bottleneck",
]


# ----- LeNet-5 and the IMAC-Sim MLP ---------------------------------------------------------------------------------

class LeNet5(nn.Sequential):
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner, Proc. IEEE 1998) on 1x28x28 MNIST-class images.

    ``conv1`` pads by 2, so the network sees the classic 32x32 input: 6@5x5 -> pool 2 -> 16@5x5 -> pool 2 -> a
    16x5x5 = 400-element vector -> dense 400-120-84-10. The dense part is exactly the 400-120-84-10 MLP that IMAC-Sim
    maps onto crossbars (IMAC-Sim, GLSVLSI 2023), kept as three separate ``nn.Linear`` modules (``fc1``, ``fc2``,
    ``fc3``) behind an explicit ``flatten`` so that it can be split off and run in analog. The conv part is
    conv -> activation -> pool, the order that keeps a sigmoid-like activation ahead of the (monotone) pooling.
    Pooling is 2x2 max pooling (the modern reading; the 1998 paper used trainable sub-sampling).

    Module names (in order): conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2, act4, fc3.
    Parameters: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706.

    Args:
        num_classes: outputs of ``fc3``.
        activation: activation module class for the conv part (called with no arguments).
        dense_activation: activation module class between the dense layers (default: ``activation``).
        in_channels: input channels (1 for MNIST / Fashion-MNIST).
    """

    def __init__(self, num_classes: int = 10, activation: type[nn.Module] = nn.ReLU,
                 dense_activation: type[nn.Module] | None = None, in_channels: int = 1):
        dense_activation = dense_activation or activation
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)),
            ("act1", activation()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
            ("act2", activation()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(400, 120)),
            ("act3", dense_activation()),
            ("fc2", nn.Linear(120, 84)),
            ("act4", dense_activation()),
            ("fc3", nn.Linear(84, num_classes)),
        ]))


class MLP(nn.Sequential):
    """IMAC-Sim's multilayer perceptron: 400-120-84-10 on 20x20 MNIST images (flattened).

    The network of IMAC-Sim (Amin, Elbtity, Zand, GLSVLSI 2023) and its predecessors (ISCAS 2022, JETCAS 2022),
    with 13/4/3 x 4/3/1 partitions on 32 x 32 crossbars. Module names: flatten, fc1, act1, fc2, act2, fc3.
    Parameters: 48,120 + 10,164 + 850 = 59,134.

    Args:
        num_classes: outputs of ``fc3``.
        activation: activation module class between the dense layers (default nn.Sigmoid, as in IMAC-Sim).
        hidden: the two hidden widths.
        in_features: flattened input size (400 = 20x20).
    """

    def __init__(self, num_classes: int = 10, activation: type[nn.Module] = nn.Sigmoid,
                 hidden: tuple[int, int] = (120, 84), in_features: int = 400):
        super().__init__(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(in_features, hidden[0])),
            ("act1", activation()),
            ("fc2", nn.Linear(hidden[0], hidden[1])),
            ("act2", activation()),
            ("fc3", nn.Linear(hidden[1], num_classes)),
        ]))


# ----- AlexNet ------------------------------------------------------------------------------------------------------

class AlexNet(nn.Module):
    """AlexNet as torchvision defines it (Krizhevsky, "One weird trick...", arXiv 1404.5997: 64-192-384-256-256
    channels), 3x224x224 input, 61,100,840 parameters (torchvision ``AlexNet_Weights.IMAGENET1K_V1``)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# ----- VGG ----------------------------------------------------------------------------------------------------------

#: Conv widths per configuration; "M" is a 2x2 max pool. D is VGG-16 (Simonyan & Zisserman, ICLR 2015, table 1).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg9": [32, 64, "M", 128, 128, "M", 256, 256, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg_features(cfg: list[int | str], batch_norm: bool, in_channels: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (3x3 convs, pools), an optional adaptive pool, then ``classifier``.

    Built by :func:`vgg16_imagenet`, :func:`vgg16_cifar10` and :func:`vgg9_cifar10`; see those for the variants.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, avgpool: nn.Module | None = None):
        super().__init__()
        self.features = features
        self.avgpool = avgpool if avgpool is not None else nn.Identity()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg16_imagenet(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D, no batch norm) as torchvision ``vgg16``: 138,357,544 parameters
    (torchvision ``VGG16_Weights.IMAGENET1K_V1``). 3x224x224 input, 7x7 adaptive average pool, 4096-4096 classifier."""
    classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),
    )
    return VGG(_vgg_features(VGG_CONFIGS["vgg16"], False), classifier, nn.AdaptiveAvgPool2d((7, 7)))


def vgg16_cifar10(num_classes: int = 10) -> VGG:
    """VGG-16 for CIFAR-10 as in kuangliu/pytorch-cifar (``models/vgg.py``, ``VGG('VGG16')``): configuration D
    with batch norm after every conv, the five pools bring 32x32 down to 1x1, then one ``Linear(512, 10)``.

    Parameters: 14,728,266 = 14,714,688 conv + 8,448 batch norm (gamma, beta of 4,224 channels) + 5,130 dense.
    (kuangliu's model also ends ``features`` with a 1x1 average pool of stride 1, an identity, left out here.)
    """
    classifier = nn.Sequential(nn.Linear(512, num_classes))
    return VGG(_vgg_features(VGG_CONFIGS["vgg16"], True), classifier)


def vgg9_cifar10(num_classes: int = 10) -> VGG:
    """VGG-9 for CIFAR-10 as in FedMA (Wang, Yurochkin, Sun, Papailiopoulos, Khazaeni, "Federated Learning with
    Matched Averaging", ICLR 2020, the VGG-9 architecture table, 3,491,530 parameters; widely reused in federated
    learning code): six 3x3 convs 32-64-M-128-128-M-256-256-M without batch norm, then dense 4096-512-512-10 with
    dropout (p = 0.1) before the first and the last dense layer (dropout has no parameters or MACs).

    Parameters: 1,126,080 conv + 2,365,450 dense = 3,491,530.
    """
    classifier = nn.Sequential(
        nn.Dropout(p=0.1), nn.Linear(256 * 4 * 4, 512), nn.ReLU(inplace=True),
        nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(p=0.1),
        nn.Linear(512, num_classes),
    )
    return VGG(_vgg_features(VGG_CONFIGS["vgg9"], False), classifier)


# ----- MobileNetV1 --------------------------------------------------------------------------------------------------

def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 (Howard et al., arXiv 1704.04861, table 1), width multiplier 1, 3x224x224 input.

    A 3x3 stride-2 conv to 32 channels, then 13 depthwise-separable blocks (3x3 depthwise conv + BN + ReLU, 1x1
    pointwise conv + BN + ReLU), 7x7 global average pool and ``Linear(1024, 1000)``. Convs have no bias (BN follows).
    4,231,976 trainable parameters, the count Keras ``applications.MobileNet(alpha=1.0)`` reports as trainable
    (its 21,888 non-trainable parameters are BN running statistics, which torch keeps as buffers).

    Module names: ``features.0`` (stem), ``features.<i>.dw`` / ``features.<i>.pw`` for the blocks, ``classifier``.
    """

    #: (output channels, stride) of the depthwise-separable blocks, per table 1 of the paper.
    BLOCKS: tuple[tuple[int, int], ...] = (
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.0):
        super().__init__()
        blocks: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        c = 32
        for c_out, stride in self.BLOCKS:
            blocks.append(nn.Sequential(OrderedDict([
                ("dw", _conv_bn(c, c, 3, stride, groups=c)),
                ("pw", _conv_bn(c, c_out, 1, 1)),
            ])))
            c = c_out
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


# ----- ResNet -------------------------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual addition (He et al., CVPR 2016), torchvision's layout and names."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride: "ResNet v1.5", as torchvision), 1x1 expand by 4, residual addition."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet for ImageNet (He et al., CVPR 2016, table 1) with torchvision's module names.

    Args:
        block: :class:`BasicBlock` (ResNet-18/34) or :class:`Bottleneck` (ResNet-50/101/152).
        blocks: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-50.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, int, int, int],
                 num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c = 64
        for i, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
            stride = 1 if i == 0 else 2
            stage: list[nn.Module] = []
            for j in range(n):
                s = stride if j == 0 else 1
                down = None
                if j == 0 and (s != 1 or c != width * block.expansion):
                    down = nn.Sequential(nn.Conv2d(c, width * block.expansion, 1, stride=s, bias=False),
                                         nn.BatchNorm2d(width * block.expansion))
                stage.append(block(c, width, s, down))
                c = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: 11,689,512 parameters (torchvision ``ResNet18_Weights.IMAGENET1K_V1``)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 (v1.5): 25,557,032 parameters (torchvision ``ResNet50_Weights.IMAGENET1K_V1``)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


# ----- the registry -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        name: the zoo name (lower case).
        build: returns a fresh ``torch.nn.Module`` (randomly initialised); accepts ``num_classes=`` and, where the
            model has them, further keyword arguments (e.g. ``activation=`` for ``lenet5``).
        input_shape: (C, H, W) of one input image.
        dataset: the dataset the model is defined for.
        num_classes: outputs of the default build.
        description: one line for listings.
        published_params: the published parameter count (``sum(p.numel() for p in model.parameters())``).
        source: where ``published_params`` comes from.
    """

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]
    dataset: str
    num_classes: int
    description: str
    published_params: int
    source: str


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "lenet5": LeNet5, "mlp": MLP, "alexnet": AlexNet, "vgg9": vgg9_cifar10, "vgg16-cifar10": vgg16_cifar10,
    "vgg16": vgg16_imagenet, "mobilenetv1": MobileNetV1, "resnet18": resnet18, "resnet50": resnet50}

_ENTRIES: tuple[ZooEntry, ...] = tuple(
    ZooEntry(i.name, _BUILDERS[i.name], i.input_shape, i.dataset, i.num_classes, i.description, i.published_params,
             i.source) for i in ZOO)
"""The zoo: each model's listing data (:data:`imcsim.workload.zoo_info.ZOO`) with its constructor."""

_BY_NAME = {e.name: e for e in _ENTRIES}


def list_models() -> list[ZooEntry]:
    """All zoo entries, in a fixed order (small to large within a dataset family)."""
    return list(_ENTRIES)


def get_model(name: str) -> ZooEntry:
    """The zoo entry called ``name`` (case-insensitive); :class:`ModelError` listing the valid names otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _BY_NAME:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(_BY_NAME)}")
    return _BY_NAME[key]


def build_model(name: str, **kwargs) -> nn.Module:
    """A fresh, randomly initialised instance of zoo model ``name``; ``kwargs`` go to its constructor."""
    entry = get_model(name)
    try:
        return entry.build(**kwargs)
    except TypeError as exc:
        raise ModelError(f"model '{entry.name}': bad keyword arguments {sorted(kwargs)} ({exc})") from None


def load_network(name: str) -> "Network":
    """The :class:`~imcsim.workload.network.Network` of zoo model ``name`` (default build, batch 1), traced with
    :func:`~imcsim.workload.from_torch.from_torch`. Cached: repeated calls return the same (immutable) object."""
    return _load_network_cached(get_model(name).name)


@lru_cache(maxsize=None)
def _load_network_cached(name: str) -> "Network":
    from imcsim.workload.from_torch import from_torch

    entry = _BY_NAME[name]
    # Only shapes are needed: build on the meta device, which allocates and initialises nothing (VGG-16 would
    # otherwise spend a second drawing 138 M random weights) and leaves the caller's RNG stream alone.
    with torch.device("meta"):
        model = entry.build()
    net = from_torch(model, entry.input_shape, name=entry.name)
    net.meta.update(dataset=entry.dataset, num_classes=entry.num_classes, published_params=entry.published_params)
    return net
