"""Joint image + keypoint ops for keypoint estimation, in NumPy; randomness comes from the caller's rng.

Images are float32 (H, W, C) pixel values in [0, 255]; keypoints are `ExampleKeypoints`: float32 (K, 2) (row, col) in
continuous pixel coordinates (pixel (r, c) covers [r, r+1) x [c, c+1)), their visibility (K,) and the object's
size. Every op moves the keypoints by the map it applies to the pixels, exactly: resizing H x W to H' x W'
multiplies rows by H'/H and columns by W'/W (half-pixel centres: the continuous coordinates scale linearly) and
the size by the mean of the two factors (equal up to the rounding of sides); padding at the bottom and right
leaves them; cropping at (top, left) subtracts (top, left); a horizontal flip of a W-wide image maps column c to
W - c and swaps the keypoints (and their visibility) of each flip pair, so the left one stays the object's left
(`cnnjax.data.catalog.KeypointLabels`). A keypoint that leaves the image is no longer visible (`in_view`); none
becomes visible. Padding gives the image NaN (`segmentation_augment.to_host_batch` finds the valid box).
"""

import dataclasses
from typing import NamedTuple

import numpy as np

from cnnjax.data import segmentation_augment as seg_aug


class ExampleKeypoints(NamedTuple):
    """An example's keypoints: `points` float32 (K, 2) (row, col), `visible` float32 (K,) 0 / 1, `size` float32."""

    points: np.ndarray
    visible: np.ndarray
    size: np.float32


def resize(
    image: np.ndarray, keypoints: ExampleKeypoints, height: int, width: int
) -> tuple[np.ndarray, ExampleKeypoints]:
    """Resizes the image bilinearly to (height, width) and scales the keypoints and the size with it."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image, keypoints
    factors = np.array([height / h, width / w], np.float32)
    size = np.float32(keypoints.size * factors.mean())
    return seg_aug.resize_image(image, height, width), keypoints._replace(points=keypoints.points * factors, size=size)


def resize_longer_side(
    image: np.ndarray, keypoints: ExampleKeypoints, size: int
) -> tuple[np.ndarray, ExampleKeypoints]:
    """Resizes (aspect kept) so the longer side is `size`; the identity when it already is."""
    h, w = image.shape[:2]
    return resize(image, keypoints, *seg_aug.scaled_sides(h, w, size / max(h, w)))


def random_scale(image: np.ndarray, keypoints: ExampleKeypoints, rng: np.random.Generator, scale_range=(0.5, 2.0)):
    """Resizes by one factor drawn uniformly from `scale_range`, as `segmentation_augment.random_scale` draws it."""
    h, w = image.shape[:2]
    return resize(image, keypoints, *seg_aug.scaled_sides(h, w, rng.uniform(*scale_range)))


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pads the image with NaN at the bottom and right to at least (height, width); keypoints do not move."""
    h, w = image.shape[:2]
    if h >= height and w >= width:
        return image
    padded = np.full((max(h, height), max(w, width), image.shape[2]), np.nan, np.float32)
    padded[:h, :w] = image
    return padded


def random_crop(image: np.ndarray, keypoints: ExampleKeypoints, size: int, rng: np.random.Generator):
    """Pads to at least (size, size) as `pad_to`, then crops (size, size) at one random offset
    (`segmentation_augment.crop_offset`, as its `random_crop`)."""
    image = pad_to(image, size, size)
    top, left = seg_aug.crop_offset(*image.shape[:2], size, rng)
    points = keypoints.points - np.array([top, left], np.float32)
    return image[top : top + size, left : left + size], keypoints._replace(points=points)


def flip_permutation(count: int, flip_pairs) -> np.ndarray:
    """int (count,): keypoint i of a mirrored example is keypoint permutation[i] of the example."""
    permutation = np.arange(count)
    for left, right in flip_pairs:
        permutation[[left, right]] = right, left
    return permutation


def hflip(image: np.ndarray, keypoints: ExampleKeypoints, flip_pairs) -> tuple[np.ndarray, ExampleKeypoints]:
    """Mirrors the image left-right, the keypoints with it (column c -> W - c), and swaps each flip pair."""
    order = flip_permutation(len(keypoints.points), flip_pairs)
    points = keypoints.points[order] * np.array([1, -1], np.float32) + np.array([0, image.shape[1]], np.float32)
    return image[:, ::-1], keypoints._replace(points=points, visible=keypoints.visible[order])


def in_view(keypoints: ExampleKeypoints, height: int, width: int) -> ExampleKeypoints:
    """The keypoints with those outside [0, height) x [0, width) no longer visible."""
    rows, cols = keypoints.points[:, 0], keypoints.points[:, 1]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return keypoints._replace(visible=keypoints.visible * inside.astype(np.float32))


@dataclasses.dataclass(frozen=True)
class KeypointPreprocess:
    """Host: uint8 image -> train: longer side to image_size, random scale, pad-crop to image_size, hflip (with the
    left / right swap of `flip_pairs`); eval: longer side to image_size, pad to image_size. Device: normalise; pads
    hold 0 (the mean). ExampleKeypoints follow every op (module docstring).

    A `preprocess.Preprocessing`; `apply` returns {'image': uint8 (S, S, C), 'label': float32 (K, 2) keypoints,
    'visible': float32 (K,), 'size': float32, seg_aug.VALID_BOX: int32 (4,)}.
    """

    image_size: int
    mean: tuple
    std: tuple
    flip_pairs: tuple[tuple[int, int], ...]
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """Preprocesses one example ('image', 'label' keypoints, 'visible', 'size'); augments only given an `rng`."""
        image = seg_aug.host_pixels(example["image"], len(self.std))
        keypoints = ExampleKeypoints(
            np.asarray(example["label"], np.float32),
            np.asarray(example["visible"], np.float32),
            np.float32(example["size"]),
        )
        size = self.image_size
        image, keypoints = resize_longer_side(image, keypoints, size)
        if rng is None:
            image = pad_to(image, size, size)
        else:
            image, keypoints = random_scale(image, keypoints, rng, self.scale_range)
            image, keypoints = random_crop(image, keypoints, size, rng)
            if self.hflip and rng.random() < 0.5:
                image, keypoints = hflip(image, keypoints, self.flip_pairs)
        keypoints = in_view(keypoints, size, size)
        batch = seg_aug.to_host_batch(image, keypoints.points)
        return {**batch, "visible": keypoints.visible, "size": keypoints.size}

    def on_device(self, batch: dict) -> dict:
        """The host batch -> the model's input; pure jax.numpy."""
        return seg_aug.normalize_inside_box(batch, self.mean, self.std)
