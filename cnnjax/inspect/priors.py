"""Image priors of an ascent in pixel space: penalties, jitter and blur, all in [0, 1] pixel units.

Penalty (per image, subtracted from the objective): ``l1 · mean|x| + l2 · mean(x²) + tv · (mean(Δ_row x)² +
mean(Δ_col x)²)``, means over every pixel and channel, Δ the difference of neighbouring pixels.  0 is black,
so the L1 and L2 priors favour dark, sparse images.  Jitter: each step sees the image rolled (wrapping
around) by an integer shift drawn uniformly in [-jitter, jitter] per axis and per image, so no single
pixel grid is optimised (Mordvintsev et al., 2015).  Blur: every ``blur_every`` steps the image is
convolved with a Gaussian of std ``blur`` pixels (edges repeated), damping high frequencies (Yosinski et
al., 2015).  The default is no prior at all.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

BLUR_RADIUS_SIGMAS = 2  # the Gaussian is cut at ± this many standard deviations


@dataclasses.dataclass(frozen=True)
class Priors:
    """Weights and settings of the module docstring's priors (0: off)."""

    l1: float = 0.0
    l2: float = 0.0
    tv: float = 0.0
    jitter: int = 0
    blur: float = 0.0
    blur_every: int = 4

    def penalty(self, pixels: jax.Array) -> jax.Array:
        """(N,) penalties of images (N, H, W, C)."""
        axes = (1, 2, 3)
        total = self.l1 * jnp.abs(pixels).mean(axes) + self.l2 * jnp.square(pixels).mean(axes)
        if self.tv:
            rows = jnp.square(jnp.diff(pixels, axis=1)).mean(axes)
            cols = jnp.square(jnp.diff(pixels, axis=2)).mean(axes)
            total = total + self.tv * (rows + cols)
        return total

    def jittered(self, pixels: jax.Array, key: jax.Array) -> jax.Array:
        """The images rolled by their random shifts (the identity without jitter)."""
        if not self.jitter:
            return pixels
        shifts = jax.random.randint(key, (pixels.shape[0], 2), -self.jitter, self.jitter + 1)
        return jax.vmap(lambda image, shift: jnp.roll(image, shift, axis=(0, 1)))(pixels, shifts)

    def blurred(self, pixels: jax.Array, step: jax.Array) -> jax.Array:
        """The images blurred when ``step + 1`` is a multiple of ``blur_every``, else unchanged."""
        if not self.blur:
            return pixels
        blur_now = (step + 1) % self.blur_every == 0
        return jax.lax.cond(blur_now, lambda x: gaussian_blur(x, self.blur), lambda x: x, pixels)


def gaussian_blur(pixels: jax.Array, sigma: float) -> jax.Array:
    """Images (N, H, W, C) convolved with a Gaussian of std ``sigma`` pixels along rows then columns, edges
    repeated."""
    radius = max(1, math.ceil(BLUR_RADIUS_SIGMAS * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = jnp.pad(pixels, pad, mode="edge")
        size = pixels.shape[axis]
        pixels = sum(w * jax.lax.slice_in_dim(padded, k, k + size, axis=axis) for k, w in enumerate(taps))
    return pixels
