"""``conv2d``: one 2-D conv entry point that picks the fastest implementation for the target platform.

``implementation='auto'`` (:func:`select_implementation`) follows the conv target of
:mod:`cnnjax.layers.conv_target` (the model's ``platform``; never the host's backend): XLA's
``lax.conv_general_dilated`` for GPU/TPU, where it is fast, and without a platform.  For ``'cpu'``,
``'onednn'`` (:mod:`onednn_conv`: oneDNN primitives for all three directions, any groups, float32 /
bfloat16) wherever the extension loads (:func:`cnnjax.native.onednn.onednn_available`): faster
than every path below and than PyTorch's CPU convs at conv-net shapes.  Without it
(:func:`select_xla_path`; XLA:CPU, 2 cores; fwd+bwd unless noted, ms):

- depthwise (``groups == C_in``): ``'depthwise_shift'``, k*k shifted multiply-adds
  (:mod:`depthwise_conv`).  XLA's depthwise conv is ~13x slower than PyTorch; shifted adds ~6x
  faster than XLA's.
- other ``groups > 1``: ``'grouped_split'``, one conv per group (:mod:`grouped_conv`); ~40x faster
  than XLA's grouped conv at ResNeXt shapes.
- ``groups == 1``: ``'chunked_wgrad'`` (:mod:`chunked_conv`) for every 1x1 kernel, for strided
  kernels of at most two strides (sub-pixel input gradient: 128x32²x16 -> 32 stride 2, 7.6 -> 4.3 ms)
  and for larger kernels when :func:`weight_gradient_chunks` > 1 (batch >= 64); XLA otherwise.
  With :mod:`cnnjax.cpu_runtime`'s Eigen convs, chunks of fewer than 8 images are slower than one
  weight-gradient conv (fwd+bwd 3x3 XLA vs 8 chunks, ms: 16x56²x64 67 vs 98, 32x56²x64 138 vs
  158, 32x32²x16 5.6 vs 7.6, 64x32²x16 11.1 vs 10.5, 64x28²x128 231 vs 233); the older
  measurements below had YNNPACK convs and chunks of 2 images.
  Weight gradient alone, XLA vs 8 batch chunks (min of 7, quiet machine): 3x3 at
  128x16²x32 16 -> 8, 128x8²x64 10 -> 6.5, 128x32²x16 stride 2 8.7 -> 6.7, 32x28²x128 105 -> 46,
  32x56²x64 133 -> 92, 32x14²x256 45 -> 43, 32x7²x512 39 -> 93 (slower: hence the map-size
  limit), 128x32²x16 9 -> 13 (slower alone, but chunking every ResNet-20 conv took its train
  step from 0.63 to 0.45 s, the chunks filling both cores; these numbers predate
  :mod:`cnnjax.cpu_runtime`, with it: 128x32²x16 3x3 weight gradient 10.8 -> 8.9 ms, train step
  0.46 -> 0.36 s).  1x1 weight gradient as one
  ``dot_general``, XLA -> dot (CPU ms, loaded machine): 16x56²x256->64 134 -> 39, 16x56²x64->256
  208 -> 27, 16x14²x1024->256 49 -> 26, 128x32²x16->16 10 -> 3.

:func:`cnnjax.layers.conv_target.conv_target` with ``implementation='xla'`` makes every ``'auto'``
conv XLA's (e.g. an all-XLA baseline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax

from cnnjax.layers.chunked_conv import chunked_wgrad_conv, has_fast_strided_input_gradient
from cnnjax.layers.conv_target import current_target
from cnnjax.layers.depthwise_conv import depthwise_shift_conv
from cnnjax.layers.grouped_conv import grouped_split_conv
from cnnjax.layers.onednn_conv import REQUIREMENT, onednn_applies, onednn_conv
from cnnjax.native.onednn import onednn_available, unavailable_reason

IMPLEMENTATIONS = ("auto", "xla", "onednn", "depthwise_shift", "grouped_split", "chunked_wgrad")
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
WGRAD_CHUNKS = 8
MIN_CHUNK_IMAGES = 8
MIN_CHUNKED_OUTPUT_PIXELS = 64
MAX_CHUNKED_WEIGHTS = 256 * 256


def _check_name(implementation: str) -> None:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown conv implementation {implementation!r}; expected one of {IMPLEMENTATIONS}")


def select_implementation(
    x_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    strides: Sequence[int],
    groups: int,
    platform: str | None,
    dtype=jnp.float32,
    padding: Sequence[tuple[int, int]] = ((0, 0), (0, 0)),
) -> str:
    """The implementation ``'auto'`` uses for this conv compiled for ``platform``: XLA's unless
    ``'cpu'``, else ``'onednn'`` where it applies and loads, else :func:`select_xla_path`."""
    if platform != "cpu":
        return "xla"
    if onednn_applies(dtype, dtype, padding) and onednn_available():
        return "onednn"
    return select_xla_path(x_shape, kernel_shape, strides=strides, groups=groups)


def select_xla_path(x_shape: Sequence[int], kernel_shape: Sequence[int], *, strides: Sequence[int], groups: int) -> str:
    """The fastest XLA-based CPU path for these shapes (where oneDNN is not used); see the module
    docstring for the rule and the measurements behind it."""
    in_channels = x_shape[-1]
    if groups == in_channels:
        return "depthwise_shift"
    if groups > 1:
        return "grouped_split"
    if tuple(kernel_shape[:2]) == (1, 1) or has_fast_strided_input_gradient(kernel_shape, strides):
        return "chunked_wgrad"
    return "chunked_wgrad" if weight_gradient_chunks(x_shape, kernel_shape, strides) > 1 else "xla"


def weight_gradient_chunks(x_shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int]) -> int:
    """Batch chunks of a ``kh x kw`` conv's weight gradient under ``'chunked_wgrad'``: :data:`WGRAD_CHUNKS`
    when the batch fills them with :data:`MIN_CHUNK_IMAGES` images each, the output map has at least
    :data:`MIN_CHUNKED_OUTPUT_PIXELS` pixels and ``C_in * features <= MAX_CHUNKED_WEIGHTS``; else 1."""
    out_pixels = math.ceil(x_shape[1] / strides[0]) * math.ceil(x_shape[2] / strides[1])
    chunk = (
        x_shape[0] >= MIN_CHUNK_IMAGES * WGRAD_CHUNKS
        and out_pixels >= MIN_CHUNKED_OUTPUT_PIXELS
        and x_shape[-1] * kernel_shape[-1] <= MAX_CHUNKED_WEIGHTS
    )
    return WGRAD_CHUNKS if chunk else 1


def resolve_implementation(
    implementation: str,
    x_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    strides: Sequence[int],
    groups: int,
    platform: str | None,
    dtype=jnp.float32,
    padding: Sequence[tuple[int, int]] = ((0, 0), (0, 0)),
) -> str:
    """The concrete implementation ``conv2d`` runs for ``platform``: ``'auto'`` becomes
    :func:`select_implementation`'s; one that does not apply to ``groups``, ``dtype`` or ``padding``,
    or ``'onednn'`` where it cannot load, raises ``ValueError``."""
    _check_name(implementation)
    if implementation == "auto":
        implementation = select_implementation(
            x_shape, kernel_shape, strides=strides, groups=groups, platform=platform, dtype=dtype, padding=padding
        )
    if implementation == "onednn":
        if not onednn_applies(dtype, dtype, padding):
            raise ValueError(
                f"conv implementation 'onednn' needs {REQUIREMENT}, got {jnp.dtype(dtype)}, padding {tuple(padding)}"
            )
        if not onednn_available():
            raise ValueError(f"conv implementation 'onednn' is unavailable: {unavailable_reason()}")
    in_channels = x_shape[-1]
    valid = {
        "xla": True,
        "onednn": True,
        "chunked_wgrad": groups == 1,
        "depthwise_shift": groups == in_channels,
        "grouped_split": groups > 1,
    }
    if not valid[implementation]:
        raise ValueError(
            f"conv implementation {implementation!r} does not apply to groups={groups} with {in_channels} input "
            "channels ('chunked_wgrad' needs groups=1, 'depthwise_shift' groups=C_in, 'grouped_split' groups>1)"
        )
    return implementation


def conv2d(
    x,
    kernel,
    *,
    strides: Sequence[int] = (1, 1),
    padding: Sequence[tuple[int, int]] = ((0, 0), (0, 0)),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
    implementation: str = "auto",
):
    """2-D conv of NHWC ``x`` with an HWIO ``kernel`` ``(kh, kw, C_in // groups, features)``; equals
    ``lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=dilation,
    feature_group_count=groups)``.  ``implementation``: one of :data:`IMPLEMENTATIONS`; ``'auto'``
    follows the current :func:`~cnnjax.layers.conv_target.conv_target`; an implementation that does
    not apply to the shape raises ``ValueError``."""
    strides, dilation = tuple(strides), tuple(dilation)
    padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    target = current_target()
    implementation = target.implementation if implementation == "auto" else implementation
    implementation = resolve_implementation(
        implementation,
        x.shape,
        kernel.shape,
        strides=strides,
        groups=groups,
        platform=target.platform,
        dtype=x.dtype,
        padding=padding,
    )
    if implementation == "onednn":
        return onednn_conv(x, kernel, strides=strides, padding=padding, dilation=dilation, groups=groups)
    if implementation == "chunked_wgrad":
        chunks = weight_gradient_chunks(x.shape, kernel.shape, strides)
        return chunked_wgrad_conv(x, kernel, strides, padding, dilation, chunks)
    if implementation == "depthwise_shift":
        return depthwise_shift_conv(x, kernel, strides=strides, padding=padding, dilation=dilation)
    if implementation == "grouped_split":
        return grouped_split_conv(x, kernel, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return lax.conv_general_dilated(
        x,
        kernel,
        strides,
        padding,
        rhs_dilation=dilation,
        feature_group_count=groups,
        dimension_numbers=DIMENSION_NUMBERS,
    )
