"""MobileNetV2 (Sandler et al., 2018) as in torchvision."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn

from cnnjax.layers import ConvNormAct, ModuleDef, global_avg_pool, make_divisible
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """Expand 1x1 (skipped when ``expand_ratio == 1``) -> depthwise 3x3 (padding 1, ``strides``)
    -> linear 1x1 projection, each conv without bias and followed by BatchNorm, ReLU6 after the
    first two; identity shortcut when ``strides == 1`` and the channel count is unchanged.  ``layer``
    makes each conv-BN-ReLU6 (:class:`~cnnjax.layers.ConvNormAct` with conv, norm and activation bound)."""

    features: int
    strides: int
    expand_ratio: int
    layer: ModuleDef

    @nn.compact
    def __call__(self, x):
        in_channels = x.shape[-1]
        hidden = int(round(in_channels * self.expand_ratio))
        y = x
        if self.expand_ratio != 1:
            y = self.layer(hidden, 1, padding=0, name="expand")(y)
        y = self.layer(hidden, 3, strides=self.strides, padding=1, groups=hidden, name="depthwise")(y)
        y = self.layer(self.features, 1, padding=0, activation=None, name="project")(y)
        if self.strides == 1 and in_channels == self.features:
            y = x + y
        return y


@register_model("mobilenet_v2")
class MobileNetV2(Classifier):
    """torchvision's MobileNetV2: stem conv 3x3/2 (32) -> BN -> ReLU6, the 17 inverted residual
    blocks of :data:`INVERTED_RESIDUAL_SETTING`, conv 1x1 (1280) -> BN -> ReLU6, global average
    pool, dropout 0.2, Dense ``num_classes``.

    ``width_multiplier`` scales every width, rounded with :func:`~cnnjax.layers.make_divisible` (multiples of
    8); the last conv keeps 1280 unless the multiplier exceeds 1.  Differences from the paper:
    symmetric padding 1 on the 3x3 convs (TensorFlow's 'same' pads stride-2 convs asymmetrically),
    dropout before the classifier and the rounding rule are torchvision's; He (fan-out) / N(0,
    0.01) init.  Features: ``stem``, ``stage1`` ... ``stage7`` (after each row of the
    setting table), ``pre_logits``.  ``min_input_size`` = 1: each stride-2 conv maps n to
    ceil(n / 2).  ``inverted_residual_setting`` may be overridden (``(t, c, n, s)`` rows) to shrink
    the net (tests).
    """

    has_blocks: ClassVar[bool] = True

    width_multiplier: float = 1.0
    inverted_residual_setting: Sequence[tuple[int, int, int, int]] = INVERTED_RESIDUAL_SETTING
    dropout_rate: float = 0.2

    def forward(self, x, train):
        layer = functools.partial(ConvNormAct, conv=self.conv, norm=self.norm(train), activation=nn.relu6)
        width = self.width_multiplier
        x = layer(make_divisible(32 * width), 3, strides=2, padding=1, name="stem_conv")(x)
        features = {"stem": x}
        for stage, (t, c, n, s) in enumerate(self.inverted_residual_setting, start=1):
            for i in range(n):
                name = f"stage{stage}_block{i + 1}"
                block = self.block_class(InvertedResidual)
                x = block(make_divisible(c * width), s if i == 0 else 1, t, layer, name=name)(x)
            features[f"stage{stage}"] = x
        x = layer(make_divisible(1280 * max(1.0, width)), 1, padding=0, name="last_conv")(x)
        x = features["pre_logits"] = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x, kernel_init=nn.initializers.normal(0.01)), features
