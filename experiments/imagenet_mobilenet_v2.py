"""ImageNet MobileNetV2, Sandler et al. 2018 (arXiv 1801.04381, Sec. 6.1), TensorFlow-slim training.

    cnnjax train --config experiments/imagenet_mobilenet_v2.py:1.0 --workdir runs/imagenet_mobilenet_v2
    arg: the width multiplier, one of 0.35, 0.5, 0.75, 1.0 (default), 1.3, 1.4; then optionally
      ,bs96  the paper's batch of 96 and lr 0.045 (runs on device counts that divide 96: not 64)
    e.g. experiments/imagenet_mobilenet_v2.py:1.4,bs96

Recipe: RMSProp with decay 0.9, momentum 0.9 and TensorFlow's epsilon 1.0 (slim's --opt_epsilon,
inside the square root, squared-gradient average starting at 1 as TF1's RMSPropOptimizer), weight
decay 4e-5 (L2), lr 0.045 per batch of 96 multiplied by 0.98 after every epoch (staircase; slim's
int(1,281,167 / batch) steps). The paper trains 16 asynchronous workers with batch 96 each, so
BatchNorm takes groups of 96 images (`parallel.bn_group_size`). Shipped with batch 192 and lr 0.09
(Goyal et al.'s linear scaling of 96 / 0.045): the smallest batch that splits over 64 devices into
whole BatchNorm groups (1, 8, 16, 32, 64 devices all work). The paper does not state the length: 300
epochs, by which the rate is 0.2 % of its start. bfloat16 compute on GPUs and TPUs
(`model.dtype='auto'`), parameters float32. Train: Inception crop to 224, horizontal flip;
eval: shorter side resized to 256, centre 224 crop; ImageNet mean/std. Differences from slim:
depthwise kernels get weight decay here, and slim's colour distortion is not applied.
Evaluated on the validation split. Needs imagenet2012 prepared as array_record.
"""

from cnnjax.config import base_config, recipes
from cnnjax.config.schema import epochs_to_steps

TRAIN_EXAMPLES, EPOCHS = 1_281_167, 300
PAPER_BATCH, PAPER_LR = 96, 0.045  # per asynchronous worker; also the BatchNorm group
BATCH_SIZE = 192  # shipped: splits over 64 devices into whole groups of PAPER_BATCH
WIDTHS = ("0.35", "0.5", "0.75", "1.0", "1.3", "1.4")


def get_config(arg=None):
    width, *options = (arg or "1.0").split(",")
    if width not in WIDTHS:
        raise ValueError(f"unknown arg {arg!r}: use a width multiplier, one of {', '.join(WIDTHS)}")
    if options not in ([], ["bs96"]):
        raise ValueError(f"unknown options {options} in arg {arg!r}: only ',bs96' may follow the width")
    batch = PAPER_BATCH if options else BATCH_SIZE
    steps_per_epoch = TRAIN_EXAMPLES // batch  # slim's decay_steps
    c = base_config()
    c.name = f"imagenet_mobilenet_v2_{width}" + "".join(f"_{o}" for o in options)
    recipes.imagenet(c, bn_group_size=PAPER_BATCH)
    c.model.name = "mobilenet_v2"
    c.model.overrides.width_multiplier = float(width)
    c.train.update(batch_size=batch, eval_batch_size=256, num_steps=epochs_to_steps(EPOCHS, TRAIN_EXAMPLES, batch))
    c.train.update(log_every_steps=100, eval_every_steps=10 * steps_per_epoch, checkpoint_every_steps=steps_per_epoch)
    c.optimizer.update(name="rmsprop", learning_rate=PAPER_LR * (batch / PAPER_BATCH), decay=0.9, momentum=0.9)
    c.optimizer.update(eps=1.0, initial_scale=1.0, weight_decay=4e-5)
    c.optimizer.decay_biases_and_norms = False  # slim regularises conv and dense weights only
    c.schedule.update(name="exponential", decay_factor=0.98, decay_every_steps=steps_per_epoch)
    return c
