"""Host-side resampling and random windows in NumPy; randomness comes from the caller's rng."""

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) bilinear weights, half-pixel centres, edges clamped, no antialiasing."""
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = centres - low
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), low), 1 - frac)
    np.add.at(weights, (np.arange(size_out), high), frac)
    return weights.astype(np.float32)


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """Resizes a float32 (H, W, C) image to (size, size) bilinearly, like
    `jax.image.resize(..., 'linear', antialias=False)`; the identity when it already has that size."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    rows, cols = _interpolation_matrix(height, size), _interpolation_matrix(width, size)
    return np.einsum("oh,hwc,pw->opc", rows, image, cols, optimize=True).astype(np.float32)


def random_resized_window(
    height: int, width: int, rng: np.random.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop window (top, left, h, w): random area (`scale` of the image)
    and aspect ratio w/h (`ratio`, log-uniform), 10 tries, else the centred window of the nearest
    allowed ratio."""
    area = height * width
    for _ in range(10):
        target_area = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        w, h = round(np.sqrt(target_area * aspect)), round(np.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    w, h = width, height
    if width / height < ratio[0]:
        h = round(width / ratio[0])
    elif width / height > ratio[1]:
        w = round(height * ratio[1])
    return (height - h) // 2, (width - w) // 2, h, w
