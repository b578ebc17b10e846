"""Writes the README's `cnnjax predict` inputs from the bundled test splits: a 112x112 canvas with three digits
pasted at their training scale (each resized to 32x32, as the default experiment sees it), one digit at its
stored 8x8 size, and a 64x117 strip of two generated shapes images side by side (an odd size the segmentation
model never trained on).

    python docs/inspect/predict_inputs.py OUT_DIR
"""

import os
import sys

import numpy as np
from PIL import Image

from cnnjax.data.catalog import open_split, resolve_data_dir

PLACES = ((8, 10, 0), (40, 70, 3), (72, 24, 7))  # (top, left, digit)
CANVAS = 112
DIGIT = 32


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    test = open_split("digits", "test", resolve_data_dir(None))
    first_of = {}
    for index in range(len(test)):
        first_of.setdefault(int(test[index]["label"]), test[index]["image"])
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    for top, left, digit in PLACES:
        pixels = Image.fromarray(first_of[digit][..., 0]).resize((DIGIT, DIGIT), Image.BILINEAR)
        canvas[top : top + DIGIT, left : left + DIGIT] = np.maximum(canvas[top : top + DIGIT, left : left + DIGIT], pixels)
    Image.fromarray(canvas).save(os.path.join(out_dir, "digits_canvas.png"))
    Image.fromarray(first_of[5][..., 0]).save(os.path.join(out_dir, "digit_5_8x8.png"))
    shapes = open_split("shapes_segmentation", "test", resolve_data_dir(None))
    strip = np.concatenate([shapes[0]["image"], shapes[1]["image"][:, 11:]], axis=1)
    Image.fromarray(strip).save(os.path.join(out_dir, "shapes_strip.png"))


if __name__ == "__main__":
    main(sys.argv[1])
