"""2-D convolution (NHWC) with every padding mode of :mod:`conv_arithmetic` and He init."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype, Initializer

from cnnjax.layers.conv_arithmetic import Padding, per_dim, resolve_padding_nd

he_fan_out_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
"""He et al. (2015) init, PyTorch's ``kaiming_normal_(mode='fan_out')``: var = 2 / (k*k*C_out)."""


class Conv(nn.Module):
    """``nn.Conv`` whose padding is resolved to explicit pairs from the input's spatial size.

    ``padding``: ``'valid' | 'same' | 'full'``, an int (symmetric, as PyTorch), or one
    ``(lo, hi)`` pair per spatial dimension.  ``groups`` is the feature group count (``groups ==
    C_in == features`` is a depthwise conv).  The parameters are ``kernel`` of shape
    ``(kh, kw, C_in // groups, features)`` and ``bias``, directly in this module's scope.
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
        conv = nn.Conv(
            self.features,
            kernel_size,
            strides=strides,
            padding=pads,
            kernel_dilation=dilation,
            feature_group_count=self.groups,
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            name="conv",
        )
        nn.share_scope(self, conv)  # params stay ``kernel`` / ``bias`` of this module
        return conv(x)
