"""The steps a run maps over its devices: the windowed train step and the evaluator, with the state they start
from and the maps between the state's canonical (saved) and per-device layouts. A seed group's steps are
vmapped over its members (`cnnjax.train.member_axis`), and its state and window carry the member axis first."""

import dataclasses
import functools
from collections.abc import Callable

from cnnjax.cpu_runtime import compiler_options
from cnnjax.parallel import REPLICATED, SHARDED
from cnnjax.train.ema import Ema
from cnnjax.train.evaluation import Evaluator
from cnnjax.train.experiment import Experiment, shares_batch_stats
from cnnjax.train.layer_decay import layer_order
from cnnjax.train.log_window import accumulate, empty_window
from cnnjax.train.member_axis import stack_members, vmap_eval_step, vmap_train_step
from cnnjax.train.members import Member, data_seeds
from cnnjax.train.mixup import Mixup
from cnnjax.train.optimizer import make_optimizer
from cnnjax.train.state import TrainState, create_train_state, state_initializer, state_layouts
from cnnjax.train.steps import make_eval_step, make_train_step, train_metric_names


@dataclasses.dataclass(frozen=True)
class MappedSteps:
    """`train(state, window, batch) -> (state, window)` (state and window donated; the window accumulates the
    step's metrics, `cnnjax.train.log_window`), the `evaluator`, and `canonical` / `expand` between the
    state's layouts (BatchNorm statistics kept per device are averaged by `canonical`)."""

    train: Callable
    evaluator: Evaluator  # with `ema`, each result holds the moving average's metrics under `EMA` too
    ema: bool  # the state keeps a moving average of the weights (`train.ema_decay`)
    canonical: Callable
    expand: Callable
    metric_names: tuple[str, ...]  # the keys of the window's metrics
    empty_window: Callable[[], dict]  # a host window with no steps (the member axis first in a group)


def map_steps(config, exp: Experiment, members: list[Member]) -> tuple[MappedSteps, TrainState]:
    """The config's mapped steps for `exp` and `members` (`cnnjax.train.members.plan_members`), and the initial
    host state (canonical layout; the member axis first in a group)."""
    dp = exp.data_parallel
    frozen = tuple(config.train.frozen)  # checked against the model by prepare_experiment
    layers = layer_order(exp.model, exp.image_shape) if config.optimizer.layer_decay != 1.0 else ()
    tx, schedule = make_optimizer(config, layers)
    ema = Ema.from_config(config)
    layouts = state_layouts(per_device_batch_stats=not shares_batch_stats(config), ema=ema is not None)
    train_step = make_train_step(
        exp.model,
        tx,
        schedule,
        exp.task,
        exp.preprocess.on_device,
        frozen=frozen,
        accumulation_steps=config.train.accumulation_steps,
        ema=ema,
        mixup=Mixup.from_config(config, exp.dataset.info.num_classes),
    )
    eval_step = make_eval_step(exp.model, exp.task, exp.preprocess.on_device, with_ema=ema is not None)
    names = train_metric_names(exp.task)

    def windowed_step(state, window, batch):
        state, metrics = train_step(state, batch)
        return state, accumulate(window, metrics, state.step, state.skipped_steps)

    if members[0].index is None:
        state, group_size = create_train_state(exp.model, tx, exp.image_shape, config.seed, ema is not None), 0
    else:
        init = state_initializer(exp.model, tx, exp.image_shape, ema is not None)
        state, group_size = stack_members([init(m.config.seed) for m in members]), len(members)
        shared_data = len(data_seeds(config, members)) == 1
        windowed_step = vmap_train_step(windowed_step, shared_data, config.train.nonfinite == "stop")
        eval_step = vmap_eval_step(eval_step)

    options = compiler_options(dp.platform, members=group_size > 0) if config.runtime.tune_cpu else {}
    step_fn = dp.map(
        windowed_step,
        (layouts, REPLICATED, SHARDED),
        (layouts, REPLICATED),
        donate_argnums=(0, 1),
        compiler_options=options,
    )
    evaluator = Evaluator(dp, eval_step, layouts, exp.task, options, members=group_size)
    new_window = functools.partial(_empty_window, names, group_size)
    steps = MappedSteps(
        step_fn,
        evaluator,
        ema is not None,
        dp.canonicalizer(layouts),
        dp.expander(layouts),
        names,
        new_window,
    )
    return steps, state


def _empty_window(names: tuple[str, ...], group_size: int) -> dict:
    """A host window with no steps; for a group (`group_size` > 0) one per member, the member axis first."""
    window = empty_window(names)
    return stack_members([window] * group_size) if group_size else window
