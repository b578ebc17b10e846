"""`run(config, workdir)`: a whole training run — set-up, train/eval loop, checkpoints, resume, reports.

The run's parts come from `cnnjax.train.experiment.prepare_experiment` and its mapped steps from
`cnnjax.train.mapped_steps`; this module only loops: train steps, logs, periodic evaluations and saves, and
the final evaluation and summary.
"""

import os
import sys
import time

import jax
from jax.experimental import multihost_utils

from cnnjax.checkpoint import Checkpointer, PreemptionWatcher, WorkdirLock, check_workdir_path, claim_workdir
from cnnjax.compile_time import timed_compile
from cnnjax.data.pipeline import HostShare, eval_batches, stacked_train_batches, train_batches
from cnnjax.data.workers import resolve as resolve_parallelism
from cnnjax.errors import DivergedError, RunWriteError
from cnnjax.parallel import DevicePrefetch, initialize_distributed
from cnnjax.pretrained.init_from import check_source, with_initial_weights
from cnnjax.reporting import MetricsLog, Progress, plot_training_curves, write_summary
from cnnjax.tasks import ValidationTuned
from cnnjax.train.divergence import (
    describe,
    diverged_message,
    record_divergence,
    recorded_divergence,
    refuse_if_diverged,
)
from cnnjax.train.ema import EMA
from cnnjax.train.experiment import Experiment, prepare_experiment
from cnnjax.train.log_window import window_means
from cnnjax.train.mapped_steps import map_steps
from cnnjax.train.members import Member, data_seeds, plan_members, restore_members
from cnnjax.train.state import with_ema


def run(config, workdir: str) -> dict:
    """Trains `config` in `workdir`, resuming from its newest good checkpoint; returns the summary. With
    `train.vmap_seeds` it trains the members of a seed group in one program, each in its own run directory
    (`cnnjax.train.members`), and returns `{'status', 'line'}` with a line per member.

    Everything checkable (config values, data, batch split, model input, the workdir's path) is checked
    before anything is written; each run directory is then locked for the life of the run and claimed. Returns
    early with `status='preempted'` after a SIGTERM or Ctrl-C (the state is saved first). Raises
    DivergedError when a step is non-finite under `train.nonfinite='stop'` (its good checkpoints kept; in a
    group, once the others have finished), CheckpointSaveError when a save fails, RunWriteError when a run
    directory cannot be written.
    """
    initialize_distributed(config.parallel)
    is_primary = jax.process_index() == 0
    exp = prepare_experiment(config)
    check_workdir_path(workdir)
    members = plan_members(config, workdir)
    if config.model.init_from:
        check_source(config.model.init_from, [m.workdir for m in members])
    locks = []
    try:
        try:
            if is_primary:
                for member in members:
                    os.makedirs(member.workdir, exist_ok=True)
            if jax.process_count() > 1:
                multihost_utils.sync_global_devices("cnnjax: workdir made")
            for member in members:
                locks.append(WorkdirLock(member.workdir))
        except OSError as e:
            raise RunWriteError(f"cannot set up --workdir {workdir}: {_os_error(e)}") from e
        for member in members:
            claim_workdir(member.workdir, member.config.to_dict(), is_primary)
            if member.index is None:
                refuse_if_diverged(member.workdir, config.train.nonfinite)
            else:
                member.diverged_at = recorded_divergence(member.workdir, config.train.nonfinite)
        if all(member.diverged_at is not None for member in members):
            raise DivergedError(f"every member of the seed group in {workdir} diverged; {_WAYS_OUT}")
        training = _Training(config, members, exp, is_primary)
        try:
            return training.run()
        except OSError as e:
            raise RunWriteError(f"cannot write to {workdir}: {_os_error(e)}; {_intact(members)}") from e
        finally:
            training.close(failing=sys.exc_info()[0] is not None)
    finally:
        for lock in locks:
            lock.release()


_WAYS_OUT = "to go on, skipping non-finite steps: the same command with --config.train.nonfinite=skip"


def _intact(members: list[Member]) -> str:
    """'its intact checkpoints: 100, 200', or per member for a group."""
    if members[0].index is None:
        good = ", ".join(map(str, members[0].checkpointer.good_steps())) if members[0].checkpointer else "none"
        return f"its intact checkpoints: {good or 'none'}"
    held = [f"{m.label}{', '.join(map(str, m.checkpointer.good_steps())) or 'none'}" for m in members if m.checkpointer]
    return f"intact checkpoints: {'; '.join(held) or 'none'}"


def _os_error(e: OSError) -> str:
    return f"{e.strerror or e}" + (f" ({e.filename})" if e.filename else "")


class _Training:
    """The loop of one run, or of a seed group's members, in their locked run directories, and what its phases
    share: the state, the data, the progress bar, and each member's log and checkpoints (`close` closes them).
    A member that diverged under 'stop' (`Member.diverged_at`) is frozen on the device and no longer logged,
    evaluated, saved or summarised."""

    def __init__(self, config, members: list[Member], exp: Experiment, is_primary: bool):
        self.config, self.c, self.members, self.exp, self.is_primary = config, config.train, members, exp, is_primary
        self.dp = exp.data_parallel
        self.workers, self.threads = resolve_parallelism(config.dataset.num_workers, config.dataset.num_threads)
        self.eval_threads = max(self.workers, 1) * self.threads  # in this process: no worker start-up per evaluation
        self.steps = self.state = None
        self.progress = self.batches = self.host_batches = None
        self.watcher = PreemptionWatcher()

    @property
    def live(self) -> list[Member]:
        """The members still training (all but those that diverged under 'stop')."""
        return [m for m in self.members if m.diverged_at is None]

    def run(self) -> dict:
        """Restores, compiles, then trains to `train.num_steps`; the summary, or the preempted status."""
        config, c, dp = self.config, self.c, self.dp
        self.steps, state = map_steps(config, self.exp, self.members)
        window = self.steps.empty_window()
        for member in self.members:
            if member.diverged_at is not None:  # frozen from the start (cnnjax.train.member_axis)
                window = member.put(window, {**member.take(window), "first_nonfinite_step": member.diverged_at})
        for member in self.live:
            member.checkpointer = Checkpointer(member.workdir, c.keep_checkpoints)
        start_step, state, window, prior_seconds = restore_members(self.live, state, window, dp)
        if start_step == 0 and config.model.init_from:
            state = self._initial_weights(state)
        self.state, window = self.steps.expand(dp.put(state)), dp.put(window)
        self._open_data(start_step)
        train_step = self._compile(window, start_step) if start_step < c.num_steps else self.steps.train
        self.progress = Progress(c.num_steps, initial_step=start_step, enabled=self.is_primary)
        step, train_seconds, preempted = start_step, prior_seconds, False
        started = time.perf_counter()
        since = (started, start_step)  # the log window's start: time and step
        if self._evaluation_pending(start_step):  # stopped during it: redo it
            preempted = not self._log_evaluation(start_step)
        while step < c.num_steps and not preempted:
            self.state, window = train_step(self.state, window, next(self.batches))
            step += 1
            for member in self.live:
                member.checkpointer.check()
            if step % c.log_every_steps == 0 or step == c.num_steps:
                window, since = self._log_train(step, window, since)
            preempted = self.watcher.should_stop()
            is_eval_step = c.eval_every_steps and step % c.eval_every_steps == 0 and step < c.num_steps
            is_checkpoint_step = c.checkpoint_every_steps and step % c.checkpoint_every_steps == 0
            if is_eval_step or is_checkpoint_step or preempted or step == c.num_steps:
                self._check(dp.to_host(window))
                self.state = self.steps.expand(self.steps.canonical(self.state))  # one set of BatchNorm statistics
            if is_eval_step and not preempted:
                preempted = not self._log_evaluation(step)
                is_checkpoint_step = is_checkpoint_step or preempted
            if is_checkpoint_step or preempted or step == c.num_steps:
                train_seconds = prior_seconds + time.perf_counter() - started  # what a relaunch reports
                self._save(step, window, {"train_seconds": train_seconds})
        for member in self.live:
            member.checkpointer.wait()
        if preempted:
            self.progress.write(f"{self.watcher.reason}: saved step {step}, stopping")
            return self._preempted(step)
        return self._finish(step, train_seconds)

    def close(self, failing: bool) -> None:
        """Closes every resource, the prefetch thread first; raises the first failure unless the run is already
        failing (its error is the one to report: closing a log on a full disk fails again)."""
        errors = []
        members = [resource for m in self.members for resource in (m.log, m.checkpointer)]
        for resource in (self.batches, self.host_batches, self.watcher, self.progress, *members):
            if resource is not None:
                try:
                    resource.close()
                except Exception as e:
                    errors.append(e)
        if errors and not failing:
            raise errors[0]

    def _initial_weights(self, state):
        """``state`` (the run's, or the group's with the member axis first) from ``model.init_from``; the weights'
        moving average starts from them too."""
        if self.members[0].index is None:
            state = with_initial_weights(self.config, self.exp.model, [state])[0]
        else:
            members = with_initial_weights(self.config, self.exp.model, [m.take(state) for m in self.members])
            for member, member_state in zip(self.members, members, strict=True):
                state = member.put(state, member_state)
        return with_ema(state) if self.steps.ema else state

    def _open_data(self, start_step: int) -> None:
        """Opens the train batches from `start_step` on (one stream, or the group's streams stacked), and the
        members' metrics logs."""
        config, seeds = self.config, data_seeds(self.config, self.members)
        common = {
            "preprocess": self.exp.preprocess,
            "global_batch_size": self.c.batch_size,
            "start_step": start_step,
            "share": HostShare(jax.process_index(), jax.process_count(), self.workers, self.threads),
        }
        source = self.exp.dataset.open(config.dataset.train_split)
        if len(seeds) == 1:
            self.host_batches = train_batches(source, seed=seeds[0], **common)
        else:
            self.host_batches = stacked_train_batches(source, seeds=seeds, **common)
        self.batches = DevicePrefetch(self.host_batches, self.dp.shard_batch)
        for member in self.live:
            member.log = MetricsLog(member.workdir, resume_step=start_step, enabled=self.is_primary)

    def _compile(self, window, start_step: int):
        """Compiles the train and eval steps ahead of time and logs their compile seconds at `start_step`; returns
        the compiled train step. The first train batch is peeked at, not consumed."""
        compiled, train_seconds = timed_compile(self.steps.train, self.state, window, self.batches.peek())
        eval_batch = next(iter(self._eval_batches(self.config.dataset.eval_split)))
        eval_seconds = self.steps.evaluator.compile(self.state, eval_batch)
        for member in self.live:
            member.log.write(
                start_step, "compile", {"train_step_seconds": train_seconds, "eval_step_seconds": eval_seconds}
            )
        return compiled

    def _eval_batches(self, split: str):
        return eval_batches(
            self.exp.dataset.open(split),
            preprocess=self.exp.preprocess,
            global_batch_size=self.c.eval_batch_size,
            share=HostShare(jax.process_index(), jax.process_count(), num_threads=self.eval_threads),
        )

    def _log_train(self, step: int, window, since: tuple[float, int]):
        """Logs each live member's train window ending at `step` (a non-finite step under 'stop' ends a standalone
        run, and freezes a member); returns a fresh window (a frozen member's kept) and its start."""
        window_host = self.dp.to_host(window)
        self._check(window_host)
        now = time.perf_counter()
        images_per_sec = (step - since[1]) * self.c.batch_size / (now - since[0])
        shown = []
        for member in self.live:
            member_window = member.take(window_host)
            means = window_means(member_window)
            means["skipped_steps"] = float(member_window["skipped_steps"])
            member.log.write(step, "train", {**means, "images_per_sec": images_per_sec})
            shown.append(means)
            if (first := int(member_window["first_nonfinite_step"])) >= 0:
                skipped = int(member_window["skipped_steps"])
                self.progress.write(
                    f"{member.label}step {step}: skipped non-finite step(s) since the last log (first: step {first}, "
                    f"{describe(int(member_window['first_nonfinite_code']))}); {skipped} in all"
                )
        self.progress.update(step, {k: sum(m[k] for m in shown) / len(shown) for k in shown[0]}, images_per_sec)
        fresh = self.steps.empty_window()
        for member in self.members:
            if member.diverged_at is not None:
                fresh = member.put(fresh, member.take(window_host))
        return self.dp.put(fresh), (now, step)

    def _check(self, window_host: dict) -> None:
        """'stop': records each live member whose window holds a non-finite step as diverged at its first one;
        raises DivergedError when no member is left (at once for a standalone run)."""
        if self.c.nonfinite != "stop":
            return
        for member in self.live:
            member_window = member.take(window_host)
            first = int(member_window["first_nonfinite_step"])
            if first < 0:
                continue
            member.checkpointer.wait()  # the save in flight finishes; keep-k prunes behind it
            metric, good = describe(int(member_window["first_nonfinite_code"])), member.checkpointer.good_steps()
            if self.is_primary:
                record_divergence(member.workdir, member.config.name, first, metric, good)
            member.diverged_at = first
            if member.index is None:
                raise DivergedError(diverged_message(first, metric, good))
            self.progress.write(f"{member.label}{diverged_message(first, metric, good)}; the other members go on")
        if not self.live:
            raise DivergedError(
                f"every member of the seed group diverged (each one's summary.json says where); {_WAYS_OUT}"
            )

    def _save(self, step: int, window, progress: dict) -> None:
        """Starts each live member's asynchronous save of its canonical state and window at `step`."""
        state = self.steps.canonical(self.state)
        for member in self.live:
            config = member.config.to_dict()
            member.checkpointer.save(step, member.take(state), member.take(window), config, progress)

    def _evaluate(self, split: str, step: int) -> list[dict] | None:
        """The split's metrics at `step` for each member, with those of the weights' moving average under `EMA`
        (`train.ema_decay`), and the live members' panels; None when a SIGTERM stopped it."""
        batches = self._eval_batches(split)
        results = _per_member(self.steps.evaluator(self.state, batches, self.watcher.should_stop))
        if results is None:
            return None
        if self.exp.panels is not None and self.is_primary and self.c.eval_panels:
            self._write_panels(split, step, next(iter(batches)))
        return results

    def _write_panels(self, split: str, step: int, batch: dict) -> None:
        """Each live member's task panels of the first `train.eval_panels` examples of `split`, as
        panels/<split>_step<step>.png in its run directory."""
        state = self.dp.to_host(self.steps.canonical(self.state))
        batch = jax.tree.map(lambda x: x[: self.c.eval_panels], batch)
        for member in self.live:
            member_state = member.take(state)
            variables = {"params": member_state.params, "batch_stats": member_state.batch_stats}
            path = f"{member.workdir}/panels/{split}_step{step:07d}.png"
            self.exp.panels(path, variables, batch, f"{split} at step {step}")

    def _evaluation_pending(self, start_step: int) -> bool:
        """A periodic evaluation at the resumed step that a stop interrupted (a live member's row is missing)."""
        c, split = self.c, self.config.dataset.eval_split
        periodic = bool(c.eval_every_steps) and 0 < start_step < c.num_steps and start_step % c.eval_every_steps == 0
        return periodic and any(not m.log.has(start_step, split) for m in self.live)

    def _log_evaluation(self, step: int) -> bool:
        """Evaluates the eval split at `step` and logs it for each live member that lacks the row; False when a stop
        interrupted it (nothing logged)."""
        split = self.config.dataset.eval_split
        results = self._evaluate(split, step)
        if results is None:
            return False
        for member in self.live:
            result = results[member.index or 0]
            if not member.log.has(step, split):
                _write_rows(member, step, split, result)
            line = f"{member.label}step {step}: {split} {self.exp.task.describe(result)}"
            if EMA in result:
                line += f"; EMA weights {self.exp.task.describe(result[EMA])}"
            self.progress.write(line)
        return True

    def _preempted(self, step: int) -> dict:
        return {"status": "preempted", "step": step, "signal": self.watcher.reason}

    def _finish(self, step: int, train_seconds: float) -> dict:
        """Evaluates the validation and test splits (once when they are the same split), logs them unless already
        logged (a relaunch of a finished run, or one stopped during this evaluation), and writes each live
        member's summary. Returns the preempted status when a stop interrupts it (a relaunch redoes it); raises
        DivergedError, once the others are written, when a member of the group diverged."""
        dataset = self.config.dataset
        skipped = self.dp.to_host(self.state.skipped_steps)
        validation = self._evaluate(dataset.eval_split, step)
        same = dataset.test_split == dataset.eval_split
        test = validation if same or validation is None else self._evaluate(dataset.test_split, step)
        if test is None:
            return self._preempted(step)
        if isinstance(self.exp.task, ValidationTuned):
            test = [_tuned(self.exp.task, t, v) for t, v in zip(test, validation, strict=True)]
        summaries = [
            self._summarize(m, step, validation[m.index or 0], test[m.index or 0], int(m.take(skipped)), train_seconds)
            for m in self.live
        ]
        if self.members[0].index is None:
            return summaries[0]
        diverged = [m for m in self.members if m.diverged_at is not None]
        if diverged:
            where = ", ".join(f"{m.label}step {m.diverged_at}" for m in diverged).replace(": step", " at step")
            raise DivergedError(f"diverged: {where} (their summary.json); the other members completed")
        lines = [s["line"] for s in summaries if "line" in s]  # written by the primary process
        return {"status": "completed", **({"line": "\n".join(lines)} if lines else {})}

    def _summarize(self, member: Member, step: int, validation: dict, test: dict, skipped: int, seconds: float):
        """Logs the final evaluations unless already logged, and writes the member's summary; returns it."""
        dataset, task = self.config.dataset, self.exp.task
        for split, result in ((dataset.eval_split, validation), (dataset.test_split, test)):
            if not member.log.has(step, split):
                _write_rows(member, step, split, result)
        summary = {
            "status": "completed",
            "experiment": member.config.name,
            "task": task.name,
            **{f"test_{k}": v for k, v in test.items() if k not in ("count", EMA)},
            **{f"test_{EMA}_{k}": v for k, v in test.get(EMA, {}).items() if k != "count"},
            "num_test_examples": test["count"],
            f"validation_{task.headline}": validation[task.headline],
            **({f"validation_{EMA}_{task.headline}": validation[EMA][task.headline]} if EMA in validation else {}),
            "steps": step,
            "skipped_steps": skipped,
            "train_seconds": seconds,
        }
        if self.is_primary:
            curves = tuple(dict.fromkeys((*task.train_metric_names, task.headline)))  # e.g. pixel_accuracy, miou
            plot_training_curves(member.workdir, curves)  # reads metrics.jsonl, which is flushed at every write
            headline = task.headline_line(test)
            if EMA in test:
                headline += f"; EMA weights: {task.headline_line(test[EMA])}"
            summary["line"] = write_summary(member.workdir, summary, headline)
        return summary


def _tuned(task: ValidationTuned, test: dict, validation: dict) -> dict:
    """`task.tune` of the test result against the validation one, for the weights and their moving average."""
    tuned = task.tune(test, validation)
    if EMA in test:
        tuned[EMA] = task.tune(test[EMA], validation[EMA])
    return tuned


def _per_member(result: dict | list[dict] | None) -> list[dict] | None:
    """An evaluator's result as one dict per member (one for a standalone run), or None."""
    return None if result is None else result if isinstance(result, list) else [result]


def _write_rows(member: Member, step: int, split: str, result: dict) -> None:
    """Logs an evaluation's scalar metrics (per-class lists stay in the summary) as the `split` row, and those of the
    weights' moving average, where evaluated, as the `<split>_ema` row."""
    member.log.write(step, split, {k: v for k, v in result.items() if not isinstance(v, (list, dict))})
    if EMA in result:
        member.log.write(step, f"{split}_{EMA}", {k: v for k, v in result[EMA].items() if not isinstance(v, list)})
