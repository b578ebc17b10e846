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
from cnnjax.config.schema import data_seed
from cnnjax.data.pipeline import HostShare, eval_batches, train_batches
from cnnjax.data.workers import resolve as resolve_parallelism
from cnnjax.errors import DivergedError, RunWriteError
from cnnjax.parallel import DevicePrefetch, initialize_distributed
from cnnjax.reporting import MetricsLog, Progress, plot_training_curves, write_summary
from cnnjax.train.divergence import describe, diverged_message, record_divergence, refuse_if_diverged
from cnnjax.train.experiment import Experiment, prepare_experiment
from cnnjax.train.log_window import empty_window, window_means
from cnnjax.train.mapped_steps import map_steps


def run(config, workdir: str) -> dict:
    """Trains `config` in `workdir`, resuming from its newest good checkpoint; returns the summary.

    Everything checkable (config values, data, batch split, model input, the workdir's path) is checked
    before anything is written; the workdir is then locked for the life of the run and claimed. Returns
    early with `status='preempted'` after a SIGTERM or Ctrl-C (the state is saved first). Raises
    DivergedError when a step is non-finite under `train.nonfinite='stop'` (its good checkpoints kept),
    CheckpointSaveError when a save fails, RunWriteError when the workdir cannot be written.
    """
    initialize_distributed(config.parallel)
    is_primary = jax.process_index() == 0
    exp = prepare_experiment(config)
    check_workdir_path(workdir)
    try:
        if is_primary:
            os.makedirs(workdir, exist_ok=True)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("cnnjax: workdir made")
        lock = WorkdirLock(workdir)
    except OSError as e:
        raise RunWriteError(f"cannot set up --workdir {workdir}: {_os_error(e)}") from e
    try:
        claim_workdir(workdir, config.to_dict(), is_primary)
        refuse_if_diverged(workdir, config.train.nonfinite)
        training = _Training(config, workdir, exp, is_primary)
        try:
            return training.run()
        except OSError as e:
            good = ", ".join(map(str, training.checkpointer.good_steps())) if training.checkpointer else "none"
            message = f"cannot write to {workdir}: {_os_error(e)}; its intact checkpoints: {good or 'none'}"
            raise RunWriteError(message) from e
        finally:
            training.close(failing=sys.exc_info()[0] is not None)
    finally:
        lock.release()


def _os_error(e: OSError) -> str:
    return f"{e.strerror or e}" + (f" ({e.filename})" if e.filename else "")


class _Training:
    """The loop of one run in its locked workdir, and what its phases share: the state, the data, the log,
    the progress bar and the checkpoints (`close` closes them)."""

    def __init__(self, config, workdir: str, exp: Experiment, is_primary: bool):
        self.config, self.c, self.workdir, self.exp, self.is_primary = config, config.train, workdir, exp, is_primary
        self.dp = exp.data_parallel
        self.workers, self.threads = resolve_parallelism(config.dataset.num_workers, config.dataset.num_threads)
        self.eval_threads = max(self.workers, 1) * self.threads  # in this process: no worker start-up per evaluation
        self.steps = self.state = None
        self.checkpointer = self.log = self.progress = self.batches = self.host_batches = None
        self.watcher = PreemptionWatcher()

    def run(self) -> dict:
        """Restores, compiles, then trains to `train.num_steps`; the summary, or the preempted status."""
        config, c, dp = self.config, self.c, self.dp
        self.steps, self.state = map_steps(config, self.exp)
        window = dp.put(empty_window(self.steps.metric_names))
        self.checkpointer = Checkpointer(self.workdir, c.keep_checkpoints)
        start_step, prior_seconds = 0, 0.0
        if (restored := self.checkpointer.restore(self.state, window)) is not None:
            start_step, self.state, window, progress = restored
            prior_seconds = float(progress["train_seconds"])
        self.state = self.steps.expand(self.state)
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
            self.checkpointer.check()
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
                progress = {"train_seconds": train_seconds}
                self.checkpointer.save(step, self.steps.canonical(self.state), window, config.to_dict(), progress)
        self.checkpointer.wait()
        if preempted:
            self.progress.write(f"{self.watcher.reason}: saved step {step}, stopping")
            return self._preempted(step)
        return self._finish(step, train_seconds)

    def close(self, failing: bool) -> None:
        """Closes every resource, the prefetch thread first; raises the first failure unless the run is already
        failing (its error is the one to report: closing a log on a full disk fails again)."""
        errors = []
        for resource in (self.batches, self.host_batches, self.watcher, self.progress, self.log, self.checkpointer):
            if resource is not None:
                try:
                    resource.close()
                except Exception as e:
                    errors.append(e)
        if errors and not failing:
            raise errors[0]

    def _open_data(self, start_step: int) -> None:
        """Opens the train batches from `start_step` on, and the metrics log."""
        config = self.config
        self.host_batches = train_batches(
            self.exp.dataset.open(config.dataset.train_split),
            preprocess=self.exp.preprocess,
            global_batch_size=self.c.batch_size,
            seed=data_seed(config),
            start_step=start_step,
            share=HostShare(jax.process_index(), jax.process_count(), self.workers, self.threads),
        )
        self.batches = DevicePrefetch(self.host_batches, self.dp.shard_batch)
        self.log = MetricsLog(self.workdir, resume_step=start_step, enabled=self.is_primary)

    def _compile(self, window, start_step: int):
        """Compiles the train and eval steps ahead of time and logs their compile seconds at `start_step`; returns
        the compiled train step. The first train batch is peeked at, not consumed."""
        compiled, train_seconds = timed_compile(self.steps.train, self.state, window, self.batches.peek())
        eval_batch = next(iter(self._eval_batches(self.config.dataset.eval_split)))
        eval_seconds = self.steps.evaluator.compile(self.state, eval_batch)
        self.log.write(start_step, "compile", {"train_step_seconds": train_seconds, "eval_step_seconds": eval_seconds})
        return compiled

    def _eval_batches(self, split: str):
        return eval_batches(
            self.exp.dataset.open(split),
            preprocess=self.exp.preprocess,
            global_batch_size=self.c.eval_batch_size,
            share=HostShare(jax.process_index(), jax.process_count(), num_threads=self.eval_threads),
        )

    def _log_train(self, step: int, window, since: tuple[float, int]):
        """Logs the train window ending at `step` (stopping the run on a non-finite step under 'stop'); returns
        a fresh window and its start."""
        window_host = self.dp.to_host(window)
        self._check(window_host)
        now = time.perf_counter()
        means = window_means(window_host)
        means["skipped_steps"] = float(window_host["skipped_steps"])
        images_per_sec = (step - since[1]) * self.c.batch_size / (now - since[0])
        self.log.write(step, "train", {**means, "images_per_sec": images_per_sec})
        self.progress.update(step, means, images_per_sec)
        if (first := int(window_host["first_nonfinite_step"])) >= 0:
            skipped = int(window_host["skipped_steps"])
            self.progress.write(
                f"step {step}: skipped non-finite step(s) since the last log (first: step {first}, "
                f"{describe(int(window_host['first_nonfinite_code']))}); {skipped} in all"
            )
        return self.dp.put(empty_window(self.steps.metric_names)), (now, step)

    def _check(self, window_host: dict) -> None:
        """'stop': raises DivergedError when a step of the window was non-finite."""
        first = int(window_host["first_nonfinite_step"])
        if first < 0 or self.c.nonfinite != "stop":
            return
        self.checkpointer.wait()  # the save in flight finishes; keep-k prunes behind it
        metric, good = describe(int(window_host["first_nonfinite_code"])), self.checkpointer.good_steps()
        if self.is_primary:
            record_divergence(self.workdir, self.config.name, first, metric, good)
        raise DivergedError(diverged_message(first, metric, good))

    def _evaluate(self, split: str, step: int) -> dict | None:
        """The split's metrics at `step` (and its panels), or None when a SIGTERM stopped it."""
        batches = self._eval_batches(split)
        result = self.steps.evaluator(self.state, batches, self.watcher.should_stop)
        if result is not None and self.exp.panels is not None and self.is_primary and self.c.eval_panels:
            self._write_panels(split, step, next(iter(batches)))
        return result

    def _write_panels(self, split: str, step: int, batch: dict) -> None:
        """The task's panels of the first `train.eval_panels` examples of `split`, as panels/<split>_step<step>.png."""
        state = self.dp.to_host(self.steps.canonical(self.state))
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        batch = jax.tree.map(lambda x: x[: self.c.eval_panels], batch)
        path = f"{self.workdir}/panels/{split}_step{step:07d}.png"
        self.exp.panels(path, variables, batch, f"{split} at step {step}")

    def _evaluation_pending(self, start_step: int) -> bool:
        """A periodic evaluation at the resumed step that a stop interrupted (its row is missing)."""
        c, split = self.c, self.config.dataset.eval_split
        periodic = bool(c.eval_every_steps) and 0 < start_step < c.num_steps and start_step % c.eval_every_steps == 0
        return periodic and not self.log.has(start_step, split)

    def _log_evaluation(self, step: int) -> bool:
        """Evaluates the eval split at `step` and logs it; False when a stop interrupted it (nothing logged)."""
        split = self.config.dataset.eval_split
        result = self._evaluate(split, step)
        if result is None:
            return False
        self.log.write(step, split, _scalars(result))
        self.progress.write(f"step {step}: {split} {self.exp.task.describe(result)}")
        return True

    def _preempted(self, step: int) -> dict:
        return {"status": "preempted", "step": step, "signal": self.watcher.reason}

    def _finish(self, step: int, train_seconds: float) -> dict:
        """Evaluates the validation and test splits (once when they are the same split), logs them unless already
        logged (a relaunch of a finished run, or one stopped during this evaluation), and writes the summary.
        Returns the preempted status when a stop interrupts it (a relaunch redoes it)."""
        dataset, task = self.config.dataset, self.exp.task
        skipped = int(self.dp.to_host(self.state.skipped_steps))
        validation = self._evaluate(dataset.eval_split, step)
        same = dataset.test_split == dataset.eval_split
        test = validation if same or validation is None else self._evaluate(dataset.test_split, step)
        if test is None:
            return self._preempted(step)
        for split, result in ((dataset.eval_split, validation), (dataset.test_split, test)):
            if not self.log.has(step, split):
                self.log.write(step, split, _scalars(result))
        summary = {
            "status": "completed",
            "experiment": self.config.name,
            "task": task.name,
            **{f"test_{k}": v for k, v in test.items() if k != "count"},
            "num_test_examples": test["count"],
            f"validation_{task.headline}": validation[task.headline],
            "steps": step,
            "skipped_steps": skipped,
            "train_seconds": train_seconds,
        }
        if self.is_primary:
            curves = tuple(dict.fromkeys((*task.train_metric_names, task.headline)))  # e.g. pixel_accuracy, miou
            plot_training_curves(self.workdir, curves)  # reads metrics.jsonl, which is flushed at every write
            summary["line"] = write_summary(self.workdir, summary, task.headline_line(test))
        return summary


def _scalars(result: dict) -> dict[str, float]:
    """The scalar metrics of an evaluation (per-class lists stay in the summary)."""
    return {k: v for k, v in result.items() if not isinstance(v, list)}
