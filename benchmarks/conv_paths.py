"""Conv fwd+bwd on CPU: every implementation of the conv dispatch that serves a shape, beside XLA's conv and PyTorch.

    python benchmarks/conv_paths.py [--quick] [--no-torch] [--repeats N] [--only TEXT]
    CNNJAX_ONEDNN=0 python benchmarks/conv_paths.py   # XLA:CPU without oneDNN (ARM, macOS, no compiler)

Each row times ``(y, dx, dkernel)`` of one conv (output cotangent given) with every implementation in
``cnnjax.layers.IMPLEMENTATIONS`` that serves it (``-``: it does not), and with
``torch.nn.functional.conv2d``; ``auto`` is what ``'auto'`` runs on a ``'cpu'`` target here.  The
JAX columns take their runs in turn (one run of each, ``--repeats`` times) and report the minimum, in
ms, so that other load on the machine weighs on every column alike; PyTorch's runs come after them
(its OpenMP threads spin after each call and would slow whichever column ran next).
``transposed_conv.py`` reuses the table for transposed convs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from models import time_in_turn  # noqa: E402

from cnnjax.cpu_runtime import compiler_options, tune_cpu_runtime  # noqa: E402
from cnnjax.layers import IMPLEMENTATIONS, ConvCall, conv_nd, select  # noqa: E402

PLATFORM = "cpu"  # what the convs are traced and compiled for


class Case(NamedTuple):
    label: str
    x_shape: tuple[int, int, int, int]  # NHWC
    kernel_size: int
    features: int
    strides: int = 1
    groups: int = 1


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
    Case("resnet50 3x3", (16, 14, 14, 256), 3, 256),
    Case("resnet50 3x3", (16, 7, 7, 512), 3, 512),
    Case("resnet50 1x1", (16, 56, 56, 256), 1, 64),
    Case("resnet50 1x1", (16, 14, 14, 1024), 1, 256),
    Case("resnet50 1x1 /2", (16, 56, 56, 256), 1, 512, strides=2),
    Case("resnet50 7x7 /2 stem", (16, 224, 224, 3), 7, 64, strides=2),
]
QUICK_CASES = [
    Case("depthwise 3x3", (2, 8, 8, 8), 3, 8, groups=8),
    Case("grouped 3x3 (4 groups)", (2, 8, 8, 8), 3, 8, groups=4),
    Case("standard 3x3", (2, 8, 8, 4), 3, 4),
]


def jax_steps(call: ConvCall, conv: Callable, args: tuple, options: dict) -> dict[str, Callable[[], object]]:
    """One compiled and warmed fwd+bwd step per implementation that serves ``call``:
    ``conv(x, kernel, implementation)`` differentiated at ``args = (x, kernel, dy)``."""

    def fwd_bwd(implementation, x, kernel, dy):
        y, vjp = jax.vjp(lambda x_, k_: conv(x_, k_, implementation), x, kernel)
        return (y, *vjp(dy))

    steps = {}
    for name, impl in IMPLEMENTATIONS.items():
        if impl.why_not(call) is None:
            step = jax.jit(fwd_bwd, static_argnums=0, compiler_options=options)
            jax.block_until_ready(step(name, *args))
            steps[name] = lambda step=step, name=name: jax.block_until_ready(step(name, *args))
    return steps


def time_row(steps: dict[str, Callable[[], object]], torch_step: Callable[[], None] | None, repeats: int):
    """ms per column: the JAX ``steps`` in turn, then PyTorch's (``None``: no torch column)."""
    seconds = time_in_turn(steps, repeats)
    if torch_step is not None:
        seconds |= time_in_turn({"torch": torch_step}, repeats)
    return {name: 1e3 * value for name, value in seconds.items()}


def print_header(use_torch: bool) -> None:
    columns = ["case", "shape", "auto", *IMPLEMENTATIONS, *(["torch"] if use_torch else []), "auto/xla"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def print_row(label: str, shape: str, call: ConvCall, ms: dict[str, float], use_torch: bool) -> None:
    auto = select(call, PLATFORM)
    cells = [label, shape, auto, *(f"{ms[name]:.1f}" if name in ms else "-" for name in IMPLEMENTATIONS)]
    cells += [f"{ms['torch']:.1f}"] if use_torch else []
    print("| " + " | ".join(cells) + f" | {ms[auto] / ms['xla']:.2f} |", flush=True)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats: a smoke run")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--repeats", type=int, default=None, help="runs per column (default 5, quick 2)")
    parser.add_argument(
        "--untuned", action="store_true", help="without cnnjax.cpu_runtime's malloc settings and XLA options"
    )


def setup(args) -> tuple[dict, int, bool]:
    """(XLA options, repeats, whether to time PyTorch), after printing what runs."""
    if not args.untuned:
        tune_cpu_runtime()
    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        print("torch is not installed (pip install -e '.[bench]'): PyTorch column skipped")
    repeats = args.repeats or (2 if args.quick else 5)
    if use_torch:
        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ", end="")
    print(f"jax {jax.__version__} on {jax.default_backend()}; fwd+bwd ms, min of {repeats} runs in turn")
    return ({} if args.untuned else compiler_options(PLATFORM)), repeats, use_torch


def _arrays(case: Case):
    key_x, key_k, key_dy = jax.random.split(jax.random.key(0), 3)
    n, h, w, c = case.x_shape
    k, s = case.kernel_size, case.strides
    x = jax.random.normal(key_x, case.x_shape)
    kernel = jax.random.normal(key_k, (k, k, c // case.groups, case.features)) * 0.1
    dy = jax.random.normal(key_dy, (n, -(-h // s), -(-w // s), case.features))
    return x, kernel, dy


def torch_step(case: Case) -> Callable[[], None]:
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
    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--only", default="", help="run the cases whose label contains this text")
    args = parser.parse_args(argv)
    options, repeats, use_torch = setup(args)
    print_header(use_torch)
    for case in [case for case in (QUICK_CASES if args.quick else CASES) if args.only in case.label]:
        x, kernel, dy = _arrays(case)
        strides, pad = (case.strides,) * 2, ((case.kernel_size // 2,) * 2,) * 2
        call = ConvCall.of("forward", x, kernel, strides, pad, (1, 1), case.groups)

        def conv(x_, k_, implementation, strides=strides, pad=pad, groups=case.groups):
            return conv_nd(x_, k_, strides=strides, padding=pad, groups=groups, implementation=implementation)

        steps = jax_steps(call, conv, (x, kernel, dy), options)
        ms = time_row(steps, torch_step(case) if use_torch else None, repeats)
        shape = f"{'x'.join(map(str, case.x_shape))}->{case.features}"
        print_row(case.label, shape, call, ms, use_torch)


if __name__ == "__main__":
    main()
