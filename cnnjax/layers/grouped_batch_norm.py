"""BatchNorm whose statistics come from groups of a fixed number of images, whatever the device count.

``GroupedBatchNorm(group_size=n, axis_name='data')`` in training normalises each image with the mean
and (biased) variance of its group of ``n`` consecutive images of the global batch:

- ``n`` divides the per-device batch: groups within each device ("ghost" BatchNorm);
- ``n = k x`` the per-device batch: one group per ``k`` consecutive devices along ``axis_name``
  (per-device sums all-gathered, then summed over the group: works under ``jax.pmap`` and under
  ``jax.shard_map``, which has no ``axis_index_groups``).

So one device with batch ``4n`` and four devices with batch ``n`` each see the same groups.  The
running statistics move towards the mean of all groups' batch statistics (averaged over
``axis_name`` too), so they are identical on every device, as PyTorch's per-GPU BatchNorm followed
by averaging the replicas' statistics.  Parameters and statistics are named as ``nn.BatchNorm``'s
(``scale``, ``bias``; ``mean``, ``var`` in float32); statistics are computed in at least float32.
At initialisation the whole local batch is one group and no collective runs; evaluation
(``use_running_average``) uses the running statistics.  Which group sizes fit a batch and a device
count: :func:`cnnjax.config.layout.check_group_size`.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype, Initializer
from jax import lax


class GroupedBatchNorm(nn.Module):
    """See the module docstring.  Fields as ``nn.BatchNorm``'s (feature axis last), plus ``group_size``."""

    group_size: int
    use_running_average: bool = False
    axis_name: str | None = None
    momentum: float = 0.99
    epsilon: float = 1e-5
    dtype: Dtype | None = None
    param_dtype: Dtype = jnp.float32
    use_bias: bool = True
    use_scale: bool = True
    bias_init: Initializer = nn.initializers.zeros
    scale_init: Initializer = nn.initializers.ones

    @nn.compact
    def __call__(self, x):
        features = (x.shape[-1],)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(features, jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones(features, jnp.float32))
        scale = self.param("scale", self.scale_init, features, self.param_dtype) if self.use_scale else None
        bias = self.param("bias", self.bias_init, features, self.param_dtype) if self.use_bias else None
        if self.use_running_average:
            return self._normalize(x, ra_mean.value, ra_var.value, scale, bias)
        x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        initializing = self.is_initializing()
        if initializing or x.shape[0] % self.group_size:
            groups = x32[None]  # (1, local batch, ..., C)
            sums = self._local_sums(groups) if initializing else self._cross_device_sums(x32)
        else:
            groups = x32.reshape(x.shape[0] // self.group_size, self.group_size, *x.shape[1:])
            sums = self._local_sums(groups)
        images = x.shape[0] if initializing else self.group_size
        count = images * math.prod(x.shape[1:-1])  # values per channel in a group
        mean = sums[0] / count  # (groups, C)
        var = jnp.maximum(sums[1] / count - mean**2, 0.0)
        if not initializing:
            batch_mean, batch_var = mean.mean(0), var.mean(0)
            if self.axis_name is not None:
                batch_mean, batch_var = lax.pmean((batch_mean, batch_var), self.axis_name)
            ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * batch_mean
            ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * batch_var
        per_group = (mean.shape[0], *[1] * (groups.ndim - 2), x.shape[-1])
        return self._normalize(groups, mean.reshape(per_group), var.reshape(per_group), scale, bias).reshape(x.shape)

    @staticmethod
    def _local_sums(groups):
        """(sum, sum of squares) per group: shape (2, groups, C)."""
        axes = tuple(range(1, groups.ndim - 1))
        return jnp.stack([groups.sum(axes), (groups**2).sum(axes)])

    def _cross_device_sums(self, x32):
        """(sum, sum of squares) over this device's group of devices: shape (2, 1, C)."""
        if self.axis_name is None or self.group_size % x32.shape[0]:
            raise ValueError(
                f"BatchNorm groups of {self.group_size} images span devices (per-device batch {x32.shape[0]}): "
                "that needs an axis_name and a group size that is a multiple of the per-device batch"
            )
        axes = tuple(range(x32.ndim - 1))
        local = jnp.stack([x32.sum(axes), (x32**2).sum(axes)])
        every_device = lax.all_gather(local, self.axis_name)  # (devices, 2, C)
        devices_per_group = self.group_size // x32.shape[0]
        first = lax.axis_index(self.axis_name) // devices_per_group * devices_per_group
        group = lax.dynamic_slice_in_dim(every_device, first, devices_per_group, axis=0)
        return group.sum(0)[:, None]

    def _normalize(self, x, mean, var, scale, bias):
        """``(x - mean) / sqrt(var + epsilon) * scale + bias`` with ``mean`` / ``var`` broadcasting against ``x``."""
        mul = lax.rsqrt(var + self.epsilon)
        if scale is not None:
            mul = mul * scale
        y = (x - mean) * mul
        if bias is not None:
            y = y + bias
        dtype = self.dtype or jnp.result_type(x, *(p for p in (scale, bias) if p is not None))
        return y.astype(dtype)
