"""What the mixup / CutMix tests share: a global batch, the mapped mixing, its hand-computed reference, and one
mapped train step of a tiny classifier with mixing (in-process on 1 device, and in the 4-device worker)."""

import functools

import jax
import numpy as np
import optax

from cnnjax.models import create_model
from cnnjax.parallel import AXIS, REPLICATED, SHARDED, DataParallel
from cnnjax.tasks import Classification
from cnnjax.train.mixup import Mixup
from cnnjax.train.state import create_train_state, state_layouts
from cnnjax.train.steps import make_train_step

NUM_CLASSES, BATCH, SIZE = 5, 16, 8
BOTH = Mixup(NUM_CLASSES, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
NEVER = Mixup(NUM_CLASSES, mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.0, label_smoothing=0.1)


def global_batch() -> dict:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((BATCH, SIZE, SIZE, 3)).astype(np.float32)
    return {"image": images, "label": rng.integers(0, NUM_CLASSES, BATCH).astype(np.int32)}


def mixer(mixup: Mixup, devices):
    """`mix(batch, key)`: `mixup` of a global batch mapped over `devices` (compiled once), on the host."""
    dp = DataParallel(devices)
    mapped = dp.map(mixup, (SHARDED, REPLICATED), SHARDED)
    return lambda batch, key: dp.to_host(mapped(dp.shard_batch(batch), dp.put(key)))


@functools.cache
def _draw(mixup: Mixup):
    return jax.jit(functools.partial(mixup.draw, height=SIZE, width=SIZE))


def reference(mixup: Mixup, batch: dict, key) -> dict:
    """The mixed batch computed by hand (NumPy) from the draws of `key`: mixup blends with the reversed batch,
    CutMix pastes its box from it; targets λ·t + (1-λ)·t' of the smoothed one-hot targets."""
    lam, blend, box = (np.asarray(v) for v in _draw(mixup)(key))
    images, labels = batch["image"], batch["label"]
    smooth = mixup.label_smoothing
    targets = np.full((len(labels), mixup.num_classes), smooth / mixup.num_classes, np.float64)
    targets[np.arange(len(labels)), labels] += 1 - smooth
    out = blend * images + (1 - blend) * images[::-1]
    top, bottom, left, right = box
    out[:, top:bottom, left:right] = images[::-1, top:bottom, left:right]
    return {"image": out, "target": lam * targets + (1 - lam) * targets[::-1], "lam": lam, "box": box}


def train_step_metrics(devices, mixup: Mixup, batch: dict) -> dict:
    """The metrics of one train step of a tiny classifier on the global `batch`, mixed, mapped over `devices`."""
    options = {"widths": (8, 16), "convs_per_stage": 1, "bn_axis_name": AXIS}  # BatchNorm over the global batch
    model = create_model("simple_cnn", num_classes=NUM_CLASSES, platform="cpu", **options)
    tx = optax.sgd(0.1)
    step = make_train_step(model, tx, optax.constant_schedule(0.1), Classification(), mixup=mixup)
    dp = DataParallel(devices)
    layouts = state_layouts(per_device_batch_stats=False)
    state = create_train_state(model, tx, (SIZE, SIZE, 3), seed=0)
    mapped = dp.map(step, (layouts, SHARDED), (layouts, REPLICATED))
    _, metrics = mapped(dp.put(state), dp.shard_batch(batch))
    return dp.to_host(metrics)
