"""What a run is built from, assembled in one pass from the config: each layer is asked once — the data layer
for the dataset, the task layer for the task (which gives the preprocessing and the panels), the registry for
the model — and everything checkable is checked before anything is compiled."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.config import check_layout, validate_config
from cnnjax.config.schema import compute_dtype
from cnnjax.data.dataset import Dataset, open_dataset
from cnnjax.data.preprocess import Preprocessing
from cnnjax.models import create_model
from cnnjax.parallel import AXIS, DataParallel, select_devices
from cnnjax.tasks import PanelWriter, Task, make_task
from cnnjax.train.frozen import check_patterns


@dataclasses.dataclass
class Experiment:
    """A run's parts, resolved from the config (no devices touched beyond placement)."""

    dataset: Dataset  # as the task uses it (`Dataset.for_task`)
    task: Task
    model: nn.Module
    image_shape: tuple[int, int, int]  # the model's input (H, W, C)
    preprocess: Preprocessing
    panels: PanelWriter | None  # the task's evaluation panels
    data_parallel: DataParallel


def shares_batch_stats(config) -> bool:
    """Whether BatchNorm statistics are shared across devices (`parallel.bn_group_size` groups or
    `parallel.sync_batch_stats`): one set, replicated; otherwise each device keeps its own."""
    return bool(config.parallel.sync_batch_stats or config.parallel.bn_group_size)


def build_model(config, num_classes: int, in_channels: int, platform: str) -> nn.Module:
    """The config's model for devices of `platform` (convs traced for it, `model.dtype='auto'` resolved), with
    BatchNorm over groups of `parallel.bn_group_size` images, else synced when `parallel.sync_batch_stats`, its blocks
    rematerialised with `model.remat`."""
    kwargs = {
        "num_classes": num_classes,
        "in_channels": in_channels,
        "dtype": jnp.dtype(compute_dtype(config.model.dtype, platform)),
        "bn_axis_name": AXIS if shares_batch_stats(config) else None,
        "bn_group_size": config.parallel.bn_group_size,
        "platform": platform,
        "remat": config.model.remat,
    }
    kwargs.update(config.model.overrides.to_dict())
    return create_model(config.model.name, **kwargs)


def prepare_experiment(config) -> Experiment:
    """Checks everything checkable before any compile: values, data, batch split, task, model input, the frozen
    parameter patterns."""
    validate_config(config)
    dataset = open_dataset(config.dataset.name, config.dataset.data_dir)
    data_parallel = DataParallel(select_devices(config.parallel.num_devices))
    check_layout(config, data_parallel.num_devices, jax.process_count())
    task = make_task(config, dataset)
    dataset = dataset.for_task(task.name)
    size = config.dataset.image_size
    image_shape = (size, size, dataset.info.image_shape[-1])
    model = build_model(config, dataset.info.num_classes, image_shape[-1], data_parallel.devices[0].platform)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *image_shape)), train=False))
    check_patterns(variables["params"], tuple(config.train.frozen))
    preprocess = task.preprocess(config, dataset)
    panels = task.panels(model, dataset, preprocess)
    return Experiment(dataset, task, model, image_shape, preprocess, panels, data_parallel)
