"""Squeeze-and-excitation (Hu et al., 2018): channel gates from globally pooled features."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.layers.pooling import global_avg_pool


class SqueezeExcitation(nn.Module):
    """``x * gate(fc2(act(fc1(mean_hw(x)))))``: ``fc1`` maps C to ``squeeze_features``, ``fc2``
    back to C, both dense with bias (torchvision's 1x1 convs on the pooled map, same parameters).

    ``squeeze_features`` is explicit because papers differ: SE-ResNet uses ``C // 16`` of the
    block's output, EfficientNet ``C_in // 4`` of the block's *input* with SiLU.  Parameters
    ``fc1`` / ``fc2``; ``activation`` ReLU and ``gate`` sigmoid by default.
    """

    squeeze_features: int
    activation: Callable = nn.relu
    gate: Callable = nn.sigmoid
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
        s = global_avg_pool(x, keepdims=True)
        s = self.activation(dense(self.squeeze_features, name="fc1")(s))
        s = self.gate(dense(x.shape[-1], name="fc2")(s))
        return x * s.astype(x.dtype)
