"""Trace-time validation of image batches, so a wrong input fails with a clear message."""

from __future__ import annotations

import jax.numpy as jnp

from cnnjax.errors import InvalidInputError


def check_image_batch(x, *, in_channels: int, min_size: int, model_name: str) -> None:
    """Raise :class:`~cnnjax.errors.InvalidInputError` (a ``ValueError``) unless ``x`` is a floating
    NHWC batch with ``in_channels`` channels and
    height and width >= ``min_size``.  Uses only shape and dtype, so it runs before compilation."""
    shape = tuple(x.shape)
    if len(shape) != 4:
        raise InvalidInputError(
            f"{model_name} expects NHWC images of shape (batch, height, width, "
            f"{in_channels}), got shape {shape} (rank {len(shape)})"
        )
    _, height, width, channels = shape
    if channels != in_channels:
        raise InvalidInputError(
            f"{model_name} expects {in_channels} input channels (NHWC, channels "
            f"last), got shape {shape} with {channels}; set in_channels={channels} "
            "or check the layout"
        )
    if height < min_size or width < min_size:
        raise InvalidInputError(
            f"{model_name} needs height and width >= {min_size}, got {height}x{width} (shape {shape})"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InvalidInputError(
            f"{model_name} expects floating-point images, got dtype {x.dtype}; "
            "convert and normalise them first, e.g. x.astype(jnp.float32) / 255"
        )
