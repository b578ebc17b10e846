"""EfficientNet B0-B7 (Tan & Le, 2019, arXiv:1905.11946) as in torchvision."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers import ConvNormAct, global_avg_pool
from cnnjax.layers.drop_path import DropPath
from cnnjax.layers.squeeze_excitation import SqueezeExcitation
from cnnjax.models.classifier import Classifier
from cnnjax.models.mobilenet import make_divisible
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
    branch passes :class:`DropPath` (``drop_path_rate``) and is added to the input."""

    features: int
    kernel_size: int
    strides: int
    expand_ratio: int
    norm: Callable[..., nn.Module]
    drop_path_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        dt = dict(norm=self.norm, dtype=self.dtype, param_dtype=self.param_dtype)
        in_channels = x.shape[-1]
        hidden = make_divisible(in_channels * self.expand_ratio)
        y = x
        if hidden != in_channels:
            y = ConvNormAct(hidden, 1, padding=0, activation=nn.silu, name="expand", **dt)(y)
        k = self.kernel_size
        y = ConvNormAct(
            hidden, k, strides=self.strides, padding=k // 2, groups=hidden, activation=nn.silu, name="depthwise", **dt
        )(y)
        y = SqueezeExcitation(
            max(1, in_channels // 4), activation=nn.silu, dtype=self.dtype, param_dtype=self.param_dtype, name="se"
        )(y)
        y = ConvNormAct(self.features, 1, padding=0, activation=None, name="project", **dt)(y)
        if self.strides == 1 and in_channels == self.features:
            y = x + DropPath(self.drop_path_rate)(y, deterministic=not train)
        return y


class EfficientNet(Classifier):
    """torchvision's EfficientNet: stem conv 3x3/2 (32) -> BN -> SiLU, the :class:`MBConv` stages
    of ``setting``, conv 1x1 (4x the last width) -> BN -> SiLU, global average pool, dropout,
    Dense ``num_classes``.

    ``width_mult`` scales every width (rounded by :func:`make_divisible` to multiples of 8) and
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

    width_mult: float = 1.0
    depth_mult: float = 1.0
    setting: Sequence[tuple[int, int, int, int, int, int]] = MBCONV_SETTING
    dropout_rate: float = 0.2
    drop_path_rate: float = 0.2
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    def forward(self, x, train):
        norm = functools.partial(self.norm(train), epsilon=self.bn_epsilon, momentum=self.bn_momentum)
        dt = dict(norm=norm, **self.dtypes)
        width = lambda c: make_divisible(c * self.width_mult)  # noqa: E731
        repeats = [math.ceil(n * self.depth_mult) for *_, n in self.setting]
        x = ConvNormAct(width(self.setting[0][3]), 3, strides=2, padding=1, activation=nn.silu, name="stem_conv", **dt)(
            x
        )
        features = {"stem": x}
        block_id, total = 0, sum(repeats)
        for stage, ((t, k, s, _, c, _), n) in enumerate(zip(self.setting, repeats), start=1):
            for i in range(n):
                x = MBConv(
                    width(c),
                    k,
                    s if i == 0 else 1,
                    t,
                    norm,
                    self.drop_path_rate * block_id / total,
                    **self.dtypes,
                    name=f"stage{stage}_block{i + 1}",
                )(x, train)
                block_id += 1
            features[f"stage{stage}"] = x
        x = ConvNormAct(4 * x.shape[-1], 1, padding=0, activation=nn.silu, name="last_conv", **dt)(x)
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
