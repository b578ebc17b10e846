"""Worker (4 emulated CPU devices): the mixup / CutMix batch and the train loss do not depend on the device count and
equal the hand computation; a batch left unmixed keeps its images.

Asserts inside; prints the measured differences.
"""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from mixing import BOTH, NEVER, NUM_CLASSES, global_batch, mixer, reference, train_step_metrics  # noqa: E402

assert jax.device_count() == 4, jax.devices()


def main():
    batch = global_batch()
    kinds = set()
    on_one, on_four = mixer(BOTH, jax.devices()[:1]), mixer(BOTH, jax.devices())
    for seed in range(6):
        key = jax.random.key_data(jax.random.key(seed))
        one, four = on_one(batch, key), on_four(batch, key)
        expected = reference(BOTH, batch, key)
        kinds.add("cutmix" if expected["box"][1] > expected["box"][0] else "mixup")
        for name in ("image", "target"):
            np.testing.assert_array_equal(one[name], four[name])  # the same global batch, bitwise
            np.testing.assert_allclose(four[name], expected[name], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(four["target"].sum(-1), 1.0, rtol=1e-6)
        print(f"key {seed}: λ {float(expected['lam']):.4f}, box {expected['box'].tolist()}: 1 == 4 devices")
    assert kinds == {"cutmix", "mixup"}, kinds
    unmixed = mixer(NEVER, jax.devices())(batch, key)
    np.testing.assert_array_equal(unmixed["image"], batch["image"])
    own = unmixed["target"][np.arange(len(batch["label"])), batch["label"]]
    np.testing.assert_allclose(own, 0.9 + 0.1 / NUM_CLASSES, rtol=1e-6)  # the smoothed one-hot targets alone
    np.testing.assert_allclose(unmixed["target"].sum(-1), 1.0, rtol=1e-6)
    one, four = (train_step_metrics(devices, BOTH, batch) for devices in (jax.devices()[:1], jax.devices()))
    print(f"train loss, 1 device {float(one['loss']):.7f}, 4 devices {float(four['loss']):.7f}")
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-6)
    print("OK")


if __name__ == "__main__":
    main()
