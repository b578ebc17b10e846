"""ImageNet ResNets (He et al., 2015, arXiv:1512.03385), laid out as torchvision's.

Stem: 7x7/2 conv 64 (padding 3, no bias) -> BN -> ReLU -> 3x3/2 max-pool (padding 1).  Four stages
of basic (two 3x3) or bottleneck (1x1 -> 3x3 -> 1x1, expansion 4) blocks with ``width * 2**i``
inner channels; the first block of stages 2-4 has stride 2, on the 3x3 conv in a bottleneck
("v1.5", as torchvision).  Projection shortcut (1x1 conv, no bias, + BN) where the shape changes,
identity otherwise.  Global average pool -> dense.  He fan-out normal conv init, BN gamma 1 and
beta 0; ``zero_init_residual`` starts each block's last BN gamma at 0 (torchvision's option).

``output_stride`` 16 / 8 trades the stride of stage 4 / stages 3 and 4 for dilation 2 / 2 and 4,
as torchvision's ``replace_stride_with_dilation``: same parameters, the first block of a dilated
stage uses the previous dilation on its 3x3 conv, the others the new one (padding = dilation).

Parameters with 1000 classes (= torchvision): ResNet-18 11,689,512, -34 21,797,672,
-50 25,557,032, -101 44,549,160, -152 60,192,808.

Features: ``stem`` (after the stem ReLU, 1/2 resolution, before the max-pool), ``stage1`` ..
``stage4`` (1/4 .. 1/32 at ``output_stride=32``), ``pre_logits`` (pooled features).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers import ConvNormAct, global_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

OUTPUT_STRIDES = (8, 16, 32)


def _last_norm(norm: Callable[..., nn.Module], zero_init: bool) -> Callable[..., nn.Module]:
    return functools.partial(norm, scale_init=nn.initializers.zeros) if zero_init else norm


class _Block(nn.Module):
    """Shared fields of the residual blocks: ``features`` is the inner (3x3) channel count."""

    features: int
    strides: int = 1
    dilation: int = 1
    norm: Callable[..., nn.Module] = nn.BatchNorm
    zero_init_residual: bool = False
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    expansion: ClassVar[int] = 1

    def _layer(self, *args, **kwargs):
        return ConvNormAct(*args, norm=self.norm, dtype=self.dtype, param_dtype=self.param_dtype, **kwargs)

    def _shortcut(self, x):
        out = self.features * self.expansion
        if self.strides == 1 and x.shape[-1] == out:
            return x
        return self._layer(out, 1, strides=self.strides, padding=0, activation=None, name="downsample")(x)


class BasicBlock(_Block):
    """3x3 conv-BN-ReLU -> 3x3 conv-BN, + shortcut, ReLU (expansion 1).

    Dilation applies to both 3x3 convs (torchvision refuses dilation > 1 for basic blocks; here it
    is allowed so ResNet-18/34 also support ``output_stride`` < 32)."""

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x):
        d = self.dilation
        y = self._layer(self.features, 3, strides=self.strides, padding=d, dilation=d, name="conv1")(x)
        y = ConvNormAct(
            self.features,
            3,
            padding=d,
            dilation=d,
            norm=_last_norm(self.norm, self.zero_init_residual),
            activation=None,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="conv2",
        )(y)
        return nn.relu(y + self._shortcut(x))


class Bottleneck(_Block):
    """1x1 conv-BN-ReLU -> 3x3 (strided, dilated) conv-BN-ReLU -> 1x1 conv-BN (x4 channels),
    + shortcut, ReLU: ResNet v1.5 as torchvision (stride on the 3x3)."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x):
        d = self.dilation
        y = self._layer(self.features, 1, padding=0, name="conv1")(x)
        y = self._layer(self.features, 3, strides=self.strides, padding=d, dilation=d, name="conv2")(y)
        y = ConvNormAct(
            self.features * self.expansion,
            1,
            padding=0,
            norm=_last_norm(self.norm, self.zero_init_residual),
            activation=None,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="conv3",
        )(y)
        return nn.relu(y + self._shortcut(x))


BLOCKS: dict[str, type[_Block]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(Classifier):
    """ImageNet ResNet; ``block`` is :class:`BasicBlock` / :class:`Bottleneck` (or ``'basic'`` /
    ``'bottleneck'``), ``stage_sizes`` the blocks per stage, ``width`` the first stage's inner
    channels (64).  ``min_input_size`` = 1: every stride-2 layer maps n to ceil(n / 2)."""

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: type[_Block] | str = BasicBlock
    width: int = 64
    output_stride: int = 32
    zero_init_residual: bool = False

    def forward(self, x, train):
        if self.output_stride not in OUTPUT_STRIDES:
            self.fail(f"output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride!r}")
        block = BLOCKS.get(self.block, self.block) if isinstance(self.block, str) else self.block
        if isinstance(block, str):
            self.fail(f"block must be one of {sorted(BLOCKS)} or a block class, got {block!r}")
        if len(self.stage_sizes) != 4:
            self.fail(f"stage_sizes needs 4 entries, got {tuple(self.stage_sizes)}")
        norm = self.norm(train)
        x = ConvNormAct(self.width, 7, strides=2, padding=3, norm=norm, name="stem_conv", **self.dtypes)(x)
        features = {"stem": x}
        x = max_pool(x, 3, strides=2, padding=1)
        # Stages whose stride becomes dilation: none at 32, stage 4 at 16, stages 3-4 at 8.
        dilate_from = {32: 4, 16: 3, 8: 2}[self.output_stride]
        dilation = 1
        for stage, num_blocks in enumerate(self.stage_sizes):
            strides = 1 if stage == 0 else 2
            previous_dilation = dilation
            if stage >= dilate_from:
                dilation *= strides
                strides = 1
            for i in range(num_blocks):
                x = block(
                    self.width * 2**stage,
                    strides=strides if i == 0 else 1,
                    dilation=previous_dilation if i == 0 else dilation,
                    norm=norm,
                    zero_init_residual=self.zero_init_residual,
                    dtype=self.dtype,
                    param_dtype=self.param_dtype,
                    name=f"stage{stage + 1}_block{i + 1}",
                )(x)
            features[f"stage{stage + 1}"] = x
        x = features["pre_logits"] = global_avg_pool(x)
        return self.head(x), features


RESNET_CFGS = {
    18: ((2, 2, 2, 2), BasicBlock),
    34: ((3, 4, 6, 3), BasicBlock),
    50: ((3, 4, 6, 3), Bottleneck),
    101: ((3, 4, 23, 3), Bottleneck),
    152: ((3, 8, 36, 3), Bottleneck),
}

for _depth, (_sizes, _block) in RESNET_CFGS.items():
    register_model(f"resnet{_depth}")(functools.partial(ResNet, stage_sizes=_sizes, block=_block))
