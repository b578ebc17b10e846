"""Fooling a classifier: targeted perturbations within an L∞ budget, and confident images grown from noise.

Targeted attacks lower the cross-entropy of the chosen class, in [0, 1] pixel units of the image the model
is fed, every iterate kept in the ball ``|x' - x|∞ ≤ epsilon`` and in [0, 1]:
- ``fgsm`` (Goodfellow et al., 2015): one step ``x' = x - epsilon · sign(∇ CE)``.
- ``pgd`` (Madry et al., 2018): a uniform random start in the ball (or a given ``start``, projected onto it: a
  warm start from another attack, e.g. one at a larger budget), then ``steps`` steps of size ``step_size``
  (default ``PGD_STEP_FACTOR · epsilon / steps``), each projected back onto the ball and [0, 1].
  ``targeted=False``: the steps raise the cross-entropy of the given (true) classes instead, so any other
  answer succeeds.
Fooling images (Nguyen et al., 2015): images of uniform noise in [0, 1] ascended on the class's
log-probability, without priors, until the model is confident; they look like nothing to a person.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.inspect.layers import PixelModel
from cnnjax.inspect.maximize import DEFAULT_ASCENT, Ascent, Maximized, maximize, noise
from cnnjax.inspect.objectives import Objective

ATTACKS = ("pgd", "fgsm")  # the first is `cnnjax visualize adversarial`'s default
EPSILON = 0.1  # the default L∞ budget, in [0, 1] pixel units
PGD_STEPS = 20
PGD_STEP_FACTOR = 2.5  # Madry et al.: step size 2.5 · epsilon / steps


def fgsm(net: PixelModel, pixels, targets, epsilon: float) -> np.ndarray:
    """The one-step targeted attack (module docstring) on images (N, H, W, C) towards ``targets`` (N,)."""
    pixels = jnp.asarray(pixels, jnp.float32)
    step = -epsilon * jnp.sign(_gradients(net, pixels, jnp.asarray(targets, jnp.int32)))
    return np.asarray(jnp.clip(pixels + step, 0.0, 1.0))


def pgd(
    net: PixelModel,
    pixels,
    targets,
    epsilon: float,
    *,
    steps: int = PGD_STEPS,
    step_size: float | None = None,
    targeted: bool = True,
    seed: int = 0,
    start=None,
) -> np.ndarray:
    """Projected gradient descent on the cross-entropy of ``targets`` (module docstring); ``start`` (images like
    ``pixels``) replaces the random start."""
    step_size = PGD_STEP_FACTOR * epsilon / steps if step_size is None else step_size
    signed_step = -step_size if targeted else step_size
    pixels = jnp.asarray(pixels, jnp.float32)
    if start is None:
        start = pixels + jax.random.uniform(jax.random.key(seed), pixels.shape, jnp.float32, -epsilon, epsilon)
    args = (pixels, jnp.asarray(targets, jnp.int32), jnp.asarray(start, jnp.float32))
    return np.asarray(_pgd(net, *args, epsilon, signed_step, steps=steps))


def fooling_images(
    net: PixelModel, classes, image_shape, *, ascent: Ascent = DEFAULT_ASCENT, seed: int = 0
) -> Maximized:
    """Image i: uniform noise in [0, 1] ascended on class ``classes[i]``'s log-probability (module docstring)."""
    start = noise(len(classes), image_shape, seed, low=0.0, high=1.0)
    return maximize(net, classes, Objective(log_probability=True), start=start, ascent=ascent, seed=seed)


def _cross_entropy(net, pixels, targets):
    return optax.softmax_cross_entropy_with_integer_labels(net.logits(pixels), targets).sum()


@jax.jit
def _gradients(net, pixels, targets):
    return jax.grad(_cross_entropy, argnums=1)(net, pixels, targets)


@functools.partial(jax.jit, static_argnames=("steps",))
def _pgd(net, pixels, targets, start, epsilon, signed_step, steps):
    def project(x):
        return jnp.clip(jnp.clip(x, pixels - epsilon, pixels + epsilon), 0.0, 1.0)

    def step(x, _):
        gradient = jax.grad(_cross_entropy, argnums=1)(net, x, targets)
        return project(x + signed_step * jnp.sign(gradient)), None

    adversarial, _ = jax.lax.scan(step, project(start), None, length=steps)
    return adversarial
