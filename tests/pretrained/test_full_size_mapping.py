"""Every registry model that torchvision or timm also has: its full-size state dict's keys and shapes (torch's
``meta`` device, nothing allocated) pair with the cnnjax model's arrays (``jax.eval_shape``), the way
torchvision publishes them (GoogLeNet with its auxiliary heads, FCN / DeepLabV3 with ``aux_classifier``)."""

import pytest
import torch

from cnnjax.pretrained.convert import check_torch_shapes
from cnnjax.pretrained.torch_modules import timm, torchvision

TORCHVISION = (
    [f"resnet{d}" for d in (18, 34, 50, 101, 152)]
    + ["resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2"]
    + [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
    + ["alexnet", "googlenet", "mobilenet_v2"]
    + [f"densenet{d}" for d in (121, 161, 169, 201)]
    + [f"efficientnet_b{i}" for i in range(8)]
)
SEGMENTATION = ("fcn_resnet50", "deeplabv3_resnet50")
TIMM = ("seresnet50",)


def _build(name: str):
    tv = torchvision()
    if name in TIMM:
        return timm().create_model(name)
    if name in SEGMENTATION:
        return getattr(tv.models.segmentation, name)(weights_backbone=None, aux_loss=True)
    return getattr(tv.models, name)(**({"aux_logits": True, "init_weights": False} if name == "googlenet" else {}))


@pytest.mark.parametrize("name", TORCHVISION + list(SEGMENTATION) + list(TIMM))
def test_the_published_keys_and_shapes_pair_with_the_model(name):
    with torch.device("meta"):
        model = _build(name)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    pairs = check_torch_shapes(name, shapes, num_classes=21 if name in SEGMENTATION else 1000)
    assert {p.torch_key for p in pairs} <= set(shapes)
