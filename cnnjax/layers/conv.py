"""Convolution (channels-last, 1- to 3-D) with every padding mode of :mod:`conv_arithmetic`, He init, and
the conv dispatch of :mod:`conv_dispatch` for every rank."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.typing import Dtype, Initializer

from cnnjax.layers.conv_arithmetic import Padding, per_dim, resolve_padding_nd
from cnnjax.layers.conv_call import FORWARD, ConvCall
from cnnjax.layers.conv_dispatch import dispatch

he_fan_out_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
"""He et al. (2015) init, PyTorch's ``kaiming_normal_(mode='fan_out')``: var = 2 / (k*k*C_out)."""


def conv_nd(
    x,
    kernel,
    *,
    strides: Sequence[int] | None = None,
    padding: Sequence[tuple[int, int]] | None = None,
    dilation: Sequence[int] | None = None,
    groups: int = 1,
    implementation: str = "auto",
):
    """Conv of channels-last ``x`` (``(N, *spatial, C_in)``, 1- to 3-D) with a ``(*k, C_in // groups,
    features)`` kernel; equals ``lax.conv_general_dilated(x, kernel, strides, padding,
    rhs_dilation=dilation, feature_group_count=groups)``.  ``padding``: one ``(lo, hi)`` pair per
    spatial dimension; strides, padding and dilation default to 1, 0 and 1.  ``implementation``: one of
    :data:`~cnnjax.layers.conv_dispatch.NAMES` (see :func:`~cnnjax.layers.conv_dispatch.dispatch`)."""
    ndim = x.ndim - 2
    strides = (1,) * ndim if strides is None else strides
    padding = ((0, 0),) * ndim if padding is None else padding
    dilation = (1,) * ndim if dilation is None else dilation
    call = ConvCall.of(FORWARD, x, kernel, strides, padding, dilation, groups)
    return dispatch(x, kernel, call, implementation)


class ConvLayer(nn.Module, kw_only=True):
    """The fields and parameters :class:`Conv` and :class:`~cnnjax.layers.ConvTranspose` share: a
    ``kernel`` and, with ``use_bias``, a ``bias`` in the module's own scope, promoted with the input
    as ``nn.Conv`` does; ``implementation`` is the layer's conv implementation (``'auto'``: the conv
    target decides, :mod:`cnnjax.layers.conv_dispatch`)."""

    use_bias: bool = True
    kernel_init: Initializer = he_fan_out_normal
    bias_init: Initializer = nn.initializers.zeros
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    implementation: str = "auto"

    def parameters(self, x, kernel_shape: tuple[int, ...]):
        """``(x, kernel, bias)`` promoted to the compute dtype; ``bias`` is ``None`` without ``use_bias``."""
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = self.param("bias", self.bias_init, (kernel_shape[-1],), self.param_dtype) if self.use_bias else None
        return promote_dtype(x, kernel, bias, dtype=self.dtype)


class Conv(ConvLayer):
    """``nn.Conv`` (same parameters, initialisers and dtype promotion) whose padding is resolved to
    explicit pairs from the input's spatial size, and which runs through the conv dispatch at every rank.

    ``padding``: ``'valid' | 'same' | 'full'``, an int (symmetric, as PyTorch), or one
    ``(lo, hi)`` pair per spatial dimension.  ``groups`` is the feature group count (``groups ==
    C_in == features`` is a depthwise conv).  The parameters are ``kernel`` of shape
    ``(*kernel_size, C_in // groups, features)`` and ``bias`` (:class:`ConvLayer`).
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: Padding = "same"
    dilation: int | Sequence[int] = 1
    groups: int = 1

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
        x, kernel, bias = self.parameters(x, (*kernel_size, in_channels // self.groups, self.features))
        y = conv_nd(
            x,
            kernel,
            strides=strides,
            padding=pads,
            dilation=dilation,
            groups=self.groups,
            implementation=self.implementation,
        )
        return y if bias is None else y + bias
