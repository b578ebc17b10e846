"""Default experiment: LeNet-5 on the bundled 8×8 digits (scikit-learn), resized to 32×32.

cnnjax train --config experiments/digits_lenet5.py --workdir runs/digits_lenet5
"""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.name = "digits_lenet5"
    c.seed = 0
    c.dataset.name = "digits"
    c.dataset.image_size = 32
    c.dataset.pad_crop = 2
    c.model.name = "lenet5"
    c.train.batch_size = 64
    c.train.eval_batch_size = 128
    c.train.num_steps = 1500
    c.train.log_every_steps = 50
    c.train.eval_every_steps = 250
    c.train.checkpoint_every_steps = 500
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.05
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 5e-4
    c.schedule.name = "cosine"
    c.schedule.warmup_steps = 50
    return c
