"""Keypoints of the bundled generated houses (`shapes_keypoints`: one house per 64×64 image, its apex, left and
right eaves, left and right base corners and centre) through one predicted heat map per keypoint, as in
SimpleBaseline / HRNet pose estimation.

    cnnjax train --config experiments/shapes_keypoints.py --workdir runs/shapes_keypoints

Targets: a Gaussian (sigma 2 px, peak 1) at each keypoint (`loss.heatmap_sigma`), drawn on the device after the
host's augmentation moved the keypoints; loss: pixel MSE over the visible keypoints' maps. The small U-Net (width
16, depth 3, bilinear decoder) with one output channel per keypoint, Adam 1e-3 (no weight decay) with cosine
decay over 1,500 steps, batch 16, random rescale 0.75–1.25 + crop 64 + horizontal flip (left and right
keypoints swapped); PCK@0.1 of the object size and the mean pixel error on the validation split every 500
steps with a PNG of true and predicted points in `panels/`, the test split once at the end.
Results: README.md (Keypoints).
"""

from cnnjax.config import base_config, recipes


def get_config(arg=None):
    if arg:
        raise ValueError(f"shapes_keypoints.py takes no arg, got {arg!r}")
    c = base_config()
    c.name = "shapes_keypoints_unet"
    c.task = "keypoints"
    recipes.shapes(c)
    c.dataset.name = "shapes_keypoints"
    c.model.name = "unet_small"
    c.model.overrides.decoder = "upsample"
    c.optimizer.update(name="adamw", learning_rate=1e-3, weight_decay=0.0)  # weight decay 0: plain Adam
    c.schedule.update(name="cosine", warmup_steps=100)
    return c
