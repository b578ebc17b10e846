"""Saliency maps: which pixels a class's score depends on.  Every map is (N, H, W), ≥ 0, at the image's size.

The score of class c: its logit for a classifier; for a segmentation model the mean of its per-pixel logit
over the pixels the model assigns to c on the unperturbed image (over all pixels when it assigns none),
as in Seg-Grad-CAM (Vinogradova et al., 2020).
- ``vanilla`` (Simonyan et al., 2014): max over channels of |∂score/∂pixels|.
- ``smoothgrad`` (Smilkov et al., 2017): max over channels of |mean of ∂score/∂pixels| over ``samples``
  copies of the image plus Gaussian noise of std ``noise`` pixel units (default 0.15: 15 % of the range).
- ``gradcam`` (Selvaraju et al., 2017) at a layer with a spatial map A (N, h, w, K) (a module's output,
  see :mod:`~cnnjax.inspect.layers`): weights α_k = mean over positions of ∂score/∂A_k, map =
  ReLU(Σ_k α_k A_k), resized bilinearly to (H, W).
Example i's map is for class ``classes[i]``; maps for several classes of one image: repeat the image.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnjax.inspect.layers import LOGITS, PixelModel, features_names, layer_shapes

METHODS = ("vanilla", "smoothgrad", "gradcam")
SMOOTHGRAD_SAMPLES, SMOOTHGRAD_NOISE = 16, 0.15


def default_gradcam_layer(net: PixelModel, image_shape) -> str:
    """The last module output with a spatial map (N, h, w, K) before the module that gives the logits."""
    read_only = {*features_names(net, image_shape), LOGITS}
    modules = [(name, shape) for name, shape in layer_shapes(net, image_shape).items() if name not in read_only]
    spatial = [name for name, shape in modules[:-1] if len(shape.shape) == 4]
    return spatial[-1] if spatial else LOGITS


def class_scores(logits: jax.Array, classes: jax.Array) -> jax.Array:
    """(N,) scores of ``classes`` (module docstring) from logits (N, K) or (N, H, W, K)."""
    picked = jnp.take_along_axis(logits, jnp.reshape(classes, (-1,) + (1,) * (logits.ndim - 1)), -1)[..., 0]
    if picked.ndim == 1:
        return picked
    region = jax.lax.stop_gradient(jnp.argmax(logits, -1) == classes[:, None, None])
    region = jnp.where(region.any(axis=(1, 2), keepdims=True), region, True)
    return (picked * region).sum(axis=(1, 2)) / region.sum(axis=(1, 2))


def vanilla(net: PixelModel, pixels, classes) -> np.ndarray:
    return np.asarray(_vanilla(net, jnp.asarray(pixels, jnp.float32), jnp.asarray(classes, jnp.int32)))


def smoothgrad(
    net: PixelModel, pixels, classes, samples: int = SMOOTHGRAD_SAMPLES, noise: float = SMOOTHGRAD_NOISE, seed: int = 0
) -> np.ndarray:
    args = (jnp.asarray(pixels, jnp.float32), jnp.asarray(classes, jnp.int32), jax.random.key(seed), noise)
    return np.asarray(_smoothgrad(net, *args, samples=samples))


def gradcam(net: PixelModel, pixels, classes, layer: str) -> np.ndarray:
    return np.asarray(_gradcam(net, jnp.asarray(pixels, jnp.float32), jnp.asarray(classes, jnp.int32), layer=layer))


def _pixel_gradients(net, pixels, classes):
    return jax.grad(lambda x: class_scores(net.logits(x), classes).sum())(pixels)


@jax.jit
def _vanilla(net, pixels, classes):
    return jnp.abs(_pixel_gradients(net, pixels, classes)).max(-1)


@functools.partial(jax.jit, static_argnames=("samples",))
def _smoothgrad(net, pixels, classes, key, noise, samples):
    def add_sample(total, sample_key):
        noisy = pixels + noise * jax.random.normal(sample_key, pixels.shape)
        return total + _pixel_gradients(net, noisy, classes), None

    total, _ = jax.lax.scan(add_sample, jnp.zeros_like(pixels), jax.random.split(key, samples))
    return jnp.abs(total / samples).max(-1)


@functools.partial(jax.jit, static_argnames=("layer",))
def _gradcam(net, pixels, classes, layer):
    if layer == LOGITS:
        activation = net.logits(pixels)
        gradients = jax.grad(lambda a: class_scores(a, classes).sum())(activation)
    else:
        shape = jax.eval_shape(lambda x: net.apply(x, read=(layer,))[1][layer], pixels).shape

        def score(added):
            logits, acts = net.apply(pixels, read=(layer,), add={layer: added})
            return class_scores(logits, classes).sum(), acts[layer]

        gradients, activation = jax.grad(score, has_aux=True)(jnp.zeros(shape, jnp.float32))
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    cam = jax.nn.relu((weights * activation).sum(-1))
    return jax.image.resize(cam, (cam.shape[0], *pixels.shape[1:3]), "bilinear")


def mass_inside(maps, masks) -> np.ndarray:
    """(N,) fraction of each map's total inside its mask (N, H, W) bool; a uniform map's is the mask's area
    fraction ``masks.mean((1, 2))``."""
    maps, masks = np.asarray(maps, np.float64), np.asarray(masks, bool)
    return (maps * masks).sum((1, 2)) / np.maximum(maps.sum((1, 2)), np.finfo(np.float64).tiny)
