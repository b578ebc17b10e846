"""``cnnjax benchmark``: how fast the real train step runs a model on these devices, and whether the input
pipeline keeps up (``run_benchmark``; the figures and conventions are in ``run`` and ``model_flops``)."""

from cnnjax.benchmark.report import format_report, to_json
from cnnjax.benchmark.run import run_benchmark
from cnnjax.benchmark.spec import BenchmarkSpec

__all__ = ["BenchmarkSpec", "format_report", "run_benchmark", "to_json"]
