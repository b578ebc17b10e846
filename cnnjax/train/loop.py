"""`run(config, workdir)`: a whole training run — set-up, train/eval loop, checkpoints, resume, reports."""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from cnnjax.checkpoint import Checkpointer, PreemptionWatcher, claim_workdir
from cnnjax.config import validate_config
from cnnjax.data.catalog import ensure_prepared, mean_image, open_split, resolve_data_dir
from cnnjax.data.pipeline import Preprocess, eval_batches, train_iterator
from cnnjax.models import create_model
from cnnjax.parallel import AXIS, DataParallel, initialize_distributed, select_devices
from cnnjax.reporting import MetricsLog, Progress, plot_training_curves, write_summary
from cnnjax.train.evaluation import evaluate
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import create_train_state
from cnnjax.train.steps import make_eval_step, make_train_step, sync_batch_stats


@dataclasses.dataclass
class Experiment:
    """What a run is built from, resolved from the config (no devices touched beyond placement)."""

    model: object
    image_shape: tuple[int, int, int]
    preprocess: Preprocess
    data_dir: str
    data_parallel: DataParallel


def build_model(config, num_classes: int, in_channels: int):
    """The config's model, with BatchNorm synced over devices when `parallel.sync_batch_stats`."""
    kwargs = {
        "num_classes": num_classes,
        "in_channels": in_channels,
        "dtype": jnp.dtype(config.model.dtype),
        "bn_axis_name": AXIS if config.parallel.sync_batch_stats else None,
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
    data_parallel = DataParallel(config.parallel.backend, select_devices(config.parallel.num_devices))
    data_parallel.check_batch_size(config.train.batch_size, "train.batch_size")
    data_parallel.check_batch_size(config.train.eval_batch_size, "train.eval_batch_size")
    size = config.dataset.image_size
    image_shape = (size, size, info.image_shape[-1])
    model = build_model(config, info.num_classes, image_shape[-1])
    jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *image_shape)), train=False))
    return Experiment(model, image_shape, make_preprocess(config.dataset, info, data_dir), data_dir, data_parallel)


def make_preprocess(dataset, info, data_dir: str) -> Preprocess:
    """The config's preprocessing; 'per_pixel_mean' subtracts the train split's mean image (cached on disk)."""
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
    """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the summary.

    Returns early with `status='preempted'` after a SIGTERM (the state is saved first).
    """
    initialize_distributed(config.parallel)
    is_primary = jax.process_index() == 0
    config_dict = config.to_dict()
    claim_workdir(workdir, config_dict, is_primary)
    exp = prepare_experiment(config)
    dp, c = exp.data_parallel, config.train

    tx, schedule = make_optimizer(config)
    state = create_train_state(exp.model, tx, exp.image_shape, config.seed)
    source = open_split(config.dataset.name, config.dataset.train_split, exp.data_dir)
    train_data = train_iterator(
        source,
        preprocess=exp.preprocess,
        global_batch_size=c.batch_size,
        seed=config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    checkpointer = Checkpointer(workdir, c.keep_checkpoints)
    start_step = checkpointer.latest_step() or 0
    if start_step:
        state = checkpointer.restore(start_step, state, train_data)

    train_step = dp.map(make_train_step(exp.model, tx, schedule, config.loss.label_smoothing), donate_argnums=(0,))
    eval_step = dp.map(make_eval_step(exp.model))
    sync = None if config.parallel.sync_batch_stats else dp.map(sync_batch_stats)

    def evaluate_split(split: str) -> dict[str, float]:
        batches = eval_batches(
            open_split(config.dataset.name, split, exp.data_dir),
            preprocess=exp.preprocess,
            global_batch_size=c.eval_batch_size,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        return evaluate(eval_step, dp, device_state, batches)

    log = MetricsLog(workdir, resume_step=start_step, enabled=is_primary)
    progress = Progress(c.num_steps, initial_step=start_step, enabled=is_primary)
    watcher = PreemptionWatcher()
    device_state = dp.replicate(state)
    step, window, started = start_step, [], time.perf_counter()
    window_start, preempted = started, False
    try:
        while step < c.num_steps:
            device_state, metrics = train_step(device_state, dp.shard_batch(next(train_data)))
            step += 1
            window.append(metrics)
            if step % c.log_every_steps == 0 or step == c.num_steps:
                now = time.perf_counter()
                means = {k: float(np.mean([dp.first(m[k]) for m in window])) for k in window[0]}
                images_per_sec = len(window) * c.batch_size / (now - window_start)
                log.write(step, "train", {**means, "images_per_sec": images_per_sec})
                progress.update(step, means, images_per_sec)
                window, window_start = [], now
            preempted = watcher.should_stop(step)
            is_eval_step = c.eval_every_steps and step % c.eval_every_steps == 0
            is_checkpoint_step = c.checkpoint_every_steps and step % c.checkpoint_every_steps == 0
            if sync is not None and (is_eval_step or is_checkpoint_step or preempted or step == c.num_steps):
                device_state = sync(device_state)  # one set of statistics for evaluation and saving
            if is_eval_step and step < c.num_steps and not preempted:
                result = evaluate_split(config.dataset.eval_split)
                log.write(step, config.dataset.eval_split, result)
                progress.write(f"step {step}: {config.dataset.eval_split} {_describe(result)}")
            if is_checkpoint_step or preempted or step == c.num_steps:
                checkpointer.save(step, dp.first(device_state), train_data, config_dict)
            if preempted:
                progress.write(f"SIGTERM: saved step {step}, stopping")
                break
        train_seconds = time.perf_counter() - started
        checkpointer.wait()
        progress.close()
        if preempted:
            return {"status": "preempted", "step": step}
        already_finished = start_step >= c.num_steps  # its final results are logged already
        return _finish(config, workdir, log, evaluate_split, step, train_seconds, is_primary, already_finished)
    finally:
        watcher.close()
        log.close()
        checkpointer.close()


def _finish(config, workdir, log, evaluate_split, step, train_seconds, is_primary, already_finished) -> dict:
    validation = evaluate_split(config.dataset.eval_split)
    test = evaluate_split(config.dataset.test_split)
    if not already_finished:
        log.write(step, config.dataset.eval_split, validation)
        log.write(step, config.dataset.test_split, test)
    summary = {
        "status": "completed",
        "experiment": config.name,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "num_test_examples": test["count"],
        "validation_accuracy": validation["accuracy"],
        "steps": step,
        "train_seconds": train_seconds,
    }
    if is_primary:
        plot_training_curves(workdir)  # reads metrics.jsonl, which is flushed at every write
        summary["line"] = write_summary(workdir, summary)
    return summary


def _describe(result: dict[str, float]) -> str:
    return f"accuracy {100 * result['accuracy']:.2f}% loss {result['loss']:.4f} ({result['count']} examples)"
