"""Per-example image ops in NumPy on float32 (H, W, C) images; randomness comes from the caller's rng."""

import functools

import numpy as np

PAD_MODES = {"zeros": "constant", "reflect": "reflect"}  # config name -> np.pad mode


@functools.lru_cache(maxsize=64)
def _interpolation_matrix(size_in: int, size_out: int, antialias: bool = False) -> np.ndarray:
    """(size_out, size_in) bilinear weights, half-pixel centres, edges clamped.

    With `antialias`, a downscale widens the triangle kernel by size_in / size_out (as PIL and
    `jax.image.resize(..., antialias=True)` do) so every input pixel contributes.
    """
    if antialias and size_out < size_in:
        scale = size_out / size_in
        centres = (np.arange(size_out) + 0.5) / scale - 0.5
        weights = np.maximum(0.0, 1.0 - np.abs(centres[:, None] - np.arange(size_in)[None, :]) * scale)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
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
    return _resize_window(image, _interpolation_matrix(height, size), _interpolation_matrix(width, size))


def _resize_window(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


def random_resized_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The Inception crop: a `random_resized_window` resized to (size, size), bilinear with antialiasing."""
    top, left, h, w = random_resized_window(*image.shape[:2], rng)
    window = image[top : top + h, left : left + w]
    return _resize_window(window, _interpolation_matrix(h, size, True), _interpolation_matrix(w, size, True))


def resize_center_crop(image: np.ndarray, resize: int, size: int) -> np.ndarray:
    """torchvision's Resize(resize) + CenterCrop(size): the shorter side to `resize` (bilinear,
    antialiased, aspect kept), then the central (size, size) window; only that window is computed."""
    height, width = image.shape[:2]
    if height <= width:
        new_height, new_width = resize, int(resize * width / height)
    else:
        new_height, new_width = int(resize * height / width), resize
    top, left = int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))
    rows = _interpolation_matrix(height, new_height, True)[top : top + size]
    cols = _interpolation_matrix(width, new_width, True)[left : left + size]
    return _resize_window(image, rows, cols)


def random_pad_crop(image: np.ndarray, pad: int, rng: np.random.Generator, mode: str = "zeros") -> np.ndarray:
    """Pads `pad` pixels on every side with zeros or reflections ('reflect', no edge repeat), then
    crops the original size at a random offset."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode=PAD_MODES[mode])
    top, left = rng.integers(0, 2 * pad + 1, size=2)
    return padded[top : top + height, left : left + width]


def random_hflip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrors left-right with probability 1/2."""
    return image[:, ::-1] if rng.random() < 0.5 else image


def normalize(image: np.ndarray, mean, std) -> np.ndarray:
    """(x - mean) / std per channel; `mean` may also be a per-pixel mean image of the same shape."""
    return ((image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)
