"""Transposed conv fwd+bwd on CPU: every implementation that serves a shape, beside XLA's op and PyTorch.

    python benchmarks/transposed_conv.py [--quick] [--no-torch] [--repeats N]
    CNNJAX_ONEDNN=0 python benchmarks/transposed_conv.py   # XLA:CPU without oneDNN

One row per decoder shape, the table of ``conv_paths.py``: ms (min over runs in turn) of
``(y, dx, dkernel)`` for every implementation that serves the transposed conv, and for PyTorch's
``ConvTranspose2d`` (channels-last) when ``import torch`` works.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conv_paths import common_arguments, jax_steps, print_header, print_row, setup, time_row  # noqa: E402

from cnnjax.layers import ConvCall, conv_transpose  # noqa: E402

# (batch, height, width, C_in, C_out, kernel, stride, padding, output_padding)
SHAPES = [
    (8, 32, 32, 64, 32, 2, 2, 0, 0),
    (8, 64, 64, 32, 16, 2, 2, 0, 0),
    (8, 16, 16, 128, 64, 4, 2, 1, 0),
    (8, 32, 32, 64, 32, 3, 2, 1, 1),
    (8, 32, 32, 64, 32, 3, 1, 1, 0),  # stride 1: an ordinary conv
]
QUICK_SHAPES = [(2, 8, 8, 8, 4, 2, 2, 0, 0), (2, 6, 6, 8, 4, 4, 2, 1, 0)]


def torch_step(shape):
    import torch

    n, h, w, c_in, c_out, k, s, p, op = shape
    layer = torch.nn.ConvTranspose2d(c_in, c_out, k, s, p, op, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(n, c_in, h, w).to(memory_format=torch.channels_last).requires_grad_()
    dy = torch.randn(layer(x).shape).to(memory_format=torch.channels_last)

    def step():
        x.grad = layer.weight.grad = None
        layer(x).backward(dy)

    step()
    return step


def main(argv=None, shapes=None) -> list[dict]:
    """Prints the table; returns one dict of ms per implementation (and ``'torch'``) per shape."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    args = parser.parse_args(argv)
    options, repeats, use_torch = setup(args)
    print_header(use_torch)
    rows = []
    for shape in shapes or (QUICK_SHAPES if args.quick else SHAPES):
        n, h, w, c_in, c_out, k, s, p, op = shape
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(n, h, w, c_in)), jnp.float32)
        kernel = jnp.asarray(0.1 * rng.normal(size=(k, k, c_in, c_out)), jnp.float32)
        call = ConvCall.of("transposed", x, kernel, (s, s), ((p, p), (p, p)), (1, 1), output_padding=(op, op))
        dy = jnp.asarray(rng.normal(size=call.output_shape), jnp.float32)

        def conv(x_, k_, implementation, s=s, p=p, op=op):
            return conv_transpose(x_, k_, strides=s, padding=p, output_padding=op, implementation=implementation)

        steps = jax_steps(call, conv, (x, kernel, dy), options)
        ms = time_row(steps, torch_step(shape) if use_torch else None, repeats)
        print_row(f"k{k} s{s} p{p} op{op}", f"{n}x{h}x{w}x{c_in}->{c_out}", call, ms, use_torch)
        rows.append(ms)
    return rows


if __name__ == "__main__":
    main()
