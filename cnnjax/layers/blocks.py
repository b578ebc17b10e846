"""Conv -> norm -> activation, with the norm and activation injected; the BatchNorm factory (plain or grouped)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype, Initializer

from cnnjax.layers.conv import Conv, he_fan_out_normal
from cnnjax.layers.conv_arithmetic import Padding
from cnnjax.layers.grouped_batch_norm import GroupedBatchNorm


def batch_norm(
    train: bool, axis_name: str | None = None, momentum: float = 0.9, epsilon: float = 1e-5, group_size: int = 0
) -> Callable[..., nn.Module]:
    """BatchNorm factory with PyTorch's defaults (flax momentum 0.9 = PyTorch 0.1).

    Batch statistics when ``train``, running averages otherwise.  ``group_size == 0``:
    ``nn.BatchNorm``, whose ``axis_name`` (e.g. ``'data'``) averages the statistics over that mapped
    axis, ``None`` keeps them per device.  ``group_size > 0``: :class:`GroupedBatchNorm`, statistics
    over groups of that many images (spanning devices along ``axis_name`` where a group is larger
    than the per-device batch).
    """
    if group_size:
        return functools.partial(
            GroupedBatchNorm,
            group_size=group_size,
            use_running_average=not train,
            momentum=momentum,
            epsilon=epsilon,
            axis_name=axis_name,
        )
    return functools.partial(
        nn.BatchNorm, use_running_average=not train, momentum=momentum, epsilon=epsilon, axis_name=axis_name
    )


class ConvNormAct(nn.Module):
    """:class:`Conv` (no bias when a norm follows), then ``norm``, then ``activation``.

    ``norm`` is a module factory called as ``norm(dtype=..., param_dtype=..., name='norm')``, e.g.
    ``functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
    axis_name='data')``; ``None`` skips it.  ``activation`` is any ``x -> y`` callable or ``None``.
    """

    features: int
    kernel_size: int | Sequence[int] = 3
    strides: int | Sequence[int] = 1
    padding: Padding = "same"
    dilation: int | Sequence[int] = 1
    groups: int = 1
    norm: Callable[..., nn.Module] | None = None
    activation: Callable | None = nn.relu
    kernel_init: Initializer = he_fan_out_normal
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            use_bias=self.norm is None,
            kernel_init=self.kernel_init,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            name="conv",
        )(x)
        if self.norm is not None:
            x = self.norm(dtype=self.dtype, param_dtype=self.param_dtype, name="norm")(x)
        if self.activation is not None:
            x = self.activation(x)
        return x
