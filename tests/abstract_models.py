"""Models' variables by abstract evaluation (`jax.eval_shape`: traced, never compiled), and parameter counts."""

import functools

import jax
import jax.numpy as jnp

from cnnjax.models import create_model

# rbg keys: with jax's default partitionable threefry, compiling an init takes seconds longer.
KEY = jax.random.key(0, impl="rbg")


@functools.cache
def abstract_variables(name, size=224, num_classes=1000, **overrides):
    """The registered model's variables for a (2, size, size, 3) batch, as ShapeDtypeStructs."""
    model = create_model(name, num_classes=num_classes, **overrides)
    return jax.eval_shape(model.init, KEY, jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32))


def count_params(tree) -> int:
    """Number of scalars in a tree of arrays (e.g. ``variables['params']``)."""
    return sum(leaf.size for leaf in jax.tree.leaves(tree))
