"""Downsampling by max pooling vs strided convolution vs none: SimpleCNN (3 stages of 2 convs, 16 channels
throughout, global average pooling at the end) halving the resolution between stages with a 2x2 max-pool or a
stride-2 conv, or keeping 32x32 everywhere as the AlphaGo network keeps its 19x19 board; the easy generated
shapes, 900 steps of 128 images (about 12 epochs).

    cnnjax sweep run --config experiments/ablations/downsampling.py --workdir runs/downsampling --seeds 3
"""

from cnnjax.config import recipes
from cnnjax.sweep import product


def get_config():
    c = recipes.shapes_ablation("simple_cnn", "downsampling", num_steps=900, widths=(16, 16, 16))
    return c


def get_sweep():
    return product(model__overrides__downsample=["max_pool", "strided", "none"])


def get_comparisons():
    return [("downsample-max_pool", "downsample-strided"), ("downsample-max_pool", "downsample-none")]
