"""Model FLOPs of a train step: 3 x the forward pass (backward = 2 x forward: input and weight gradients).

The forward FLOPs are XLA's cost analysis of the lowered forward pass (train mode, the whole global batch),
traced with every conv on XLA (the model cloned with ``conv_implementation='xla'``): the analysis cannot see into custom calls,
so oneDNN convs would count as zero. It is lowered for the host's CPU backend whatever the devices: the
count is of the unoptimised program, the same for every platform, and needs no compile there (JAX's
``Lowered.cost_analysis`` is not implemented for plugin backends such as CUDA and TPU).
Convention: 2 FLOPs per multiply-add, and taps that fall on a conv's zero padding are not counted (XLA skips
them: ~5 % fewer than counting every tap at 32x32 maps, ~16 % at 8x8).
"""

from __future__ import annotations

import jax
from jax.sharding import SingleDeviceSharding

BACKWARD_FACTOR = 2


def forward_flops(model, variables, images: jax.ShapeDtypeStruct) -> float:
    """FLOPs of ``model.apply(variables, images, train=True)`` with every conv on XLA (nothing is compiled)."""

    on_xla = model.clone(conv_implementation="xla")

    def forward(variables, images):
        return on_xla.apply(variables, images, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)})

    on_host = SingleDeviceSharding(jax.devices("cpu")[0])
    lowered = jax.jit(forward, in_shardings=on_host).lower(variables, images)
    return float(lowered.cost_analysis()["flops"])


def train_step_flops(model, variables, images: jax.ShapeDtypeStruct) -> float:
    """Model FLOPs of one train step on ``images`` (the global batch): (1 + BACKWARD_FACTOR) x forward."""
    return (1 + BACKWARD_FACTOR) * forward_flops(model, variables, images)
