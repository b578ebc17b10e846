"""BatchNorm on and off at two learning rates: a 9-conv VGG-style net (SimpleCNN, 3 stages of 3 convs, widths
16/32/64) on the easy generated shapes, SGD with momentum at lr 0.02 and 0.1, 720 steps of 128 images (about
9 epochs). Ioffe and Szegedy (2015): BatchNorm trains faster and tolerates the higher rate.

    cnnjax sweep run --config experiments/ablations/batchnorm_lr.py --workdir runs/batchnorm_lr --seeds 3
"""

from cnnjax.config import recipes
from cnnjax.sweep import product


def get_config():
    c = recipes.shapes_ablation("simple_cnn", "batchnorm_lr", num_steps=720, widths=(16, 32, 64), convs_per_stage=3)
    return c


def get_sweep():
    return [
        {"name": f"{'bn' if bn else 'no_bn'}_lr{lr}", **point}
        for point in product(model__overrides__batch_norm=[True, False], optimizer__learning_rate=[0.02, 0.1])
        for bn, lr in [(point["model.overrides.batch_norm"], point["optimizer.learning_rate"])]
    ]


def get_comparisons():
    return [("bn_lr0.1", "no_bn_lr0.1"), ("bn_lr0.02", "no_bn_lr0.02"), ("bn_lr0.1", "bn_lr0.02")]
