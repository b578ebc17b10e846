"""Default experiment: LeNet-5 on the bundled 8×8 digits (scikit-learn), resized to 32×32.

cnnjax train --config experiments/digits_lenet5.py --workdir runs/digits_lenet5
"""

from cnnjax.config import base_config


def get_config():
    c = base_config()
    c.name = "digits_lenet5"
    c.seed = 0
    c.dataset.update(name="digits", image_size=32, pad_crop=2)
    c.model.name = "lenet5"
    c.train.update(batch_size=64, eval_batch_size=128, num_steps=1500, log_every_steps=50)
    c.train.update(eval_every_steps=250, checkpoint_every_steps=500)
    c.optimizer.update(name="sgd", learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c
