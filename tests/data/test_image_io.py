"""Host image decoding and crop-resize: encoded and decoded examples, JPEG draft decoding."""

import io

import numpy as np
import pytest
from PIL import Image

from cnnjax.data import image_io
from cnnjax.data.preprocess import Preprocess


def smooth_image(height=120, width=160, seed=0) -> np.ndarray:
    """A smooth uint8 RGB image (JPEG keeps it close, so decoders can be compared)."""
    y, x = np.mgrid[0:height, 0:width] / 40.0
    phase = np.random.default_rng(seed).random(3) * 6
    channels = [np.sin(x + p) * np.cos(y * 1.3 - p) for p in phase]
    return ((np.stack(channels, -1) + 1) * 127.5).astype(np.uint8)


def encode(image: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_encoded_images_in_every_stored_form_decode_to_the_pixels():
    image = smooth_image()
    png = encode(image, "PNG")
    object_scalar = np.empty((), object)
    object_scalar[()] = png
    for value in (png, object_scalar, np.frombuffer(png, np.uint8)):
        assert image_io.is_encoded(value)
        np.testing.assert_array_equal(image_io.to_array(image_io.open_image(value), 3), image)
    assert not image_io.is_encoded(image)
    gray = image_io.to_array(image_io.open_image(encode(image[..., 0], "PNG")), 3)  # grayscale in a colour dataset
    assert gray.shape == image.shape and (gray == image[..., :1]).all()


def test_a_bad_array_is_a_clear_error():
    with pytest.raises(ValueError, match=r"must be \(H, W, C\) uint8"):
        image_io.open_image(np.zeros((4, 4, 3), np.float32))


def test_jpeg_draft_decoding_stays_close_to_the_full_decode():
    image = smooth_image(480, 640)
    jpeg = encode(image, "JPEG", quality=95)
    decoded = image_io.to_array(image_io.open_image(jpeg), 3)
    box = (40, 100, 400, 480)  # a 400x480 window to 96x96: decoded at 1/4 scale
    drafted = image_io.resized_crop(image_io.open_image(jpeg), box, (96, 96), 3)
    full = image_io.resized_crop(image_io.open_image(decoded), box, (96, 96), 3)
    assert np.abs(drafted.astype(int) - full).mean() < 1.5
    opened = image_io.open_image(jpeg)
    image_io.resized_crop(opened, box, (96, 96), 3)
    assert opened.size == (160, 120)  # the draft took effect
    centre = image_io.resize_center_crop(image_io.open_image(jpeg), 128, 112, 3)
    centre_full = image_io.resize_center_crop(image_io.open_image(decoded), 128, 112, 3)
    assert np.abs(centre.astype(int) - centre_full).mean() < 1.5


def test_preprocess_treats_encoded_and_decoded_examples_alike():
    image = smooth_image()
    preprocess = Preprocess(image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, train_crop="random_resized", hflip=True)
    png = {"image": encode(image, "PNG"), "label": 4}
    for rng in (None, 3):
        from_png = preprocess.apply(png, None if rng is None else np.random.default_rng(rng))
        from_array = preprocess.apply({"image": image, "label": 4}, None if rng is None else np.random.default_rng(rng))
        assert from_png.keys() == from_array.keys()
        for key in from_png:
            np.testing.assert_array_equal(from_png[key], from_array[key])
