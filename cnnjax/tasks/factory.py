"""The task of a config: `make_task(config, num_classes)`."""

from __future__ import annotations

from cnnjax.config.schema import TASKS
from cnnjax.tasks.classification import Classification
from cnnjax.tasks.counting import Counting
from cnnjax.tasks.segmentation import Segmentation


def make_task(config, num_classes: int):
    """`Classification`, `Segmentation` or `Counting` with the config's loss settings."""
    if config.task == "classification":
        return Classification(label_smoothing=config.loss.label_smoothing, aux_weight=config.loss.aux_weight)
    if config.task == "segmentation":
        weights = tuple(config.loss.class_weights) or None
        if weights is not None and len(weights) != num_classes:
            raise ValueError(f"config.loss.class_weights has {len(weights)} entries for {num_classes} classes")
        return Segmentation(
            num_classes=num_classes,
            ignore_index=config.loss.ignore_index,
            class_weights=weights,
            dice_weight=config.loss.dice_weight,
        )
    if config.task == "counting":
        return Counting(density_scale=config.loss.density_scale, count_weight=config.loss.count_weight)
    raise ValueError(f"config.task is {config.task!r}; choose one of {', '.join(TASKS)}")
