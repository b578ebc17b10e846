"""The generated 10-class shapes (`shapes_classification`, 32x32, 10,000 train images) with a CIFAR-style net:
the dataset the ablation studies in `experiments/ablations/` train on.

    cnnjax train --config experiments/shapes_classification.py:resnet20 --workdir runs/shapes_resnet20
    arg: resnet20 (default, He et al.'s CIFAR ResNet-20), simple_cnn (the VGG-style SimpleCNN, 6 convs) or
    resnet18 (torchvision's ImageNet ResNet-18: the backbone `finetune_shapes_deeplabv3.py` and
    `linear_probe_shapes.py` start from)

Recipe (`cnnjax.config.recipes.shapes_classification`): SGD momentum 0.9, weight decay 5e-4, batch 128, lr
0.1 with 50 warm-up steps and a cosine decay over 1,600 steps (about 20 epochs); 4-pixel pad-and-crop and
horizontal flips (every class is mirror-symmetric up to rotation); per-channel normalisation.
`--config.dataset.name` picks the difficulty: `shapes_classification/easy`, `/standard` (default) or `/hard`.
"""

from cnnjax.config import recipes


def get_config(arg=None):
    return recipes.shapes_classification(arg)
