"""Whether a pytree holds only finite numbers: the rule that only finite states are saved, and the test the
train step flags non-finite steps with (`cnnjax.train.divergence`)."""

import jax
import jax.numpy as jnp


def all_finite(tree) -> jax.Array:
    """A bool array: every floating-point leaf of `tree` is finite (traceable; no leaves: True)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
