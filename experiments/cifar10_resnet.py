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

from cnnjax.config import base_config

DEPTHS = (20, 32, 44, 56, 110)


def get_config(arg=None):
    arg = arg or "resnet20"
    kind, depth = arg.rstrip("0123456789"), int(arg[len(arg.rstrip("0123456789")) :] or 0)
    if kind not in ("resnet", "plain") or depth not in DEPTHS:
        raise ValueError(f"unknown arg {arg!r}: use resnet or plain followed by one of {DEPTHS}")
    c = base_config()
    c.name = f"cifar10_{arg}"
    c.dataset.name = "cifar10"
    c.dataset.image_size = 32
    c.dataset.normalization = "per_pixel_mean"
    c.dataset.pad_crop = 4
    c.dataset.hflip = True
    c.dataset.eval_split = "test"
    c.model.name = f"cifar_{kind}{depth}"
    c.train.batch_size = 128
    c.train.eval_batch_size = 512
    c.train.num_steps = 64_000
    c.train.log_every_steps = 100
    c.train.eval_every_steps = 2_000
    c.train.checkpoint_every_steps = 2_000
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 1e-4
    c.optimizer.decay_biases_and_norms = True  # the paper decays every weight
    c.schedule.name = "piecewise"
    c.schedule.boundaries = (32_000, 48_000)
    c.schedule.decay_factor = 0.1
    if depth == 110:
        c.schedule.warmup_mode = "constant"
        c.schedule.warmup_steps = 400
        c.schedule.warmup_factor = 0.1  # 0.01 = 0.1 × the rate of 0.1
    return c
