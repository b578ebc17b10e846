"""Residual vs plain CIFAR nets across depth (He et al. 2015, Fig. 6): deeper plain nets train worse, residual
nets do not. Depth 8, 20 and 32 (6n+2), with and without the identity shortcuts, on the easy generated shapes
for 500 steps of 64 images (about 3.2 epochs), so that how fast each net trains decides the result.

    cnnjax sweep run --config experiments/ablations/residual_depth.py --workdir runs/residual_depth --seeds 3 --parallel 2
"""

from cnnjax.config import recipes

DEPTHS = (8, 20, 32)


def get_config():
    c = recipes.shapes_ablation("resnet20", "residual_depth", num_steps=500)
    c.train.batch_size = 64
    return c


def get_sweep():
    return [
        {"name": f"{kind}{depth}", "model.overrides.plain": kind == "plain", "model.overrides.depth": depth}
        for kind in ("plain", "resnet")
        for depth in DEPTHS
    ]


def get_comparisons():
    return [("resnet32", "plain32"), ("plain8", "plain32"), ("resnet32", "resnet8")]
