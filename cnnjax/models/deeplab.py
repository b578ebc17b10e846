"""DeepLabV3 (Chen, Papandreou, Schroff & Adam, 2017, arXiv:1706.05587), laid out as torchvision's.

A ResNet backbone dilated to ``output_stride`` 16 or 8 (its ``output_stride`` option: same
parameters as the classifier), then on its deepest stage the ASPP: a 1x1 conv, three 3x3 atrous
convs (``atrous_rates``, default (6, 12, 18) at output stride 16 and doubled at 8) and image
pooling (global average -> 1x1 conv -> broadcast back), each conv-BN-ReLU with ``width`` (256)
channels; concatenated -> 1x1 conv-BN-ReLU -> dropout 0.5.  Then a 3x3 conv-BN-ReLU, a 1x1
classifier (with bias) and a bilinear resize to the input size.

Differences from the paper: no multi-grid rates in the last stage's blocks (as torchvision), and
no auxiliary FCN head on stage 3.  ``deeplabv3_resnet50`` is torchvision's (output stride 8,
rates 12/24/36): 39,638,869 parameters with 21 classes (= torchvision's 42,004,074 minus its
2,365,205-parameter auxiliary head); ``deeplabv3_resnet18`` (output stride 16): 15,904,085.

Features: the backbone's (``stem``, ``stage1`` ...), ``aspp`` (after the projection) and
``pre_logits`` (after the 3x3 conv).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import ConvNormAct, Dropout, ModuleDef, global_avg_pool
from cnnjax.layers.upsampling import resize_bilinear
from cnnjax.models.registry import register_model
from cnnjax.models.segmenter import BackboneSegmenter

OUTPUT_STRIDES = (8, 16)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (see the module docstring); ``layer`` makes each conv-BN-ReLU
    (:class:`~cnnjax.layers.ConvNormAct` with conv and norm bound)."""

    width: int
    rates: Sequence[int]
    layer: ModuleDef
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, x, train: bool):
        layer = functools.partial(self.layer, self.width)
        branches = [layer(1, padding=0, name="conv1x1")(x)]
        branches += [layer(3, padding=r, dilation=r, name=f"atrous{i}")(x) for i, r in enumerate(self.rates, 1)]
        pooled = layer(1, padding=0, name="image_pool")(global_avg_pool(x, keepdims=True))
        branches.append(jnp.broadcast_to(pooled, (*x.shape[:3], self.width)))
        y = layer(1, padding=0, name="project")(jnp.concatenate(branches, axis=-1))
        return Dropout(self.dropout_rate, deterministic=not train)(y)


class DeepLabV3(BackboneSegmenter):
    """DeepLabV3 on the backbone's ``stage`` feature; ``output_stride`` (8 | 16) dilates the
    backbone, ``atrous_rates`` (``None``: (6, 12, 18) x 16 / ``output_stride``) and ``width`` (256)
    set the ASPP.  The backbone must accept ``output_stride`` (the ResNets do)."""

    output_stride: int = 16
    atrous_rates: Sequence[int] | None = None
    width: int = 256
    stage: str = "stage4"

    def forward(self, x, train):
        self.check_choice("output_stride", self.output_stride, OUTPUT_STRIDES)
        rates = self.atrous_rates or tuple(r * 16 // self.output_stride for r in (6, 12, 18))
        features = self.backbone_features(x, train, [self.stage], output_stride=self.output_stride)
        layer = functools.partial(ConvNormAct, conv=self.conv, norm=self.norm(train))
        y = features["aspp"] = ASPP(self.width, tuple(rates), layer, name="aspp")(features[self.stage], train)
        y = features["pre_logits"] = layer(self.width, 3, padding=1, name="head_conv")(y)
        y = self.conv(self.num_classes, 1, name="classifier")(y)
        return resize_bilinear(y, x.shape[1:3]), features


register_model("deeplabv3_resnet50", task="segmentation")(
    functools.partial(DeepLabV3, backbone="resnet50", output_stride=8)
)
register_model("deeplabv3_resnet18", task="segmentation")(functools.partial(DeepLabV3, backbone="resnet18"))
