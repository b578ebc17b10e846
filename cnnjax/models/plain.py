"""A small VGG-style plain CNN."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn

from cnnjax.layers import ConvNormAct, global_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

DOWNSAMPLING = ("max_pool", "strided", "none")


@register_model("simple_cnn")
class SimpleCNN(Classifier):
    """Stages of [3x3 conv (padding 1, no bias) -> BN -> ReLU] x ``convs_per_stage``, then global
    average pool -> dropout -> dense.

    ``downsample`` halves the resolution between stages: ``'max_pool'`` (default) a 2x2 max-pool
    after every stage; ``'strided'`` stride 2 in the first conv of every stage but the first (the same
    resolution at every conv as ``'max_pool'``); ``'none'`` keeps the input resolution throughout.
    ``batch_norm=False`` drops the BatchNorms (the convs get biases). ``separable=True`` makes every conv
    but the first depthwise-separable, as MobileNet v1: a 3x3 depthwise conv -> BN -> ReLU, then a 1x1
    conv -> BN -> ReLU (the stride, if any, in the depthwise conv).
    ``min_input_size`` = 2 ** len(widths) with max-pooling (8 for the default widths), 2 ** (len - 1)
    strided, 1 without downsampling; it depends on the configuration, so it is an instance property.
    Features: ``stage1`` ... (the end of each stage, after its pool), ``pre_logits``.
    """

    widths: Sequence[int] = (32, 64, 128)
    convs_per_stage: int = 2
    dropout_rate: float = 0.0
    downsample: str = "max_pool"
    batch_norm: bool = True
    separable: bool = False

    @property
    def min_input_size(self) -> int:
        halvings = {"max_pool": len(self.widths), "strided": len(self.widths) - 1, "none": 0}
        return 2 ** halvings.get(self.downsample, 0)

    def forward(self, x, train):
        self.check_choice("downsample", self.downsample, DOWNSAMPLING)
        norm = self.norm(train) if self.batch_norm else None
        layer = functools.partial(ConvNormAct, kernel_size=3, padding=1, conv=self.conv, norm=norm)
        features = {}
        for stage, width in enumerate(self.widths, start=1):
            for i in range(1, self.convs_per_stage + 1):
                strides = 2 if self.downsample == "strided" and stage > 1 and i == 1 else 1
                name = f"stage{stage}_conv{i}"
                if self.separable and (stage, i) != (1, 1):
                    x = layer(x.shape[-1], strides=strides, groups=x.shape[-1], name=f"{name}_depthwise")(x)
                    x = layer(width, kernel_size=1, padding=0, name=f"{name}_pointwise")(x)
                else:
                    x = layer(width, strides=strides, name=name)(x)
            if self.downsample == "max_pool":
                x = max_pool(x, 2)
            features[f"stage{stage}"] = x
        x = features["pre_logits"] = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x), features
