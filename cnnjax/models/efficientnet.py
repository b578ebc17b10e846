"""EfficientNet B0-B7 (Tan & Le, 2019, arXiv:1905.11946) as in torchvision."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.layers import ConvNormAct, ModuleDef, global_avg_pool, make_divisible
from cnnjax.layers.drop_path import DropPath
from cnnjax.layers.squeeze_excitation import SqueezeExcitation
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

# B0 stages (expansion, kernel, first stride, input channels, output channels, repeats): Table 1.
MBCONV_SETTING = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def _dense_init(key, shape, dtype=jnp.float32):
    """torchvision's EfficientNet Dense init: U(-1 / sqrt(fan_out), 1 / sqrt(fan_out))."""
    bound = 1.0 / math.sqrt(shape[-1])
    return jax.random.uniform(key, shape, dtype, -bound, bound)


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation: expand 1x1 (skipped when
    ``expand_ratio == 1``) -> depthwise ``kernel_size`` (``strides``, padding ``k // 2``) -> SE
    (``max(1, C_in // 4)`` squeeze channels, SiLU) -> linear 1x1 projection; convs without bias,
    each followed by BatchNorm, SiLU after the first two.  Where the shape is unchanged, the
    branch passes :class:`DropPath` (``drop_path_rate``) and is added to the input.  ``layer`` makes
    each conv-BN-SiLU (:class:`~cnnjax.layers.ConvNormAct` with conv, norm and activation bound),
    ``squeeze_excitation`` the SE layer (with its dtypes and SiLU bound)."""

    features: int
    kernel_size: int
    strides: int
    expand_ratio: int
    drop_path_rate: float
    layer: ModuleDef
    squeeze_excitation: ModuleDef

    @nn.compact
    def __call__(self, x, train: bool):
        in_channels = x.shape[-1]
        hidden = make_divisible(in_channels * self.expand_ratio)
        y = x
        if hidden != in_channels:
            y = self.layer(hidden, 1, padding=0, name="expand")(y)
        k = self.kernel_size
        y = self.layer(hidden, k, strides=self.strides, padding=k // 2, groups=hidden, name="depthwise")(y)
        y = self.squeeze_excitation(max(1, in_channels // 4), name="se")(y)
        y = self.layer(self.features, 1, padding=0, activation=None, name="project")(y)
        if self.strides == 1 and in_channels == self.features:
            y = x + DropPath(self.drop_path_rate)(y, deterministic=not train)
        return y


class EfficientNet(Classifier):
    """torchvision's EfficientNet: stem conv 3x3/2 (32) -> BN -> SiLU, the :class:`MBConv` stages
    of ``setting``, conv 1x1 (4x the last width) -> BN -> SiLU, global average pool, dropout,
    Dense ``num_classes``.

    ``width_mult`` scales every width (rounded by :func:`~cnnjax.layers.make_divisible` to multiples of 8) and
    ``depth_mult`` every stage's repeats (``ceil``), torchvision's rules, giving B1-B7 from B0.
    Stochastic depth rises linearly over the blocks, block ``i`` of ``n`` dropping its branch with
    probability ``drop_path_rate * i / n`` (0 for the first).  BatchNorm: PyTorch's defaults
    (eps 1e-5, momentum 0.1) for B0-B4 as torchvision, whose B5-B7 (weights ported from TF) use
    the TF reference's eps 1e-3, momentum 0.01: ``bn_epsilon`` / ``bn_momentum`` (flax's
    convention, 1 - PyTorch's).  Init as torchvision: convs He fan-out normal, Dense
    U(+-1/sqrt(num_classes)), biases 0.

    Padding: symmetric ``k // 2`` as torchvision (PyTorch has no 'same' for strided convs); the
    TF reference pads strided convs TF-'same', asymmetrically (0 before, 1 after at even sizes),
    which shifts the sampling grid by one pixel: ported TF weights give slightly different
    outputs.  ``setting`` (B0 rows ``(expansion, kernel, stride, in, out, repeats)``) may be
    overridden to shrink the net (tests).  Features: ``stem``, ``stage1`` ... ``stage7`` (after
    each row of the setting), ``pre_logits``.  ``min_input_size`` = 1 (each stride-2 conv maps n
    to ceil(n / 2)).
    """

    has_blocks: ClassVar[bool] = True

    width_mult: float = 1.0
    depth_mult: float = 1.0
    setting: Sequence[tuple[int, int, int, int, int, int]] = MBCONV_SETTING
    dropout_rate: float = 0.2
    drop_path_rate: float = 0.2
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    def forward(self, x, train):
        norm = functools.partial(self.norm(train), epsilon=self.bn_epsilon, momentum=self.bn_momentum)
        layer = functools.partial(ConvNormAct, conv=self.conv, norm=norm, activation=nn.silu)
        se = self.with_dtypes(SqueezeExcitation, activation=nn.silu)
        width = lambda c: make_divisible(c * self.width_mult)  # noqa: E731
        repeats = [math.ceil(n * self.depth_mult) for *_, n in self.setting]
        x = layer(width(self.setting[0][3]), 3, strides=2, padding=1, name="stem_conv")(x)
        features = {"stem": x}
        block_id, total = 0, sum(repeats)
        for stage, ((t, k, s, _, c, _), n) in enumerate(zip(self.setting, repeats), start=1):
            for i in range(n):
                rate = self.drop_path_rate * block_id / total
                block_class = self.block_class(MBConv, static_argnums=(2,))
                name = f"stage{stage}_block{i + 1}"
                block = block_class(width(c), k, s if i == 0 else 1, t, rate, layer, se, name=name)
                x = block(x, train)
                block_id += 1
            features[f"stage{stage}"] = x
        x = layer(4 * x.shape[-1], 1, padding=0, name="last_conv")(x)
        x = features["pre_logits"] = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x, kernel_init=_dense_init), features


# torchvision's variants: (width_mult, depth_mult, dropout, BatchNorm epsilon, flax momentum).
_VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 0.2, 1e-5, 0.9),
    "efficientnet_b1": (1.0, 1.1, 0.2, 1e-5, 0.9),
    "efficientnet_b2": (1.1, 1.2, 0.3, 1e-5, 0.9),
    "efficientnet_b3": (1.2, 1.4, 0.3, 1e-5, 0.9),
    "efficientnet_b4": (1.4, 1.8, 0.4, 1e-5, 0.9),
    "efficientnet_b5": (1.6, 2.2, 0.4, 1e-3, 0.99),
    "efficientnet_b6": (1.8, 2.6, 0.5, 1e-3, 0.99),
    "efficientnet_b7": (2.0, 3.1, 0.5, 1e-3, 0.99),
}
for _name, (_width, _depth, _dropout, _eps, _momentum) in _VARIANTS.items():
    register_model(_name)(
        functools.partial(
            EfficientNet,
            width_mult=_width,
            depth_mult=_depth,
            dropout_rate=_dropout,
            bn_epsilon=_eps,
            bn_momentum=_momentum,
        )
    )
