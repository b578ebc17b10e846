"""``cnnjax benchmark``'s action once its arguments are parsed."""

from __future__ import annotations

from cnnjax.benchmark.report import format_report, to_json
from cnnjax.benchmark.run import run_benchmark
from cnnjax.benchmark.spec import BenchmarkSpec


def benchmark_command(options: dict, json_path: str | None) -> None:
    """Runs ``BenchmarkSpec(**options)``, prints the report and, given ``json_path``, writes the figures there."""
    result = run_benchmark(BenchmarkSpec(**options))
    print(format_report(result))
    if json_path:
        with open(json_path, "w") as file:
            file.write(to_json(result))
