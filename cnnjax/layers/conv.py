"""Convolution (NHWC) with every padding mode of :mod:`conv_arithmetic`, He init, and a fast 2-D path."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.typing import Dtype, Initializer
from jax import lax

from cnnjax.layers.conv_arithmetic import Padding, per_dim, resolve_padding_nd
from cnnjax.layers.conv_dispatch import conv2d

he_fan_out_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
"""He et al. (2015) init, PyTorch's ``kaiming_normal_(mode='fan_out')``: var = 2 / (k*k*C_out)."""


class Conv(nn.Module):
    """``nn.Conv`` (same parameters, initialisers and dtype promotion) whose padding is resolved to
    explicit pairs from the input's spatial size, and whose 2-D convs go through :func:`conv2d`.

    ``padding``: ``'valid' | 'same' | 'full'``, an int (symmetric, as PyTorch), or one
    ``(lo, hi)`` pair per spatial dimension.  ``groups`` is the feature group count (``groups ==
    C_in == features`` is a depthwise conv).  The parameters are ``kernel`` of shape
    ``(kh, kw, C_in // groups, features)`` and ``bias``, directly in this module's scope.
    ``implementation``: see :data:`~cnnjax.layers.conv_dispatch.IMPLEMENTATIONS` (2-D only; other
    ranks always use XLA's conv); ``'auto'`` follows :mod:`cnnjax.layers.conv_target` (XLA's conv
    outside a model or target).
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "same"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    use_bias: bool = True
    kernel_init: Initializer = he_fan_out_normal
    bias_init: Initializer = nn.initializers.zeros
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x):
        if x.ndim < 3:
            raise ValueError(f"Conv expects (batch, *spatial, channels), got shape {x.shape}")
        ndim = x.ndim - 2
        in_channels = x.shape[-1]
        if in_channels % self.groups or self.features % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide both the input channels ({in_channels}) and "
                f"features ({self.features})"
            )
        kernel_size = per_dim(self.kernel_size, ndim, "kernel_size")
        strides = per_dim(self.strides, ndim, "strides")
        dilation = per_dim(self.dilation, ndim, "dilation")
        pads = resolve_padding_nd(self.padding, x.shape[1:-1], kernel_size, strides, dilation)
        kernel_shape = (*kernel_size, in_channels // self.groups, self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        if ndim == 2:
            y = conv2d(
                x,
                kernel,
                strides=strides,
                padding=pads,
                dilation=dilation,
                groups=self.groups,
                implementation=self.implementation,
            )
        else:
            spatial = "HWDUVXYZ"[:ndim]
            y = lax.conv_general_dilated(
                x,
                kernel,
                strides,
                pads,
                rhs_dilation=dilation,
                feature_group_count=self.groups,
                dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
            )
        return y if bias is None else y + bias
