"""``cnnjax benchmark``'s printed report (one figure per line) and its JSON form."""

from __future__ import annotations

from cnnjax.benchmark.model_flops import BACKWARD_FACTOR
from cnnjax.reporting import strict_json

GIGA, MIB, GIB = 1e9, 2**20, 2**30


def format_report(result: dict) -> str:
    """The lines ``cnnjax benchmark`` prints for a ``run_benchmark`` result."""
    height, width, channels = result["image_shape"]
    overrides = "".join(f" {k}={v}" for k, v in result["overrides"].items())
    mfu = result["mfu"]
    lines = [
        f"{result['model']}{overrides}: batch {result['batch']} x {height}x{width}x{channels}, {result['dtype']}, "
        f"{result['num_classes']} classes; {result['num_devices']} x {result['device_kind']} "
        f"({result['platform']}), jax {result['jax_version']}",
        f"compile        {result['compile_seconds']:.2f} s (persistent cache: {result['compilation_cache'] or 'off'})",
        f"step           {result['step_seconds_median'] * 1e3:.1f} ms median of {result['steps']} "
        f"(min {result['step_seconds_min'] * 1e3:.1f}, max {result['step_seconds_max'] * 1e3:.1f})",
        f"throughput     {result['images_per_second']:.1f} images/s",
        f"peak memory    {_size(result['peak_memory_bytes_per_device'])} per device ({result['peak_memory_source']})",
        f"model FLOPs    {result['model_flops_per_step'] / GIGA:.2f} GFLOP per step "
        f"({1 + BACKWARD_FACTOR} x forward, XLA cost analysis with XLA convs, padded taps not counted)",
        f"achieved       {result['achieved_flops_per_second'] / GIGA:.1f} GFLOP/s",
        "MFU            "
        + (f"{mfu:.1%} of {result['peak_flops_per_second'] / 1e12:.0f} TFLOP/s peak" if mfu is not None else "n/a")
        + ("" if mfu is not None else f" (no peak FLOP/s known for {result['device_kind']!r} in {result['dtype']})"),
    ]
    if "backward_residual_bytes" in result:
        kept = result["backward_residual_bytes"]
        lines.append(
            f"remat          {_size(kept['with'])} of activations kept for the backward pass vs "
            f"{_size(kept['without'])} without: {1 - kept['with'] / kept['without']:.0%} saved (whole batch, traced)"
        )
    if "with_data" in result:
        data = result["with_data"]
        lines += [
            f"with data      {data['step_seconds_mean'] * 1e3:.1f} ms per step, {data['images_per_second']:.1f} "
            f"images/s ({data['config']}'s input pipeline)",
            f"data wait      {data['data_wait_seconds_median'] * 1e3:.1f} ms median per step "
            f"(max {data['data_wait_seconds_max'] * 1e3:.1f}): host time reading and placing a batch",
        ]
    return "\n".join(lines)


def _size(num_bytes: int) -> str:
    return f"{num_bytes / GIB:.2f} GiB" if num_bytes >= GIB else f"{num_bytes / MIB:.1f} MiB"


def to_json(result: dict) -> str:
    return strict_json.dumps(result, indent=1)
