"""``'onednn'``: 2-D convs (any groups) and transposed convs through oneDNN on XLA:CPU: forward, input
and weight gradient are each one oneDNN primitive reading XLA's NHWC / HWIO buffers in place
(:mod:`cnnjax.native.onednn`).

The three directions are bilinear ops whose VJPs are each other (the forward conv's input gradient
is ``input_gradient(dy, kernel)``, whose own VJP is a forward conv and a weight gradient, and so
on), so gradients of any order stay on oneDNN.  A transposed conv is a conv's input gradient.

Serves 2-D calls with :data:`REQUIREMENT` where the extension loads; transposed ones also need
``output_padding <= padding + stride - 1`` (the forward conv they are the input gradient of pads
``(p, p - output_padding)``, and oneDNN takes no negative padding).  ``'auto'`` on a ``'cpu'``
target takes it first wherever it serves the call.

Under ``jax.vmap`` (seeds trained as one program, :mod:`cnnjax.train.member_axis`) each direction stays one
custom call: it runs the primitive once per member on that member's block of each buffer, in place, and reads
an operand the members share (the input of the first conv when they share a data stream) without copying it,
so K members cost K convs' FLOPs and one dispatch (``benchmarks/README.md`` compares the alternatives).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.layers.conv_arithmetic import padded_output_size
from cnnjax.layers.conv_call import FORWARD, TRANSPOSED, ConvCall, Implementation, unsupported
from cnnjax.native.onednn import TARGET_NAME, bf16_supported, onednn_available, unavailable_reason

DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))
FWD, BWD_DATA, BWD_WEIGHTS = 0, 1, 2  # the extension's primitives
REQUIREMENT = "float32 (or bfloat16 where the CPU runs it) operands of one dtype and padding >= 0"


class Geometry(NamedTuple):
    strides: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    groups: int


def onednn_applies(x_dtype, kernel_dtype, padding: Sequence[tuple[int, int]]) -> bool:
    """oneDNN takes float32 (or, where the CPU runs them, bfloat16) operands of one dtype and
    non-negative padding."""
    dtype = jnp.dtype(x_dtype)
    if dtype not in DTYPES or jnp.dtype(kernel_dtype) != dtype or any(p < 0 for pair in padding for p in pair):
        return False
    return dtype == jnp.float32 or bf16_supported()


def output_shape(x_shape, kernel_shape, geometry: Geometry) -> tuple[int, ...]:
    dims = zip(x_shape[1:3], kernel_shape[:2], geometry.strides, geometry.padding, geometry.dilation)
    return (x_shape[0], *(padded_output_size(n, k, s, d, lo, hi) for n, k, s, (lo, hi), d in dims), kernel_shape[-1])


def _geometry(what: str, x, kernel, strides, padding, dilation, groups) -> Geometry:
    if not onednn_applies(x.dtype, kernel.dtype, padding):
        raise ValueError(f"oneDNN {what} needs {REQUIREMENT}, got {x.dtype} / {kernel.dtype}, padding {padding}")
    return Geometry(
        tuple(int(s) for s in strides),
        tuple((int(lo), int(hi)) for lo, hi in padding),
        tuple(int(d) for d in dilation),
        int(groups),
    )


def _call(direction: int, a, b, out_shape, geometry: Geometry):
    (top, bottom), (left, right) = geometry.padding
    return jax.ffi.ffi_call(TARGET_NAME, jax.ShapeDtypeStruct(tuple(out_shape), a.dtype), vmap_method="expand_dims")(
        a,
        b,
        direction=np.int64(direction),
        strides=np.asarray(geometry.strides, np.int64),
        padding=np.asarray([top, bottom, left, right], np.int64),
        dilation=np.asarray(geometry.dilation, np.int64),
        groups=np.int64(geometry.groups),
    )


def onednn_conv(
    x, kernel, *, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int
):
    """Equals ``lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=dilation,
    feature_group_count=groups)`` for NHWC ``x`` and an HWIO ``kernel`` (see :data:`REQUIREMENT`;
    bfloat16 accumulates in float32).  Needs :func:`cnnjax.native.onednn.onednn_available`."""
    if groups < 1 or kernel.shape[2] * groups != x.shape[-1] or kernel.shape[3] % groups:
        raise ValueError(
            f"kernel {kernel.shape} does not fit x {x.shape} with groups={groups}: need kernel (kh, kw, C_in / groups, "
            "features) with features divisible by groups"
        )
    geometry = _geometry("conv", x, kernel, strides, padding, dilation, groups)
    return _forward(x, kernel, geometry)


def onednn_conv_transpose(
    x,
    kernel,
    *,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    output_shape: Sequence[int],
):
    """The input gradient of ``lax.conv_general_dilated(y, kernel.transpose(0, 1, 3, 2), strides, padding,
    rhs_dilation=dilation)`` (HWIO) at ``y`` of ``output_shape``, evaluated at ``x``: the transposed conv of
    NHWC ``x`` with ``kernel`` ``(kh, kw, C_in, C_out)``, as :func:`cnnjax.layers.conv_transpose`."""
    geometry = _geometry("transposed conv", x, kernel, strides, padding, dilation, 1)
    return _input_gradient(x, kernel.transpose(0, 1, 3, 2), geometry, tuple(output_shape))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _forward(x, kernel, geometry: Geometry):
    return _call(FWD, x, kernel, output_shape(x.shape, kernel.shape, geometry), geometry)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _input_gradient(dy, kernel, geometry: Geometry, x_shape: tuple[int, ...]):
    return _call(BWD_DATA, dy, kernel, x_shape, geometry)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _weight_gradient(x, dy, geometry: Geometry, kernel_shape: tuple[int, ...]):
    return _call(BWD_WEIGHTS, x, dy, kernel_shape, geometry)


# y = F(x, k), dx = I(dy, k), dk = W(x, dy) are bilinear with <dy, F(x, k)> = <x, I(dy, k)> = <k, W(x, dy)>:
# each one's VJP is made of the other two.
def _forward_vjp(geometry, residuals, ct):
    x, kernel = residuals
    ct = ct.astype(x.dtype)
    return _input_gradient(ct, kernel, geometry, x.shape), _weight_gradient(x, ct, geometry, kernel.shape)


def _input_gradient_vjp(geometry, x_shape, residuals, ct):
    dy, kernel = residuals
    ct = ct.astype(dy.dtype)
    return _forward(ct, kernel, geometry), _weight_gradient(ct, dy, geometry, kernel.shape)


def _weight_gradient_vjp(geometry, kernel_shape, residuals, ct):
    x, dy = residuals
    ct = ct.astype(x.dtype)
    return _input_gradient(dy, ct, geometry, x.shape), _forward(x, ct, geometry)


_forward.defvjp(lambda x, k, g: (_forward(x, k, g), (x, k)), _forward_vjp)
_input_gradient.defvjp(lambda dy, k, g, s: (_input_gradient(dy, k, g, s), (dy, k)), _input_gradient_vjp)
_weight_gradient.defvjp(lambda x, dy, g, s: (_weight_gradient(x, dy, g, s), (x, dy)), _weight_gradient_vjp)


def _why_not(call: ConvCall) -> str | None:
    reason = unsupported(call, (FORWARD, TRANSPOSED), (2,))
    if reason is None and not onednn_applies(call.dtype, call.kernel_dtype, call.padding):
        reason = f"needs {REQUIREMENT}"
    if reason is None and call.direction == TRANSPOSED:
        if any(op > p + s - 1 for (p, _), op, s in zip(call.padding, call.output_padding, call.strides)):
            reason = "needs output_padding <= padding + stride - 1"
    if reason is None and not onednn_available():
        reason = f"unavailable: {unavailable_reason()}"
    return reason


def _run(x, kernel, call: ConvCall):
    if call.direction == FORWARD:
        return onednn_conv(
            x, kernel, strides=call.strides, padding=call.padding, dilation=call.dilation, groups=call.groups
        )
    return onednn_conv_transpose(
        x,
        kernel,
        strides=call.strides,
        # the conv this is the input gradient of pads (p, max(p - op, 0)): its output is x's size
        padding=tuple((p, max(p - op, 0)) for (p, _), op in zip(call.padding, call.output_padding)),
        dilation=call.dilation,
        output_shape=call.output_shape,
    )


ONEDNN = Implementation("onednn", why_not=_why_not, run=_run, cpu_only=True)
