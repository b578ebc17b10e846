"""Max / average pooling with the padding modes of :mod:`conv_arithmetic`, and global pooling.

``window`` and ``strides`` are an int or one int per spatial dimension; ``strides`` defaults to
``window`` (non-overlapping windows, as PyTorch and Keras; flax's own default is 1).  Inputs are
``(batch, *spatial, channels)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnjax.layers.conv_arithmetic import Padding, per_dim, resolve_padding_nd


def _window_args(x, window, strides, padding):
    ndim = x.ndim - 2
    window = per_dim(window, ndim, "window")
    strides = window if strides is None else per_dim(strides, ndim, "strides")
    pads = resolve_padding_nd(padding, x.shape[1:-1], window, strides, (1,) * ndim)
    return window, strides, pads


def max_pool(x, window: int | Sequence[int], strides: int | Sequence[int] | None = None, padding: Padding = "valid"):
    """Max over each window; padded positions are -inf, so they never win."""
    window, strides, pads = _window_args(x, window, strides, padding)
    return nn.max_pool(x, window, strides=strides, padding=pads)


def avg_pool(
    x,
    window: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    padding: Padding = "valid",
    count_include_pad: bool = True,
):
    """Mean over each window; padded zeros count unless ``count_include_pad=False``."""
    window, strides, pads = _window_args(x, window, strides, padding)
    return nn.avg_pool(x, window, strides=strides, padding=pads, count_include_pad=count_include_pad)


def global_avg_pool(x, keepdims: bool = False):
    """Mean over the spatial axes: ``(N, *spatial, C) -> (N, C)`` (or ``(N, 1, 1, C)``)."""
    return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)
