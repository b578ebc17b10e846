"""Linear probe: the ResNet-18 pretrained on the standard generated shapes, frozen (its BatchNorm layers on their
running statistics), with only its last Dense layer trained on the hard shapes (textured fills, clutter, low
contrast, noise): how much of the hard task the standard task's features already separate.

    cnnjax train --config experiments/shapes_classification.py:resnet18 --workdir runs/shapes_resnet18
    cnnjax train --config experiments/linear_probe_shapes.py --workdir runs/probe_hard

SGD momentum 0.9, lr 0.1 with a cosine decay over 800 steps, no weight decay (timm / MAE probes: none or tiny),
batch 128, the same augmentation as the pretraining; `--config.model.init_from=DIR` for another run.
"""

from cnnjax.config import recipes

PRETRAINED_RUN = "runs/shapes_resnet18"


def get_config(arg=None):
    c = recipes.shapes_classification("resnet18")
    c.name = "linear_probe_shapes_hard"
    c.dataset.name = "shapes_classification/hard"
    c.model.init_from = PRETRAINED_RUN
    c.train.frozen = ("stem_conv/*", "stage*")
    c.train.update(num_steps=800, eval_every_steps=200, checkpoint_every_steps=400)
    c.optimizer.update(weight_decay=0.0)
    c.schedule.update(warmup_steps=0)
    return c
