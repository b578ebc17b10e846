"""A sweep file (`FILE.py[:arg]`: `get_config(arg=None)`, the base, `get_sweep(arg=None)`, its points, and
optionally `get_comparisons(arg=None)`, pairs of point names to compare) turned into its runs and comparisons,
each checked before anything runs.

A point runs once per seed 0..num_seeds-1, or once with its own `seed` when it sets one; a run's workdir is
`<point name>/seed<k>`. Every run's overrides (the point's, then the command line's) must apply to the base
config like `--config.` overrides (unknown keys and wrong types are refused with the same messages), and no
two runs may share a workdir. A comparison is a pair of two different point names of the sweep.
"""

import dataclasses

from cnnjax.config import ConfigError, apply_overrides, load_config
from cnnjax.config.loading import call_with_arg, load_module
from cnnjax.sweep.points import SEED_KEY, overrides_of, point_name


class SweepDefinitionError(ConfigError):
    """A sweep file, or one of its points, that cannot run."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep: a point's overrides (its `seed` set) and where it runs."""

    point: str
    seed: int
    overrides: dict  # dotted key → value, the point's (seed included)

    @property
    def path(self) -> str:
        """The run's workdir, relative to the sweep's."""
        return f"{self.point}/seed{self.seed}"

    def override_args(self) -> list[str]:
        """`key=value` strings that `--config.` (and `apply_overrides`) parse back into the values."""
        return [f"{key}={value!r}" for key, value in self.overrides.items()]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A sweep file's runs and the (point a, point b) pairs its report compares."""

    runs: list[Run]
    comparisons: list[tuple[str, str]]


def load_sweep(spec: str, command_line: list[str], num_seeds: int) -> Sweep:
    """The sweep's runs in order (points in the file's order, seeds ascending) and its comparisons, all checked."""
    path, _, arg = spec.partition(":")
    module = load_module(path)
    runs = _runs(call_with_arg(module, "get_sweep", path, arg), path, spec, command_line, num_seeds)
    if not hasattr(module, "get_comparisons"):
        return Sweep(runs, [])
    return Sweep(runs, _comparisons(call_with_arg(module, "get_comparisons", path, arg), path, runs))


def _runs(points, path: str, spec: str, command_line: list[str], num_seeds: int) -> list[Run]:
    """The runs of `get_sweep()`'s points, each checked against the base config (`spec`, `command_line`)."""
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise SweepDefinitionError(f"{path}: get_sweep() must return a list of dicts, got {type(points).__name__}")
    if not points:
        raise SweepDefinitionError(f"{path}: get_sweep() returned no points")
    runs = []
    for point in points:
        name, overrides = point_name(point), overrides_of(point)
        point_seeds = [overrides[SEED_KEY]] if SEED_KEY in overrides else range(num_seeds)
        runs += [Run(name, seed, {SEED_KEY: seed, **overrides}) for seed in point_seeds]
    base = load_config(spec, command_line)
    seen = {}
    for run in runs:
        if run.path in seen and seen[run.path] != run.overrides:
            raise SweepDefinitionError(f"sweep points {seen[run.path]} and {run.overrides} both run in {run.path}")
        seen[run.path] = run.overrides
        config = base.copy_and_resolve_references()
        config.lock()
        try:
            apply_overrides(config, [*run.override_args(), *command_line])
        except ConfigError as e:
            raise SweepDefinitionError(f"sweep point {run.point}: {e}") from None
    return list({run.path: run for run in runs}.values())


def _comparisons(pairs, path: str, runs: list[Run]) -> list[tuple[str, str]]:
    """`get_comparisons()`'s pairs, each two different names of the sweep's points."""
    names = list(dict.fromkeys(run.point for run in runs))
    if not isinstance(pairs, list | tuple) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
        raise SweepDefinitionError(f"{path}: get_comparisons() must return a list of (point a, point b) pairs")
    for a, b in pairs:
        for name in (a, b):
            if name not in names:
                known = ", ".join(names)
                raise SweepDefinitionError(f"{path}: get_comparisons() names {name!r}, not a point; points: {known}")
        if a == b:
            raise SweepDefinitionError(f"{path}: get_comparisons() compares {a!r} with itself")
    return [(a, b) for a, b in pairs]
