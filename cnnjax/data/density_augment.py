"""Joint image + density-map ops for counting, in NumPy; randomness comes from the caller's rng.

Images are float32 (H, W, C) pixel values in [0, 255], density maps float32 (H, W) whose sum is the object count.
Flips, crops and padding move pixels without changing them (padding holds 0 density), so the map stays exact and its
sum is the count of what stays in view. Resizing resamples both bilinearly (`segmentation_augment`'s weights:
half-pixel centres, edges clamped) and multiplies the map by (h * w) / (h' * w'), so its mass is preserved: exactly for
a constant map, up to the resampling of edges and detail for others (within about 1 % for sigma-3 Gaussians and scales
0.5-2; more where downsampling by over 2x skips pixels, since there is no antialiasing).
"""

import dataclasses
import functools

import numpy as np

from cnnjax.data import segmentation_augment as seg_aug


def resize(image: np.ndarray, density: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Resizes both bilinearly to (height, width), the map scaled to keep its mass (module docstring)."""
    h, w = density.shape
    if (h, w) == (height, width):
        return image, density
    rows, cols = seg_aug._bilinear_matrix(h, height), seg_aug._bilinear_matrix(w, width)
    image = np.einsum("oh,hwc,pw->opc", rows, image, cols, optimize=True).astype(np.float32)
    density = rows @ density @ cols.T * np.float32(h * w / (height * width))
    return image, density.astype(np.float32)


# Segmentation's geometric ops with the mass-preserving `resize`.
random_scale = functools.partial(seg_aug.random_scale, resize_fn=resize)
resize_longer_side = functools.partial(seg_aug.resize_longer_side, resize_fn=resize)


def random_crop(
    image: np.ndarray, density: np.ndarray, size: int, rng: np.random.Generator, *, fill=0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Pads the bottom and right to at least (size, size) (image `fill`, density 0), then crops (size, size) at
    one random offset from both."""
    return seg_aug.random_crop(image, density, size, rng, fill=fill, ignore_index=0)


def resize_pad(image: np.ndarray, density: np.ndarray, size: int, *, fill=0.0) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation rule: longer side to `size` (mass kept), then pad the bottom and right to (size, size)
    (image `fill`, density 0); the identity when the input is already (size, size)."""
    image, density = resize_longer_side(image, density, size)
    return seg_aug.pad_to(image, density, size, size, fill=fill, ignore_index=0)


@dataclasses.dataclass(frozen=True)
class DensityPreprocess:
    """Host: uint8 image -> train: longer side to image_size, random scale, pad-crop to image_size, hflip;
    eval: `resize_pad` to image_size. Device: normalise; pads hold 0 (the mean) and 0 density.

    A `preprocess.Preprocessing` (its model input contract); `apply` returns {'image': uint8 (S, S, C), 'label': float32 (S, S) density, seg_aug.VALID_BOX: int32 (4,)}.
    """

    image_size: int
    mean: tuple
    std: tuple
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """Preprocesses one example; augments only when given an `rng`."""
        image = seg_aug.host_pixels(example["image"], len(self.std))
        density = np.asarray(example["label"], np.float32)
        if rng is None:
            image, density = resize_pad(image, density, self.image_size, fill=np.nan)
        else:
            image, density = resize_longer_side(image, density, self.image_size)
            image, density = random_scale(image, density, rng, self.scale_range)
            image, density = random_crop(image, density, self.image_size, rng, fill=np.nan)
            if self.hflip:
                image, density = seg_aug.random_hflip(image, density, rng)
        return seg_aug.to_host_batch(image, density)

    def on_device(self, batch: dict) -> dict:
        """The host batch -> the model's input; pure jax.numpy."""
        return seg_aug.normalize_inside_box(batch, self.mean, self.std)
