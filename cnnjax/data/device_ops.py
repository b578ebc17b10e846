"""Batch image ops in jax.numpy for `on_device`: traced inside the jitted per-device step.

Every function takes a batch (N, H, W, C) and per-example decisions drawn on the host, so the device
applies exactly the augmentation the host's rng chose.
"""

import jax
import jax.numpy as jnp
import numpy as np

PAD_MODES = {"zeros": "constant", "reflect": "reflect"}  # config name -> jnp.pad mode


def unit_range(images) -> jax.Array:
    """uint8 pixels -> float32 in [0, 1]."""
    return jnp.asarray(images).astype(jnp.float32) / 255.0


def normalize(images, mean, std) -> jax.Array:
    """(x - mean) / std per channel; `mean` may also be a per-pixel mean image (H, W, C)."""
    return (images - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def pad_crop(images, offsets, pad: int, mode: str) -> jax.Array:
    """Pads `pad` pixels on every side (zeros, or 'reflect'ions without repeating the edge), then crops
    each image's original size at its (top, left) offset in the padded image, `offsets` int (N, 2)."""
    _, height, width, channels = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=PAD_MODES[mode])

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))

    return jax.vmap(crop)(padded, jnp.asarray(offsets, jnp.int32))


def hflip(images, flips) -> jax.Array:
    """Mirrors left-right the images whose `flips` (bool (N,)) is set."""
    return jnp.where(jnp.asarray(flips)[:, None, None, None], images[:, :, ::-1], images)


def zero_outside(images, boxes) -> jax.Array:
    """Sets to 0 every pixel outside each image's box (top, bottom, left, right), `boxes` int (N, 4)."""
    _, height, width, _ = images.shape
    boxes = jnp.asarray(boxes, jnp.int32)
    rows = jnp.arange(height)[None, :, None]
    cols = jnp.arange(width)[None, None, :]
    inside = (
        (rows >= boxes[:, 0, None, None])
        & (rows < boxes[:, 1, None, None])
        & (cols >= boxes[:, 2, None, None])
        & (cols < boxes[:, 3, None, None])
    )
    return jnp.where(inside[..., None], images, np.float32(0))
