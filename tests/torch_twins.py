"""Shrunk torchvision / timm models (one block per stage, narrow) beside the cnnjax options that build the same
network, for the pretrained-weight parity tests; random weights with random BatchNorm statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from cnnjax.pretrained.torch_modules import timm, torchvision

ONE_BLOCK = (1, 1, 1, 1)
VGG_CFG = (8, "M", 16, "M", 16, "M", 32, "M", 32, "M")
ALEXNET_WIDTHS = (8, 16, 24, 16, 16)
MOBILENET_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2))
HIDDEN = 24  # VGG / AlexNet hidden Linear width
CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Twin:
    """``build()`` -> the torch model; ``model`` / ``options`` the cnnjax registry name and overrides of the same
    network; ``size`` the input side; ``stages`` the torch submodules whose outputs equal cnnjax's features of
    the same names (backbones)."""

    model: str
    build: Callable[[], torch.nn.Module]
    options: dict = dataclasses.field(default_factory=dict)
    size: int = 64
    stages: dict[str, str] = dataclasses.field(default_factory=dict)
    segmentation: bool = False


def randomize_batch_norm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` in eval mode with random BatchNorm affine parameters and statistics (fresh ones are the identity,
    which would hide a swapped mean / var or scale / bias)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def images(size: int, batch: int = 2) -> np.ndarray:
    """(N, 3, size, size) float32 images in torch's layout."""
    return np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)


def _small_classifier(model, inputs: int, pool: int, dropout_first: bool):
    """torchvision hard-codes VGG's / AlexNet's 4096-wide classifier: narrowed, with the same indices."""
    nn = torch.nn
    fc1, fc2, head = nn.Linear(inputs * pool * pool, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, CLASSES)
    layers = [fc1, nn.ReLU(), nn.Dropout(), fc2, nn.ReLU(), nn.Dropout(), head]
    if dropout_first:
        layers = [nn.Dropout(), fc1, nn.ReLU(), nn.Dropout(), fc2, nn.ReLU(), head]
    model.avgpool, model.classifier = nn.AdaptiveAvgPool2d(pool), nn.Sequential(*layers)
    return model


def _resnet(block: str, **options):
    tv = torchvision()
    return lambda: tv.models.resnet.ResNet(
        getattr(tv.models.resnet, block), list(ONE_BLOCK), num_classes=CLASSES, **options
    )


def _vgg(batch_norm: bool):
    def build():
        vgg = torchvision().models.vgg
        return _small_classifier(vgg.VGG(vgg.make_layers(list(VGG_CFG), batch_norm=batch_norm)), 32, 2, False)

    return build


def _alexnet():
    nn, model = torch.nn, torchvision().models.alexnet()
    for index, (cin, cout) in zip((0, 3, 6, 8, 10), zip((3, *ALEXNET_WIDTHS[:-1]), ALEXNET_WIDTHS)):
        old = model.features[index]
        model.features[index] = nn.Conv2d(cin, cout, old.kernel_size, old.stride, old.padding)
    return _small_classifier(model, ALEXNET_WIDTHS[-1], 3, True)


def _efficientnet():
    efficientnet = torchvision().models.efficientnet
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    return efficientnet.EfficientNet(setting, 0.2, num_classes=CLASSES, last_channel=last)


def _segmentation(builder: str):
    def build():
        tv = torchvision()
        model = getattr(tv.models.segmentation, builder)(weights_backbone=None, num_classes=CLASSES, aux_loss=True)
        trunk = tv.models.resnet.ResNet(
            tv.models.resnet.Bottleneck, list(ONE_BLOCK), replace_stride_with_dilation=[False, True, True]
        )
        model.backbone = tv.models._utils.IntermediateLayerGetter(trunk, {"layer4": "out", "layer3": "aux"})
        return model

    return build


RESNET_STAGES = {f"stage{i}": f"layer{i}" for i in range(1, 5)}
TWINS = {
    "resnet18": Twin("resnet18", _resnet("BasicBlock"), {"stage_sizes": ONE_BLOCK}, stages=RESNET_STAGES),
    "resnet50": Twin("resnet50", _resnet("Bottleneck"), {"stage_sizes": ONE_BLOCK}, stages=RESNET_STAGES),
    "resnext50_32x4d": Twin(
        "resnext50_32x4d", _resnet("Bottleneck", groups=32, width_per_group=4), {"stage_sizes": ONE_BLOCK}
    ),
    "wide_resnet50_2": Twin("wide_resnet50_2", _resnet("Bottleneck", width_per_group=128), {"stage_sizes": ONE_BLOCK}),
    "seresnet50 (timm)": Twin(
        "seresnet50",
        lambda: timm().create_model("seresnet50", num_classes=CLASSES, layers=ONE_BLOCK),
        {"stage_sizes": ONE_BLOCK},
    ),
    "vgg11": Twin("vgg11", _vgg(False), {"cfg": VGG_CFG, "pool_size": 2, "hidden_features": HIDDEN}),
    "vgg11_bn": Twin("vgg11_bn", _vgg(True), {"cfg": VGG_CFG, "pool_size": 2, "hidden_features": HIDDEN}),
    "alexnet": Twin(
        "alexnet", _alexnet, {"widths": ALEXNET_WIDTHS, "pool_size": 3, "hidden_features": HIDDEN}, size=96
    ),
    "googlenet": Twin(
        "googlenet",
        lambda: torchvision().models.googlenet(
            num_classes=CLASSES, aux_logits=True, transform_input=True, init_weights=True
        ),
        {"transform_input": True, "aux_logits": True},
    ),
    "densenet121": Twin(
        "densenet121",
        lambda: torchvision().models.densenet.DenseNet(8, (1, 2), 16, num_classes=CLASSES),
        {"growth_rate": 8, "block_config": (1, 2), "num_init_features": 16},
    ),
    "mobilenet_v2": Twin(
        "mobilenet_v2",
        lambda: torchvision().models.mobilenet_v2(
            num_classes=CLASSES, inverted_residual_setting=[list(r) for r in MOBILENET_SETTING]
        ),
        {"inverted_residual_setting": MOBILENET_SETTING},
    ),
    "efficientnet_b0": Twin("efficientnet_b0", _efficientnet, {"width_mult": 0.25, "depth_mult": 0.25}),
    "fcn_resnet50": Twin(
        "fcn_resnet50",
        _segmentation("fcn_resnet50"),
        {"backbone_overrides": {"stage_sizes": ONE_BLOCK, "output_stride": 8}},
        segmentation=True,
    ),
    "deeplabv3_resnet50": Twin(
        "deeplabv3_resnet50",
        _segmentation("deeplabv3_resnet50"),
        {"backbone_overrides": {"stage_sizes": ONE_BLOCK}},
        segmentation=True,
    ),
}
