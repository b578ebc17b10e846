"""ImageNet ResNet-50 (v1.5), the standard 90-epoch recipe: He et al. 2015 as run by torchvision's
reference scripts, with Goyal et al. 2017 (arXiv 1706.02677) for the large-batch variants.

    cnnjax train --config experiments/imagenet_resnet50.py --workdir runs/imagenet_resnet50
    arg: comma-separated options, default none:
      bsN              global batch N (e.g. bs1024) with lr 0.1 × N / 256 (Goyal's linear scaling rule)
      warmup           Goyal's gradual warm-up: linear from 0.1 to 0.1 × N / 256 over 5 epochs (needs N > 256)
      label_smoothing  label smoothing 0.1 (Szegedy et al. 2016; torchvision's newer recipes)
    e.g. experiments/imagenet_resnet50.py:bs1024,warmup,label_smoothing

Recipe: SGD momentum 0.9, weight decay 1e-4 (on every weight, as torchvision), batch 256, lr 0.1
divided by 10 at epochs 30, 60 and 80, 90 epochs (an epoch is 1,281,167 / batch steps: at batch
256, 150,137 / 300,274 / 400,365, stop at 450,410). Train: Inception crop (area 8–100 %, aspect
3/4–4/3) resized to 224, horizontal flip; eval: shorter side resized to 256, centre 224 crop;
ImageNet mean/std. Evaluated on the validation split (TFDS's test split has no labels).
BatchNorm statistics over groups of 32 images (`parallel.bn_group_size`), as torchvision's 8 GPUs x 32
and Goyal et al.'s per-worker batch of 32, on any device count; bfloat16 compute on GPUs and TPUs
(`model.dtype='auto'`), parameters float32. The eval batch (256) splits over 1 to 256 devices.
Needs imagenet2012 prepared as array_record (`cnnjax data prepare imagenet2012`, manual download).
"""

from cnnjax.config import base_config, recipes
from cnnjax.config.schema import epochs_to_steps

TRAIN_EXAMPLES = 1_281_167
BASE_BATCH, BASE_LR = 256, 0.1
BN_GROUP = 32  # images per BatchNorm batch: torchvision's per-GPU batch, Goyal et al.'s n
OPTIONS = ("warmup", "label_smoothing")


def get_config(arg=None):
    tokens = [t for t in (arg or "").split(",") if t]
    batch = BASE_BATCH
    for token in tokens:
        if token.startswith("bs") and token[2:].isdigit():
            batch = int(token[2:])
        elif token not in OPTIONS:
            raise ValueError(f"unknown option {token!r} in arg {arg!r}: use bsN, {', '.join(OPTIONS)}")
    if "warmup" in tokens and batch <= BASE_BATCH:
        raise ValueError(f"warmup ramps from the batch-{BASE_BATCH} rate: it needs bsN with N > {BASE_BATCH}")

    def steps(epochs):
        return epochs_to_steps(epochs, TRAIN_EXAMPLES, batch)

    c = base_config()
    c.name = "imagenet_resnet50" + "".join(f"_{t}" for t in tokens)
    recipes.imagenet(c, bn_group_size=BN_GROUP)
    c.model.name = "resnet50"
    c.train.update(batch_size=batch, eval_batch_size=256, num_steps=steps(90), log_every_steps=100)
    c.train.update(eval_every_steps=steps(5), checkpoint_every_steps=steps(1))
    c.optimizer.update(name="sgd", learning_rate=BASE_LR * batch / BASE_BATCH, momentum=0.9, weight_decay=1e-4)
    c.optimizer.decay_biases_and_norms = True
    c.schedule.update(name="piecewise", boundaries=tuple(steps(e) for e in (30, 60, 80)), decay_factor=0.1)
    if "warmup" in tokens:
        c.schedule.update(warmup_mode="linear", warmup_steps=steps(5), warmup_factor=BASE_BATCH / batch)
    if "label_smoothing" in tokens:
        c.loss.label_smoothing = 0.1
    return c
