"""Depthwise-separable convolution (Xception, MobileNetV1): depthwise k x k, then pointwise 1x1."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype, Initializer

from cnnjax.layers.blocks import ConvWindow, ModuleDef
from cnnjax.layers.conv import Conv, he_fan_out_normal


class SeparableConv(ConvWindow):
    """Depthwise ``kernel_size`` conv (``depth_multiplier`` filters per input channel, with
    ``strides`` / ``padding`` / ``dilation``) -> [``norm``] -> [``inner_activation``] -> pointwise
    1x1 conv to ``features`` -> [``norm``] -> [``activation``].

    ``inner_norm`` puts ``norm`` between the two convs too.  MobileNetV1's block is
    ``inner_norm=True, inner_activation=nn.relu, activation=nn.relu`` with a BatchNorm ``norm``;
    Xception's (and Keras' ``SeparableConv2D``) is nothing between, then BatchNorm.  A conv has a
    bias only when no norm follows it, and the depthwise conv none when only the (linear)
    pointwise conv follows it, whose bias absorbs it.  Submodules ``depthwise`` (kernel
    ``(kh, kw, 1, C_in * depth_multiplier)``), ``pointwise``, and ``depthwise_norm`` /
    ``pointwise_norm``; ``norm`` is a factory called with ``dtype``, ``param_dtype``, ``name``.
    """

    depth_multiplier: int = 1
    norm: ModuleDef | None = None
    activation: Callable | None = None
    inner_norm: bool = False
    inner_activation: Callable | None = None
    kernel_init: Initializer = he_fan_out_normal
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(Conv, kernel_init=self.kernel_init, dtype=self.dtype, param_dtype=self.param_dtype)
        channels = x.shape[-1]
        inner_norm = self.norm if self.inner_norm else None
        depthwise_bias = inner_norm is None and self.inner_activation is not None
        x = conv(
            channels * self.depth_multiplier,
            self.kernel_size,
            use_bias=depthwise_bias,
            name="depthwise",
            **self.window(groups=channels),
        )(x)
        x = self._norm_act(x, inner_norm, self.inner_activation, "depthwise_norm")
        x = conv(self.features, 1, padding=0, use_bias=self.norm is None, name="pointwise")(x)
        return self._norm_act(x, self.norm, self.activation, "pointwise_norm")

    def _norm_act(self, x, norm: ModuleDef | None, activation: Callable | None, name: str):
        if norm is not None:
            x = norm(dtype=self.dtype, param_dtype=self.param_dtype, name=name)(x)
        return x if activation is None else activation(x)
