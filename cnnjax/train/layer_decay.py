"""Layer-wise learning-rate decay (``config.optimizer.layer_decay``, as BEiT / timm's ``layer_decay``).

Layers are the model's top-level modules in the order a forward pass first calls them (a segmenter's
``backbone`` counts each of its own top-level modules, then the heads follow); the last layer learns at the
rate, the one k before it at ``layer_decay**k`` × the rate.  The scale multiplies the optimizer's updates,
which for SGD (with momentum), RMSProp and AdamW (decoupled decay included) is scaling the rate.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

BACKBONE = "backbone"


def layer_order(model: nn.Module, image_shape: tuple[int, int, int]) -> list[str]:
    """The model's layers (module docstring) in call order, traced abstractly (nothing is compiled)."""
    order: list[str] = []

    def intercept(next_fun, args, kwargs, context):
        path = context.module.path
        layer = "/".join(path[:2] if path[:1] == (BACKBONE,) else path[:1])
        if path and layer not in order and not (layer == BACKBONE and len(path) == 1):
            order.append(layer)
        return next_fun(*args, **kwargs)

    def init():
        with nn.intercept_methods(intercept):
            return model.init(jax.random.key(0), jnp.zeros((1, *image_shape), jnp.float32), train=False)

    params = jax.eval_shape(init)["params"]
    return [layer for layer in order if _owns_params(params, layer)]


def _owns_params(params, layer: str) -> bool:
    node = params
    for name in layer.split("/"):
        if name not in node:
            return False
        node = node[name]
    return True


def layer_scales(order: list[str], decay: float) -> dict[str, float]:
    """``{layer: decay**k}``, k the layer's distance from the last."""
    return {layer: decay ** (len(order) - 1 - i) for i, layer in enumerate(order)}


def decay_by_layer(tx: optax.GradientTransformation, order: list[str], decay: float) -> optax.GradientTransformation:
    """``tx`` with each layer's updates scaled by :func:`layer_scales`."""
    if decay == 1.0:
        return tx
    scales = layer_scales(order, decay)

    def label(params):
        return jax.tree_util.tree_map_with_path(lambda path, _: _layer_of(path, scales), params)

    scaling = optax.multi_transform({layer: optax.scale(s) for layer, s in scales.items()}, label)
    return optax.chain(tx, scaling)


def _layer_of(path, scales: dict[str, float]) -> str:
    names = [str(k.key) for k in path]
    layer = "/".join(names[:2] if names[:1] == [BACKBONE] else names[:1])
    if layer not in scales:
        raise ValueError(f"parameter {'/'.join(names)} belongs to no layer of {sorted(scales)}")
    return layer
