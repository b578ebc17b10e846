"""RandAugment (Cubuk et al. 2020) and TrivialAugment-Wide (Müller & Hutter 2021) on host uint8 (H, W, C) images.

The rule is torchvision 0.28's ``RandAugment`` / ``TrivialAugmentWide`` on uint8 tensors, nearest interpolation,
fill 0: fourteen ops (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness, Posterize,
Solarize, AutoContrast, Equalize), each chosen uniformly; RandAugment applies ``num_ops`` of them (with replacement)
at bin ``magnitude`` of ``num_magnitude_bins``, TrivialAugment-Wide one at a uniformly drawn bin, over its wider
ranges; a signed op's magnitude is negated with probability 1/2.  The bin values are torch's float32 ``linspace``;
the float32 arithmetic of torchvision's tensor functions (truncating uint8 conversions, the grayscale weights,
the inverse affine matrix about the centre, its sampling grid and ``grid_sample``'s nearest rounding) is done in
the same order here.

Where it differs from torchvision:

- the randomness comes from the caller's ``numpy.random.Generator`` (op, bin, sign, in torchvision's order of
  draws), not from torch's global generator, so equal seeds do not give torchvision's draws;
- Contrast: torch sums the grayscale image in float32 for its mean; here the sum is exact, which is the same
  while it stays below 2**24 (a grayscale image of up to 65,793 pixels always), beyond that the mean may differ
  in its last bit and a pixel whose blend lands next to an integer may then differ by 1;
- ShearX/ShearY/Rotate/TranslateX/TranslateY: the sampling grid and the rounding to the nearest pixel are
  torch's float32 operations in torch's order; a torch build whose matrix product sums the 3-term grid product
  in another order or with fused multiply-adds may move a source coordinate lying within float32 rounding of a
  pixel boundary (a rounding tie) by one pixel (the tests allow 1% of pixels).  With torch 2.13's CPU build
  every pixel agrees.
"""

from __future__ import annotations

import math

import numpy as np

POLICIES = ("none", "randaugment", "trivialaugment")
NUM_MAGNITUDE_BINS = 31  # torchvision's default num_magnitude_bins

_F32 = np.float32
_OPS = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)


def augment(
    image: np.ndarray,
    rng: np.random.Generator,
    policy: str,
    num_ops: int = 2,
    magnitude: int = 9,
    num_magnitude_bins: int = NUM_MAGNITUDE_BINS,
) -> np.ndarray:
    """``image`` augmented by ``policy`` (one of :data:`POLICIES`) with draws from ``rng``; "none" returns it."""
    if policy not in POLICIES:
        raise ValueError(f"unknown augmentation policy {policy!r}; choose one of {POLICIES}")
    if policy == "none":
        return image
    space = _augmentation_space(policy, num_magnitude_bins, image.shape[:2])
    for _ in range(num_ops if policy == "randaugment" else 1):
        op = _OPS[int(rng.integers(len(_OPS)))]
        magnitudes, signed = space[op]
        value = 0.0
        if magnitudes is not None:
            index = magnitude if policy == "randaugment" else int(rng.integers(len(magnitudes)))
            value = float(magnitudes[index])
        if signed and rng.integers(2):
            value = -value
        image = apply_op(image, op, value)
    return image


def apply_op(image: np.ndarray, op: str, magnitude: float) -> np.ndarray:
    """torchvision's ``_apply_op(image, op, magnitude, NEAREST, fill=None)`` on a uint8 (H, W, C) image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected a uint8 (H, W, 1 or 3) image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    if op == "Identity":
        return image
    if op in ("ShearX", "ShearY"):
        shear = [math.degrees(math.atan(magnitude)), 0.0]
        if op == "ShearY":
            shear.reverse()
        # center=[0, 0] (the top-left corner), in torchvision's centre-relative coordinates
        return _affine(image, _inverse_affine_matrix([-width * 0.5, -height * 0.5], 0.0, [0.0, 0.0], shear))
    if op in ("TranslateX", "TranslateY"):
        translate = [float(int(magnitude)), 0.0]
        if op == "TranslateY":
            translate.reverse()
        return _affine(image, _inverse_affine_matrix([0.0, 0.0], 0.0, translate, [0.0, 0.0]))
    if op == "Rotate":  # F.rotate negates the angle for the affine matrix
        return _affine(image, _inverse_affine_matrix([0.0, 0.0], -magnitude, [0.0, 0.0], [0.0, 0.0]))
    if op == "Brightness":
        return _blend(image, np.zeros((), _F32), 1.0 + magnitude)
    if op == "Color":
        return image if image.shape[2] == 1 else _blend(image, _grayscale(image).astype(_F32), 1.0 + magnitude)
    if op == "Contrast":
        gray = _grayscale(image) if image.shape[2] == 3 else image
        mean = _F32(int(gray.sum(dtype=np.int64))) / _F32(gray.size)
        return _blend(image, mean, 1.0 + magnitude)
    if op == "Sharpness":
        return _sharpness(image, 1.0 + magnitude)
    if op == "Posterize":
        bits = int(magnitude)
        if not 0 <= bits <= 8:
            raise ValueError(f"posterize bits should be between 0 and 8, got {bits}")
        return image & np.uint8(-(2 ** (8 - bits)) & 0xFF)
    if op == "Solarize":
        if magnitude > 255:
            raise ValueError(f"solarize threshold {magnitude} is above 255")
        return np.where(image.astype(_F32) >= _F32(magnitude), 255 - image, image)
    if op == "AutoContrast":
        return _autocontrast(image)
    if op == "Equalize":
        return np.stack([_equalize_channel(image[..., c]) for c in range(image.shape[2])], axis=-1)
    raise ValueError(f"unknown op {op!r}; choose one of {_OPS}")


def _augmentation_space(
    policy: str, num_bins: int, image_size: tuple[int, int]
) -> dict[str, tuple[np.ndarray | None, bool]]:
    """op -> (float32 bin values or None for ops without a magnitude, signed), torchvision's tables."""
    wide = policy == "trivialaugment"
    height, width = image_size
    ratio = 0.99 if wide else 0.9
    return {
        "Identity": (None, False),
        "ShearX": (_linspace(0.0, 0.99 if wide else 0.3, num_bins), True),
        "ShearY": (_linspace(0.0, 0.99 if wide else 0.3, num_bins), True),
        "TranslateX": (_linspace(0.0, 32.0 if wide else 150.0 / 331.0 * width, num_bins), True),
        "TranslateY": (_linspace(0.0, 32.0 if wide else 150.0 / 331.0 * height, num_bins), True),
        "Rotate": (_linspace(0.0, 135.0 if wide else 30.0, num_bins), True),
        "Brightness": (_linspace(0.0, ratio, num_bins), True),
        "Color": (_linspace(0.0, ratio, num_bins), True),
        "Contrast": (_linspace(0.0, ratio, num_bins), True),
        "Sharpness": (_linspace(0.0, ratio, num_bins), True),
        "Posterize": (_posterize_bits(num_bins, 6 if wide else 4), False),
        "Solarize": (_linspace(255.0, 0.0, num_bins), False),
        "AutoContrast": (None, False),
        "Equalize": (None, False),
    }


def _linspace(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps)`` in float32: start + step*i for the first half, end - step*(steps-1-i)
    for the rest, each a fused multiply-add (one rounding), as torch's CPU kernel compiles."""
    start, end = _F32(start), _F32(end)
    if steps == 1:
        return np.array([start], _F32)
    step = np.float64((end - start) / _F32(steps - 1))
    index = np.arange(steps, dtype=np.float64)
    low = (np.float64(start) + step * index).astype(_F32)
    high = (np.float64(end) - step * (steps - 1 - index)).astype(_F32)
    return np.where(index < steps // 2, low, high)


def _posterize_bits(num_bins: int, span: int) -> np.ndarray:
    """``8 - (torch.arange(num_bins) / ((num_bins - 1) / span)).round().int()`` (float32 division, ties to even)."""
    return (8 - np.rint(np.arange(num_bins, dtype=_F32) / _F32((num_bins - 1) / span)).astype(np.int32)).astype(_F32)


def _blend(image: np.ndarray, other, ratio: float) -> np.ndarray:
    """torchvision's ``_blend``: float32 ``ratio*image + (1-ratio)*other``, clamped to 0..255, truncated."""
    mixed = _F32(ratio) * image.astype(_F32) + _F32(1.0 - ratio) * np.asarray(other, _F32)
    return np.clip(mixed, 0, 255).astype(np.uint8)


def _grayscale(image: np.ndarray) -> np.ndarray:
    """(H, W, 1) uint8 ``0.2989 R + 0.587 G + 0.114 B`` in float32, truncated."""
    r, g, b = (image[..., c].astype(_F32) for c in range(3))
    return (_F32(0.2989) * r + _F32(0.587) * g + _F32(0.114) * b).astype(np.uint8)[..., None]


def _sharpness(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the 3x3 (1, 1, 1; 1, 5, 1; 1, 1, 1)/13 smoothed interior (borders kept).  The smoothed value
    s/13 is never a rounding tie (13 is odd), so the integer rounding here equals torch's float32 convolution."""
    height, width = image.shape[:2]
    if height <= 2 or width <= 2:
        return image
    wide = image.astype(np.int32)
    total = 4 * wide[1:-1, 1:-1]
    for dy in range(3):
        for dx in range(3):
            total = total + wide[dy : dy + height - 2, dx : dx + width - 2]
    blurred = image.copy()
    blurred[1:-1, 1:-1] = (2 * total + 13) // 26
    return _blend(image, blurred.astype(_F32), factor)


def _autocontrast(image: np.ndarray) -> np.ndarray:
    """Per channel ``(x - min) * (255 / (max - min))`` in float32, truncated; constant channels unchanged.  torch's
    ``255 / tensor`` is ``tensor.reciprocal() * 255``: two roundings."""
    low = image.min(axis=(0, 1)).astype(_F32)
    high = image.max(axis=(0, 1)).astype(_F32)
    flat = high == low
    with np.errstate(divide="ignore"):
        scale = np.where(flat, _F32(1), (_F32(1) / (high - low)).astype(_F32) * _F32(255)).astype(_F32)
    low = np.where(flat, _F32(0), low).astype(_F32)
    return np.clip((image.astype(_F32) - low) * scale, 0, 255).astype(np.uint8)


def _equalize_channel(channel: np.ndarray) -> np.ndarray:
    """torchvision's tensor ``_scale_channel``: the histogram's cumulative-sum lookup table."""
    hist = np.bincount(channel.reshape(-1), minlength=256)
    nonzero = hist[hist != 0]
    step = int(nonzero[:-1].sum()) // 255
    if step == 0:
        return channel
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    return lut[channel].astype(np.uint8)


def _inverse_affine_matrix(
    center: list[float], angle: float, translate: list[float], shear: list[float]
) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1), in the same float64 operations."""
    rot = math.radians(angle)
    sx = math.radians(shear[0])
    sy = math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [x / 1.0 for x in (d, -b, 0.0, -c, a, 0.0)]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def _affine(image: np.ndarray, matrix: list[float]) -> np.ndarray:
    """torchvision's tensor ``affine``/``rotate`` with nearest sampling and zero fill: the float32 grid of
    ``_gen_affine_grid`` (pixel centres times the transposed matrix over half the size, summed x, y, then the
    constant) and ``grid_sample``'s ``(g + 1) * size/2 - 0.5`` rounded half to even."""
    height, width = image.shape[:2]
    theta = np.array(matrix, _F32).reshape(2, 3)
    rescaled = (theta.T / np.array([0.5 * width, 0.5 * height], _F32)).astype(_F32)  # (3, 2)
    x = np.arange(width, dtype=_F32) - _F32(width * 0.5) + _F32(0.5)
    y = (np.arange(height, dtype=_F32) - _F32(height * 0.5) + _F32(0.5))[:, None]
    grid_x = (x * rescaled[0, 0] + y * rescaled[1, 0]) + rescaled[2, 0]
    grid_y = (x * rescaled[0, 1] + y * rescaled[1, 1]) + rescaled[2, 1]
    source_x = np.rint((grid_x + _F32(1)) * _F32(width / 2) - _F32(0.5))
    source_y = np.rint((grid_y + _F32(1)) * _F32(height / 2) - _F32(0.5))
    inside = (source_x >= 0) & (source_x <= width - 1) & (source_y >= 0) & (source_y <= height - 1)
    rows = np.where(inside, source_y, 0).astype(np.intp)
    cols = np.where(inside, source_x, 0).astype(np.intp)
    return np.where(inside[..., None], image[rows, cols], np.uint8(0))
