"""Joint image + label-map ops for semantic segmentation, in NumPy; randomness comes from the caller's rng.

Images are float32 (H, W, C) pixel values in [0, 255], label maps integer (H, W). Images are resampled bilinearly
(half-pixel centres, edges clamped, as `augment.resize_bilinear`); label maps with nearest neighbour, so every output
label is an input label (labels are never interpolated). Padding gives the image `fill` and the label map
`ignore_index`, which losses and metrics skip. Every op is deterministic given its rng.
"""

import dataclasses
import functools

import numpy as np

from cnnjax.data import device_ops, image_io

IGNORE_INDEX = 255


@functools.lru_cache(maxsize=128)
def _bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) bilinear weights, half-pixel centres, edges clamped; no antialiasing."""
    centres = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), low), 1 - (centres - low))
    np.add.at(weights, (np.arange(size_out), high), centres - low)
    return weights.astype(np.float32)


def _nearest_index(size_in: int, size_out: int) -> np.ndarray:
    """Source index of each output position: the input pixel containing the output pixel's centre."""
    return np.minimum(((np.arange(size_out) + 0.5) * size_in / size_out).astype(int), size_in - 1)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes a float (H, W, C) image bilinearly (half-pixel centres, edges clamped) to (height, width)."""
    rows, cols = _bilinear_matrix(image.shape[0], height), _bilinear_matrix(image.shape[1], width)
    return np.einsum("oh,hwc,pw->opc", rows, image, cols, optimize=True).astype(np.float32)


def scaled_sides(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) times `scale`, each side rounded and at least 1 pixel."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def crop_offset(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly random (top, left) of a (size, size) crop of a (height, width) image at least that large; top is
    drawn first."""
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def resize(image: np.ndarray, label: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Resizes the image bilinearly and the label map by nearest neighbour to (height, width)."""
    h, w = label.shape
    if (h, w) == (height, width):
        return image, label
    return resize_image(image, height, width), label[np.ix_(_nearest_index(h, height), _nearest_index(w, width))]


def random_scale(
    image: np.ndarray, label: np.ndarray, rng: np.random.Generator, scale_range=(0.5, 2.0), *, resize_fn=resize
) -> tuple[np.ndarray, np.ndarray]:
    """Resizes both by one factor drawn uniformly from `scale_range` (sides rounded, at least 1 pixel) with
    `resize_fn(image, label, height, width)` (default: bilinear image, nearest labels)."""
    h, w = label.shape
    return resize_fn(image, label, *scaled_sides(h, w, rng.uniform(*scale_range)))


def pad_to(
    image: np.ndarray, label: np.ndarray, height: int, width: int, *, fill=0.0, ignore_index: int = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray]:
    """Pads at the bottom and right to at least (height, width): image with `fill` (a scalar or one value
    per channel), label map with `ignore_index` (which must fit its dtype)."""
    h, w = label.shape
    if h >= height and w >= width:
        return image, label
    padded_image = np.empty((max(h, height), max(w, width), image.shape[2]), np.float32)
    padded_image[...] = np.asarray(fill, np.float32)
    padded_image[:h, :w] = image
    padded_label = np.full(padded_image.shape[:2], ignore_index, label.dtype)
    padded_label[:h, :w] = label
    return padded_image, padded_label


def random_crop(
    image: np.ndarray,
    label: np.ndarray,
    size: int,
    rng: np.random.Generator,
    *,
    fill=0.0,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[np.ndarray, np.ndarray]:
    """Pads to at least (size, size) as `pad_to`, then crops (size, size) at the same random offset from both."""
    image, label = pad_to(image, label, size, size, fill=fill, ignore_index=ignore_index)
    top, left = crop_offset(*label.shape, size, rng)
    return image[top : top + size, left : left + size], label[top : top + size, left : left + size]


def random_hflip(image: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mirrors both left-right with probability 1/2."""
    if rng.random() < 0.5:
        return image[:, ::-1], label[:, ::-1]
    return image, label


def resize_longer_side(
    image: np.ndarray, label: np.ndarray, size: int, *, resize_fn=resize
) -> tuple[np.ndarray, np.ndarray]:
    """Resizes (aspect kept, with `resize_fn` as `random_scale`) so the longer side is `size`; the identity
    when it already is."""
    h, w = label.shape
    if max(h, w) == size:
        return image, label
    return resize_fn(image, label, *scaled_sides(h, w, size / max(h, w)))


def resize_pad(
    image: np.ndarray, label: np.ndarray, size: int, *, fill=0.0, ignore_index: int = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation rule: resize (aspect kept) so the longer side is `size`, then pad the bottom and right
    to (size, size) as `pad_to`; the identity when the input is already (size, size). Metrics are then over
    the resized label map's pixels; padding is ignored."""
    image, label = resize_longer_side(image, label, size)
    return pad_to(image, label, size, size, fill=fill, ignore_index=ignore_index)


VALID_BOX = "valid_box"  # batch key: int32 (4,) (top, bottom, left, right) of the image inside its pads


def host_pixels(value, channels: int) -> np.ndarray:
    """An example's image (decoded or encoded, see `image_io`) as float32 (H, W, C) in [0, 255]."""
    return image_io.to_array(image_io.open_image(value), channels).astype(np.float32)


def to_host_batch(image: np.ndarray, label: np.ndarray) -> dict:
    """{'image': uint8, 'label', VALID_BOX} from an image whose pads hold NaN (the valid part is a rectangle)."""
    valid = ~np.isnan(image[..., 0])
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    box = np.array([rows[0], rows[-1] + 1, cols[0], cols[-1] + 1], np.int32)
    pixels = image_io.to_uint8(np.nan_to_num(image, nan=0.0))
    return {"image": pixels, "label": np.ascontiguousarray(label), VALID_BOX: box}


def normalize_inside_box(batch: dict, mean, std) -> dict:
    """The device half of segmentation and counting: 'image' -> (x / 255 - mean) / std, pads (outside
    VALID_BOX, which is consumed) -> 0, the normalised mean."""
    batch = dict(batch)
    boxes = batch.pop(VALID_BOX)
    image = device_ops.normalize(device_ops.unit_range(batch["image"]), mean, std)
    batch["image"] = device_ops.zero_outside(image, boxes)
    return batch


@dataclasses.dataclass(frozen=True)
class SegmentationPreprocess:
    """Host: uint8 image -> train: longer side to image_size, random scale, pad-crop to image_size, hflip;
    eval: `resize_pad` to image_size. Device: normalise; pads hold 0 (the mean) and `ignore_index`.

    A `preprocess.Preprocessing` (its model input contract); `apply` returns {'image': uint8 (S, S, C), 'label': int32 (S, S), VALID_BOX: int32 (4,)}.
    """

    image_size: int
    mean: tuple
    std: tuple
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True
    ignore_index: int = IGNORE_INDEX

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """Preprocesses one example; augments only when given an `rng`."""
        image = host_pixels(example["image"], len(self.std))
        label = np.asarray(example["label"], np.int32)
        pads = {"fill": np.nan, "ignore_index": self.ignore_index}
        if rng is None:
            image, label = resize_pad(image, label, self.image_size, **pads)
        else:
            image, label = resize_longer_side(image, label, self.image_size)
            image, label = random_scale(image, label, rng, self.scale_range)
            image, label = random_crop(image, label, self.image_size, rng, **pads)
            if self.hflip:
                image, label = random_hflip(image, label, rng)
        return to_host_batch(image, label)

    def on_device(self, batch: dict) -> dict:
        """The host batch -> the model's input; pure jax.numpy."""
        return normalize_inside_box(batch, self.mean, self.std)
