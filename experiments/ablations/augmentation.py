"""Data augmentation on and off on a reduced training set: ResNet-20 on the first 1,000 of the easy generated
shapes' 10,000 training images for 400 steps of 128 (about 50 epochs), with 4-pixel pad-and-crop and
horizontal flips, or with neither. With few images a net memorises them; augmentation should hold it back.

    cnnjax sweep run --config experiments/ablations/augmentation.py --workdir runs/augmentation --seeds 3
"""

import os

from cnnjax.config import load_config

EXPERIMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shapes_classification.py")


def get_config():
    c = load_config(f"{EXPERIMENT}:resnet20")
    c.name = "augmentation"
    c.dataset.update(name="shapes_classification/easy", train_split="train[:1000]")
    c.train.update(num_steps=400, eval_every_steps=100, checkpoint_every_steps=400)
    return c


def get_sweep():
    return [
        {"name": "augmented", "dataset.pad_crop": 4, "dataset.hflip": True},
        {"name": "not_augmented", "dataset.pad_crop": 0, "dataset.hflip": False},
    ]


def get_comparisons():
    return [("augmented", "not_augmented")]
