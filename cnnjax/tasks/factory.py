"""The task of a config: `make_task(config, dataset)`, checked against the dataset and the model first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnjax.errors import InvalidInputError
from cnnjax.models.registry import model_task
from cnnjax.tasks.classification import Classification
from cnnjax.tasks.counting import Counting
from cnnjax.tasks.keypoints import Keypoints
from cnnjax.tasks.multilabel import Multilabel
from cnnjax.tasks.protocol import Task
from cnnjax.tasks.segmentation import Segmentation

if TYPE_CHECKING:
    from cnnjax.data.dataset import Dataset

TASKS = {task.name: task for task in (Classification, Multilabel, Segmentation, Counting, Keypoints)}


def make_task(config, dataset: Dataset) -> Task:
    """The config's task with its loss settings, for `dataset.for_task(config.task)` (its classes).

    Raises:
      ValueError: an unknown task, one that `dataset` does not serve, or one that the config's model does not
        solve (`check_task`), or loss settings that do not fit the dataset.
    """
    if config.task not in TASKS:
        raise InvalidInputError(f"config.task is {config.task!r}; choose one of {', '.join(TASKS)}")
    task = TASKS[config.task]
    check_task(config, task, dataset)
    return task.from_config(config, dataset.for_task(task.name))


def check_task(config, task: type[Task], dataset: Dataset) -> None:
    """`task` must be one that `dataset` serves, and the config's model one of the registry's `task.model_task`
    models (counting takes a segmentation model: a dense output, built with one channel, the density; keypoints
    one built with a heat map per keypoint)."""
    if task.name not in dataset.info.tasks:
        raise InvalidInputError(
            f"config.task is {task.name!r} but dataset {config.dataset.name!r} serves "
            f"{' and '.join(dataset.info.tasks)}; set --config.task={dataset.info.task}"
        )
    solves = model_task(config.model.name)
    if solves != task.model_task:
        needs = "" if task.model_task == task.name else f" ({task.name} needs a dense output)"
        raise InvalidInputError(
            f"config.task is {task.name!r} but model {config.model.name!r} is a {solves} model{needs}; "
            f"pick one from cnnjax.models.list_models(task={task.model_task!r})"
        )
