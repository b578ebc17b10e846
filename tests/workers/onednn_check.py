"""Worker: the oneDNN conv extension in a fresh process, in the mode named by argv[1]; asserts inside.

- ``disabled``: ``CNNJAX_ONEDNN=0``: ``'auto'`` takes the XLA-based CPU path, without a warning.
- ``no_compiler``: ``$CXX`` names no compiler and the cache is empty: a warning says why, ``'auto'``
  takes the XLA-based path and a Conv still trains.
"""

import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from cnnjax.layers import Conv, ConvCall, conv_target, select  # noqa: E402
from cnnjax.native.onednn import onednn_available, unavailable_reason  # noqa: E402

mode = sys.argv[1]


def auto_path():
    x, kernel = jax.ShapeDtypeStruct((8, 16, 16, 8), jnp.float32), jax.ShapeDtypeStruct((3, 3, 1, 8), jnp.float32)
    return select(ConvCall.of("forward", x, kernel, (1, 1), ((1, 1), (1, 1)), (1, 1), 8), "cpu")


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    path = auto_path()
assert path == "depthwise_shift", path
assert not onednn_available()
if mode == "disabled":
    assert unavailable_reason() == "disabled by CNNJAX_ONEDNN=0", unavailable_reason()
    assert not caught, [str(w.message) for w in caught]
elif mode == "no_compiler":
    assert "no C++ compiler" in unavailable_reason(), unavailable_reason()
    assert len(caught) == 1 and "oneDNN convolutions unavailable" in str(caught[0].message), caught
    model = Conv(4, 3)
    x = jnp.ones((2, 8, 8, 3))
    with conv_target("cpu"):  # 'auto' falls back to the XLA-based CPU paths
        params = model.init(jax.random.key(0), x)
        grads = jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))(params)
    assert jnp.isfinite(grads["params"]["kernel"]).all()
else:
    raise SystemExit(f"unknown mode {mode}")
print(f"{mode} ok")
