"""The steps a run maps over its devices: the windowed train step and the evaluator, with the state they start
from and the maps between the state's canonical (saved) and per-device layouts."""

import dataclasses
from collections.abc import Callable

from cnnjax.cpu_runtime import compiler_options
from cnnjax.parallel import REPLICATED, SHARDED
from cnnjax.train.evaluation import Evaluator
from cnnjax.train.experiment import Experiment, shares_batch_stats
from cnnjax.train.log_window import accumulate
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import TrainState, create_train_state, state_layouts
from cnnjax.train.steps import make_eval_step, make_train_step, train_metric_names


@dataclasses.dataclass(frozen=True)
class MappedSteps:
    """`train(state, window, batch) -> (state, window)` (state and window donated; the window accumulates the
    step's metrics, `cnnjax.train.log_window`), the `evaluator`, and `canonical` / `expand` between the
    state's layouts (BatchNorm statistics kept per device are averaged by `canonical`)."""

    train: Callable
    evaluator: Evaluator
    canonical: Callable
    expand: Callable
    metric_names: tuple[str, ...]  # the keys of the window's metrics


def map_steps(config, exp: Experiment) -> tuple[MappedSteps, TrainState]:
    """The config's mapped steps for `exp`, and the initial state on the devices (canonical layout)."""
    dp = exp.data_parallel
    tx, schedule = make_optimizer(config)
    layouts = state_layouts(per_device_batch_stats=not shares_batch_stats(config))
    state = dp.put(create_train_state(exp.model, tx, exp.image_shape, config.seed))
    train_step = make_train_step(exp.model, tx, schedule, exp.task, exp.preprocess.on_device)

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
    eval_step = make_eval_step(exp.model, exp.task, exp.preprocess.on_device)
    evaluator = Evaluator(dp, eval_step, layouts, exp.task, options)
    names = train_metric_names(exp.task)
    return MappedSteps(step_fn, evaluator, dp.canonicalizer(layouts), dp.expander(layouts), names), state
