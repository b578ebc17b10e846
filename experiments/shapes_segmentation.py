"""Semantic segmentation of the bundled generated shapes (64×64, 4 classes: background, circle,
rectangle, triangle on textured backgrounds; train 2,000 / validation 300 / test 300).

    cnnjax train --config experiments/shapes_segmentation.py:unet --workdir runs/shapes_unet
    arg: unet (default) | unet_transposed | fcn | deeplabv3

unet: the small U-Net (width 16, depth 3) with a bilinear-upsample decoder; unet_transposed: the same with
2×2 transposed-conv up-sampling (the paper's); fcn: FCN-8s on ResNet-18; deeplabv3: DeepLabV3 on ResNet-18
at output stride 8.  AdamW 2e-3 with cosine decay over 1,500 steps, batch 16, random rescale 0.75–1.25 + crop 64 +
horizontal flip, per-pixel cross-entropy (crop padding carries the ignore label 255); periodic evaluation
on the validation split (mIoU from the confusion matrix of the whole split) with a PNG of predictions in
`panels/`; the test split once at the end.
"""

from cnnjax.config import recipes


def get_config(arg=None):
    return recipes.shapes_segmentation(arg)
