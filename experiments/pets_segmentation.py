"""Oxford-IIIT Pet trimap segmentation (TFDS `oxford_iiit_pet`: 3 classes pet / background / border).

    cnnjax data prepare oxford_iiit_pet            # once; needs TensorFlow and network
    cnnjax train --config experiments/pets_segmentation.py:unet --workdir runs/pets_unet
    arg: unet (default) | fcn | deeplabv3

Images of varying size are resized so the longer side is 128 (then randomly rescaled 0.5–2, cropped or
padded to 128 and flipped for training; padded for evaluation, the padding ignored).  TFDS has train
(3,680) and test (3,669) splits only: periodic evaluation uses the test split, as the curves of most
pet-segmentation tutorials do.  AdamW 1e-3, cosine, batch 32, 40 epochs.
"""

from cnnjax.config import base_config
from cnnjax.config.schema import epochs_to_steps

MODELS = {
    "unet": ("unet", {"width": 32}),
    "fcn": ("fcn8s_resnet18", {}),
    "deeplabv3": ("deeplabv3_resnet50", {"output_stride": 16}),
}
TRAIN_EXAMPLES = 3680


def get_config(arg=None):
    arg = arg or "unet"
    if arg not in MODELS:
        raise ValueError(f"unknown arg {arg!r}: use one of {', '.join(MODELS)}")
    model, overrides = MODELS[arg]
    c = base_config()
    c.name = f"pets_{arg}"
    c.task = "segmentation"
    c.dataset.name = "oxford_iiit_pet"
    c.dataset.image_size = 128
    c.dataset.hflip = True
    c.dataset.scale_range = (0.5, 2.0)
    c.dataset.eval_split = "test"
    c.model.name = model
    c.model.overrides.update(overrides)
    c.train.batch_size = 32
    c.train.eval_batch_size = 64
    c.train.num_steps = epochs_to_steps(40, TRAIN_EXAMPLES, c.train.batch_size)
    c.train.log_every_steps = 50
    c.train.eval_every_steps = 1000
    c.train.checkpoint_every_steps = 1000
    c.optimizer.name = "adamw"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.weight_decay = 1e-4
    c.schedule.name = "cosine"
    c.schedule.warmup_steps = 200
    return c
