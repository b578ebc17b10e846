"""One train step of a model on the first device, as the training loop maps it, read back to the host; a shrunk
registered model traced for the CPU with a batch and its initial variables."""

import functools

import jax
import jax.numpy as jnp
from abstract_models import KEY

from cnnjax.models import create_model
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel
from cnnjax.train.state import state_layouts
from cnnjax.train.steps import make_train_step


def train_one_step(model, tx, schedule, task, state, batch, **options):
    """(new host state, host metrics) after one step of `state` (host arrays) on `batch` (host arrays);
    `options` reach `make_train_step`."""
    dp = DataParallel(jax.devices()[:1])
    layouts = state_layouts(per_device_batch_stats=False)
    step = dp.map(make_train_step(model, tx, schedule, task, **options), (layouts, SHARDED), (layouts, REPLICATED))
    new, metrics = step(dp.put(state), dp.shard_batch(batch))
    return dp.to_host(new), dp.to_host(metrics)


def shrunk_cpu_model(name: str, size: int, **overrides):
    """(model, x, labels, params, other collections): the registered model with 5 classes, traced for the CPU
    (oneDNN convs, or the XLA-based CPU paths in the CNNJAX_ONEDNN=0 lane), a random (2, size, size, 3) batch
    labelled [0, 3], and its initial variables (jitted init)."""
    model = create_model(name, num_classes=5, platform="cpu", **overrides)
    x = jax.random.normal(jax.random.key(1), (2, size, size, 3))
    variables = jax.jit(functools.partial(model.init, train=False))(KEY, x)
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
    return model, x, jnp.array([0, 3]), params, state
