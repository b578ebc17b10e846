"""Pre-activation ResNets (He et al., 2016, "Identity Mappings in Deep Residual Networks",
arXiv:1603.05027) and wide ResNets (Zagoruyko & Komodakis, 2016, arXiv:1605.07146).

Every block is BN-ReLU-conv ("full pre-activation"): the block's input goes through BN-ReLU once,
and that pre-activated input feeds both the residual branch and, where the shape changes, the
projection shortcut (1x1 conv without BN, as the authors' code); otherwise the shortcut
is the raw input (identity).  Nothing follows the sum.  The stem is a bare conv (the first block
pre-activates it) and a final BN-ReLU follows the last stage, before the global average pool and
the dense head.  Convs have no bias, He fan-out normal init; the stride sits on the 3x3 conv (the
authors' CIFAR bottleneck strides its first 1x1 conv: same parameters).  ``drop_path_rate`` adds
stochastic depth on the residual branch (timm's linear rule, 0 by default; not in the papers).

:class:`PreActResNet` (ImageNet, timm's ``resnetv2`` layout): 7x7/2 conv 64 -> 3x3/2 max-pool ->
four stages as :class:`~cnnjax.models.resnet.ResNet` (``output_stride`` 8 / 16 / 32 with the same
dilation rule) -> BN-ReLU.  fb.resnet.torch's pre-act ResNet instead puts BN-ReLU in the stem and
skips the first block's pre-activation (same parameter count).  Parameters, 1000 classes:
pre-act ResNet-18 11,687,720, -34 21,795,880, -50 25,549,352, -101 44,541,480, -152 60,185,128.

:class:`CifarPreActResNet`: 3x3 conv ``width`` -> three stages of ``width * widen_factor * 2**i``
planes (stride 2 at stages 2 and 3) -> BN-ReLU.  Parameters, 10 classes (the paper quotes 1.7 M,
1.7 M, 10.2 M): pre-act ResNet-110 (basic, 18 per stage) 1,730,522; -164 (bottleneck, 16-32-64
planes -> 64-128-256 channels, 18 per stage) 1,703,258, as the common PyTorch reference
(bearpaw's pytorch-classification, whose shortcut takes the raw input: same parameters); -1001
(111 per stage) 10,327,706.  Wide ResNet WRN-d-k (basic blocks, (d - 4) / 6 per stage,
``widen_factor`` k, ``dropout_rate`` between a block's two convs, 0.3 in the paper's dropout
variant): WRN-28-10 36,479,194 (= the authors' PyTorch code), WRN-16-8 10,961,370, WRN-40-4
8,949,210.

Features: ``stem`` (the stem conv's output, before BN; ImageNet: 1/2 resolution, before the
max-pool), ``stage1`` ... (block outputs; the last stage's after the final BN-ReLU, as timm),
``pre_logits`` (pooled).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn

from cnnjax.layers import ConvNormAct, global_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model
from cnnjax.models.resnet import RESNET_CFGS, ResidualBlock, check_layout, residual_stages, resolve_block


class _PreActBlock(ResidualBlock):
    """Shared parts: ``norm1`` pre-activates the input; each ``convK`` but the last is a
    ConvNormAct whose BN-ReLU pre-activates the next conv; the last conv is bare."""

    def _preact(self, x):
        return nn.relu(self.norm(name="norm1")(x))

    def _conv(self, features, kernel_size, *, activated, **kwargs):
        if activated:
            return ConvNormAct(features, kernel_size, conv=self.conv, norm=self.norm, **kwargs)
        return self.conv(features, kernel_size, use_bias=False, **kwargs)

    def _finish(self, y, x, x_pre):
        """Drop-path, + shortcut (projected from the pre-activated input where the shape changes)."""
        if self.projects(x):
            out = self.features * self.expansion
            x = self._conv(out, 1, activated=False, strides=self.strides, padding=0, name="downsample")(x_pre)
        return self.residual_sum(y, x)


class PreActBasicBlock(_PreActBlock):
    """BN-ReLU -> 3x3 conv (strided) -> BN-ReLU -> dropout -> 3x3 conv, + shortcut (expansion 1).
    Dilation applies to both 3x3 convs; ``dropout_rate`` is WRN's dropout (draws ``'dropout'``)."""

    dropout_rate: float = 0.0

    expansion: ClassVar[int] = 1

    @nn.compact
    def __call__(self, x):
        d = self.dilation
        x_pre = self._preact(x)
        y = self._conv(self.features, 3, activated=True, strides=self.strides, padding=d, dilation=d, name="conv1")(
            x_pre
        )
        if self.dropout_rate:
            y = nn.Dropout(self.dropout_rate, deterministic=self.deterministic)(y)
        y = self._conv(self.features, 3, activated=False, padding=d, dilation=d, name="conv2")(y)
        return self._finish(y, x, x_pre)


class PreActBottleneck(_PreActBlock):
    """BN-ReLU -> 1x1 conv -> BN-ReLU -> 3x3 conv (strided, dilated) -> BN-ReLU -> 1x1 conv (x4
    channels), + shortcut."""

    expansion: ClassVar[int] = 4

    @nn.compact
    def __call__(self, x):
        d = self.dilation
        x_pre = self._preact(x)
        y = self._conv(self.features, 1, activated=True, padding=0, name="conv1")(x_pre)
        y = self._conv(self.features, 3, activated=True, strides=self.strides, padding=d, dilation=d, name="conv2")(y)
        y = self._conv(self.features * self.expansion, 1, activated=False, padding=0, name="conv3")(y)
        return self._finish(y, x, x_pre)


BLOCKS: dict[str, type[_PreActBlock]] = {"basic": PreActBasicBlock, "bottleneck": PreActBottleneck}


class _PreActNet(Classifier):
    """Stages of pre-activation blocks, final BN-ReLU, pool, head; subclasses define
    ``stage_sizes`` and ``block`` and run their stem before :meth:`_body`."""

    drop_path_rate: float = 0.0

    has_blocks: ClassVar[bool] = True

    def _body(self, x, train, features, block, widths, **stage_options):
        norm = self.norm(train)
        block = functools.partial(self.block_class(block), conv=self.conv, norm=norm, deterministic=not train)
        x, stages = residual_stages(
            x, block, self.stage_sizes, widths, drop_path_rate=self.drop_path_rate, **stage_options
        )
        x = nn.relu(norm(name="final_norm")(x))
        features |= stages | {f"stage{len(stages)}": x}
        x = features["pre_logits"] = global_avg_pool(x)
        return self.head(x), features


class PreActResNet(_PreActNet):
    """ImageNet pre-activation ResNet; ``block`` is :class:`PreActBasicBlock` /
    :class:`PreActBottleneck` (or ``'basic'`` / ``'bottleneck'``), ``stage_sizes`` the blocks per
    stage, ``width`` the first stage's planes (64), ``output_stride`` 8 / 16 / 32.
    ``min_input_size`` = 1."""

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: type[_PreActBlock] | str = PreActBasicBlock
    width: int = 64
    output_stride: int = 32

    def forward(self, x, train):
        block = check_layout(self, BLOCKS)
        x = self.conv(self.width, 7, strides=2, padding=3, use_bias=False, name="stem_conv")(x)
        features = {"stem": x}
        x = max_pool(x, 3, strides=2, padding=1)
        widths = [self.width * 2**i for i in range(4)]
        return self._body(x, train, features, block, widths, stem_stride=4, output_stride=self.output_stride)


class CifarPreActResNet(_PreActNet):
    """CIFAR pre-activation ResNet / wide ResNet: ``stage_sizes`` (3 entries), ``block``
    (``'basic'`` | ``'bottleneck'`` or a class), ``width`` (stem channels and first stage's planes
    before widening, 16), ``widen_factor`` (WRN's k), ``dropout_rate`` (basic blocks only).
    ``min_input_size`` = 1."""

    stage_sizes: Sequence[int] = (18, 18, 18)
    block: type[_PreActBlock] | str = "basic"
    width: int = 16
    widen_factor: int = 1
    dropout_rate: float = 0.0

    def forward(self, x, train):
        block = resolve_block(self, BLOCKS)
        if len(self.stage_sizes) != 3:
            self.fail(f"stage_sizes needs 3 entries, got {tuple(self.stage_sizes)}")
        if self.dropout_rate:
            if not issubclass(block, PreActBasicBlock):
                self.fail("dropout_rate needs basic blocks (WRN's dropout sits between their two 3x3 convs)")
            block = functools.partial(block, dropout_rate=self.dropout_rate)
        x = self.conv(self.width, 3, padding=1, use_bias=False, name="stem_conv")(x)
        features = {"stem": x}
        widths = [self.width * self.widen_factor * 2**i for i in range(3)]
        return self._body(x, train, features, block, widths, stem_stride=1)


for _depth, (_sizes, _block) in RESNET_CFGS.items():
    register_model(f"preact_resnet{_depth}")(functools.partial(PreActResNet, stage_sizes=_sizes, block=_block))

for _depth, _block in ((110, "basic"), (164, "bottleneck"), (1001, "bottleneck")):
    _n = (_depth - 2) // (6 if _block == "basic" else 9)
    register_model(f"cifar_preact_resnet{_depth}")(
        functools.partial(CifarPreActResNet, stage_sizes=(_n,) * 3, block=_block)
    )

for _depth, _k in ((16, 8), (28, 10), (40, 4)):
    register_model(f"wrn{_depth}_{_k}")(
        functools.partial(CifarPreActResNet, stage_sizes=((_depth - 4) // 6,) * 3, block="basic", widen_factor=_k)
    )
