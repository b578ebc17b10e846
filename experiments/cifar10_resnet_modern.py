"""CIFAR-10 ResNets with a modern training recipe, beside the paper's (`cifar10_resnet.py`): same models, data and
number of steps; the training extras the timm / DeiT / "ResNet strikes back" recipes rely on.

    cnnjax train --config experiments/cifar10_resnet_modern.py:resnet20 --workdir runs/cifar10_resnet20_modern
    arg: resnet20|32|44|56|110 (default resnet20)

Recipe: per-channel normalisation, 4-pixel pad and random crop, horizontal flip, RandAugment (2 ops, magnitude 9 of
30); mixup (α 0.2) or CutMix (α 1.0), switching with probability 0.5, every batch; label smoothing 0.1; SGD Nesterov
momentum 0.9, batch 128, weight decay 5e-4 on kernels only, lr 0.1 with a 5-epoch linear warm-up (from 0) then cosine
decay to 0 over the paper's 64k steps; an EMA of the weights (decay 0.999 with timm's 3/4 warm-up power) evaluated
beside them. The choices are ours (common CIFAR practice), not a published table. Needs cifar10 prepared as
array_record (`cnnjax data prepare cifar10`).
"""

from cnnjax.config import base_config, recipes
from cnnjax.config.schema import epochs_to_steps

DEPTHS = (20, 32, 44, 56, 110)
TRAIN_EXAMPLES = 50_000


def get_config(arg=None):
    arg = arg or "resnet20"
    depth = int(arg.removeprefix("resnet")) if arg.removeprefix("resnet").isdigit() else 0
    if not arg.startswith("resnet") or depth not in DEPTHS:
        raise ValueError(f"unknown arg {arg!r}: use resnet followed by one of {DEPTHS}")
    c = base_config()
    c.name = f"cifar10_{arg}_modern"
    recipes.cifar10(c, normalization="per_channel", auto_augment="randaugment")
    c.dataset.update(auto_augment_num_ops=2, auto_augment_magnitude=9)
    c.dataset.update(mixup_alpha=0.2, cutmix_alpha=1.0, mix_prob=1.0, mix_switch_prob=0.5)
    c.model.name = f"cifar_resnet{depth}"
    recipes.cifar_step_decay(c, warmup=False)  # the paper's batch, steps, evaluation and checkpoint cadence
    c.optimizer.update(nesterov=True, weight_decay=5e-4, decay_biases_and_norms=False)
    warmup = epochs_to_steps(5, TRAIN_EXAMPLES, c.train.batch_size)
    c.schedule.update(name="cosine", warmup_steps=warmup, warmup_mode="linear", warmup_factor=0.0, boundaries=())
    c.loss.label_smoothing = 0.1
    c.train.update(ema_decay=0.999, ema_warmup_power=0.75)
    return c
