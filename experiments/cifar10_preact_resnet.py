"""CIFAR-10 pre-activation ResNets, He et al. 2016, "Identity Mappings in Deep Residual Networks"
(arXiv 1603.05027, Sec. 4 and appendix).

    cnnjax train --config experiments/cifar10_preact_resnet.py:164 --workdir runs/cifar10_preact164
    arg: 110 (basic blocks), 164 or 1001 (bottleneck blocks); default 164

Recipe: SGD momentum 0.9, weight decay 1e-4 (on every weight), batch 128, lr 0.1 divided by 10 at
32k and 48k iterations, stop at 64k, warmed up at 0.01 for the first 400 iterations; 4-pixel zero
pad and random 32×32 crop, horizontal flip. Per-channel mean/std normalisation, as the authors'
code (built on fb.resnet.torch) does. TFDS's cifar10 has no validation split: periodic evaluation
uses the test split. Needs cifar10 prepared as array_record (`cnnjax data prepare cifar10`).
"""

from cnnjax.config import base_config, recipes

DEPTHS = (110, 164, 1001)


def get_config(arg=None):
    depth = int(arg or 164) if (arg or "164").isdigit() else 0
    if depth not in DEPTHS:
        raise ValueError(f"unknown arg {arg!r}: use one of {DEPTHS}")
    c = base_config()
    c.name = f"cifar10_preact_resnet{depth}"
    recipes.cifar10(c)
    c.model.name = f"cifar_preact_resnet{depth}"
    recipes.cifar_step_decay(c, warmup=True)
    return c
