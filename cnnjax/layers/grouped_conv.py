"""Grouped 2-D conv as split -> one conv per group -> concat (XLA:CPU's grouped conv is ~50x slower)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def grouped_split_conv(
    x, kernel, *, strides: Sequence[int], padding: Sequence[tuple[int, int]], dilation: Sequence[int], groups: int
):
    """Equals ``lax.conv_general_dilated(..., feature_group_count=groups)`` for NHWC ``x`` and an
    HWIO ``kernel`` of shape ``(kh, kw, C_in // groups, features)``; output group ``g`` (features
    ``g * features // groups`` onwards) sees input channels ``g * C_in // groups`` onwards."""
    xs = jnp.split(x, groups, axis=-1)
    ks = jnp.split(kernel, groups, axis=-1)
    outs = [
        lax.conv_general_dilated(
            xg, kg, tuple(strides), tuple(padding), rhs_dilation=tuple(dilation), dimension_numbers=DIMENSION_NUMBERS
        )
        for xg, kg in zip(xs, ks)
    ]
    return jnp.concatenate(outs, axis=-1)
