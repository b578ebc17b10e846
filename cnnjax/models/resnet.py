"""ImageNet ResNets (He et al., 2015, arXiv:1512.03385), laid out as torchvision's, and their
ResNeXt, wide and squeeze-excitation variants.

Stem: 7x7/2 conv 64 (padding 3, no bias) -> BN -> ReLU -> 3x3/2 max-pool (padding 1).  Four stages
of basic (two 3x3) or bottleneck (1x1 -> 3x3 -> 1x1, expansion 4) blocks with ``width * 2**i``
planes; the first block of stages 2-4 has stride 2, on the 3x3 conv in a bottleneck ("v1.5", as
torchvision).  Projection shortcut (1x1 conv, no bias, + BN) where the shape changes, identity
otherwise.  Global average pool -> dense.  He fan-out normal conv init, BN gamma 1 and beta 0;
``zero_init_residual`` starts each block's last BN gamma at 0 (torchvision's option).

``output_stride`` 16 / 8 trades the stride of stage 4 / stages 3 and 4 for dilation 2 / 2 and 4,
as torchvision's ``replace_stride_with_dilation``: same parameters, the first block of a dilated
stage uses the previous dilation on its 3x3 conv, the others the new one (padding = dilation).

Variants (fields of :class:`ResNet`, defaults give the plain ResNet with unchanged parameters and
outputs): ``groups`` / ``width_per_group`` set a bottleneck's 3x3 width to
``int(planes * width_per_group / 64) * groups`` with a grouped 3x3 conv (torchvision: ResNeXt, Xie
et al. 2017, arXiv:1611.05431; wide ResNet-50/101-2 with ``width_per_group=128``, a torchvision
name, not the CIFAR WRN of :mod:`cnnjax.models.preact_resnet`); ``se_reduction`` adds
squeeze-excitation after a block's last BN, before the sum; ``drop_path_rate`` is stochastic depth
on the residual branch, rising linearly from 0 at the first block to the rate at the last (timm).
SE-ResNet-50 (Hu et al., 2018, arXiv:1709.01507) squeezes to ``make_divisible(C / 16, 8)``
channels with two 1x1 convs with bias (as timm's ``seresnet50``; C / 16 exactly at every width of
ResNet-50, as the paper); the paper's Caffe model strides the first 1x1 conv of a bottleneck, here
(and in timm) the 3x3.

Parameters with 1000 classes (= torchvision): ResNet-18 11,689,512, -34 21,797,672,
-50 25,557,032, -101 44,549,160, -152 60,192,808; ResNeXt-50 32x4d 25,028,904, -101 32x8d
88,791,336; wide ResNet-50-2 68,883,240, -101-2 126,886,696; SE-ResNet-50 28,088,024 (= timm).

Features: ``stem`` (after the stem ReLU, 1/2 resolution, before the max-pool), ``stage1`` ..
``stage4`` (1/4 .. 1/32 at ``output_stride=32``), ``pre_logits`` (pooled features).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import Conv, ConvNormAct, ModuleDef, global_avg_pool, make_divisible, max_pool
from cnnjax.layers.drop_path import DropPath
from cnnjax.layers.squeeze_excitation import SqueezeExcitation
from cnnjax.models.classifier import Classifier, Features
from cnnjax.models.registry import register_model

OUTPUT_STRIDES = (8, 16, 32)


def check_layout(model: Classifier, blocks: dict[str, type[nn.Module]]) -> type[nn.Module]:
    """Validates an ImageNet-layout model's ``output_stride`` and four ``stage_sizes``; returns its
    ``block`` class (a name in ``blocks`` or a class)."""
    model.check_choice("output_stride", model.output_stride, OUTPUT_STRIDES)
    if len(model.stage_sizes) != 4:
        model.fail(f"stage_sizes needs 4 entries, got {tuple(model.stage_sizes)}")
    return resolve_block(model, blocks)


def resolve_block(model: Classifier, blocks: dict[str, type[nn.Module]]) -> type[nn.Module]:
    """``model.block`` as a class: a name in ``blocks``, or a class passed as is."""
    if isinstance(model.block, str) and model.block not in blocks:
        model.fail(f"block must be one of {sorted(blocks)} or a block class, got {model.block!r}")
    return blocks[model.block] if isinstance(model.block, str) else model.block


def residual_stages(
    x,
    block: ModuleDef,
    stage_sizes: Sequence[int],
    widths: Sequence[int],
    *,
    stem_stride: int,
    output_stride: int | None = None,
    drop_path_rate: float = 0.0,
) -> tuple[jnp.ndarray, Features]:
    """The stages of residual blocks; call inside a compact method.  Returns the output and the
    features ``stage1`` ....

    ``block(widths[stage], strides=, dilation=, drop_path_rate=, name='stage{s}_block{b}')`` builds
    one block.  The first block of every stage but the first has stride 2, unless the total stride
    (``stem_stride`` before the stages) would pass ``output_stride``: then the stage dilates instead,
    its first block with the previous dilation (torchvision's ``replace_stride_with_dilation``).
    Block ``i`` of ``n`` gets drop-path rate ``drop_path_rate * i / (n - 1)`` (timm's convention).
    """
    total = sum(stage_sizes)
    stride, dilation, index = stem_stride, 1, 0
    features = {}
    for stage, (num_blocks, width) in enumerate(zip(stage_sizes, widths, strict=True)):
        strides = 1 if stage == 0 else 2
        previous_dilation = dilation
        if output_stride is not None and stride * strides > output_stride:
            dilation, strides = dilation * strides, 1
        stride *= strides
        for i in range(num_blocks):
            x = block(
                width,
                strides=strides if i == 0 else 1,
                dilation=previous_dilation if i == 0 else dilation,
                drop_path_rate=drop_path_rate * index / max(total - 1, 1),
                name=f"stage{stage + 1}_block{i + 1}",
            )(x)
            index += 1
        features[f"stage{stage + 1}"] = x
    return x, features


class ResidualBlock(nn.Module):
    """Fields shared by the family's residual blocks: ``features`` is the planes (3x3 channels of a
    plain block; the output has ``features * expansion``); ``deterministic`` turns drop-path (and
    dropout, where a block has it) off; ``conv`` and ``norm`` are the layer factories, with the
    model's dtypes bound."""

    features: int
    strides: int = 1
    dilation: int = 1
    conv: ModuleDef = Conv
    norm: ModuleDef = nn.BatchNorm
    drop_path_rate: float = 0.0
    deterministic: bool = True

    expansion: ClassVar[int] = 1

    def projects(self, x) -> bool:
        """Whether the shortcut needs a projection (the block changes the shape of ``x``)."""
        return self.strides != 1 or x.shape[-1] != self.features * self.expansion

    def residual_sum(self, branch, shortcut):
        """``drop_path(branch) + shortcut``."""
        if self.drop_path_rate:
            branch = DropPath(self.drop_path_rate, name="drop_path")(branch, deterministic=self.deterministic)
        return branch + shortcut


class _Block(ResidualBlock):
    """Post-activation block (torchvision's options, squeeze-excitation made by ``squeeze_excitation``,
    drop-path)."""

    zero_init_residual: bool = False
    groups: int = 1
    width_per_group: int = 64
    se_reduction: int | None = None
    squeeze_excitation: ModuleDef = SqueezeExcitation

    def _layer(self, *args, **kwargs):
        return ConvNormAct(*args, **({"conv": self.conv, "norm": self.norm} | kwargs))

    def _last_norm(self) -> ModuleDef:
        return functools.partial(self.norm, scale_init=nn.initializers.zeros) if self.zero_init_residual else self.norm

    def _finish(self, y, x):
        """Squeeze-excitation, drop-path, + shortcut, ReLU."""
        if self.se_reduction is not None:
            y = self.squeeze_excitation(make_divisible(y.shape[-1] / self.se_reduction), name="se")(y)
        shortcut = x
        if self.projects(x):
            out = self.features * self.expansion
            shortcut = self._layer(out, 1, strides=self.strides, padding=0, activation=None, name="downsample")(x)
        return nn.relu(self.residual_sum(y, shortcut))


class BasicBlock(_Block):
    """3x3 conv-BN-ReLU -> 3x3 conv-BN, + shortcut, ReLU (expansion 1).

    Dilation applies to both 3x3 convs (torchvision refuses dilation > 1 for basic blocks; here it
    is allowed so ResNet-18/34 also support ``output_stride`` < 32).  No groups (as torchvision)."""

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x):
        if self.groups != 1 or self.width_per_group != 64:
            raise ValueError("BasicBlock only supports groups=1 and width_per_group=64")
        d = self.dilation
        y = self._layer(self.features, 3, strides=self.strides, padding=d, dilation=d, name="conv1")(x)
        y = self._layer(self.features, 3, padding=d, dilation=d, norm=self._last_norm(), activation=None, name="conv2")(
            y
        )
        return self._finish(y, x)


class Bottleneck(_Block):
    """1x1 conv-BN-ReLU -> 3x3 (strided, dilated, grouped) conv-BN-ReLU -> 1x1 conv-BN (x4
    channels), + shortcut, ReLU: ResNet v1.5 as torchvision (stride on the 3x3).  The inner width
    is ``int(features * width_per_group / 64) * groups``."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x):
        d = self.dilation
        inner = int(self.features * self.width_per_group / 64) * self.groups
        y = self._layer(inner, 1, padding=0, name="conv1")(x)
        y = self._layer(inner, 3, strides=self.strides, padding=d, dilation=d, groups=self.groups, name="conv2")(y)
        out = self.features * self.expansion
        y = self._layer(out, 1, padding=0, norm=self._last_norm(), activation=None, name="conv3")(y)
        return self._finish(y, x)


BLOCKS: dict[str, type[_Block]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(Classifier):
    """ImageNet ResNet; ``block`` is :class:`BasicBlock` / :class:`Bottleneck` (or ``'basic'`` /
    ``'bottleneck'``), ``stage_sizes`` the blocks per stage, ``width`` the first stage's planes
    (64); ``groups``, ``width_per_group``, ``se_reduction`` (``None``: no SE) and
    ``drop_path_rate`` as the module docstring says.  ``min_input_size`` = 1: every stride-2 layer
    maps n to ceil(n / 2).  Drop-path draws from the ``'dropout'`` RNG when training."""

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: type[_Block] | str = BasicBlock
    width: int = 64
    output_stride: int = 32
    zero_init_residual: bool = False
    groups: int = 1
    width_per_group: int = 64
    se_reduction: int | None = None
    drop_path_rate: float = 0.0

    has_blocks: ClassVar[bool] = True

    def forward(self, x, train):
        block = self.block_class(check_layout(self, BLOCKS))
        norm = self.norm(train)
        x = ConvNormAct(self.width, 7, strides=2, padding=3, conv=self.conv, norm=norm, name="stem_conv")(x)
        features = {"stem": x}
        x = max_pool(x, 3, strides=2, padding=1)
        block = functools.partial(
            block,
            conv=self.conv,
            norm=norm,
            deterministic=not train,
            zero_init_residual=self.zero_init_residual,
            groups=self.groups,
            width_per_group=self.width_per_group,
            se_reduction=self.se_reduction,
            squeeze_excitation=self.with_dtypes(SqueezeExcitation),
        )
        widths = [self.width * 2**i for i in range(4)]
        x, stages = residual_stages(
            x,
            block,
            self.stage_sizes,
            widths,
            stem_stride=4,
            output_stride=self.output_stride,
            drop_path_rate=self.drop_path_rate,
        )
        features |= stages
        x = features["pre_logits"] = global_avg_pool(x)
        return self.head(x), features


RESNET_CFGS = {  # depth: (stage_sizes, block name); the pre-activation family shares it
    18: ((2, 2, 2, 2), "basic"),
    34: ((3, 4, 6, 3), "basic"),
    50: ((3, 4, 6, 3), "bottleneck"),
    101: ((3, 4, 23, 3), "bottleneck"),
    152: ((3, 8, 36, 3), "bottleneck"),
}

for _depth, (_sizes, _block) in RESNET_CFGS.items():
    register_model(f"resnet{_depth}")(functools.partial(ResNet, stage_sizes=_sizes, block=_block))

VARIANTS = {
    "resnext50_32x4d": (50, {"groups": 32, "width_per_group": 4}),
    "resnext101_32x8d": (101, {"groups": 32, "width_per_group": 8}),
    "wide_resnet50_2": (50, {"width_per_group": 128}),
    "wide_resnet101_2": (101, {"width_per_group": 128}),
    "seresnet50": (50, {"se_reduction": 16}),
}

for _name, (_depth, _options) in VARIANTS.items():
    _sizes, _block = RESNET_CFGS[_depth]
    register_model(_name)(functools.partial(ResNet, stage_sizes=_sizes, block=_block, **_options))
