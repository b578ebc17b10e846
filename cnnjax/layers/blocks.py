"""Conv -> norm -> activation with the conv and the norm injected as module factories; the BatchNorm factory.

Layer choices and dtypes travel as factories, as in flax's examples: a model binds its dtypes once,
``conv = functools.partial(Conv, dtype=..., param_dtype=...)``, ``norm = functools.partial(batch_norm(train),
dtype=..., param_dtype=...)``, and hands ``conv`` / ``norm`` down to its blocks, which call them with
the per-layer arguments only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn

from cnnjax.layers.conv import Conv
from cnnjax.layers.conv_arithmetic import Padding
from cnnjax.layers.grouped_batch_norm import GroupedBatchNorm

ModuleDef = Callable[..., nn.Module]
"""A module factory: a module class, or a ``functools.partial`` of one with some fields bound."""


def batch_norm(
    train: bool, axis_name: str | None = None, momentum: float = 0.9, epsilon: float = 1e-5, group_size: int = 0
) -> ModuleDef:
    """BatchNorm factory with PyTorch's defaults (flax momentum 0.9 = PyTorch 0.1).

    Batch statistics when ``train``, running averages otherwise.  ``group_size == 0``:
    ``nn.BatchNorm``, whose ``axis_name`` (e.g. ``'data'``) averages the statistics over that mapped
    axis, ``None`` keeps them per device.  ``group_size > 0``: :class:`GroupedBatchNorm`, statistics
    over groups of that many images (spanning devices along ``axis_name`` where a group is larger
    than the per-device batch).
    """
    options = dict(use_running_average=not train, momentum=momentum, epsilon=epsilon, axis_name=axis_name)
    if group_size:
        return functools.partial(GroupedBatchNorm, group_size=group_size, **options)
    return functools.partial(nn.BatchNorm, **options)


class ConvWindow(nn.Module):
    """The fields of a layer built around one windowed conv: its output ``features`` and window
    (``kernel_size``, ``strides``, ``padding``, ``dilation``, as :class:`Conv`'s)."""

    features: int
    kernel_size: int | Sequence[int] = 3
    strides: int | Sequence[int] = 1
    padding: Padding = "same"
    dilation: int | Sequence[int] = 1

    def window(self, groups: int) -> dict:
        """The conv's ``strides``, ``padding``, ``dilation`` and ``groups`` keyword arguments."""
        return dict(strides=self.strides, padding=self.padding, dilation=self.dilation, groups=groups)


class ConvNormAct(ConvWindow):
    """``conv`` (no bias when a norm follows), then ``norm``, then ``activation``.

    ``conv`` is called as ``conv(features, kernel_size, strides=, padding=, dilation=, groups=,
    use_bias=, name='conv')`` (default :class:`Conv`); ``norm`` as ``norm(name='norm')``, e.g.
    ``functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5,
    axis_name='data')``; ``None`` skips it.  Dtypes (and initialisers) are whatever the factories
    bind.  ``activation`` is any ``x -> y`` callable or ``None``.
    """

    groups: int = 1
    norm: ModuleDef | None = None
    activation: Callable | None = nn.relu
    conv: ModuleDef = Conv

    @nn.compact
    def __call__(self, x):
        window = self.window(self.groups)
        x = self.conv(self.features, self.kernel_size, use_bias=self.norm is None, name="conv", **window)(x)
        if self.norm is not None:
            x = self.norm(name="norm")(x)
        return x if self.activation is None else self.activation(x)
