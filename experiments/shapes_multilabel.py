"""Multi-label classification of the generated shapes (`shapes_multilabel`: 1-3 of the 10 shape classes per 32x32
image, 4,000 train images): which classes are in the image, a sigmoid per class.

    cnnjax train --config experiments/shapes_multilabel.py:resnet20 --workdir runs/shapes_multilabel
    arg: resnet20 (default, He et al.'s CIFAR ResNet-20), simple_cnn or resnet18 (as shapes_classification.py)

Task 'multilabel' (`cnnjax.tasks.multilabel`): binary cross-entropy per class; the headline is the test split's mAP
(average precision per class from score histograms, exactly scikit-learn's on the quantised scores), beside
per-class AP, and precision / recall / F1 at per-class thresholds chosen for the best F1 on the validation split.
Recipe: SGD momentum 0.9, weight decay 5e-4, batch 128, lr 0.1 with 50 warm-up steps and a cosine decay over
1,200 steps (about 38 epochs); 2-pixel pad-and-crop (objects sit at least 0.8 x their radius inside the image)
and horizontal flips (every class is mirror-symmetric up to rotation); evaluation and checkpoints every 400 steps.
Results: README.md (Multi-label classification).
"""

from cnnjax.config import base_config, recipes


def get_config(arg=None):
    arg = recipes.choose(arg, recipes.SHAPES_CLASSIFICATION_MODELS, "resnet20")
    c = base_config()
    c.name = f"shapes_multilabel_{arg}"
    c.task = "multilabel"
    c.dataset.update(name="shapes_multilabel", image_size=32, pad_crop=2, hflip=True)
    c.model.name = recipes.SHAPES_CLASSIFICATION_MODELS[arg]
    c.train.update(batch_size=128, eval_batch_size=256, num_steps=1200, log_every_steps=50)
    c.train.update(eval_every_steps=400, checkpoint_every_steps=400)
    c.optimizer.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4)
    c.schedule.update(name="cosine", warmup_steps=50)
    return c
