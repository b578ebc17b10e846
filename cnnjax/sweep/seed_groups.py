"""`cnnjax sweep run --vmap_seeds`: the runs of a point that differ only in their seed launched as one `cnnjax train`
with `train.vmap_seeds` (`cnnjax.train.members`): one compile and one program, the same run directories.

Rules:
- A group is the runs of one point whose overrides differ only in `seed`, with consecutive seeds s..s+K-1, K >= 2,
  none of them finished or running: one `cnnjax train --workdir DIR/<point> --config.seed=s
  --config.train.vmap_seeds=K` trains them all in `DIR/<point>/seed<k>/` (its output in `DIR/<point>.log`). Any
  other run to launch is launched alone, as without the option (a finished or running run is never reopened). A
  group resumes from the newest step that all its members hold (`cnnjax.train.loop`).
- `train.vmap_seeds` is the sweep's to set: a point or the command line that sets it is refused.
"""

import dataclasses
import itertools
import os

from cnnjax.sweep.child import TrainCommand
from cnnjax.sweep.definition import Run, SweepDefinitionError
from cnnjax.sweep.points import SEED_KEY

VMAP_KEY = "train.vmap_seeds"


@dataclasses.dataclass(frozen=True)
class Launch:
    """One `cnnjax train` of a sweep and the runs it trains (`TrainCommand.path` is the group's point)."""

    command: TrainCommand
    runs: tuple[Run, ...]


def check_no_vmap_key(runs: list[Run], command_line: list[str]) -> None:
    """Refuses `train.vmap_seeds` in a point or on the command line (the sweep sets it with --vmap_seeds)."""
    given = [f"--config.{o}" for o in command_line if o.split("=", 1)[0] == VMAP_KEY]
    given += [f"sweep point {run.point}" for run in runs if VMAP_KEY in run.overrides]
    if given:
        raise SweepDefinitionError(f"{VMAP_KEY} is set by cnnjax sweep run --vmap_seeds, not by {given[0]}")


def launches(spec: str, sweep_dir: str, runs: list[Run], command_line: list[str], vmap_seeds: bool) -> list[Launch]:
    """The `cnnjax train` commands that train `runs` (the sweep's runs to launch, in order): seed groups with
    `vmap_seeds` (module docstring), else one per run."""
    if not vmap_seeds:
        return [_alone(spec, sweep_dir, run, command_line) for run in runs]
    out = []
    for _, point_runs in itertools.groupby(runs, key=lambda run: (run.point, _without_seed(run))):
        for group in _consecutive(sorted(point_runs, key=lambda run: run.seed)):
            if len(group) == 1:
                out.append(_alone(spec, sweep_dir, group[0], command_line))
                continue
            first = group[0]
            args = [f"{SEED_KEY}={first.seed}", *_args(_without_seed(first)), f"{VMAP_KEY}={len(group)}"]
            command = TrainCommand(first.point, spec, os.path.join(sweep_dir, first.point), (*args, *command_line))
            out.append(Launch(command, tuple(group)))
    return out


def _alone(spec: str, sweep_dir: str, run: Run, command_line: list[str]) -> Launch:
    workdir = os.path.join(sweep_dir, run.path)
    return Launch(TrainCommand(run.path, spec, workdir, (*run.override_args(), *command_line)), (run,))


def _without_seed(run: Run) -> tuple:
    return tuple((key, repr(value)) for key, value in run.overrides.items() if key != SEED_KEY)


def _args(overrides: tuple) -> list[str]:
    return [f"{key}={text}" for key, text in overrides]


def _consecutive(runs: list[Run]) -> list[list[Run]]:
    """`runs` (seeds ascending) cut into runs of consecutive seeds."""
    groups: list[list[Run]] = []
    for run in runs:
        if groups and run.seed == groups[-1][-1].seed + 1:
            groups[-1].append(run)
        else:
            groups.append([run])
    return groups
