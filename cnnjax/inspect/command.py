"""``cnnjax summary``'s action once its arguments are parsed: which model, on which input, in which format.

The model is a registered name (``num_classes`` default 1000, input 224x224x3), an experiment config's
(its model, image size, and its dataset's channels and classes, read from the dataset's metadata
without preparing it) or a run's, from the ``config.json`` its workdir holds (a seed group's first
member's).  ``--input``, ``--dtype`` and ``--num_classes`` replace what the source says.  It is traced
as one device runs it, in inference mode for the rows and train mode for the training peak.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

import jax

from cnnjax.checkpoint.workdir import CONFIG_FILE
from cnnjax.config import load_config
from cnnjax.config.schema import DTYPES, compute_dtype
from cnnjax.data.catalog import describe, for_task, resolve_data_dir
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.summary import summary
from cnnjax.inspect.summary_format import format_summary
from cnnjax.inspect.trained_run import run_config
from cnnjax.models import create_model

DEFAULT_INPUT = (224, 224, 3)
DEFAULT_NUM_CLASSES = 1000


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model ``name`` built with ``num_classes``, compute ``dtype`` and constructor
    ``overrides``, applied to images of ``input_shape`` (H, W, C)."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int = DEFAULT_NUM_CLASSES
    dtype: str = "float32"
    overrides: dict = dataclasses.field(default_factory=dict)


def parse_input(text: str) -> tuple[int, int, int]:
    """``'32x32x3'`` -> ``(32, 32, 3)``; anything else raises ``InvalidInputError``."""
    if not re.fullmatch(r"[1-9]\d*x[1-9]\d*x[1-9]\d*", text):
        raise InvalidInputError(f"--input must be HxWxC with positive integers, e.g. 32x32x3; got {text!r}")
    height, width, channels = map(int, text.split("x"))
    return height, width, channels


def spec_from_config(config: dict) -> ModelSpec:
    """The model an experiment config (as a dict) trains, on its dataset's images at ``dataset.image_size``."""
    dataset, model = config["dataset"], config["model"]
    info = for_task(describe(dataset["name"], resolve_data_dir(dataset["data_dir"])), config["task"])
    size = dataset["image_size"]
    return ModelSpec(
        model["name"], (size, size, info.image_shape[-1]), info.num_classes, model["dtype"], model["overrides"]
    )


def workdir_config(workdir: str) -> dict:
    """The config a run stored in ``workdir`` (or, for a seed group, in its first member's directory)."""
    members = sorted(glob.glob(os.path.join(workdir, "seed*", CONFIG_FILE)))
    if members and not os.path.isfile(os.path.join(workdir, CONFIG_FILE)):
        workdir = os.path.dirname(members[0])
    return run_config(workdir).to_dict()


def summary_command(
    model: str | None = None,
    config: str | None = None,
    workdir: str | None = None,
    *,
    input_shape: tuple[int, int, int] | None = None,
    batch: int = 1,
    dtype: str | None = None,
    num_classes: int | None = None,
    config_overrides: tuple[str, ...] = (),
    model_overrides: dict | None = None,
    output_format: str = "table",
) -> str:
    """The summary of the model named by exactly one of ``model``, ``config`` (``FILE.py[:arg]``, with
    ``config_overrides``) and ``workdir``, formatted; ``model_overrides`` update its constructor options."""
    if model is not None:
        spec = ModelSpec(model, DEFAULT_INPUT)
    elif config is not None:
        spec = spec_from_config(load_config(config, config_overrides).to_dict())
    else:
        spec = spec_from_config(workdir_config(workdir))
    spec = dataclasses.replace(
        spec,
        input_shape=input_shape or spec.input_shape,
        num_classes=num_classes or spec.num_classes,
        dtype=dtype or spec.dtype,
        overrides={**spec.overrides, **(model_overrides or {})},
    )
    if spec.dtype not in DTYPES:
        raise InvalidInputError(f"--dtype {spec.dtype!r} is not one of {', '.join(DTYPES)}")
    built = create_model(
        spec.name,
        num_classes=spec.num_classes,
        in_channels=spec.input_shape[-1],
        dtype=compute_dtype(spec.dtype, jax.default_backend()),
        **spec.overrides,
    )
    result = summary(built, spec.input_shape, batch=batch, train=False, train_kwargs={"train": True})
    return format_summary(result, output_format)
