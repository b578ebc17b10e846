"""Deep Dream (Mordvintsev, Olah & Tyka, 2015): amplify whatever a layer sees in an image.

Objective: the mean of the layer's squared activation (its L2 norm², per element).  Octaves, coarse to fine:
the image is resized (bilinear) to ``octave_scale**-k`` of its size for k = octaves-1 .. 0; at each octave the
detail dreamt so far is resized to it and added to the image at that size, ``steps`` normalised ascent
steps ``x += learning_rate · g / mean|g|`` follow on the jittered image (Priors' jitter, pixels clipped to
[0, 1]), and the detail becomes the result minus the octave's image.  The last octave is the full size, so
the result is the image plus the dreamt detail.  Octaves need a model that takes other input sizes and a
per-channel normalisation; each octave's size compiles once.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.errors import InvalidInputError
from cnnjax.inspect.layers import PixelModel
from cnnjax.inspect.priors import Priors

GRADIENT_FLOOR = 1e-8  # keeps the normalised step finite where the gradient vanishes


@dataclasses.dataclass(frozen=True)
class Dream:
    """Settings of the module docstring's algorithm."""

    layer: str
    octaves: int = 3
    octave_scale: float = 1.4
    steps: int = 20
    learning_rate: float = 0.01
    jitter: int = 2


def octave_sizes(dream: Dream, size: tuple[int, int]) -> list[tuple[int, int]]:
    """The (H, W) of each octave, smallest first, the last ``size`` itself."""
    return [tuple(max(1, round(n / dream.octave_scale**k)) for n in size) for k in range(dream.octaves - 1, -1, -1)]


def check_octaves(net: PixelModel, dream: Dream, image_shape) -> None:
    """Raises ``InvalidInputError`` unless the model takes every octave's size (traced, not compiled)."""
    for height, width in octave_sizes(dream, tuple(image_shape[:2]))[:-1]:
        pixels = jax.ShapeDtypeStruct((1, height, width, image_shape[-1]), jnp.float32)
        try:
            jax.eval_shape(lambda n, x: n.apply(x, read=(dream.layer,)), net, pixels)
        except (ValueError, TypeError) as error:
            raise InvalidInputError(
                f"octave {height}x{width}: {str(error).splitlines()[0]}; this model needs one octave (octaves=1)"
            ) from None


def deep_dream(net: PixelModel, pixels, dream: Dream, seed: int = 0) -> np.ndarray:
    """Images (N, H, W, C) in [0, 1] dreamt (module docstring)."""
    base = jnp.asarray(pixels, jnp.float32)
    count, channels = base.shape[0], base.shape[-1]
    detail = None
    key = jax.random.key(seed)
    for height, width in octave_sizes(dream, base.shape[1:3]):
        image = jax.image.resize(base, (count, height, width, channels), "bilinear")
        detail = jnp.zeros_like(image) if detail is None else jax.image.resize(detail, image.shape, "bilinear")
        key, octave_key = jax.random.split(key)
        dreamt = _ascend(net, jnp.clip(image + detail, 0.0, 1.0), octave_key, dream)
        detail = dreamt - image
    return np.asarray(dreamt)


@functools.partial(jax.jit, static_argnames=("dream",))
def _ascend(net, pixels, key, dream: Dream):
    priors = Priors(jitter=dream.jitter)

    def objective(x, step_key):
        _, acts = net.apply(priors.jittered(x, step_key), read=(dream.layer,))
        return jnp.square(acts[dream.layer]).mean()

    def step(x, step_key):
        gradient = jax.grad(objective)(x, step_key)
        scale = jnp.abs(gradient).mean(axis=(1, 2, 3), keepdims=True) + GRADIENT_FLOOR
        return jnp.clip(x + dream.learning_rate * gradient / scale, 0.0, 1.0), None

    dreamt, _ = jax.lax.scan(step, pixels, jax.random.split(key, dream.steps))
    return dreamt
