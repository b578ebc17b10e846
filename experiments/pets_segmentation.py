"""Oxford-IIIT Pet trimap segmentation (TFDS `oxford_iiit_pet`: 3 classes pet / background / border).

    cnnjax data prepare oxford_iiit_pet            # once; needs TensorFlow and network
    cnnjax train --config experiments/pets_segmentation.py:unet --workdir runs/pets_unet
    arg: unet (default) | fcn | deeplabv3

Images of varying size are resized so the longer side is 128 (then randomly rescaled 0.5–2, cropped or
padded to 128 and flipped for training; padded for evaluation, the padding ignored).  TFDS has train
(3,680) and test (3,669) splits only: periodic evaluation uses the test split, as the curves of most
pet-segmentation tutorials do.  AdamW 1e-3, cosine, batch 32, 40 epochs.
"""

from cnnjax.config import recipes
from cnnjax.config.schema import epochs_to_steps

MODELS = {
    "unet": ("unet", {"width": 32}),
    "fcn": ("fcn8s_resnet18", {}),
    "deeplabv3": ("deeplabv3_resnet50", {"output_stride": 16}),
}
TRAIN_EXAMPLES = 3680


def get_config(arg=None):
    c = recipes.segmentation(arg, MODELS, "pets")
    c.dataset.update(name="oxford_iiit_pet", image_size=128, hflip=True, scale_range=(0.5, 2.0), eval_split="test")
    c.train.update(batch_size=32, eval_batch_size=64, log_every_steps=50)
    c.train.update(num_steps=epochs_to_steps(40, TRAIN_EXAMPLES, c.train.batch_size))
    c.train.update(eval_every_steps=1000, checkpoint_every_steps=1000)
    c.optimizer.update(name="adamw", learning_rate=1e-3, weight_decay=1e-4)
    c.schedule.update(name="cosine", warmup_steps=200)
    return c
