"""Worker: the oneDNN conv extension in a fresh process, in the mode named by argv[1]; asserts inside.

- ``disabled``: ``CNNJAX_ONEDNN=0``.
- ``no_compiler`` / ``unwritable_cache``: ``$CXX`` names no compiler, or ``$CNNJAX_CACHE_DIR`` cannot be
  written, and the cache holds no library.
  In these three, ``unavailable_reason`` says why, and convs (plain, depthwise, transposed) traced for the
  CPU take XLA-based paths and train.  Reported on stderr unless disabled (the caller
  reads the line).
- ``build``: touches ``$CNNJAX_TEST_READY_DIR/<pid>``, then loads the extension (building it unless
  another process does) and trains a conv through it.
- ``gpu_trace``: traces models for ``'gpu'`` (convs, depthwise and transposed convs, bfloat16) on this
  CPU host; the extension is never asked for.
"""

import contextlib
import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from cnnjax.layers import Conv, ConvTranspose, conv_target  # noqa: E402
from cnnjax.models import create_model  # noqa: E402
from cnnjax.native import onednn  # noqa: E402

REASONS = {
    "disabled": "disabled by CNNJAX_ONEDNN=0",
    "no_compiler": "no C++ compiler",
    "unwritable_cache": "cannot write the cache dir",
}
LAYERS = (Conv(4, 3), Conv(3, 3, groups=3), ConvTranspose(4, (2, 2), strides=(2, 2)))  # conv, depthwise, transposed
mode = sys.argv[1]


def cpu_gradient(layer, x) -> tuple[str, bool]:
    """The gradient of ``layer``'s output traced for the CPU ('auto' convs): its program's text, and
    whether every gradient is finite."""
    with conv_target("cpu"):
        params = layer.init(jax.random.key(0), x)
        gradient = jax.jit(jax.grad(lambda p: jnp.sum(layer.apply(p, x) ** 2)))
        text = gradient.lower(params).as_text()
        grads = gradient(params)
    return text, all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


x = jnp.ones((2, 8, 8, 3))
if mode in REASONS:
    with contextlib.redirect_stderr(io.StringIO()) as err:
        available = onednn.onednn_available()
    sys.stderr.write(err.getvalue())
    assert not available and REASONS[mode] in onednn.unavailable_reason(), onednn.unavailable_reason()
    assert (mode == "disabled") == (not err.getvalue()), "reported unless disabled"
    for layer in LAYERS:  # each asks again: the answer, and its one report, are cached
        text, finite = cpu_gradient(layer, x)
        assert finite and onednn.TARGET_NAME not in text, layer
elif mode == "build":
    open(os.path.join(os.environ["CNNJAX_TEST_READY_DIR"], str(os.getpid())), "w").close()
    assert onednn.onednn_available(), onednn.unavailable_reason()
    text, finite = cpu_gradient(LAYERS[0], x)
    assert finite and onednn.TARGET_NAME in text
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
