"""CIFAR ResNets and their plain twins (He et al., 2015, arXiv:1512.03385, Sec. 4.2).

3x3 conv 16 -> BN -> ReLU, three stages of n basic blocks with 16/32/64 channels (stride 2 at the
first block of stages 2 and 3), global average pool -> dense: depth 6n+2.  As in the paper: He
fan-out normal init, no conv bias before BN, symmetric padding 1 on every 3x3 conv (strided ones
included).  Shortcut option 'A': identity, and where the shape changes ``x[:, ::2, ::2]`` with
zero channels padded on both sides (as the common PyTorch reference, akamaster's
pytorch_resnet_cifar10); no parameters.  Option 'B': 1x1 conv (stride 2, no bias) + BN where the
shape changes, identity otherwise.  Parameters, 10 classes, option A: ResNet-20 269,722,
-32 464,154, -44 658,586, -56 853,018, -110 1,727,962; option B adds 2,752.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import ConvNormAct, ModuleDef, global_avg_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

SHORTCUTS = ("A", "B")


def zero_pad_shortcut(x, features: int, strides: int):
    """Option A: subsample by ``strides`` and zero-pad channels up to ``features``, split evenly
    before and after the existing channels (the extra one, if odd, after)."""
    if features < x.shape[-1]:
        raise ValueError(f"option A shortcut cannot reduce channels ({x.shape[-1]} -> {features})")
    x = x[:, ::strides, ::strides, :]
    extra = features - x.shape[-1]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; ReLU after the residual sum.  ``shortcut=None``: plain block.
    ``layer`` is the conv-BN-ReLU factory (:class:`~cnnjax.layers.ConvNormAct` with conv and norm bound)."""

    features: int
    strides: int
    layer: ModuleDef
    shortcut: str | None = "A"

    @nn.compact
    def __call__(self, x):
        layer = functools.partial(self.layer, self.features)
        y = layer(3, strides=self.strides, padding=1, name="conv1")(x)
        y = layer(3, padding=1, activation=None, name="conv2")(y)
        if self.shortcut is None:
            return nn.relu(y)
        if self.strides == 1 and x.shape[-1] == self.features:
            residual = x
        elif self.shortcut == "A":
            residual = zero_pad_shortcut(x, self.features, self.strides)
        else:
            residual = layer(1, strides=self.strides, padding=0, activation=None, name="projection")(x)
        return nn.relu(y + residual)


class CifarResNet(Classifier):
    """CIFAR ResNet-(6n+2) with ``stage_sizes=(n, n, n)``; ``plain=True`` drops the shortcuts.
    ``depth`` (6n+2, n >= 1), when set, is the paper's name for ``stage_sizes=(n, n, n)`` and takes its
    place, so a sweep can vary depth as a number.

    ``width`` is the first stage's channel count (16 in the paper), doubled at each stage.
    ``min_input_size`` = 1: every stride-2 layer maps n to ceil(n / 2).  Features: ``stem``,
    ``stage1`` ... ``stage3``, ``pre_logits``.
    """

    has_blocks: ClassVar[bool] = True

    stage_sizes: Sequence[int] = (3, 3, 3)
    depth: int | None = None
    width: int = 16
    shortcut: str = "A"
    plain: bool = False

    def forward(self, x, train):
        self.check_choice("shortcut", self.shortcut, SHORTCUTS)
        stage_sizes = self.stage_sizes
        if self.depth is not None:
            if self.depth < 8 or (self.depth - 2) % 6:
                self.fail(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, ...), got {self.depth}")
            stage_sizes = ((self.depth - 2) // 6,) * 3
        layer = functools.partial(ConvNormAct, conv=self.conv, norm=self.norm(train))
        x = layer(self.width, 3, padding=1, name="stem_conv")(x)
        features = {"stem": x}
        shortcut = None if self.plain else self.shortcut
        for stage, num_blocks in enumerate(stage_sizes):
            for block in range(num_blocks):
                strides = 2 if stage > 0 and block == 0 else 1
                name = f"stage{stage + 1}_block{block + 1}"
                block_class = self.block_class(BasicBlock)
                x = block_class(self.width * 2**stage, strides, layer, shortcut=shortcut, name=name)(x)
            features[f"stage{stage + 1}"] = x
        x = features["pre_logits"] = global_avg_pool(x)
        return self.head(x), features


for _depth in (20, 32, 44, 56, 110):
    _sizes = ((_depth - 2) // 6,) * 3
    register_model(f"cifar_resnet{_depth}")(functools.partial(CifarResNet, stage_sizes=_sizes))
    register_model(f"cifar_plain{_depth}")(functools.partial(CifarResNet, stage_sizes=_sizes, plain=True))
