"""Counting generated shapes through a predicted density map, as in density-based object counting (e.g. wheat
heads): a fully convolutional net regresses a map whose sum is the count.

    cnnjax train --config experiments/shapes_counting.py --workdir runs/shapes_counting                  # 2-3 shapes
    cnnjax train --config experiments/shapes_counting.py:crowded --workdir runs/shapes_counting_crowded  # 0-15

Data: `shapes_segmentation` (2-3 shapes per 64×64 image, often overlapping), or with arg 'crowded' `shapes_crowded`
(0-15 half-size shapes). Targets: a normalised Gaussian (sigma 3 px; 2 px for the crowded shapes) at each shape's
centre (`cnnjax.data.catalog.DENSITY`), scaled by `loss.density_scale` = 1000; loss: pixel MSE + 0.1 × the squared
count error (`loss.count_weight`). The small U-Net (width 16, depth 3, bilinear decoder) with one output channel,
Adam 1e-3 (no weight decay) with cosine decay over 3,000 steps after 100 warm-up steps, batch 16, random rescale
0.75–1.25 (mass-preserving) + crop 64 + horizontal flip; count MAE / RMSE on the validation split every 1,000 steps
with a PNG of target and predicted maps in `panels/`, the test split once at the end. `cnnjax visualize counts
--workdir DIR --out counts.png` plots predicted against true counts. Results: README.md (Counting).
"""

from cnnjax.config import base_config, recipes


def get_config(arg=None):
    if arg not in (None, "", "crowded"):
        raise ValueError(f"shapes_counting.py takes no arg or 'crowded', got {arg!r}")
    c = base_config()
    c.name = "shapes_counting_unet" + ("_crowded" if arg else "")
    c.task = "counting"
    recipes.shapes(c)
    if arg:
        c.dataset.name = "shapes_crowded"
    c.model.name = "unet_small"
    c.model.overrides.decoder = "upsample"
    c.optimizer.update(name="adamw", learning_rate=1e-3, weight_decay=0.0)  # weight decay 0: plain Adam
    c.loss.count_weight = 0.1
    # At the schema's scale 100 the count term outweighs the pixel term 10-15x at the start, and the net learns to
    # spread mass over edges to match counts instead of peaks at centres (README.md, Counting).
    c.loss.density_scale = 1000.0
    c.train.update(num_steps=3000, eval_every_steps=1000, checkpoint_every_steps=1000)
    c.schedule.update(name="cosine", warmup_steps=100)
    return c
