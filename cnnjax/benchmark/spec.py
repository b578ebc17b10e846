"""What ``cnnjax benchmark`` measures, and the checks that reject a bad request in one line before any compile."""

from __future__ import annotations

import dataclasses

from cnnjax.config.schema import DTYPES
from cnnjax.errors import InvalidInputError
from cnnjax.models.registry import model_task

DEFAULT_IMAGE_SIZE, DEFAULT_NUM_CLASSES = 224, 1000  # also in `cnnjax benchmark --help`


@dataclasses.dataclass(frozen=True)
class BenchmarkSpec:
    model: str  # a registered classification model (cnnjax.models.list_models(task='classification'))
    batch: int  # global batch size, split evenly over the devices
    image_size: int | None = None  # None: DEFAULT_IMAGE_SIZE, or the with_data config's
    dtype: str = "float32"  # compute dtype (params and BatchNorm statistics stay float32)
    steps: int = 20  # timed steps, after the warm-up steps
    num_classes: int | None = None  # None: DEFAULT_NUM_CLASSES, or the with_data config's dataset's
    overrides: dict = dataclasses.field(default_factory=dict)  # create_model keywords (width, stage_sizes, ...)
    with_data: str | None = None  # an experiment config whose input pipeline feeds the steps
    remat: bool = False  # the model's blocks rematerialised; the report adds the activation memory this saves


def check_spec(spec: BenchmarkSpec) -> None:
    """Raises :class:`~cnnjax.errors.InvalidInputError` (a ``ValueError``; one line) for an unknown or
    non-classification model, a dtype outside
    ``cnnjax.config.schema.DTYPES``, a dtype among the overrides, or a non-positive size or count."""
    task = model_task(spec.model)  # unknown names: "did you mean"
    if task != "classification":
        raise InvalidInputError(f"--model {spec.model} is a {task} model; the benchmark trains classification models")
    if spec.dtype not in DTYPES:
        raise InvalidInputError(f"--dtype {spec.dtype!r} is not one of {', '.join(DTYPES)}")
    for option in ("dtype", "remat"):
        if option in spec.overrides:
            raise InvalidInputError(f"set {option} with --{option}, not --override.{option}")
    for flag in ("batch", "steps", "image_size", "num_classes"):
        value = getattr(spec, flag)
        if value is not None and value < 1:
            raise InvalidInputError(f"--{flag} must be a positive integer, got {value}")


def check_data_shape(spec: BenchmarkSpec, image_shape: tuple[int, int, int], num_classes: int) -> None:
    """With ``with_data``, an explicit image size or class count must be the config's."""
    for flag, asked, given in (
        ("image_size", spec.image_size, image_shape[0]),
        ("num_classes", spec.num_classes, num_classes),
    ):
        if asked is not None and asked != given:
            raise InvalidInputError(
                f"--{flag} {asked} differs from --with_data {spec.with_data}'s {given}; leave it out"
            )
