"""Preprocessing, split between the host (`apply`, per example) and the device (`on_device`): the
`Preprocessing` interface and classification's `Preprocess`.

Model input contract (every `Preprocessing`): the host emits 'image' as uint8 (N, S, S, C) pixels
plus small per-example keys; `on_device(batch)` (pure jax.numpy, traced in the jitted step) returns the
batch the model and task see: 'image' float32 (N, S, S, C), normalised as (x / 255 - mean) / std per
channel (or x / 255 minus the per-pixel mean image), the per-example keys consumed, every other key
('label', 'mask') unchanged.
"""

import dataclasses
from typing import Protocol

import numpy as np

from cnnjax.data import device_ops, image_io, rand_augment


class Preprocessing(Protocol):
    """What the input pipeline (`apply`) and the jitted steps (`on_device`) need of a preprocessing."""

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """One example -> the host's uint8 'image', its 'label' and small per-example keys; augments (drawing
        from `rng`) only when given an `rng`."""
        ...

    def on_device(self, batch: dict) -> dict:
        """The host batch -> the model's input (module docstring); pure jax.numpy."""
        ...


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """Host: decode, crop/resize to image_size (uint8). Device: [0, 1] -> (train) pad-crop, hflip -> normalise.

    Train: 'pad_crop' resizes the whole image (bilinear) and pads-and-crops by `pad_crop` pixels;
    'random_resized' takes the Inception crop. Eval: the whole image resized, or with `eval_resize`
    the shorter side resized to it and the centre cropped. `mean` is per channel, or a per-pixel
    mean image (image_size, image_size, C), subtracted before padding so pads hold the mean (He et al.);
    per-channel normalisation follows padding, so zero pads are black.

    Train examples carry the host rng's decisions, drawn in this order: the Inception window, then
    'crop_offset' int32 (2,) (top, left in the padded image; with `pad_crop`), then 'flip' bool
    (with `hflip`); `on_device` applies them. Last, `auto_augment` ('randaugment' with `auto_augment_num_ops` ops at
    bin `auto_augment_magnitude`, or 'trivialaugment') transforms the host's uint8 image itself
    (`cnnjax.data.rand_augment`): after the resize or Inception crop, before the device's pad-crop and flip
    (torchvision's CIFAR recipes crop and flip first; the ops commute with a flip, and a translation's or rotation's
    black fill then lies inside the padded border instead of beside it).
    """

    image_size: int
    mean: tuple | np.ndarray
    std: tuple
    pad_crop: int = 0
    hflip: bool = False
    pad_mode: str = "zeros"
    train_crop: str = "pad_crop"
    eval_resize: int = 0
    auto_augment: str = "none"
    auto_augment_num_ops: int = 2
    auto_augment_magnitude: int = 9

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """One example -> {'image': uint8 (S, S, C), 'label': int32} (+ train decisions); augments only
        when given an `rng`."""
        image, channels, size = image_io.open_image(example["image"]), len(self.std), self.image_size
        if rng is not None and self.train_crop == "random_resized":
            pixels = image_io.random_resized_crop(image, size, channels, rng)
        elif rng is None and self.eval_resize:
            pixels = image_io.resize_center_crop(image, self.eval_resize, size, channels)
        else:
            pixels = image_io.resize_bilinear(image, size, channels)
        out = {"image": pixels, "label": np.int32(example["label"])}
        if rng is not None and self.pad_crop:
            out["crop_offset"] = rng.integers(0, 2 * self.pad_crop + 1, size=2).astype(np.int32)
        if rng is not None and self.hflip:
            out["flip"] = np.bool_(rng.random() < 0.5)
        if rng is not None and self.auto_augment != "none":
            options = {"num_ops": self.auto_augment_num_ops, "magnitude": self.auto_augment_magnitude}
            out["image"] = rand_augment.augment(pixels, rng, self.auto_augment, **options)
        return out

    def on_device(self, batch: dict) -> dict:
        """The host batch -> the model's input (module docstring); pure jax.numpy."""
        batch = dict(batch)
        offsets, flips = batch.pop("crop_offset", None), batch.pop("flip", None)
        image = device_ops.unit_range(batch["image"])
        per_pixel = np.ndim(self.mean) == 3
        if per_pixel:
            image = device_ops.normalize(image, self.mean, self.std)
        if offsets is not None:
            image = device_ops.pad_crop(image, offsets, self.pad_crop, self.pad_mode)
        if flips is not None:
            image = device_ops.hflip(image, flips)
        if not per_pixel:
            image = device_ops.normalize(image, self.mean, self.std)
        batch["image"] = image
        return batch


def display_images(batch: dict) -> np.ndarray:
    """A host batch's uint8 images as float32 in [0, 1], for panels (eval batches: nothing to undo)."""
    return np.asarray(batch["image"], np.float32) / np.float32(255)
