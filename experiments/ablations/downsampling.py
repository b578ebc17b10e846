"""Downsampling by max pooling vs strided convolution vs none: SimpleCNN (3 stages of 2 convs, 16 channels
throughout, global average pooling at the end) halving the resolution between stages with a 2x2 max-pool or a
stride-2 conv, or keeping 32x32 everywhere as the AlphaGo network keeps its 19x19 board; the easy generated
shapes, 300 steps of 128 images (about 4 epochs).

    cnnjax sweep run --config experiments/ablations/downsampling.py --workdir runs/downsampling --seeds 3
"""

import os

from cnnjax.config import load_config
from cnnjax.sweep import product

EXPERIMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shapes_classification.py")


def get_config():
    c = load_config(f"{EXPERIMENT}:simple_cnn")
    c.name = "downsampling"
    c.dataset.name = "shapes_classification/easy"
    with c.model.overrides.unlocked():  # the experiment sets no model overrides: add them
        c.model.overrides.widths = (16, 16, 16)
    c.train.update(num_steps=300, eval_every_steps=100, checkpoint_every_steps=300)
    c.schedule.warmup_steps = 30
    return c


def get_sweep():
    return product(model__overrides__downsample=["max_pool", "strided", "none"])


def get_comparisons():
    return [("downsample-max_pool", "downsample-strided"), ("downsample-max_pool", "downsample-none")]
