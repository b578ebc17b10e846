"""CIFAR-10 wide ResNet WRN-28-10, Zagoruyko & Komodakis 2016, "Wide Residual Networks"
(arXiv 1605.07146, Sec. 3).

    cnnjax train --config experiments/cifar10_wrn.py:wrn28_10 --workdir runs/cifar10_wrn28_10
    arg: wrn28_10 (default) or wrn28_10_dropout (dropout 0.3 between the convs of each block)

Recipe: SGD with Nesterov momentum 0.9 (dampening 0), weight decay 5e-4 (on every weight, as the
authors' Torch code), batch 128, lr 0.1 multiplied by 0.2 at epochs 60, 120 and 160, 200 epochs
(epochs are 50,000 / 128 steps: 23,438 / 46,875 / 62,500, stop at 78,125); random 32×32 crops
of the image padded by 4 pixels with reflections, horizontal flip; per-channel mean/std.
TFDS's cifar10 has no validation split: periodic evaluation uses the test split. Needs cifar10
prepared as array_record (`cnnjax data prepare cifar10`).
"""

from cnnjax.config import base_config, recipes
from cnnjax.config.schema import epochs_to_steps

ARGS = ("wrn28_10", "wrn28_10_dropout")
TRAIN_EXAMPLES, BATCH_SIZE = 50_000, 128


def steps(epochs: float) -> int:
    return epochs_to_steps(epochs, TRAIN_EXAMPLES, BATCH_SIZE)


def get_config(arg=None):
    arg = recipes.choose(arg, ARGS, "wrn28_10")
    c = base_config()
    c.name = f"cifar10_{arg}"
    recipes.cifar10(c, pad_mode="reflect")
    c.model.name = "wrn28_10"
    c.model.overrides.dropout_rate = 0.3 if arg.endswith("_dropout") else 0.0
    c.train.update(batch_size=BATCH_SIZE, eval_batch_size=512, num_steps=steps(200), log_every_steps=100)
    c.train.update(eval_every_steps=steps(5), checkpoint_every_steps=steps(5))
    c.optimizer.update(name="sgd", learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    c.optimizer.decay_biases_and_norms = True
    c.schedule.update(name="piecewise", boundaries=tuple(steps(e) for e in (60, 120, 160)), decay_factor=0.2)
    return c
