"""Worker (1 device, float64 arithmetic): 4 micro-batches of 32 in one step equal one step of 128 to float64
rounding, for a model without BatchNorm or dropout (LeNet-5, XLA convs: oneDNN's are float32 only). In float32 the
two differ by the reduction order (tests/train/test_accumulation.py bounds that by the order noise of one step).

Asserts inside; prints the measured difference.
"""

import os
import sys

os.environ["JAX_ENABLE_X64"] = "1"  # before jax is imported

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from one_step import train_one_step  # noqa: E402

from cnnjax.models import create_model  # noqa: E402
from cnnjax.tasks.classification import Classification  # noqa: E402
from cnnjax.train.state import create_train_state  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    batch = {"image": rng.standard_normal((128, 32, 32, 1)), "label": rng.integers(0, 10, 128).astype(np.int32)}
    options = {"conv_implementation": "xla", "platform": "cpu", "dtype": jnp.float64, "param_dtype": jnp.float64}
    model = create_model("lenet5", num_classes=10, in_channels=1, **options)
    tx, schedule = optax.sgd(0.1, momentum=0.9), optax.constant_schedule(0.1)
    state = create_train_state(model, tx, (32, 32, 1), seed=0)
    whole, _ = train_one_step(model, tx, schedule, Classification(), state, batch)
    micro, _ = train_one_step(model, tx, schedule, Classification(), state, batch, accumulation_steps=4)
    errors = [
        np.linalg.norm((m - s) - (w - s)) / np.linalg.norm(w - s)
        for m, w, s in zip(*(jax.tree.leaves(x.params) for x in (micro, whole, state)), strict=True)
    ]
    assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(micro.params))
    print(f"float64: 4 x 32 vs 1 x 128, worst array of the update {max(errors):.2e}")
    assert max(errors) < 1e-6
    print("OK")


if __name__ == "__main__":
    main()
