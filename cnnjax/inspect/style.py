"""Neural style transfer (Gatys, Ecker & Bethge, 2016) on any model, through its layers' activations.

With F_l the activation (h, w, C) of layer l reshaped to (h·w, C), the Gram matrix is G_l = F_lᵀ F_l / (h·w)
(C, C): the channels' correlations averaged over positions.  For an image x, a content image c and a style
image s:

    content(x) = mean((F_L(x) - F_L(c))²)                     at the content layer L
    style(x)   = Σ_l mean((G_l(x) - G_l(s))²) / len(layers)   over the style layers
    loss(x)    = content_weight · content(x) + style_weight · style(x)

(means over elements, so the weights do not depend on the layers' sizes).  The image starts from the content
image and is optimised in pixel space by L-BFGS (optax, zoom line search; as the paper) without constraints,
then clipped to [0, 1]; or by Adam with the pixels clipped to [0, 1] after each step.  The paper uses VGG-19
(content ``stage4_conv2``, style ``stage1_conv1`` .. ``stage5_conv1`` in cnnjax's names: the conv outputs,
before their ReLU); any layers of any model work.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnjax.inspect.layers import PixelModel

OPTIMIZERS = ("lbfgs", "adam")
VGG19_CONTENT_LAYER = "stage4_conv2"
VGG19_STYLE_LAYERS = tuple(f"stage{stage}_conv1" for stage in range(1, 6))


@dataclasses.dataclass(frozen=True)
class Style:
    """The module docstring's layers, weights and optimiser (``learning_rate``: Adam's, in pixel units)."""

    content_layer: str = VGG19_CONTENT_LAYER
    style_layers: tuple[str, ...] = VGG19_STYLE_LAYERS
    content_weight: float = 1.0
    style_weight: float = 1e3
    optimizer: str = "lbfgs"
    steps: int = 100
    learning_rate: float = 0.02


@dataclasses.dataclass(frozen=True)
class Stylised:
    """The image (N, H, W, C) in [0, 1], and the content and style losses (N,) of the content image (where it
    starts) and of the result."""

    pixels: np.ndarray
    start_content: np.ndarray
    start_style: np.ndarray
    content: np.ndarray
    style: np.ndarray


def gram(activation: jax.Array) -> jax.Array:
    """(N, C, C) Gram matrices of activations (N, h, w, C) (module docstring)."""
    features = activation.reshape(activation.shape[0], -1, activation.shape[-1])
    return jnp.einsum("npc,npd->ncd", features, features) / features.shape[1]


def transfer(net: PixelModel, content, style_image, style: Style = Style()) -> Stylised:
    """``content`` (N, H, W, C) in the style of ``style_image`` (N or 1, H', W', C) (module docstring)."""
    content = jnp.asarray(content, jnp.float32)
    style_image = jnp.broadcast_to(jnp.asarray(style_image, jnp.float32), (content.shape[0], *style_image.shape[1:]))
    return Stylised(*(np.asarray(v) for v in _transfer(net, content, style_image, style)))


def _losses(net, style: Style, targets, x):
    """(content, style) losses (N,) of images ``x`` against ``targets`` = (content activation, style Grams)."""
    content_target, style_targets = targets
    _, acts = net.apply(x, read=(style.content_layer, *style.style_layers))
    axes = tuple(range(1, content_target.ndim))
    content_loss = jnp.square(acts[style.content_layer] - content_target).mean(axes)
    style_loss = sum(
        jnp.square(gram(acts[layer]) - target).mean((1, 2)) for layer, target in zip(style.style_layers, style_targets)
    ) / len(style.style_layers)
    return content_loss, style_loss


@functools.partial(jax.jit, static_argnames=("style",))
def _transfer(net, content, style_image, style: Style):
    _, content_acts = net.apply(content, read=(style.content_layer,))
    _, style_acts = net.apply(style_image, read=style.style_layers)
    targets = (content_acts[style.content_layer], tuple(gram(style_acts[layer]) for layer in style.style_layers))

    def loss(x):
        content_loss, style_loss = _losses(net, style, targets, x)
        return jnp.sum(style.content_weight * content_loss + style.style_weight * style_loss)

    if style.optimizer == "lbfgs":
        optimizer = optax.lbfgs()
        value_and_grad = optax.value_and_grad_from_state(loss)

        def step(carry, _):
            x, state = carry
            value, gradient = value_and_grad(x, state=state)
            updates, state = optimizer.update(gradient, state, x, value=value, grad=gradient, value_fn=loss)
            return (optax.apply_updates(x, updates), state), None
    else:
        optimizer = optax.adam(style.learning_rate)

        def step(carry, _):
            x, state = carry
            updates, state = optimizer.update(jax.grad(loss)(x), state, x)
            return (jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0), state), None

    (result, _), _ = jax.lax.scan(step, (content, optimizer.init(content)), None, length=style.steps)
    result = jnp.clip(result, 0.0, 1.0)
    return result, *_losses(net, style, targets, content), *_losses(net, style, targets, result)
