"""Settings that several experiment files share, applied in place to a :func:`~cnnjax.config.base_config`.

Experiment files are loaded by path from anywhere (:func:`~cnnjax.config.load_config`), so what they
share lives in the package they already import.  Each function sets exactly the keys it names; a file
composes them and sets its own keys around them (``c.train.update(batch_size=..., ...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections

from cnnjax.config.schema import base_config


def choose(arg: str | None, choices: Iterable[str], default: str) -> str:
    """``arg`` (``None`` or empty: ``default``), refused with a ``ValueError`` naming ``choices`` unless one of them."""
    arg = arg or default
    if arg not in choices:
        raise ValueError(f"unknown arg {arg!r}: use one of {', '.join(choices)}")
    return arg


def segmentation(arg: str | None, models: Mapping[str, tuple[str, Mapping[str, Any]]], prefix: str):
    """A :func:`~cnnjax.config.base_config` for the segmentation task named ``{prefix}_{arg}``, with the
    model ``models[arg]`` (a registered name and its overrides); ``arg`` defaults to the first of ``models``."""
    arg = choose(arg, models, next(iter(models)))
    model, overrides = models[arg]
    c = base_config()
    c.name = f"{prefix}_{arg}"
    c.task = "segmentation"
    c.model.name = model
    c.model.overrides.update(overrides)
    return c


def cifar10(c: ml_collections.ConfigDict, **dataset) -> None:
    """CIFAR-10 at 32x32 with the standard augmentation (4-pixel pad, random crop, horizontal flip),
    evaluated on the test split (TFDS's cifar10 has no validation split); ``dataset`` sets more keys."""
    c.dataset.update(name="cifar10", image_size=32, pad_crop=4, hflip=True, eval_split="test", **dataset)


def cifar_step_decay(c: ml_collections.ConfigDict, warmup: bool) -> None:
    """He et al.'s CIFAR schedule: SGD momentum 0.9, weight decay 1e-4 on every weight, batch 128, lr 0.1
    divided by 10 at 32k and 48k steps, stop at 64k; ``warmup``: 0.01 (0.1 x the rate) for the first 400
    steps.  Evaluation and checkpoints every 2,000 steps."""
    c.train.update(batch_size=128, eval_batch_size=512, num_steps=64_000, log_every_steps=100)
    c.train.update(eval_every_steps=2_000, checkpoint_every_steps=2_000)
    c.optimizer.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-4, decay_biases_and_norms=True)
    c.schedule.update(name="piecewise", boundaries=(32_000, 48_000), decay_factor=0.1)
    if warmup:
        c.schedule.update(warmup_mode="constant", warmup_steps=400, warmup_factor=0.1)


def imagenet(c: ml_collections.ConfigDict, bn_group_size: int) -> None:
    """ImageNet: Inception crop to 224 and horizontal flip; eval resizes the shorter side to 256 and
    crops the centre 224; evaluated on the validation split (TFDS's test split has no labels);
    bfloat16 compute where the platform has it (``model.dtype='auto'``); BatchNorm statistics over
    groups of ``bn_group_size`` images."""
    c.dataset.update(name="imagenet2012", image_size=224, train_crop="random_resized", hflip=True, eval_resize=256)
    c.dataset.update(eval_split="validation", test_split="validation")
    c.model.dtype = "auto"
    c.parallel.bn_group_size = bn_group_size


def shapes(c: ml_collections.ConfigDict) -> None:
    """The bundled generated shapes at 64x64, randomly rescaled 0.75-1.25 and flipped; batch 16 (eval 96),
    1,500 steps, evaluation (with a PNG of 6 panels) and checkpoints every 500, a log line every 50."""
    c.dataset.update(name="shapes_segmentation", image_size=64, hflip=True, scale_range=(0.75, 1.25))
    c.train.update(batch_size=16, eval_batch_size=96, num_steps=1500, log_every_steps=50, eval_panels=6)
    c.train.update(eval_every_steps=500, checkpoint_every_steps=500)


# resnet18: torchvision's ImageNet layout, the backbone the fine-tuning experiments pretrain on these shapes.
SHAPES_SEGMENTATION_MODELS = {
    "unet": ("unet_small", {"decoder": "upsample"}),
    "unet_transposed": ("unet_small", {"decoder": "transposed"}),
    "fcn": ("fcn8s_resnet18", {}),
    "deeplabv3": ("deeplabv3_resnet18", {"output_stride": 8}),
}


def shapes_segmentation(arg: str | None) -> ml_collections.ConfigDict:
    """`experiments/shapes_segmentation.py`: the bundled shapes (:func:`shapes`) segmented by the model ``arg`` (a
    key of SHAPES_SEGMENTATION_MODELS, default unet); AdamW 2e-3, weight decay 1e-4, cosine decay after 50
    warm-up steps."""
    c = segmentation(arg, SHAPES_SEGMENTATION_MODELS, "shapes")
    shapes(c)
    c.optimizer.update(name="adamw", learning_rate=2e-3, weight_decay=1e-4)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c


SHAPES_CLASSIFICATION_MODELS = {"resnet20": "cifar_resnet20", "simple_cnn": "simple_cnn", "resnet18": "resnet18"}


def shapes_classification(arg: str | None) -> ml_collections.ConfigDict:
    """`experiments/shapes_classification.py`: the generated 10-class shapes at 32x32 (the standard config)
    with the model `arg` (a key of SHAPES_CLASSIFICATION_MODELS, default resnet20): SGD momentum 0.9, weight
    decay 5e-4, batch 128, lr 0.1 with 50 warm-up steps and a cosine decay over 1,600 steps; 4-pixel
    pad-and-crop and horizontal flips; evaluation and checkpoints every 400 steps."""
    arg = choose(arg, SHAPES_CLASSIFICATION_MODELS, "resnet20")
    c = base_config()
    c.name = f"shapes_classification_{arg}"
    c.dataset.update(name="shapes_classification", image_size=32, pad_crop=4, hflip=True)
    c.model.name = SHAPES_CLASSIFICATION_MODELS[arg]
    c.train.update(batch_size=128, eval_batch_size=512, num_steps=1600, log_every_steps=50)
    c.train.update(eval_every_steps=400, checkpoint_every_steps=400)
    c.optimizer.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c


def shapes_ablation(arg: str, name: str, num_steps: int, **model_overrides) -> ml_collections.ConfigDict:
    """An ablation study's base (`experiments/ablations/`): `shapes_classification(arg)` on the easy config,
    named `name`, for `num_steps` steps (30 of warm-up) with an evaluation every third of them and one
    checkpoint at the end; `model_overrides` set."""
    c = shapes_classification(arg)
    c.name = name
    c.dataset.name = "shapes_classification/easy"
    c.model.overrides.update(model_overrides)
    c.train.update(num_steps=num_steps, eval_every_steps=num_steps // 3, checkpoint_every_steps=num_steps)
    c.schedule.warmup_steps = 30
    return c
