"""Drop-path / stochastic depth (Huang et al., 2016): drop a residual branch per example."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class DropPath(nn.Module):
    """Zeroes the whole input of an example with probability ``rate`` and scales the kept ones by
    ``1 / (1 - rate)`` (timm's ``drop_path``, torchvision's ``StochasticDepth(mode='row')``), so the
    expectation is unchanged and evaluation is the identity.  Apply it to a residual branch before
    the sum.  Draws from the ``'dropout'`` RNG stream, like ``nn.Dropout``.
    """

    rate: float
    deterministic: bool | None = None

    @nn.compact
    def __call__(self, x, deterministic: bool | None = None):
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {self.rate}")
        deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
        if deterministic or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
        return jnp.where(mask, x / keep, jnp.zeros_like(x))
