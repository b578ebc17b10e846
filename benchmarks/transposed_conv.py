"""Transposed conv fwd+bwd (grads w.r.t. input and kernel) on this machine: XLA's op vs the fast formulation.

    python benchmarks/transposed_conv.py [--quick] [--repeats N]

One row per decoder shape: ms (min over repeats) for ``implementation='xla'``, for the XLA-based
fast formulation (``'depth_to_space'`` if kernel <= stride, else ``'subpixel'``), for what
``'auto'`` runs (``'onednn'`` where the extension loads), and for PyTorch's ``ConvTranspose2d``
(channels-last) when ``import torch`` works.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cnnjax.cpu_runtime import compiler_options, tune_cpu_runtime
from cnnjax.layers.transposed_conv import conv_transpose, select_implementation, select_xla_path  # noqa: E402

# (batch, height, width, C_in, C_out, kernel, stride, padding, output_padding)
SHAPES = [
    (8, 32, 32, 64, 32, 2, 2, 0, 0),
    (8, 64, 64, 32, 16, 2, 2, 0, 0),
    (8, 16, 16, 128, 64, 4, 2, 1, 0),
    (8, 32, 32, 64, 32, 3, 2, 1, 1),
]
QUICK_SHAPES = [(2, 8, 8, 8, 4, 2, 2, 0, 0), (2, 6, 6, 8, 4, 4, 2, 1, 0)]


def _min_ms(fn, repeats: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def jax_ms(shape, implementation: str, repeats: int, options: dict) -> float:
    n, h, w, c_in, c_out, k, s, p, op = shape
    x = jnp.asarray(np.random.default_rng(0).normal(size=(n, h, w, c_in)), jnp.float32)
    kernel = jnp.asarray(np.random.default_rng(1).normal(size=(k, k, c_in, c_out)), jnp.float32)

    def loss(x, kernel):
        y = conv_transpose(x, kernel, strides=s, padding=p, output_padding=op, implementation=implementation)
        return jnp.sum(y * y)

    step = jax.jit(jax.grad(loss, argnums=(0, 1)), compiler_options=options)
    return _min_ms(lambda: jax.block_until_ready(step(x, kernel)), repeats)


def torch_ms(shape, repeats: int) -> float:
    import torch

    n, h, w, c_in, c_out, k, s, p, op = shape
    layer = torch.nn.ConvTranspose2d(c_in, c_out, k, s, p, op, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(n, c_in, h, w).to(memory_format=torch.channels_last).requires_grad_()

    def step():
        x.grad = layer.weight.grad = None
        layer(x).pow(2).sum().backward()

    return _min_ms(step, repeats)


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None, shapes=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument(
        "--untuned", action="store_true", help="without cnnjax.cpu_runtime's malloc settings and XLA options"
    )
    args = parser.parse_args(argv)
    if not args.untuned:
        tune_cpu_runtime()
    options = {} if args.untuned else compiler_options("cpu")
    shapes = shapes or (QUICK_SHAPES if args.quick else SHAPES)
    repeats = args.repeats or (2 if args.quick else 10)
    with_torch = not args.no_torch and _has_torch()
    print(f"backend {jax.default_backend()}, fwd+bwd ms (min of {repeats})")
    print(
        "| input (N,H,W,C) | C_out | k/s/p/op | xla | xla path | path | auto | auto impl | speed-up |"
        + (" torch | auto/torch |" if with_torch else "")
    )
    print("|---|---|---|---|---|---|---|---|---|" + ("---|---|" if with_torch else ""))
    rows = []
    for shape in shapes:
        n, h, w, c_in, c_out, k, s, p, op = shape
        path = select_xla_path((k, k), (s, s), (1, 1), platform="cpu")
        auto = select_implementation((k, k), (s, s), (1, 1), platform="cpu")
        row = {
            "shape": shape,
            "xla": jax_ms(shape, "xla", repeats, options),
            "path": jax_ms(shape, path, repeats, options),
        }
        row["fast"] = jax_ms(shape, auto, repeats, options) if auto != path else row["path"]
        if with_torch:
            row["torch"] = torch_ms(shape, repeats)
        rows.append(row)
        line = (
            f"| ({n},{h},{w},{c_in}) | {c_out} | {k}/{s}/{p}/{op} | {row['xla']:.1f} | {row['path']:.1f} | {path} "
            f"| {row['fast']:.1f} | {auto} | {row['xla'] / row['fast']:.1f}x |"
        )
        torch_cells = f" {row['torch']:.1f} | {row['fast'] / row['torch']:.2f} |" if with_torch else ""
        print(line + torch_cells, flush=True)
    return rows


if __name__ == "__main__":
    main()
