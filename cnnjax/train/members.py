"""The runs one `cnnjax train` writes: a standalone run in `--workdir`, or with `train.vmap_seeds=K` the K members
of a seed group, trained as one vmapped program.

Rules:
- The members are seeds `seed`, ..., `seed + K - 1`; member s writes `<workdir>/seed<s>/` — config.json,
  checkpoints, metrics.jsonl, summary.json — exactly as the standalone run of its own config (`member_config`:
  `seed=s`, `train.vmap_seeds=0`) would, so that standalone run (or a sweep) resumes it, and reads it back,
  unchanged. A sweep point's seeds live in the same `seed<k>` directories.
- Data: with `data_seed` held fixed every member reads the one stream of that seed (`shares_data_stream`); with
  `data_seed=None` member s reads the stream of seed s, as its standalone run would.
- The group's device arrays (state, metrics window, evaluation sums) carry the member axis first, members in
  seed order; a standalone run's carry none (`Member.index` is None).
- All members go on from one step: the newest at which every member still training holds a good checkpoint
  (`restore_members`); a member's later steps (a kill between the members' saves) are set aside, never deleted.
"""

import copy
import dataclasses
import os

import jax
import ml_collections
import numpy as np

from cnnjax.checkpoint import Checkpointer
from cnnjax.config.schema import data_seed
from cnnjax.parallel import DataParallel
from cnnjax.reporting import MetricsLog

MEMBER_DIR = "seed{}"


@dataclasses.dataclass
class Member:
    """One run directory of this process and what writes it (the log and checkpoints, opened by the loop)."""

    config: ml_collections.ConfigDict  # what a standalone run of this member is launched with
    workdir: str
    index: int | None  # on the group's member axis; None: a standalone run
    log: MetricsLog | None = None
    checkpointer: Checkpointer | None = None
    diverged_at: int | None = None  # `train.nonfinite='stop'`: its first non-finite step; it trains no further

    @property
    def label(self) -> str:
        """How progress lines name it: '' for a standalone run, 'seed 3: ' for a member."""
        return "" if self.index is None else f"seed {self.config.seed}: "

    def take(self, tree):
        """This member's slice of a group pytree (host or device arrays), or `tree` itself for a standalone run."""
        if self.index is None:
            return tree
        return jax.tree.map(lambda x: x[self.index], tree)

    def put(self, tree, member_tree):
        """`tree` (host arrays) with this member's slice replaced by `member_tree`; for a standalone run,
        `member_tree`."""
        if self.index is None:
            return member_tree

        def put_one(group, one):
            group = np.array(group)
            group[self.index] = np.asarray(one)
            return group

        return jax.tree.map(put_one, tree, member_tree)


def plan_members(config: ml_collections.ConfigDict, workdir: str) -> list[Member]:
    """The runs `config` writes under `workdir` (module docstring)."""
    if not config.train.vmap_seeds:
        return [Member(config, workdir, None)]
    seeds = range(config.seed, config.seed + config.train.vmap_seeds)
    return [
        Member(member_config(config, seed), os.path.join(workdir, MEMBER_DIR.format(seed)), index)
        for index, seed in enumerate(seeds)
    ]


def member_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """The standalone config of the group member of `seed`: `config` with `seed=seed` and `train.vmap_seeds=0`."""
    member = copy.deepcopy(config)
    member.seed = seed
    member.train.vmap_seeds = 0
    return member


def data_seeds(config: ml_collections.ConfigDict, members: list[Member]) -> tuple[int, ...]:
    """The seeds of the train data streams: one for a standalone run or a group that holds `data_seed` fixed,
    else one per member, in member order."""
    if members[0].index is None or shares_data_stream(config):
        return (data_seed(config),)
    return tuple(data_seed(m.config) for m in members)


def shares_data_stream(config: ml_collections.ConfigDict) -> bool:
    """Whether every member of the group reads one data stream: `data_seed` is held fixed."""
    return config.data_seed is not None


def restore_members(
    members: list[Member], state, window: dict, data_parallel: DataParallel
) -> tuple[int, object, dict, float]:
    """`(start step, state, window, train seconds so far)`: the host `state` and `window` (canonical layout) with
    each of `members` (their checkpointers open) restored from the newest step that all of them hold, or as
    given (step 0) when there is none; a member's steps after it are set aside."""
    held = set.intersection(*(set(m.checkpointer.good_steps()) for m in members)) if members else set()
    common = max(held, default=None)
    for member in members:
        if any(common is None or s > common for s in member.checkpointer.good_steps()):
            reason = f"the seed group resumes from step {common or 0}, the newest that all its members hold"
            member.checkpointer.set_aside_after(common, reason)
    if common is None:
        return 0, state, window, 0.0
    seconds, dp = 0.0, data_parallel
    for member in members:
        templates = dp.put(member.take(state)), dp.put(member.take(window))
        _, restored_state, restored_window, progress = member.checkpointer.restore(*templates, step=common)
        state = member.put(state, dp.to_host(restored_state))
        window = member.put(window, dp.to_host(restored_window))
        seconds = float(progress["train_seconds"])  # the group's: the same for every member
    return common, state, window, seconds
