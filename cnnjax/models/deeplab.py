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
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers import Conv, ConvNormAct, Dropout, global_avg_pool
from cnnjax.layers.upsampling import resize_bilinear
from cnnjax.models.registry import register_model
from cnnjax.models.segmenter import BackboneSegmenter

OUTPUT_STRIDES = (8, 16)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (see the module docstring); ``norm`` is the BatchNorm factory."""

    width: int
    rates: Sequence[int]
    norm: Callable[..., nn.Module]
    dropout_rate: float = 0.5
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        dtypes = {"dtype": self.dtype, "param_dtype": self.param_dtype}
        layer = functools.partial(ConvNormAct, self.width, norm=self.norm, **dtypes)
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
        if self.output_stride not in OUTPUT_STRIDES:
            self.fail(f"output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride!r}")
        rates = self.atrous_rates or tuple(r * 16 // self.output_stride for r in (6, 12, 18))
        features = self.backbone_features(x, train, [self.stage], output_stride=self.output_stride)
        norm = self.norm(train)
        aspp = ASPP(self.width, tuple(rates), norm, name="aspp", **self.dtypes)
        y = features["aspp"] = aspp(features[self.stage], train)
        head = ConvNormAct(self.width, 3, padding=1, norm=norm, name="head_conv", **self.dtypes)
        y = features["pre_logits"] = head(y)
        y = Conv(self.num_classes, 1, name="classifier", **self.dtypes)(y)
        return resize_bilinear(y, x.shape[1:3]), features


register_model("deeplabv3_resnet50", task="segmentation")(
    functools.partial(DeepLabV3, backbone="resnet50", output_stride=8)
)
register_model("deeplabv3_resnet18", task="segmentation")(functools.partial(DeepLabV3, backbone="resnet18"))
