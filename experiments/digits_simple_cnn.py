"""A small VGG-style CNN with BatchNorm on the bundled digits, at their native 8×8 size.

cnnjax train --config experiments/digits_simple_cnn.py --workdir runs/digits_simple_cnn
"""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.name = "digits_simple_cnn"
    c.dataset.update(name="digits", image_size=8, pad_crop=1)
    c.model.name = "simple_cnn"
    c.train.update(batch_size=64, eval_batch_size=128, num_steps=1000, eval_every_steps=250)
    c.optimizer.update(name="adamw", learning_rate=3e-3, weight_decay=1e-2)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c
