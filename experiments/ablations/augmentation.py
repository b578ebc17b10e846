"""Data augmentation on and off on a reduced training set: ResNet-20 on the first 1,000 of the easy generated
shapes' 10,000 training images for 720 steps of 128 (about 92 epochs), with 4-pixel pad-and-crop and
horizontal flips, or with neither. With few images a net memorises them; augmentation should hold it back.

    cnnjax sweep run --config experiments/ablations/augmentation.py --workdir runs/augmentation --seeds 3
"""

from cnnjax.config import recipes


def get_config():
    c = recipes.shapes_ablation("resnet20", "augmentation", num_steps=720)
    c.dataset.train_split = "train[:1000]"
    return c


def get_sweep():
    return [
        {"name": "augmented", "dataset.pad_crop": 4, "dataset.hflip": True},
        {"name": "not_augmented", "dataset.pad_crop": 0, "dataset.hflip": False},
    ]


def get_comparisons():
    return [("augmented", "not_augmented")]
