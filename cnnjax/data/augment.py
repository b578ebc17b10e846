"""Per-example image ops in NumPy on float32 (H, W, C) images; randomness comes from the caller's rng."""

import functools

import numpy as np


@functools.lru_cache(maxsize=32)
def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) bilinear weights, half-pixel centres, edges clamped (no antialiasing)."""
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
    """Resizes to (size, size) bilinearly, like `jax.image.resize(..., 'linear', antialias=False)`."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    rows, cols = _interpolation_matrix(height, size), _interpolation_matrix(width, size)
    return np.einsum("oh,hwc,pw->opc", rows, image, cols, optimize=True).astype(np.float32)


def random_pad_crop(image: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-pads `pad` pixels on every side, then crops the original size at a random offset."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    top, left = rng.integers(0, 2 * pad + 1, size=2)
    return padded[top : top + height, left : left + width]


def random_hflip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrors left-right with probability 1/2."""
    return image[:, ::-1] if rng.random() < 0.5 else image


def normalize(image: np.ndarray, mean, std) -> np.ndarray:
    """(x - mean) / std per channel."""
    return ((image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)
