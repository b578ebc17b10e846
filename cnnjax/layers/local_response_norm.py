"""Local response normalisation across channels (Krizhevsky et al., 2012)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def local_response_norm(
    x, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, *, alpha_over_size: bool = True
):
    """``x_c / (k + a * sum_{c'} x_{c'}^2) ** beta`` over the channels ``c - size // 2 ..
    c + (size - 1) // 2`` (clipped at the edges) of a channels-last ``x``.

    ``alpha_over_size=True`` uses ``a = alpha / size``, as PyTorch's ``LocalResponseNorm`` and
    Caffe's LRN (whose ``k`` defaults to 1); ``False`` uses ``a = alpha`` as the AlexNet paper's
    formula, where ``k=2, size=5, alpha=1e-4, beta=0.75``.  So the paper's layer is
    ``local_response_norm(x, alpha_over_size=False)`` and PyTorch's default
    ``local_response_norm(x, alpha=1e-4, k=1.0)``.  Computed in at least float32; no parameters.
    """
    if size < 1:
        raise ValueError(f"local_response_norm size must be >= 1, got {size}")
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    window = (1,) * (x.ndim - 1) + (size,)
    pads = ((0, 0),) * (x.ndim - 1) + ((size // 2, (size - 1) // 2),)
    sums = lax.reduce_window(xf * xf, 0.0, lax.add, window, (1,) * x.ndim, pads)
    scale = alpha / size if alpha_over_size else alpha
    return (xf / (k + scale * sums) ** beta).astype(x.dtype)
