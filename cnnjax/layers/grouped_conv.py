"""``'grouped_split'``: a grouped 2-D conv as split -> one XLA conv per group -> concat.

Output group ``g`` (features ``g * features // groups`` onwards) sees input channels
``g * C_in // groups`` onwards, as ``lax.conv_general_dilated(..., feature_group_count=groups)``.
Serves forward 2-D calls with ``groups > 1``; ``'auto'`` on CPU takes it for every such call that
neither oneDNN nor ``'depthwise_shift'`` serves (``benchmarks/README.md``, "Conv paths without oneDNN").
"""

from __future__ import annotations

import jax.numpy as jnp

from cnnjax.layers.conv_call import FORWARD, ConvCall, Implementation, unsupported
from cnnjax.layers.xla_conv import xla_conv


def _run(x, kernel, call: ConvCall):
    groups = zip(jnp.split(x, call.groups, axis=-1), jnp.split(kernel, call.groups, axis=-1))
    return jnp.concatenate([xla_conv(xg, kg, call.strides, call.padding, call.dilation) for xg, kg in groups], axis=-1)


def _why_not(call: ConvCall) -> str | None:
    reason = unsupported(call, (FORWARD,), (2,))
    if reason is None and call.groups == 1:
        reason = "needs groups > 1"
    return reason


GROUPED_SPLIT = Implementation("grouped_split", why_not=_why_not, run=_run)
