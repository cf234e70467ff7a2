"""What ``imcsim models`` lists about each zoo model, without importing torch.

The zoo's models are torch modules (:mod:`imcsim.workload.zoo`); their names, input shapes, datasets, published
parameter counts and sources live here, with the multiply-accumulates and layer counts of each traced network, so that
a listing needs no model built or traced. ``tests/test_workload_zoo.py`` traces every model and checks these counts
against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from imcsim.errors import ModelError

__all__ = ["ZooInfo", "ZOO", "get_info", "model_info", "zoo_rows"]


@dataclass(frozen=True)
class ZooInfo:
    """One zoo model for listings.

    Attributes:
        name: the zoo name (lower case).
        input_shape: (C, H, W) of one input image.
        dataset: the dataset the model is defined for.
        num_classes: outputs of the default build.
        description: one line for listings.
        published_params: the published parameter count (``sum(p.numel() for p in model.parameters())``).
        source: where ``published_params`` comes from.
        macs: multiply-accumulates per image of the traced network (batch 1).
        layers: layers with multiply-accumulates; all_layers: every layer of the traced network.
    """

    name: str
    input_shape: tuple[int, int, int]
    dataset: str
    num_classes: int
    description: str
    published_params: int
    source: str
    macs: int
    layers: int
    all_layers: int


ZOO: tuple[ZooInfo, ...] = (
    ZooInfo("lenet5", (1, 28, 28), "MNIST", 10,
            "LeNet-5: 6@5x5 (pad 2), pool, 16@5x5, pool, dense 400-120-84-10",
            61_706, "LeCun et al., Proc. IEEE 1998 (C1 156, C3 2,416 with full connection, F 400-120-84-10)",
            macs=416_520, layers=5, all_layers=12),
    ZooInfo("mlp", (1, 20, 20), "MNIST", 10,
            "IMAC-Sim MLP 400-120-84-10 on 20x20 images",
            59_134, "IMAC-Sim (Amin, Elbtity, Zand, GLSVLSI 2023): 400x120 + 120x84 + 84x10 weights plus biases",
            macs=58_920, layers=3, all_layers=6),
    ZooInfo("alexnet", (3, 224, 224), "ImageNet", 1000,
            "AlexNet (torchvision variant)",
            61_100_840, "torchvision AlexNet_Weights.IMAGENET1K_V1 num_params",
            macs=714_188_480, layers=8, all_layers=20),
    ZooInfo("vgg9", (3, 32, 32), "CIFAR-10", 10,
            "VGG-9: 6 convs 32-64-128-128-256-256, dense 4096-512-512-10",
            3_491_530, "Wang et al., 'Federated Learning with Matched Averaging', ICLR 2020, VGG-9 details table",
            macs=135_369_728, layers=9, all_layers=21),
    ZooInfo("vgg16-cifar10", (3, 32, 32), "CIFAR-10", 10,
            "VGG-16 with batch norm, dense 512-10",
            14_728_266, "kuangliu/pytorch-cifar models/vgg.py VGG('VGG16')",
            macs=313_201_664, layers=14, all_layers=46),
    ZooInfo("vgg16", (3, 224, 224), "ImageNet", 1000,
            "VGG-16 (configuration D), dense 25088-4096-4096-1000",
            138_357_544, "torchvision VGG16_Weights.IMAGENET1K_V1 num_params",
            macs=15_470_264_320, layers=16, all_layers=38),
    ZooInfo("mobilenetv1", (3, 224, 224), "ImageNet", 1000,
            "MobileNetV1 (alpha 1): depthwise-separable convs, dense 1024-1000",
            4_231_976, "Howard et al., arXiv 1704.04861 table 1; Keras applications.MobileNet trainable params",
            macs=568_740_352, layers=28, all_layers=84),
    ZooInfo("resnet18", (3, 224, 224), "ImageNet", 1000,
            "ResNet-18: basic blocks 2-2-2-2",
            11_689_512, "torchvision ResNet18_Weights.IMAGENET1K_V1 num_params",
            macs=1_814_073_344, layers=21, all_layers=69),
    ZooInfo("resnet50", (3, 224, 224), "ImageNet", 1000,
            "ResNet-50 v1.5: bottleneck blocks 3-4-6-3",
            25_557_032, "torchvision ResNet50_Weights.IMAGENET1K_V1 num_params",
            macs=4_089_184_256, layers=54, all_layers=175),
)
"""The zoo, in listing order (small to large within a dataset family)."""

_BY_NAME = {i.name: i for i in ZOO}


def get_info(name: str) -> ZooInfo:
    """The zoo model called ``name`` (case-insensitive); :class:`ModelError` listing the valid names otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _BY_NAME:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(_BY_NAME)}")
    return _BY_NAME[key]


def model_info(name: str) -> dict:
    """A summary of zoo model ``name`` for listings: ``name``, ``dataset``, ``input_shape`` (C, H, W),
    ``num_classes``, ``params`` (the published count), ``macs`` (multiply-accumulates per image), ``layers`` (layers
    with multiply-accumulates), ``all_layers``, ``description`` and ``source``."""
    d = asdict(get_info(name))
    return {"name": d["name"], "dataset": d["dataset"], "input_shape": list(d["input_shape"]),
            "num_classes": d["num_classes"], "params": d["published_params"], "macs": d["macs"],
            "layers": d["layers"], "all_layers": d["all_layers"], "description": d["description"],
            "source": d["source"]}


def zoo_rows() -> list[dict]:
    """:func:`model_info` of every zoo model, in listing order."""
    return [model_info(i.name) for i in ZOO]
