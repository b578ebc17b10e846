"""A small VGG-style CNN with BatchNorm on the bundled digits, at their native 8×8 size.

cnnjax train --config experiments/digits_simple_cnn.py --workdir runs/digits_simple_cnn
"""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.name = "digits_simple_cnn"
    c.dataset.name = "digits"
    c.dataset.image_size = 8
    c.dataset.pad_crop = 1
    c.model.name = "simple_cnn"
    c.train.batch_size = 64
    c.train.eval_batch_size = 128
    c.train.num_steps = 1000
    c.train.eval_every_steps = 250
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 3e-3
    c.optimizer.weight_decay = 1e-2
    c.schedule.name = "cosine"
    c.schedule.warmup_steps = 50
    return c
