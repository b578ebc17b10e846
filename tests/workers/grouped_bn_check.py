"""Worker (4 CPU devices): GroupedBatchNorm equals statistics computed by hand over groups of n
images, and 4 devices (pmap and shard_map) give what one device gives with the whole batch:
outputs, running statistics (the same on every device), parameter gradients, and input gradients
(through the group statistics, across devices).  Asserts inside."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.layers import GroupedBatchNorm  # noqa: E402

AXIS, DEVICES, MOMENTUM, EPS = "data", 4, 0.9, 1e-5
assert jax.device_count() == DEVICES
rng = np.random.default_rng(0)


def by_hand(x, group_size):
    """Normalised x (scale 1, bias 0) and the mean over groups of the groups' (mean, biased var)."""
    groups = x.reshape(-1, group_size, *x.shape[1:]).astype(np.float64)
    mean = groups.mean(axis=(1, 2, 3), keepdims=True)
    var = groups.var(axis=(1, 2, 3), keepdims=True)
    y = ((groups - mean) / np.sqrt(var + EPS)).reshape(x.shape)
    return y, mean.mean(0).ravel(), var.mean(0).ravel()


def make_step(group_size, axis_name):
    module = GroupedBatchNorm(group_size=group_size, axis_name=axis_name, momentum=MOMENTUM, epsilon=EPS)

    def step(variables, x, c):
        def loss(params, x):
            y, updates = module.apply({**variables, "params": params}, x, mutable=["batch_stats"])
            return jnp.mean(y * c), (y, updates["batch_stats"])

        (grads, x_grad), (y, stats) = jax.grad(loss, argnums=(0, 1), has_aux=True)(variables["params"], x)
        return y, stats, grads if axis_name is None else lax.pmean(grads, axis_name), x_grad

    return module, step


def mapped(step, mapper):
    if mapper == "pmap":
        return jax.pmap(step, axis_name=AXIS, in_axes=(None, 0, 0))
    mesh = Mesh(np.array(jax.devices()), (AXIS,))

    def on_one_device(variables, x, c):
        return jax.tree.map(lambda a: a[None], step(variables, x[0], c[0]))

    return jax.jit(
        jax.shard_map(on_one_device, mesh=mesh, in_specs=(P(), P(AXIS), P(AXIS)), out_specs=P(AXIS), check_vma=False)
    )


for group_size, per_device in [(4, 4), (4, 8), (8, 4), (16, 4)]:  # one, two ghost groups; 2 and 4 devices a group
    batch = per_device * DEVICES
    x = rng.normal(size=(batch, 3, 3, 5)).astype(np.float32) * 2 + 1
    c = rng.normal(size=x.shape).astype(np.float32)
    module, one_step = make_step(group_size, None)
    variables = module.init(jax.random.key(0), x[:1])
    variables = {
        **variables,
        "params": {
            "scale": jnp.asarray(rng.normal(size=5), jnp.float32),
            "bias": jnp.asarray(rng.normal(size=5), jnp.float32),
        },
    }
    y_ref, mean_ref, var_ref = by_hand(x, group_size)
    y1, stats1, grads1, x_grad1 = jax.jit(one_step)(variables, x, c)
    scale, bias = (np.asarray(variables["params"][k]) for k in ("scale", "bias"))
    np.testing.assert_allclose(y1, y_ref * scale + bias, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats1["mean"], (1 - MOMENTUM) * mean_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats1["var"], MOMENTUM + (1 - MOMENTUM) * var_ref, rtol=1e-5, atol=1e-6)
    _, device_step = make_step(group_size, AXIS)
    for mapper in ("pmap", "shard_map"):
        shape = (DEVICES, per_device, *x.shape[1:])
        y4, stats4, grads4, x_grad4 = mapped(device_step, mapper)(variables, x.reshape(shape), c.reshape(shape))
        np.testing.assert_allclose(np.asarray(y4).reshape(x.shape), y1, rtol=1e-5, atol=1e-5, err_msg=mapper)
        for name in ("mean", "var"):
            for device in range(DEVICES):  # the same running statistics on every device
                np.testing.assert_allclose(stats4[name][device], stats1[name], rtol=1e-5, atol=1e-6, err_msg=mapper)
        for name in ("scale", "bias"):  # averaged per-device gradients of the local mean = the global gradient
            for device in range(DEVICES):
                np.testing.assert_allclose(grads4[name][device], grads1[name], rtol=1e-4, atol=1e-6, err_msg=mapper)
        # each device: the gradient of the sum of the devices' local means = DEVICES x the global mean's
        np.testing.assert_allclose(np.asarray(x_grad4).reshape(x.shape), DEVICES * x_grad1, rtol=1e-4, atol=1e-6)
    print(f"group {group_size}, per-device batch {per_device}: ok")
print("OK")
