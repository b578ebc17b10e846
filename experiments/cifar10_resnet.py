"""CIFAR-10 ResNets and their plain twins, He et al. 2015 (arXiv 1512.03385, Sec. 4.2).

    cnnjax train --config experiments/cifar10_resnet.py:resnet20 --workdir runs/cifar10_resnet20
    arg: resnet20|32|44|56|110 or plain20|32|44|56|110 (default resnet20)

Recipe: SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 at 32k and 48k
iterations, stop at 64k; per-pixel mean subtracted (the train split's mean image, no std division),
then 4-pixel zero pad and random 32×32 crop, horizontal flip; option-A shortcuts.
ResNet-110 (and plain-110): lr 0.01 "until the training error is below 80 % (about 400
iterations)", then 0.1 — here a constant warm-up at 0.01 for a fixed 400 steps, as He et al. 2016
(identity mappings) state it.
TFDS's cifar10 has no validation split: periodic evaluation uses the test split, as the paper's
curves do. Needs cifar10 prepared as array_record (`cnnjax data prepare cifar10`).
"""

from cnnjax.config import base_config, recipes

DEPTHS = (20, 32, 44, 56, 110)


def get_config(arg=None):
    arg = arg or "resnet20"
    kind, depth = arg.rstrip("0123456789"), int(arg[len(arg.rstrip("0123456789")) :] or 0)
    if kind not in ("resnet", "plain") or depth not in DEPTHS:
        raise ValueError(f"unknown arg {arg!r}: use resnet or plain followed by one of {DEPTHS}")
    c = base_config()
    c.name = f"cifar10_{arg}"
    recipes.cifar10(c, normalization="per_pixel_mean")
    c.model.name = f"cifar_{kind}{depth}"
    recipes.cifar_step_decay(c, warmup=depth == 110)
    return c
