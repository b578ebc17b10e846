"""TFDS builder for a generated keypoints dataset: one house per image, its corners and centre (offline, NumPy only).

Each example is a 64x64 RGB image, uint8 (64, 64, 3), showing one house: a rectangular wall under a triangular
roof, randomly sized and rotated, over a textured background (`shapes_builder`'s) with 0-2 of
`shapes_builder`'s shapes behind it as clutter. Its `KEYPOINT_NAMES` are 'keypoints' float32 (K, 2), the
(row, col) of each in pixels (pixel (r, c) covers [r, r+1) x [c, c+1)); 'visible' bool (K,), whether it lies
inside the image (a house may be cut by the border); 'size' float32, the larger side of the bounding box of the
house's five corners (PCK's object size, `cnnjax.tasks.keypoints`).

Left and right are the house's own: with the house upright (angle 0) its left corners are at smaller columns.
A house is mirror-symmetric and its angle is drawn from an interval symmetric about 0, so the mirror image of
an example is as likely as the example, with its left and right keypoints swapped (`FLIP_PAIRS`): that is
what a horizontal-flip augmentation must do.

Generation of example i of a split uses only `np.random.default_rng([SEED, SPLIT_IDS[split], i])`:
1. Background (`shapes_builder.background`), then 0-2 clutter shapes (`shapes_builder.random_shape`).
2. The house, centred at a point (the wall's centre) uniform in [10, 54] px: wall width w uniform in
   [14, 26] px, wall height w x U(0.6, 1.0), roof height w x U(0.35, 0.6), rotated by an angle uniform in
   +-35 degrees; painted as a shape of `shapes_builder` (antialiased, contrast-chosen colour, shading).
3. Gaussian noise (sigma 0.03), rounding to uint8.

Splits: train 2,000 / validation 300 / test 300 examples, stored in index order. `MEAN` and `STD` are the
per-channel mean and (population) std over the train images in [0, 1] pixel units.
"""

import functools

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import shapes_builder as shapes

KEYPOINT_NAMES = ("apex", "left_eave", "right_eave", "left_base", "right_base", "centre")
FLIP_PAIRS = ((1, 2), (3, 4))  # keypoints that a horizontal flip swaps
IMAGE_SIZE = shapes.IMAGE_SIZE
SPLIT_SIZES = {"train": 2000, "validation": 300, "test": 300}
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
SEED = 20262
MEAN = (0.5008, 0.4961, 0.497)
STD = (0.2486, 0.2481, 0.2473)
MAX_ANGLE = np.deg2rad(35)


def house_keypoints(cx, cy, width, wall, roof, angle) -> np.ndarray:
    """float64 (K, 2): the (row, col) of `KEYPOINT_NAMES` of a house whose wall (`width` x `wall`, roof `roof`
    high above it) is centred at (cx, cy) (x right, y down) and rotated by `angle` (radians, clockwise on
    screen)."""
    u = np.array([0.0, -width / 2, width / 2, -width / 2, width / 2, 0.0])  # along the wall, to the house's right
    v = np.array([-wall / 2 - roof, -wall / 2, -wall / 2, wall / 2, wall / 2, 0.0])  # downwards
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([cy + u * sin + v * cos, cx + u * cos - v * sin], axis=1)


def generate_example(split: str, index: int) -> dict:
    """Example `index` of `split`: {'image': uint8 (64, 64, 3), 'keypoints', 'visible', 'size'} (module docstring)."""
    rng = np.random.default_rng([SEED, SPLIT_IDS[split], index])
    image = shapes.background(rng)
    for _ in range(rng.integers(0, 3)):
        clutter = shapes.random_shape(rng)
        rows, cols = shapes.pixel_box(clutter)
        shapes.paint(image, functools.partial(shapes.contains, clutter), rows, cols, clutter.params[:2], rng)
    cx, cy = rng.uniform(10, IMAGE_SIZE - 10, 2)
    width = rng.uniform(14, 26)
    wall, roof = width * rng.uniform(0.6, 1.0), width * rng.uniform(0.35, 0.6)
    angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE)
    points = house_keypoints(cx, cy, width, wall, roof, angle)
    wall_shape = shapes.Shape(shapes.CLASS_NAMES.index("rectangle"), (cx, cy, width / 2, wall / 2, angle), (0, 0, 0))
    roof_shape = shapes.Shape(shapes.CLASS_NAMES.index("triangle"), tuple(points[:3, ::-1].ravel()), (0, 0, 0))

    def inside(x, y):
        return shapes.contains(wall_shape, x, y) | shapes.contains(roof_shape, x, y)

    corners = points[:5]
    low, high = corners.min(axis=0), corners.max(axis=0)
    rows, cols = shapes.pixel_span(low[0], high[0]), shapes.pixel_span(low[1], high[1])
    shapes.paint(image, inside, rows, cols, (cx, cy), rng)
    return {
        "image": shapes.add_noise(image, rng),
        "keypoints": points.astype(np.float32),
        "visible": ((points >= 0) & (points < IMAGE_SIZE)).all(axis=1),
        "size": np.float32((high - low).max()),
    }


class ShapesKeypoints(tfds.core.GeneratorBasedBuilder):
    """Generated houses on textured backgrounds with 6 named keypoints (corners and centre)."""

    name = "shapes_keypoints"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        count = len(KEYPOINT_NAMES)
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8, encoding="bytes"),
                    "keypoints": tfds.features.Tensor(
                        shape=(count, 2),
                        dtype=np.float32,
                        encoding="bytes",
                        doc=f"(row, col) in pixels of {', '.join(KEYPOINT_NAMES)}.",
                    ),
                    "visible": tfds.features.Tensor(shape=(count,), dtype=np.bool_, doc="Inside the image."),
                    "size": tfds.features.Scalar(dtype=np.float32, doc="Larger side of the corners' bounding box."),
                }
            ),
            disable_shuffling=True,  # example i of a split is generate_example(split, i)
            metadata=tfds.core.MetadataDict(keypoint_names=list(KEYPOINT_NAMES), flip_pairs=list(FLIP_PAIRS)),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        return {split: self._generate_examples(split, size) for split, size in SPLIT_SIZES.items()}

    def _generate_examples(self, split, size):
        for index in range(size):
            yield index, generate_example(split, index)
