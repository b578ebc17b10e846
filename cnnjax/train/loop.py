"""`run(config, workdir)`: a whole training run — set-up, train/eval loop, checkpoints, resume, reports."""

import dataclasses
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from cnnjax.checkpoint import Checkpointer, PreemptionWatcher, WorkdirLock, check_workdir_path, claim_workdir
from cnnjax.compile_time import timed_compile
from cnnjax.config import check_layout, validate_config
from cnnjax.config.schema import compute_dtype
from cnnjax.cpu_runtime import compiler_options
from cnnjax.data.catalog import DatasetInfo, ensure_prepared, for_task, mean_image, open_split, resolve_data_dir
from cnnjax.data.density_augment import DensityPreprocess
from cnnjax.data.pipeline import eval_batches, train_batches
from cnnjax.data.preprocess import Preprocess, display_images
from cnnjax.data.segmentation_augment import SegmentationPreprocess
from cnnjax.data.workers import resolve as resolve_parallelism
from cnnjax.models import create_model
from cnnjax.models.registry import model_task
from cnnjax.parallel import (
    AXIS,
    REPLICATED,
    SHARDED,
    DataParallel,
    DevicePrefetch,
    initialize_distributed,
    select_devices,
)
from cnnjax.reporting import MetricsLog, Progress, plot_training_curves, write_summary
from cnnjax.reporting.panels import write_density_panels, write_segmentation_panels
from cnnjax.tasks import make_task
from cnnjax.errors import DivergedError, RunWriteError
from cnnjax.train.divergence import describe, diverged_message, record_divergence, refuse_if_diverged
from cnnjax.train.evaluation import Evaluator
from cnnjax.train.log_window import accumulate, empty_window, window_means
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import create_train_state, state_layouts
from cnnjax.train.steps import make_eval_step, make_train_step, train_metric_names


@dataclasses.dataclass
class Experiment:
    """What a run is built from, resolved from the config (no devices touched beyond placement)."""

    model: object
    image_shape: tuple[int, int, int]
    preprocess: Preprocess | SegmentationPreprocess | DensityPreprocess
    data_dir: str
    data_parallel: DataParallel
    task: object  # `cnnjax.tasks.Classification`, `Segmentation` or `Counting`
    info: DatasetInfo  # for the config's task (`catalog.for_task`)


def build_model(config, num_classes: int, in_channels: int, platform: str):
    """The config's model for devices of `platform` (convs traced for it, `model.dtype='auto'` resolved), with
    BatchNorm over groups of `parallel.bn_group_size` images, else synced when `parallel.sync_batch_stats`."""
    kwargs = {
        "num_classes": num_classes,
        "in_channels": in_channels,
        "dtype": jnp.dtype(compute_dtype(config.model.dtype, platform)),
        "bn_axis_name": AXIS if config.parallel.sync_batch_stats or config.parallel.bn_group_size else None,
        "bn_group_size": config.parallel.bn_group_size,
        "platform": platform,
    }
    kwargs.update(config.model.overrides.to_dict())
    return create_model(config.model.name, **kwargs)


def prepare_experiment(config) -> Experiment:
    """Checks everything checkable before any compile: values, data, batch split, model input."""
    validate_config(config)
    data_dir = resolve_data_dir(config.dataset.data_dir)
    if jax.process_index() == 0:
        info = ensure_prepared(config.dataset.name, data_dir)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("cnnjax: dataset prepared")
        info = ensure_prepared(config.dataset.name, data_dir)
    data_parallel = DataParallel(select_devices(config.parallel.num_devices))
    check_layout(config, data_parallel.num_devices, jax.process_count())
    _check_task(config, info)
    info = for_task(info, config.task)
    size = config.dataset.image_size
    image_shape = (size, size, info.image_shape[-1])
    model = build_model(config, info.num_classes, image_shape[-1], data_parallel.devices[0].platform)
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *image_shape)), train=False))
    preprocess = make_preprocess(config, info, data_dir)
    task = make_task(config, info.num_classes)
    return Experiment(model, image_shape, preprocess, data_dir, data_parallel, task, info)


def _check_task(config, info: DatasetInfo) -> None:
    """The config's task must be one its dataset serves and its model solves; counting takes a segmentation
    model (a dense output, built with one channel: the density)."""
    if config.task not in info.tasks:
        raise ValueError(
            f"config.task is {config.task!r} but dataset {config.dataset.name!r} serves "
            f"{' and '.join(info.tasks)}; set --config.task={info.task}"
        )
    dense = config.task == "counting"
    model = model_task(config.model.name)
    if model != config.task and not (dense and model == "segmentation"):
        wanted = "segmentation" if dense else config.task
        needs = " (counting needs a dense output)" if dense else ""
        raise ValueError(
            f"config.task is {config.task!r} but model {config.model.name!r} is a {model} model{needs}; "
            f"pick one from cnnjax.models.list_models(task={wanted!r})"
        )


def make_preprocess(config, info, data_dir: str) -> Preprocess | SegmentationPreprocess | DensityPreprocess:
    """The config's preprocessing; 'per_pixel_mean' subtracts the train split's mean image (cached on disk)."""
    dataset = config.dataset
    if config.task == "counting":
        return DensityPreprocess(
            image_size=dataset.image_size,
            mean=info.mean,
            std=info.std,
            scale_range=tuple(dataset.scale_range),
            hflip=dataset.hflip,
        )
    if config.task == "segmentation":
        return SegmentationPreprocess(
            image_size=dataset.image_size,
            mean=info.mean,
            std=info.std,
            scale_range=tuple(dataset.scale_range),
            hflip=dataset.hflip,
            ignore_index=config.loss.ignore_index,
        )
    mean, std = info.mean, info.std
    if dataset.normalization == "per_pixel_mean":
        mean = mean_image(dataset.name, dataset.train_split, data_dir, dataset.image_size)
        std = (1.0,) * len(info.std)
    return Preprocess(
        image_size=dataset.image_size,
        mean=mean,
        std=std,
        pad_crop=dataset.pad_crop,
        hflip=dataset.hflip,
        pad_mode=dataset.pad_mode,
        train_crop=dataset.train_crop,
        eval_resize=dataset.eval_resize,
    )


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
        return _train(config, workdir, exp, is_primary)
    finally:
        lock.release()


def _os_error(e: OSError) -> str:
    return f"{e.strerror or e}" + (f" ({e.filename})" if e.filename else "")


def _train(config, workdir: str, exp: Experiment, is_primary: bool) -> dict:
    dp, c = exp.data_parallel, config.train
    watcher = PreemptionWatcher()
    checkpointer = log = progress_bar = batches = host_batches = None
    try:
        tx, schedule = make_optimizer(config)
        grouped_or_synced = config.parallel.sync_batch_stats or config.parallel.bn_group_size
        layouts = state_layouts(per_device_batch_stats=not grouped_or_synced)
        canonical, expand = dp.canonicalizer(layouts), dp.expander(layouts)
        state = dp.put(create_train_state(exp.model, tx, exp.image_shape, config.seed))
        on_device = exp.preprocess.on_device
        train_step = make_train_step(exp.model, tx, schedule, exp.task, on_device)
        metric_names = train_metric_names(exp.task)
        window = dp.put(empty_window(metric_names))
        checkpointer = Checkpointer(workdir, c.keep_checkpoints)
        start_step, prior_seconds = 0, 0.0
        if (restored := checkpointer.restore(state, window)) is not None:
            start_step, state, window, progress = restored
            prior_seconds = float(progress["train_seconds"])
        state = expand(state)
        train_seconds = prior_seconds

        def windowed_step(state, window, batch):
            state, metrics = train_step(state, batch)
            return state, accumulate(window, metrics, state.step, state.skipped_steps)

        options = compiler_options(dp.platform) if config.runtime.tune_cpu else {}
        step_fn = dp.map(
            windowed_step,
            (layouts, REPLICATED, SHARDED),
            (layouts, REPLICATED),
            donate_argnums=(0, 1),
            compiler_options=options,
        )
        evaluator = Evaluator(dp, make_eval_step(exp.model, exp.task, on_device), layouts, exp.task, options)

        workers, threads = resolve_parallelism(config.dataset.num_workers, config.dataset.num_threads)
        eval_threads = max(workers, 1) * threads  # threads in this process: no worker start-up per evaluation

        def eval_split_batches(split: str):
            return eval_batches(
                open_split(config.dataset.name, split, exp.data_dir, config.task),
                preprocess=exp.preprocess,
                global_batch_size=c.eval_batch_size,
                process_index=jax.process_index(),
                process_count=jax.process_count(),
                num_threads=eval_threads,
            )

        def evaluate_split(split: str, step: int) -> dict[str, float] | None:
            """The split's metrics at `step` (and its panels), or None when a SIGTERM stopped it."""
            batches = eval_split_batches(split)
            result = evaluator(state, batches, watcher.should_stop)
            if result is not None and config.task != "classification" and is_primary and c.eval_panels:
                _write_panels(exp, workdir, split, step, dp.to_host(canonical(state)), next(iter(batches)), c.eval_panels)
            return result

        host_batches = train_batches(
            open_split(config.dataset.name, config.dataset.train_split, exp.data_dir, config.task),
            preprocess=exp.preprocess,
            global_batch_size=c.batch_size,
            seed=config.seed,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            start_step=start_step,
            num_workers=workers,
            num_threads=threads,
        )
        batches = DevicePrefetch(host_batches, dp.shard_batch)
        log = MetricsLog(workdir, resume_step=start_step, enabled=is_primary)
        if start_step < c.num_steps:
            eval_split = eval_split_batches(config.dataset.eval_split)
            step_fn, compile_seconds = _compile(step_fn, evaluator, state, window, batches, eval_split)
            log.write(start_step, "compile", compile_seconds)
        progress_bar = Progress(c.num_steps, initial_step=start_step, enabled=is_primary)
        step, started, preempted = start_step, time.perf_counter(), False
        window_start, window_first_step = started, start_step

        def check(window_host: dict) -> None:
            """'stop': raises DivergedError when a step of the window was non-finite."""
            first = int(window_host["first_nonfinite_step"])
            if first < 0 or c.nonfinite != "stop":
                return
            checkpointer.wait()  # the save in flight finishes; keep-k prunes behind it
            metric, good = describe(int(window_host["first_nonfinite_code"])), checkpointer.good_steps()
            if is_primary:
                record_divergence(workdir, config.name, first, metric, good)
            raise DivergedError(diverged_message(first, metric, good))

        if _evaluation_pending(c, start_step, log, config.dataset.eval_split):  # stopped during it: redo it
            preempted = not _log_evaluation(config, exp, log, progress_bar, evaluate_split, start_step)
        while step < c.num_steps and not preempted:
            state, window = step_fn(state, window, next(batches))
            step += 1
            checkpointer.check()
            if step % c.log_every_steps == 0 or step == c.num_steps:
                window_host = dp.to_host(window)
                check(window_host)
                now = time.perf_counter()
                means = window_means(window_host)
                means["skipped_steps"] = float(window_host["skipped_steps"])
                images_per_sec = (step - window_first_step) * c.batch_size / (now - window_start)
                log.write(step, "train", {**means, "images_per_sec": images_per_sec})
                progress_bar.update(step, means, images_per_sec)
                if (first := int(window_host["first_nonfinite_step"])) >= 0:
                    skipped = int(window_host["skipped_steps"])
                    progress_bar.write(
                        f"step {step}: skipped non-finite step(s) since the last log (first: step {first}, "
                        f"{describe(int(window_host['first_nonfinite_code']))}); {skipped} in all"
                    )
                window = dp.put(empty_window(metric_names))
                window_start, window_first_step = now, step
            preempted = watcher.should_stop()
            is_eval_step = c.eval_every_steps and step % c.eval_every_steps == 0 and step < c.num_steps
            is_checkpoint_step = c.checkpoint_every_steps and step % c.checkpoint_every_steps == 0
            if is_eval_step or is_checkpoint_step or preempted or step == c.num_steps:
                check(dp.to_host(window))
                state = expand(canonical(state))  # one set of BatchNorm statistics for evaluation and saving
            if is_eval_step and not preempted:
                preempted = not _log_evaluation(config, exp, log, progress_bar, evaluate_split, step)
                is_checkpoint_step = is_checkpoint_step or preempted
            if is_checkpoint_step or preempted or step == c.num_steps:
                train_seconds = prior_seconds + time.perf_counter() - started  # what a relaunch reports
                checkpointer.save(
                    step, canonical(state), window, config.to_dict(), {"train_seconds": train_seconds}
                )
        checkpointer.wait()
        if preempted:
            progress_bar.write(f"{watcher.reason}: saved step {step}, stopping")
            return {"status": "preempted", "step": step, "signal": watcher.reason}
        skipped = int(dp.to_host(state.skipped_steps))
        return _finish(config, exp.task, workdir, log, evaluate_split, step, train_seconds, skipped, is_primary, watcher)
    except OSError as e:
        good = ", ".join(map(str, checkpointer.good_steps())) if checkpointer else "none"
        raise RunWriteError(f"cannot write to {workdir}: {_os_error(e)}; its intact checkpoints: {good or 'none'}") from e
    finally:
        resources = (batches, host_batches, watcher, progress_bar, log, checkpointer)  # the prefetch thread first
        _close_all(resources, failing=sys.exc_info()[0] is not None)


def _compile(step_fn, evaluator: Evaluator, state, window, batches: DevicePrefetch, eval_batches) -> tuple:
    """Compiles the train and eval steps ahead of time; returns the compiled train step and the compile seconds of
    both. The first train batch is peeked at, not consumed."""
    compiled, train_seconds = timed_compile(step_fn, state, window, batches.peek())
    eval_seconds = evaluator.compile(state, next(iter(eval_batches)))
    return compiled, {"train_step_seconds": train_seconds, "eval_step_seconds": eval_seconds}


def _evaluation_pending(c, start_step: int, log: MetricsLog, split: str) -> bool:
    """A periodic evaluation at the resumed step that a stop interrupted (its row is missing)."""
    return bool(c.eval_every_steps) and 0 < start_step < c.num_steps and start_step % c.eval_every_steps == 0 and not log.has(start_step, split)


def _log_evaluation(config, exp: Experiment, log: MetricsLog, progress_bar: Progress, evaluate_split, step: int) -> bool:
    """Evaluates the eval split at `step` and logs it; False when a stop interrupted it (nothing logged)."""
    split = config.dataset.eval_split
    result = evaluate_split(split, step)
    if result is None:
        return False
    log.write(step, split, _scalars(result))
    progress_bar.write(f"step {step}: {split} {exp.task.describe(result)}")
    return True


def _close_all(resources, failing: bool) -> None:
    """Closes each resource; raises the first failure unless the run is already failing (its error is the
    one to report: closing a log on a full disk fails again)."""
    errors = []
    for resource in resources:
        if resource is not None:
            try:
                resource.close()
            except Exception as e:
                errors.append(e)
    if errors and not failing:
        raise errors[0]


def _finish(config, task, workdir, log, evaluate_split, step, train_seconds, skipped, is_primary, watcher) -> dict:
    """Evaluates the validation and test splits (once when they are the same split), logs them unless already
    logged (a relaunch of a finished run, or one stopped during this evaluation), and writes the summary.
    Returns the preempted status when a stop interrupts it (a relaunch redoes it)."""
    validation = evaluate_split(config.dataset.eval_split, step)
    same = config.dataset.test_split == config.dataset.eval_split
    test = validation if same or validation is None else evaluate_split(config.dataset.test_split, step)
    if test is None:
        return {"status": "preempted", "step": step, "signal": watcher.reason}
    for split, result in ((config.dataset.eval_split, validation), (config.dataset.test_split, test)):
        if not log.has(step, split):
            log.write(step, split, _scalars(result))
    summary = {
        "status": "completed",
        "experiment": config.name,
        "task": task.name,
        **{f"test_{k}": v for k, v in test.items() if k != "count"},
        "num_test_examples": test["count"],
        f"validation_{task.headline}": validation[task.headline],
        "steps": step,
        "skipped_steps": skipped,
        "train_seconds": train_seconds,
    }
    if is_primary:
        plot_training_curves(workdir)  # reads metrics.jsonl, which is flushed at every write
        summary["line"] = write_summary(workdir, summary)
    return summary


def _scalars(result: dict) -> dict[str, float]:
    """The scalar metrics of an evaluation (per-class lists stay in the summary)."""
    return {k: v for k, v in result.items() if not isinstance(v, list)}


def _write_panels(exp: Experiment, workdir: str, split: str, step: int, state, batch: dict, count: int) -> None:
    """PNG of image / ground truth / prediction (class maps, or density maps when counting) for the first
    `count` examples of `split`."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    batch = jax.tree.map(lambda x: x[:count], batch)
    images = exp.preprocess.on_device(batch)["image"]
    path = f"{workdir}/panels/{split}_step{step:07d}.png"
    images_01 = display_images(batch)
    if exp.info.task == "counting":
        densities = jax.jit(lambda v, x: exp.task.density(exp.model.apply(v, x, train=False)))(variables, images)
        write_density_panels(
            path,
            images=images_01,
            targets=batch["label"][:count],
            predictions=np.asarray(densities),
            title=f"{split} at step {step}",
        )
        return
    predictions = jax.jit(lambda v, x: jnp.argmax(exp.model.apply(v, x, train=False), -1))(variables, images)
    write_segmentation_panels(
        path,
        images=images_01,
        labels=batch["label"][:count],
        predictions=np.asarray(predictions),
        class_names=exp.info.class_names,
        title=f"{split} at step {step}",
    )
