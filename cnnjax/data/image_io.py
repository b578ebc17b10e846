"""Host image ops on uint8: decoding and crop-then-resize with Pillow; randomness comes from the caller's rng.

An example's 'image' is either a decoded (H, W, C) uint8 array (`tfds.features.Tensor`) or an encoded
image (JPEG/PNG bytes: `bytes`, a 0-d object array holding bytes, or a 1-D uint8 buffer, as TFDS's
`Image` feature stores it). `open_image` opens both as a PIL image without decoding encoded pixels yet,
so a crop that is downscaled can ask the JPEG decoder for a smaller image (`Image.draft`: a 1/2, 1/4 or
1/8 scale in the DCT, never below what the crop's output needs). Resizes are PIL's bilinear: a triangle
filter with half-pixel centres, widened by the scale factor when downscaling (antialiasing, as
torchvision's PIL path and `jax.image.resize(..., antialias=True)`); only the output window is computed.
"""

import io
import math

import numpy as np
from PIL import Image

from cnnjax.data import augment


def is_encoded(value) -> bool:
    """True for encoded image bytes (`bytes`, a 0-d object array, or a 1-D uint8 buffer)."""
    return isinstance(value, bytes) or (isinstance(value, np.ndarray) and value.ndim <= 1)


def open_image(value) -> Image.Image:
    """A PIL image of an example's 'image' (module docstring); encoded pixels are decoded on first use."""
    if not is_encoded(value):
        array = np.asarray(value)
        if array.dtype != np.uint8 or array.ndim != 3:
            raise ValueError(
                f"an example's image must be (H, W, C) uint8 or encoded bytes, got {array.dtype} {array.shape}"
            )
        return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    data = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    return Image.open(io.BytesIO(bytes(data)))


def to_array(image: Image.Image, channels: int) -> np.ndarray:
    """(H, W, channels) uint8 from a PIL image."""
    array = np.asarray(_in_mode(image, channels))
    return array[..., None] if channels == 1 else array


def _in_mode(image: Image.Image, channels: int) -> Image.Image:
    """The image as 'L' (1 channel) or 'RGB' (3); other modes are converted, so a grayscale or CMYK JPEG
    in a colour dataset becomes RGB."""
    mode = "L" if channels == 1 else "RGB"
    return image if image.mode == mode else image.convert(mode)


def resized_crop(
    image: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int], channels: int
) -> np.ndarray:
    """torchvision's resized_crop: the window `box` = (top, left, h, w) cut out, then resized to `size` =
    (height, width), uint8; the filter sees only the window (edges clamped to it)."""
    image, (x0, y0, x1, y1) = _draft(image, box, size)
    left, top = math.floor(x0), math.floor(y0)
    window = _in_mode(image, channels).crop((left, top, math.ceil(x1), math.ceil(y1)))
    within = (x0 - left, y0 - top, x1 - left, y1 - top)  # exact unless a draft scaled the box
    return to_array(window.resize((size[1], size[0]), Image.BILINEAR, box=within), channels)


def random_resized_crop(image: Image.Image, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """The Inception crop: an `augment.random_resized_window` resized to (size, size)."""
    width, height = image.size
    return resized_crop(image, augment.random_resized_window(height, width, rng), (size, size), channels)


def resize_center_crop(image: Image.Image, resize: int, size: int, channels: int) -> np.ndarray:
    """torchvision's Resize(resize) + CenterCrop(size): the shorter side to `resize` (aspect kept), then the
    central (size, size) window; only that window of the full resize is computed (same sample centres and
    filter taps, which reach outside the window)."""
    width, height = image.size
    if height <= width:
        new_height, new_width = resize, int(resize * width / height)
    else:
        new_height, new_width = int(resize * height / width), resize
    top, left = int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))
    sy, sx = height / new_height, width / new_width
    image, pil_box = _draft(image, (top * sy, left * sx, size * sy, size * sx), (size, size))
    return to_array(_in_mode(image, channels).resize((size, size), Image.BILINEAR, box=pil_box), channels)


def _draft(image: Image.Image, box, size: tuple[int, int]) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A JPEG not yet decoded is set to decode at the smallest DCT scale (1/2, 1/4, 1/8) that keeps the
    window `box` = (top, left, h, w) at least `size` (height, width); returns the image and the box as
    PIL's (x0, y0, x1, y1) in the (possibly smaller) image's pixels."""
    top, left, h, w = box
    full_width, full_height = image.size
    if image.format == "JPEG":
        image.draft(image.mode, (math.ceil(full_width * size[1] / w), math.ceil(full_height * size[0] / h)))
    sx, sy = image.size[0] / full_width, image.size[1] / full_height
    return image, (left * sx, top * sy, (left + w) * sx, (top + h) * sy)


def resize_bilinear(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """The whole image resized to (size, size) by `augment.resize_bilinear` (no antialiasing, as the
    per-pixel mean image is computed), rounded to uint8."""
    array = to_array(image, channels)
    if array.shape[:2] == (size, size):
        return array
    return to_uint8(augment.resize_bilinear(array.astype(np.float32), size))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Rounds float pixel values in [0, 255] to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
