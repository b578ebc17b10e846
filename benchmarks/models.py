"""Whole-model train step on CPU (fwd + bwd + SGD momentum): JAX 'auto' convs vs all-XLA vs PyTorch.

    python benchmarks/models.py [--quick] [--no-torch] [--repeats N] [--models a,b]

JAX: ``cnnjax.models.create_model(..., platform='cpu')`` trained by cnnjax's own train step
(``cnnjax.benchmark.train_setup``: BatchNorm in train mode, SGD momentum 0.9, the state donated) on one device,
jitted with ``cnnjax.cpu_runtime.compiler_options('cpu')``; ``xla`` builds the model with
``conv_implementation='xla'``.  PyTorch: the
hand-written models of ``torch_reference.py``, eager, NCHW.  The columns take their warm steps in
turn (auto, xla, torch, auto, ...), so a change in the machine's load reaches all of them; warm step
s is the minimum over ``--repeats`` steps; compile s is ``cnnjax.compile_time.timed_compile``'s (trace + compile).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax

from cnnjax.benchmark.train_setup import synthetic_batch, train_bench
from cnnjax.compile_time import timed_compile
from cnnjax.cpu_runtime import compiler_options, tune_cpu_runtime
from cnnjax.models import create_model
from cnnjax.parallel import DataParallel

PLATFORM = "cpu"  # what the models are traced and compiled for


class Setup(NamedTuple):
    model: str
    batch: int
    size: int
    num_classes: int
    overrides: tuple[tuple[str, object], ...] = ()  # create_model keywords


SETUPS = [
    Setup("cifar_resnet20", 128, 32, 10),
    Setup("resnet50", 16, 128, 1000),
    Setup("mobilenet_v2", 32, 128, 1000),
]
QUICK_SETUPS = [Setup("cifar_resnet20", 8, 16, 10, (("stage_sizes", (1, 1, 1)), ("width", 4)))]


def jax_stepper(setup: Setup, conv_implementation: str, options: dict) -> tuple[Callable[[], None], float]:
    """(one warm step, compile s) of cnnjax's train step on one device (``cnnjax.benchmark.train_setup``)."""
    model = create_model(
        setup.model,
        num_classes=setup.num_classes,
        platform=PLATFORM,
        conv_implementation=conv_implementation,
        **dict(setup.overrides),
    )
    batch = synthetic_batch(setup.batch, (setup.size, setup.size, 3), setup.num_classes)
    bench = train_bench(model, DataParallel(jax.devices()[:1]), batch, options)
    step, compile_seconds = timed_compile(bench.step, bench.state, bench.batch)
    state = bench.state

    def warm_step():
        nonlocal state
        state, _ = step(state, bench.batch)
        jax.block_until_ready(state)

    return warm_step, compile_seconds


def torch_stepper(setup: Setup) -> Callable[[], None]:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from torch_reference import MODELS, train_step_fn

    torch.manual_seed(0)
    step = train_step_fn(MODELS[setup.model](setup.num_classes))
    images = torch.randn(setup.batch, 3, setup.size, setup.size)
    labels = torch.arange(setup.batch) % setup.num_classes
    step(images, labels)
    return lambda: step(images, labels)


def time_in_turn(steppers: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Minimum seconds per step of each stepper, the steppers taking their steps in turn."""
    times = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step in steppers.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny model, 2 repeats: a smoke run")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--repeats", type=int, default=None, help="warm steps per cell (default 5, quick 2)")
    parser.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(s.model for s in SETUPS))
    parser.add_argument(
        "--untuned", action="store_true", help="without cnnjax.cpu_runtime's malloc settings and XLA options"
    )
    args = parser.parse_args(argv)
    if not args.untuned:
        tune_cpu_runtime()
    options = {} if args.untuned else compiler_options(PLATFORM)
    setups = QUICK_SETUPS if args.quick else SETUPS
    if args.models:
        setups = [s for s in setups if s.model in args.models.split(",")]
    repeats = args.repeats or (2 if args.quick else 5)
    try:
        import torch
    except ImportError:
        torch = None
        if not args.no_torch:
            print("torch is not installed (pip install -e '.[bench]'): PyTorch column skipped")
    use_torch = torch is not None and not args.no_torch
    if use_torch:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ", end="")
    print(f"jax {jax.__version__} on {jax.default_backend()}; train step s (min of {repeats}), compile s")
    header = (
        f"{'model':16s} {'batch x size':12s} {'auto s':>8s} {'xla s':>8s} {'torch s':>8s} {'auto/torch':>10s} "
        f"{'xla/torch':>9s} {'auto img/s':>10s} {'auto cmp':>8s} {'xla cmp':>8s}"
    )
    print(header)
    print("-" * len(header))
    for setup in setups:
        steppers = {}
        steppers["auto"], auto_cold = jax_stepper(setup, "auto", options)
        steppers["xla"], xla_cold = jax_stepper(setup, "xla", options)
        if use_torch and not setup.overrides:  # torch_reference.py has the full-size models only
            steppers["torch"] = torch_stepper(setup)
        seconds = time_in_turn(steppers, repeats)
        auto, xla = seconds["auto"], seconds["xla"]
        row = f"{setup.model:16s} {f'{setup.batch} x {setup.size}':12s} {auto:8.3f} {xla:8.3f} "
        if "torch" in seconds:
            ref = seconds["torch"]
            row += f"{ref:8.3f} {auto / ref:10.2f} {xla / ref:9.2f} "
        else:
            row += f"{'-':>8s} {'-':>10s} {'-':>9s} "
        print(row + f"{setup.batch / auto:10.0f} {auto_cold:8.1f} {xla_cold:8.1f}", flush=True)


if __name__ == "__main__":
    main()
