"""Standard vs depthwise-separable convolutions (Howard et al. 2017, MobileNet v1): SimpleCNN (3 stages of 2
convs, widths 32/64/128) with every conv but the first a 3x3 conv, or a 3x3 depthwise conv followed by a 1x1
conv, on the easy generated shapes, 600 steps of 128 images (about 8 epochs). The separable net has about 7.5x
fewer parameters (38,314 vs 288,746); the question is how much accuracy that costs.

    cnnjax sweep run --config experiments/ablations/separable.py --workdir runs/separable --seeds 3 --parallel 2
"""

from cnnjax.config import recipes


def get_config():
    return recipes.shapes_ablation("simple_cnn", "separable", num_steps=600)


def get_sweep():
    return [
        {"name": "standard", "model.overrides.separable": False},
        {"name": "separable", "model.overrides.separable": True},
    ]


def get_comparisons():
    return [("standard", "separable")]
