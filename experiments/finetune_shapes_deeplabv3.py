"""DeepLabV3 (ResNet-18 backbone, output stride 8) on the generated shapes segmentation, its backbone pretrained
on the generated 10-class shapes classification, beside the same model from random initialisation.

    cnnjax train --config experiments/shapes_classification.py:resnet18 --workdir runs/shapes_resnet18
    cnnjax train --config experiments/finetune_shapes_deeplabv3.py:pretrained --workdir runs/deeplabv3_pretrained
    cnnjax train --config experiments/finetune_shapes_deeplabv3.py:scratch --workdir runs/deeplabv3_scratch
    arg: pretrained (default: model.init_from=runs/shapes_resnet18, the classifier's weights grafted into the
         backbone; `--config.model.init_from=DIR` for another run) or scratch (random initialisation)

Both take `shapes_segmentation.py:deeplabv3`'s recipe unchanged (AdamW 2e-3, cosine over 1,500 steps, batch 16),
so they differ in the initialisation alone; the ASPP and the heads start fresh either way.
"""

from cnnjax.config import recipes

PRETRAINED_RUN = "runs/shapes_resnet18"
ARGS = ("pretrained", "scratch")


def get_config(arg=None):
    arg = recipes.choose(arg, ARGS, "pretrained")
    c = recipes.shapes_segmentation("deeplabv3")
    c.name = f"shapes_deeplabv3_{arg}"
    if arg == "pretrained":
        c.model.init_from = PRETRAINED_RUN
    return c
