"""Conv fwd+bwd on CPU: XLA's conv vs cnnjax's XLA-based path vs ``'auto'`` (oneDNN) vs PyTorch, one table.

    python benchmarks/conv_paths.py [--quick] [--no-torch] [--repeats N] [--only TEXT]

Each row times ``(y, dx, dkernel)`` of one conv (output cotangent given): the minimum over
``--repeats`` warm runs in ms, and the cold compile (first call) in s for the XLA and ``'auto'``
columns.  ``path``: the XLA-based fast path (``select_xla_path``, used where oneDNN is not).
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import jax

from cnnjax.cpu_runtime import compiler_options, tune_cpu_runtime
from cnnjax.layers import conv2d, conv_target, resolve_implementation
from cnnjax.layers.conv_dispatch import select_xla_path


class Case(NamedTuple):
    label: str
    x_shape: tuple[int, int, int, int]  # NHWC
    kernel_size: int
    features: int
    strides: int = 1
    groups: int = 1


PLATFORM = "cpu"  # what the convs are traced and compiled for
CASES = [
    Case("depthwise 3x3", (32, 56, 56, 144), 3, 144, groups=144),
    Case("depthwise 3x3", (128, 16, 16, 96), 3, 96, groups=96),
    Case("depthwise 3x3 /2", (32, 56, 56, 144), 3, 144, strides=2, groups=144),
    Case("grouped 3x3 (32 groups)", (32, 28, 28, 256), 3, 256, groups=32),
    Case("resnet20 3x3", (128, 32, 32, 16), 3, 16),
    Case("resnet20 3x3", (128, 16, 16, 32), 3, 32),
    Case("resnet20 3x3", (128, 8, 8, 64), 3, 64),
    Case("resnet20 3x3 /2", (128, 32, 32, 16), 3, 32, strides=2),
    Case("resnet50 3x3", (16, 56, 56, 64), 3, 64),
    Case("resnet50 3x3", (16, 28, 28, 128), 3, 128),
    Case("resnet50 3x3", (16, 14, 14, 256), 3, 256),
    Case("resnet50 3x3", (16, 7, 7, 512), 3, 512),
    Case("resnet50 1x1", (16, 56, 56, 256), 1, 64),
    Case("resnet50 1x1", (16, 56, 56, 64), 1, 256),
    Case("resnet50 1x1", (16, 14, 14, 1024), 1, 256),
    Case("resnet50 7x7 /2 stem", (16, 224, 224, 3), 7, 64, strides=2),
]
QUICK_CASES = [
    Case("depthwise 3x3", (2, 8, 8, 8), 3, 8, groups=8),
    Case("grouped 3x3 (4 groups)", (2, 8, 8, 8), 3, 8, groups=4),
    Case("standard 3x3", (2, 8, 8, 4), 3, 4),
]


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _arrays(case: Case):
    key_x, key_k, key_dy = jax.random.split(jax.random.key(0), 3)
    n, h, w, c = case.x_shape
    k, s = case.kernel_size, case.strides
    x = jax.random.normal(key_x, case.x_shape)
    kernel = jax.random.normal(key_k, (k, k, c // case.groups, case.features)) * 0.1
    pad = ((k // 2, k // 2),) * 2
    dy = jax.random.normal(key_dy, (n, -(-h // s), -(-w // s), case.features))
    return x, kernel, dy, pad


def time_jax(case: Case, implementation: str, repeats: int, options: dict) -> tuple[float, float]:
    """(warm fwd+bwd s, cold compile + first call s), compiled with XLA ``options``."""
    x, kernel, dy, pad = _arrays(case)
    strides = (case.strides, case.strides)

    def conv(x_, k_):
        return conv2d(x_, k_, strides=strides, padding=pad, groups=case.groups, implementation=implementation)

    def fwd_bwd_fn(x, kernel, dy):
        y, vjp = jax.vjp(conv, x, kernel)
        return (y, *vjp(dy))

    fwd_bwd = jax.jit(fwd_bwd_fn, compiler_options=options)
    start = time.perf_counter()
    with conv_target(PLATFORM):  # traced by the first call
        jax.block_until_ready(fwd_bwd(x, kernel, dy))
    cold = time.perf_counter() - start
    return _time(lambda: jax.block_until_ready(fwd_bwd(x, kernel, dy)), repeats), cold


def time_torch(case: Case, repeats: int) -> float:
    import torch

    n, h, w, c = case.x_shape
    k = case.kernel_size
    x = torch.randn(n, c, h, w, requires_grad=True)
    kernel = (0.1 * torch.randn(case.features, c // case.groups, k, k)).requires_grad_()
    dy = torch.randn(n, case.features, -(-h // case.strides), -(-w // case.strides))

    def step():
        x.grad = kernel.grad = None
        y = torch.nn.functional.conv2d(x, kernel, None, case.strides, k // 2, 1, case.groups)
        y.backward(dy)

    step()
    return _time(step, repeats)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats: a smoke run")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--repeats", type=int, default=None, help="warm runs per cell (default 5, quick 2)")
    parser.add_argument("--only", default="", help="run the cases whose label contains this text")
    parser.add_argument(
        "--untuned", action="store_true", help="without cnnjax.cpu_runtime's malloc settings and XLA options"
    )
    args = parser.parse_args(argv)
    if not args.untuned:
        tune_cpu_runtime()
    options = {} if args.untuned else compiler_options(PLATFORM)
    cases = [case for case in (QUICK_CASES if args.quick else CASES) if args.only in case.label]
    repeats = args.repeats or (2 if args.quick else 5)
    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        print("torch is not installed (pip install -e '.[bench]'): PyTorch column skipped")
    if use_torch:
        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ", end="")
    print(f"jax {jax.__version__} on {jax.default_backend()}; fwd+bwd ms (min of {repeats}), compile s")
    header = (
        f"{'case':24s} {'x (NHWC) -> features':26s} {'auto':8s} {'path':16s} {'xla ms':>9s} {'path ms':>9s} "
        f"{'auto ms':>9s} {'torch ms':>9s} {'xla/torch':>9s} {'path/torch':>10s} {'auto/torch':>10s} "
        f"{'xla cmp':>8s} {'auto cmp':>8s}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        _, kernel, _, _ = _arrays(case)
        strides = (case.strides,) * 2
        auto_name = resolve_implementation(
            "auto", case.x_shape, kernel.shape, strides=strides, groups=case.groups, platform=PLATFORM
        )
        path_name = select_xla_path(case.x_shape, kernel.shape, strides=strides, groups=case.groups)
        xla, xla_cold = time_jax(case, "xla", repeats, options)
        path = xla if path_name == "xla" else time_jax(case, path_name, repeats, options)[0]
        auto, auto_cold = time_jax(case, "auto", repeats, options)
        shape = f"{'x'.join(map(str, case.x_shape))}->{case.features}" + (
            f" /{case.strides}" if case.strides > 1 else ""
        )
        row = f"{case.label:24s} {shape:26s} {auto_name:8s} {path_name:16s} {xla * 1e3:9.1f} {path * 1e3:9.1f} "
        row += f"{auto * 1e3:9.1f} "
        if use_torch:
            ref = time_torch(case, repeats)
            row += f"{ref * 1e3:9.1f} {xla / ref:9.2f} {path / ref:10.2f} {auto / ref:10.2f} "
        else:
            row += f"{'-':>9s} {'-':>9s} {'-':>10s} {'-':>10s} "
        print(row + f"{xla_cold:8.2f} {auto_cold:8.2f}", flush=True)


if __name__ == "__main__":
    main()
