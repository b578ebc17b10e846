"""Full-size parity of every model cnnjax imports from torchvision / timm: the torch model with random weights and
random BatchNorm statistics, converted with `cnnjax.pretrained.load_torch`, both in eval mode on the same images;
the largest logit difference relative to the largest logit, and the round trip back to a torch state dict.

    python benchmarks/pretrained_parity.py [--size 224] [--models resnet50,vgg16]

Needs torch, torchvision and timm (the README's test command installs them).  No weights are downloaded: random
weights exercise every mapped tensor the same way (the parity tests in CI do the same on shrunk models).
"""

import argparse
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from torch_twins import randomize_batch_norm  # noqa: E402

from cnnjax.cpu_runtime import tune_cpu_runtime  # noqa: E402
from cnnjax.models import create_model  # noqa: E402
from cnnjax.pretrained import export_torch, load_torch  # noqa: E402
from cnnjax.pretrained.mapping import family_of  # noqa: E402
from cnnjax.pretrained.torch_modules import timm, torchvision  # noqa: E402

CLASSIFIERS = (
    [f"resnet{d}" for d in (18, 34, 50, 101, 152)]
    + ["resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2", "seresnet50"]
    + [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
    + ["alexnet", "googlenet", "mobilenet_v2"]
    + [f"densenet{d}" for d in (121, 161, 169, 201)]
    + [f"efficientnet_b{i}" for i in range(8)]
)
SEGMENTERS = ("fcn_resnet50", "deeplabv3_resnet50")


def torch_model(name: str):
    tv = torchvision()
    if name == "seresnet50":
        return timm().create_model(name)
    if name in SEGMENTERS:
        return getattr(tv.models.segmentation, name)(weights_backbone=None, aux_loss=True)
    if name == "googlenet":  # as torchvision builds it for its ImageNet weights
        return tv.models.googlenet(aux_logits=True, transform_input=True, init_weights=True)
    return getattr(tv.models, name)()


def compare(name: str, size: int) -> tuple[float, bool, float]:
    torch.manual_seed(0)
    reference = randomize_batch_norm(torch_model(name))
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        out = reference(torch.from_numpy(x))
    expected = out["out"].numpy().transpose(0, 2, 3, 1) if name in SEGMENTERS else out.numpy()
    state_dict = reference.state_dict()
    options = {"transform_input": True} if name == "googlenet" else {}
    variables = load_torch(name, state_dict, **options)
    model = create_model(name, num_classes=expected.shape[-1], **options)
    got = np.asarray(model.apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1)), train=False))
    exported = export_torch(name, variables, **options)
    family = family_of(name)
    round_trip = all(np.array_equal(v, state_dict[k].numpy()) for k, v in exported.items()) and all(
        k in exported or family.is_dropped(k) for k in state_dict
    )
    return float(np.abs(got - expected).max()), round_trip, float(np.abs(expected).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", default=",".join(CLASSIFIERS + list(SEGMENTERS)))
    args = parser.parse_args()
    tune_cpu_runtime()
    print("| model | max abs difference | max abs logit | relative | round trip bitwise | s |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        start = time.perf_counter()
        difference, round_trip, scale = compare(name, args.size)
        print(
            f"| {name} | {difference:.2e} | {scale:.3g} | {difference / scale:.1e} | {round_trip} | "
            f"{time.perf_counter() - start:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
