"""Worker: the oneDNN conv extension in a fresh process, in the mode named by argv[1]; asserts inside.

- ``disabled``: ``CNNJAX_ONEDNN=0``: ``'auto'`` takes the XLA-based CPU path, and nothing is reported.
- ``no_compiler`` / ``unwritable_cache``: ``$CXX`` names no compiler, or ``$CNNJAX_CACHE_DIR`` cannot be
  written, and the cache holds no library: ``unavailable_reason`` says why, ``'auto'`` takes the
  XLA-based path and convs (forward and transposed) still train.  The caller reads the stderr line.
- ``build``: touches ``$CNNJAX_TEST_READY_DIR/<pid>``, then loads the extension (building it unless
  another process does) and runs a conv through it.
- ``gpu_trace``: traces models for ``'gpu'`` (convs, depthwise and transposed convs, bfloat16) on this
  CPU host; the extension is never asked for.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from cnnjax.layers import Conv, ConvTranspose, conv2d, conv_target, select_implementation  # noqa: E402
from cnnjax.models import create_model  # noqa: E402
from cnnjax.native import onednn  # noqa: E402

REASONS = {
    "disabled": "disabled by CNNJAX_ONEDNN=0",
    "no_compiler": "no C++ compiler",
    "unwritable_cache": "cannot write the cache dir",
}
mode = sys.argv[1]


def auto_path():
    return select_implementation((8, 16, 16, 8), (3, 3, 1, 8), strides=(1, 1), groups=8, platform="cpu")


def trains(model, x) -> bool:
    with conv_target("cpu"):  # 'auto' convs take the CPU paths
        params = model.init(jax.random.key(0), x)
        grads = jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))(params)
    return all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


if mode in REASONS:
    assert auto_path() == "depthwise_shift", auto_path()
    assert not onednn.onednn_available()
    assert REASONS[mode] in onednn.unavailable_reason(), onednn.unavailable_reason()
    x = jnp.ones((2, 8, 8, 3))
    assert trains(Conv(4, 3), x) and trains(ConvTranspose(4, (2, 2), strides=(2, 2)), x)
    assert auto_path() == "depthwise_shift"  # asked again: the answer, and its one report, are cached
elif mode == "build":
    open(os.path.join(os.environ["CNNJAX_TEST_READY_DIR"], str(os.getpid())), "w").close()
    assert onednn.onednn_available(), onednn.unavailable_reason()
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 4))
    w = jax.random.normal(jax.random.key(1), (3, 3, 4, 8))
    y = jax.jit(lambda x, w: conv2d(x, w, padding=((1, 1), (1, 1)), implementation="onednn"))(x, w)
    expected = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
elif mode == "gpu_trace":
    models = [
        (create_model("unet_small", num_classes=3, width=8, depth=2, platform="gpu"), 32),
        (create_model("mobilenet_v2", num_classes=5, width_multiplier=0.25, dtype="bfloat16", platform="gpu"), 32),
    ]
    for model, size in models:
        x = jnp.zeros((2, size, size, 3))
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        jax.jit(jax.grad(lambda v, x, model=model: jnp.sum(model.apply(v, x)))).trace(variables, x)
    assert onednn.onednn_available.cache_info().misses == 0, "the extension was asked for"
    assert not os.listdir(onednn.cache_root()), os.listdir(onednn.cache_root())
else:
    raise SystemExit(f"unknown mode {mode}")
print(f"{mode} ok")
