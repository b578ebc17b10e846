"""Activation maximisation: the image that most excites a channel, a neuron or a class, by gradient ascent in
input space (Erhan et al., 2009; Simonyan et al., 2014).

Many targets at once: image i ascends target ``channels[i]`` of one :class:`~cnnjax.inspect.objectives.Objective`;
the batch is one forward pass and, the examples being independent in inference mode, each image follows the
gradient of its own objective (what ``vmap`` over targets computes).  Each of ``steps`` Adam steps (learning
rate in pixel units) maximises ``objective - penalty`` (:class:`~cnnjax.inspect.priors.Priors`) on the
jittered image, then clips the pixels to [0, 1] and blurs on the blur steps.  The start is the given images,
or noise: ``NOISE_MEAN`` ± uniform ``NOISE_HALF_WIDTH`` per pixel, drawn from ``seed``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.inspect.layers import LOGITS, PixelModel
from cnnjax.inspect.objectives import Objective
from cnnjax.inspect.priors import Priors

NOISE_MEAN, NOISE_HALF_WIDTH = 0.5, 0.1
SPARSE_LEVEL = 0.1  # a pixel value above this counts as lit in `pixel_statistics`


@dataclasses.dataclass(frozen=True)
class Ascent:
    """Adam's ``steps`` and ``learning_rate`` (pixel units per step, roughly)."""

    steps: int = 200
    learning_rate: float = 0.05


DEFAULT_ASCENT = Ascent()
NO_PRIORS = Priors()
CLASS_LOGIT = Objective()


@dataclasses.dataclass(frozen=True)
class Maximized:
    """The images (N, H, W, C) in [0, 1], their objective values (N,) and the model's logits on them."""

    pixels: np.ndarray
    scores: np.ndarray
    logits: np.ndarray


def pixel_statistics(pixels: np.ndarray) -> dict[str, float]:
    """Of images (N, H, W, C) in [0, 1]: the mean pixel value, the fraction of values above ``SPARSE_LEVEL``
    ('above') and the L1 norm Σ|x| per image, averaged over images ('l1')."""
    pixels = np.asarray(pixels, np.float64)
    return {
        "mean": float(pixels.mean()),
        "above": float((pixels > SPARSE_LEVEL).mean()),
        "l1": float(np.abs(pixels).sum(axis=(1, 2, 3)).mean()),
    }


def noise(count: int, image_shape, seed: int = 0, low: float | None = None, high: float | None = None) -> jax.Array:
    """(count, H, W, C) uniform noise in [low, high], by default the module docstring's start."""
    low = NOISE_MEAN - NOISE_HALF_WIDTH if low is None else low
    high = NOISE_MEAN + NOISE_HALF_WIDTH if high is None else high
    return jax.random.uniform(jax.random.key(seed), (count, *image_shape), jnp.float32, low, high)


def maximize(
    net: PixelModel,
    channels,
    objective: Objective = CLASS_LOGIT,
    *,
    start=None,
    image_shape=None,
    priors: Priors = NO_PRIORS,
    ascent: Ascent = DEFAULT_ASCENT,
    seed: int = 0,
) -> Maximized:
    """Image i maximises ``objective`` at ``channels[i]`` (module docstring), from ``start`` (N, H, W, C) or
    from noise of ``image_shape``."""
    channels = jnp.asarray(channels, jnp.int32).reshape(-1)
    if start is None:
        start = noise(len(channels), image_shape, seed)
    pixels, scores, logits = _ascend(
        net, jnp.asarray(start, jnp.float32), channels, jax.random.key(seed + 1), objective, priors, ascent
    )
    return Maximized(np.asarray(pixels), np.asarray(scores), np.asarray(logits))


@functools.partial(jax.jit, static_argnames=("objective", "priors", "ascent"))
def _ascend(net, pixels, channels, key, objective: Objective, priors: Priors, ascent: Ascent):
    optimizer = optax.adam(ascent.learning_rate)

    def loss(x, step_key):
        _, acts = net.apply(priors.jittered(x, step_key), read=(objective.layer,))
        return jnp.sum(priors.penalty(x) - objective.score(acts[objective.layer], channels))

    def step(carry, index):
        x, state, key = carry
        key, step_key = jax.random.split(key)
        updates, state = optimizer.update(jax.grad(loss)(x, step_key), state, x)
        x = priors.blurred(jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0), index)
        return (x, state, key), None

    (pixels, _, _), _ = jax.lax.scan(step, (pixels, optimizer.init(pixels), key), jnp.arange(ascent.steps))
    logits, acts = net.apply(pixels, read=(objective.layer, LOGITS))
    return pixels, objective.score(acts[objective.layer], channels), logits
