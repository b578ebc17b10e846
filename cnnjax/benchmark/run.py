"""``run_benchmark(spec) -> dict``: compile time, step time, throughput, peak memory, model FLOPs and utilisation
of the real train step; with ``spec.with_data`` also the same steps fed by a config's input pipeline.

Step time: the median (and min, max) of ``spec.steps`` steps, each waited for, after WARMUP_STEPS untimed
ones, all on one batch already on the devices. With data: ``spec.steps`` steps as the train loop runs them
(each batch read and placed while earlier steps run, no waiting in between); the data wait is the host time
spent reading and placing a batch. The host keeps up when the step time with data matches the one without.
With ``spec.remat``, also the activation memory the forward pass keeps for the backward pass with and without remat
(``residuals``: traced, not compiled).
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from cnnjax.benchmark.input_data import config_batches
from cnnjax.benchmark.model_flops import train_step_flops
from cnnjax.benchmark.peak_flops import peak_flops
from cnnjax.benchmark.residuals import backward_residual_bytes
from cnnjax.benchmark.spec import DEFAULT_IMAGE_SIZE, DEFAULT_NUM_CLASSES, BenchmarkSpec, check_data_shape, check_spec
from cnnjax.benchmark.train_setup import synthetic_batch, train_bench
from cnnjax.compile_time import timed_compile
from cnnjax.config.schema import compute_dtype
from cnnjax.cpu_runtime import compiler_options
from cnnjax.models import create_model
from cnnjax.parallel import DataParallel
from cnnjax.train.steps import as_is

WARMUP_STEPS = 3
RGB = 3


def run_benchmark(spec: BenchmarkSpec) -> dict:
    """Measures ``spec`` on all devices (see the module docstring); every check runs before anything compiles."""
    check_spec(spec)
    data_parallel = DataParallel()
    data_parallel.check_batch_size(spec.batch, "--batch")
    batches, on_device = None, as_is
    if spec.with_data:
        batches, on_device, image_shape, num_classes = config_batches(spec.with_data, spec.batch)
        check_data_shape(spec, image_shape, num_classes)
    else:
        size = spec.image_size or DEFAULT_IMAGE_SIZE
        image_shape, num_classes = (size, size, RGB), spec.num_classes or DEFAULT_NUM_CLASSES
    platform = data_parallel.platform

    def model_with(remat: bool):
        dtype = compute_dtype(spec.dtype, platform)
        options = {"in_channels": image_shape[-1], "dtype": dtype, "platform": platform, "remat": remat}
        return create_model(spec.model, num_classes=num_classes, **options, **spec.overrides)

    model = model_with(spec.remat)
    local_batch = next(batches) if batches else synthetic_batch(spec.batch, image_shape, num_classes)

    bench = train_bench(model, data_parallel, local_batch, compiler_options(platform), on_device)
    images = jax.ShapeDtypeStruct((spec.batch, *image_shape), jnp.float32)
    flops = train_step_flops(model, bench.variables, images)
    step, compile_seconds = timed_compile(bench.step, bench.state, bench.batch)
    state, times = _time_steps(step, bench.state, bench.batch, spec.steps)
    median = statistics.median(times)
    device = data_parallel.devices[0]
    peak = peak_flops(device.device_kind, spec.dtype)
    memory, memory_source = _peak_memory(step, data_parallel.local_devices)
    result = {
        "model": spec.model,
        "overrides": spec.overrides,
        "batch": spec.batch,
        "image_shape": list(image_shape),
        "num_classes": num_classes,
        "dtype": spec.dtype,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "num_devices": data_parallel.num_devices,
        "jax_version": jax.__version__,
        "compilation_cache": jax.config.jax_compilation_cache_dir,
        "compile_seconds": compile_seconds,
        "steps": spec.steps,
        "step_seconds_median": median,
        "step_seconds_min": min(times),
        "step_seconds_max": max(times),
        "images_per_second": spec.batch / median,
        "peak_memory_bytes_per_device": memory,
        "peak_memory_source": memory_source,
        "model_flops_per_step": flops,
        "achieved_flops_per_second": flops / median,
        "peak_flops_per_second": peak * data_parallel.num_devices if peak else None,
        "mfu": flops / median / (peak * data_parallel.num_devices) if peak else None,
    }
    if spec.remat:
        result["backward_residual_bytes"] = {
            remat: backward_residual_bytes(model_with(remat == "with"), bench.variables, images, num_classes)
            for remat in ("with", "without")
        }
    if batches:
        result["with_data"] = _time_with_data(step, state, data_parallel, batches, spec)
    return result


def _time_steps(step, state, batch, steps: int) -> tuple[object, list[float]]:
    for _ in range(WARMUP_STEPS):
        state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - start)
    return state, times


def _time_with_data(step, state, data_parallel: DataParallel, batches, spec: BenchmarkSpec) -> dict:
    def run(steps: int) -> list[float]:
        nonlocal state
        waits = []
        for _ in range(steps):
            start = time.perf_counter()
            batch = data_parallel.shard_batch(next(batches))
            waits.append(time.perf_counter() - start)
            state, metrics = step(state, batch)
        jax.block_until_ready((state, metrics))
        return waits

    run(WARMUP_STEPS)
    start = time.perf_counter()
    waits = run(spec.steps)
    step_seconds = (time.perf_counter() - start) / spec.steps
    return {
        "config": spec.with_data,
        "step_seconds_mean": step_seconds,
        "images_per_second": spec.batch / step_seconds,
        "data_wait_seconds_median": statistics.median(waits),
        "data_wait_seconds_max": max(waits),
    }


def _peak_memory(compiled, devices) -> tuple[int, str]:
    """The devices' own peak (largest over this process's devices), else the compiled step's footprint."""
    stats = [device.memory_stats() or {} for device in devices]
    if all("peak_bytes_in_use" in s for s in stats):
        return max(s["peak_bytes_in_use"] for s in stats), "device memory_stats peak_bytes_in_use (whole process)"
    m = compiled.memory_analysis()
    footprint = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
    return footprint, "train step's memory_analysis: arguments + outputs - donated + temporaries"
