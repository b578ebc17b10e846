"""One conv call as data (:class:`ConvCall`), one conv implementation as data (:class:`Implementation`),
and the error raised where an implementation cannot serve a call (:class:`ConvImplementationError`).

A call is forward (``lax.conv_general_dilated``: NHWC-style ``x``, kernel ``(*k, C_in // groups,
features)``) or transposed (PyTorch's ``conv_transpose``, :mod:`cnnjax.layers.transposed_conv`: kernel
``(*k, C_in, C_out)``, symmetric ``padding`` stored as ``(p, p)`` pairs, ``groups == 1``).  Every
implementation computes the same values and gradients as XLA's op for the calls it serves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

from cnnjax.errors import InvalidInputError
from cnnjax.layers.conv_arithmetic import padded_output_size, transposed_conv_output_size

FORWARD, TRANSPOSED = "forward", "transposed"
SPATIAL = "HWD"  # spatial axis letters of the dimension numbers, 1- to 3-D


def dimension_numbers(ndim: int, kernel: str = "IO") -> tuple[str, str, str]:
    """``('NHWC', 'HWIO', 'NHWC')`` for 2-D; ``kernel='OI'`` gives the transposed conv's ``'HWOI'``."""
    spatial = SPATIAL[:ndim]
    return f"N{spatial}C", f"{spatial}{kernel}", f"N{spatial}C"


class ConvImplementationError(InvalidInputError):
    """An explicit implementation (a layer's or the conv target's) that cannot serve a conv call."""


class ConvCall(NamedTuple):
    """What an implementation needs to know to serve a conv: static shapes, geometry and dtypes."""

    direction: str
    x_shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]
    dtype: jnp.dtype
    kernel_dtype: jnp.dtype

    @classmethod
    def of(cls, direction: str, x, kernel, strides, padding, dilation, groups=1, output_padding=None) -> ConvCall:
        ndim = x.ndim - 2
        return cls(
            direction,
            tuple(x.shape),
            tuple(kernel.shape),
            tuple(int(s) for s in strides),
            tuple((int(lo), int(hi)) for lo, hi in padding),
            tuple(int(d) for d in dilation),
            int(groups),
            tuple(int(op) for op in output_padding) if output_padding is not None else (0,) * ndim,
            jnp.dtype(x.dtype),
            jnp.dtype(kernel.dtype),
        )

    @property
    def ndim(self) -> int:
        """Spatial dimensions."""
        return len(self.x_shape) - 2

    @property
    def in_channels(self) -> int:
        return self.x_shape[-1]

    @property
    def output_shape(self) -> tuple[int, ...]:
        dims = zip(
            self.x_shape[1:-1], self.kernel_shape, self.strides, self.padding, self.dilation, self.output_padding
        )
        if self.direction == FORWARD:
            sizes = [padded_output_size(n, k, s, d, lo, hi) for n, k, s, (lo, hi), d, _ in dims]
        else:
            sizes = [transposed_conv_output_size(n, k, s, lo, op, d) for n, k, s, (lo, _), d, op in dims]
        return (self.x_shape[0], *sizes, self.kernel_shape[-1])

    def __str__(self) -> str:
        text = (
            f"{self.direction} {self.ndim}-D conv of x {self.x_shape} {self.dtype.name} with kernel "
            f"{self.kernel_shape} {self.kernel_dtype.name}, strides {self.strides}, padding {self.padding}, "
            f"dilation {self.dilation}"
        )
        if self.direction == FORWARD:
            return text + f", groups {self.groups}"
        return text + f", output_padding {self.output_padding}"


def unsupported(call: ConvCall, directions: tuple[str, ...], ndims: tuple[int, ...]) -> str | None:
    """Why an implementation of ``directions`` and ``ndims`` spatial dimensions cannot serve ``call``."""
    if call.direction not in directions:
        return f"serves {' and '.join(directions)} convs only"
    if call.ndim not in ndims:
        return f"serves {'/'.join(map(str, ndims))}-D convs only"
    return None


@dataclasses.dataclass(frozen=True)
class Implementation:
    """A conv implementation: ``run(x, kernel, call)`` equals XLA's op for every ``call`` for which
    ``why_not(call)`` is ``None`` (else the reason it cannot serve it).  ``'auto'`` on CPU takes it
    where it serves the call and ``earns(call)`` (its benchmark shows it faster than XLA's conv there);
    ``cpu_only``: it runs on XLA:CPU only (a custom call), so a target of another platform refuses it."""

    name: str
    why_not: Callable[[ConvCall], str | None]
    run: Callable[..., jnp.ndarray]
    earns: Callable[[ConvCall], bool] = lambda call: True
    cpu_only: bool = False
