"""DenseNet-BC (Huang et al., 2017, arXiv:1608.06993) as in torchvision."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers import ConvNormAct, ModuleDef, avg_pool, global_avg_pool, max_pool
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

# PyTorch's kaiming_normal_ default (fan-in, gain sqrt(2)): torchvision's DenseNet conv init.
conv_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class PreActConv(nn.Module):
    """``norm`` -> ReLU -> bias-free ``conv`` (stride 1, padding ``kernel_size // 2``)."""

    features: int
    kernel_size: int
    conv: ModuleDef
    norm: ModuleDef

    @nn.compact
    def __call__(self, x):
        x = nn.relu(self.norm(name="norm")(x))
        k = self.kernel_size
        return self.conv(self.features, k, padding=k // 2, use_bias=False, name="conv")(x)


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (``bn_size * growth_rate``) - BN-ReLU-3x3 conv (``growth_rate``) [-
    dropout]: the ``growth_rate`` new channels, which the block concatenates to its input.
    ``unit`` makes a BN-ReLU-conv (:class:`PreActConv` with its conv and norm bound)."""

    growth_rate: int
    bn_size: int
    unit: ModuleDef
    drop_rate: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool):
        y = self.unit(self.bn_size * self.growth_rate, 1, name="bottleneck")(x)
        y = self.unit(self.growth_rate, 3, name="conv")(y)
        return nn.Dropout(self.drop_rate, deterministic=not train)(y)


class DenseNet(Classifier):
    """torchvision's DenseNet: stem conv 7x7/2 pad 3 (``num_init_features``, no bias) -> BN ->
    ReLU -> max-pool 3x3/2 pad 1; dense blocks of ``block_config`` layers (:class:`DenseLayer`),
    each adding ``growth_rate`` channels; between blocks a transition BN-ReLU-1x1 conv to half the
    channels (compression 0.5) - avg-pool 2x2/2; final BN -> ReLU -> global average pool -> Dense.

    Pre-activation ordering and the bottleneck width ``bn_size * growth_rate`` (4k) are the
    paper's DenseNet-BC; the ImageNet stem and the final BN are torchvision's.  Init as torchvision:
    convs He fan-in normal, BN 1 / 0, head bias 0.  ``memory_efficient`` recomputes each dense
    layer in the backward pass (``nn.remat``) instead of storing its activations, like
    torchvision's option (which recomputes only the bottleneck half): same outputs and
    gradients, less memory, more compute.

    ``block_config`` / ``growth_rate`` / ``num_init_features`` may be overridden to shrink the
    net (tests).  Features: ``stem`` (after the max-pool, 1/4), ``stage1`` ... ``stage4`` (the
    concatenated output of each dense block, before its transition; ``stage4`` before the final
    BN), ``pre_logits``.  ``min_input_size`` = 29: the stem maps n to ceil(ceil(n / 2) / 2) and
    each of the three transitions floor-halves.
    """

    growth_rate: int = 32
    block_config: Sequence[int] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4
    drop_rate: float = 0.0
    memory_efficient: bool = False

    min_input_size: ClassVar[int] = 29
    has_blocks: ClassVar[bool] = True

    def forward(self, x, train):
        norm = self.norm(train)
        conv = functools.partial(self.conv, kernel_init=conv_init)
        unit = functools.partial(PreActConv, conv=conv, norm=norm)
        x = ConvNormAct(self.num_init_features, 7, strides=2, padding=3, conv=conv, norm=norm, name="stem_conv")(x)
        x = max_pool(x, 3, strides=2, padding=1)
        features = {"stem": x}
        layer = DenseLayer
        if self.memory_efficient or self.remat:
            layer = nn.remat(DenseLayer, static_argnums=(2,))
        for block, num_layers in enumerate(self.block_config, start=1):
            for i in range(num_layers):
                name = f"block{block}_layer{i + 1}"
                new = layer(self.growth_rate, self.bn_size, unit, self.drop_rate, name=name)(x, train)
                x = jnp.concatenate([x, new], axis=-1)
            features[f"stage{block}"] = x
            if block < len(self.block_config):
                x = unit(x.shape[-1] // 2, 1, name=f"transition{block}")(x)
                x = avg_pool(x, 2)
        x = nn.relu(norm(name="final_norm")(x))
        x = features["pre_logits"] = global_avg_pool(x)
        return self.head(x), features


# name: (growth_rate, block_config, num_init_features), torchvision's.
_VARIANTS = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}
for _name, (_growth, _blocks, _init) in _VARIANTS.items():
    register_model(_name)(
        functools.partial(DenseNet, growth_rate=_growth, block_config=_blocks, num_init_features=_init)
    )
