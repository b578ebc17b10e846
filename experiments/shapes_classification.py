"""The generated 10-class shapes (`shapes_classification`, 32x32, 10,000 train images) with a CIFAR-style net:
the dataset the ablation studies in `experiments/ablations/` train on.

    cnnjax train --config experiments/shapes_classification.py:resnet20 --workdir runs/shapes_resnet20
    arg: resnet20 (default, He et al.'s CIFAR ResNet-20) or simple_cnn (the VGG-style SimpleCNN, 6 convs)

Recipe: SGD momentum 0.9, weight decay 5e-4 on the weights, batch 128, lr 0.1 with 50 warm-up steps and a
cosine decay over 1,600 steps (about 20 epochs); 4-pixel pad-and-crop and horizontal flips (every class is
mirror-symmetric up to rotation); per-channel normalisation. `dataset.name` picks the difficulty:
`shapes_classification/easy`, `/standard` (default) or `/hard`.
"""

from cnnjax.config import base_config, recipes

MODELS = {"resnet20": "cifar_resnet20", "simple_cnn": "simple_cnn"}


def get_config(arg=None):
    arg = recipes.choose(arg, MODELS, "resnet20")
    c = base_config()
    c.name = f"shapes_classification_{arg}"
    c.dataset.update(name="shapes_classification", image_size=32, pad_crop=4, hflip=True)
    c.model.name = MODELS[arg]
    c.train.update(batch_size=128, eval_batch_size=500, num_steps=1600, log_every_steps=50)
    c.train.update(eval_every_steps=400, checkpoint_every_steps=400)
    c.optimizer.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c
