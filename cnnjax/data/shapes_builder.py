"""TFDS builder for a generated semantic-segmentation dataset of shapes (offline, NumPy only, no TensorFlow).

Each example is a 64x64 RGB image, uint8 (64, 64, 3), and its per-pixel class map 'label', uint8 (64, 64):
0 background, 1 circle, 2 rectangle, 3 triangle (`CLASS_NAMES`; also in the dataset's metadata); for counting,
'centres' float32 (MAX_SHAPES, 2), the (row, col) of each shape's centre in pixels (pixel (r, c) covers
[r, r+1) x [c, c+1), so its centre is (r + 0.5, c + 0.5)), padded with -1, and 'count' int32, the number of
shapes drawn. A circle's or rectangle's centre is its geometric centre; a triangle's is its centroid (the
mean of its vertices). Shapes may be partly occluded or cut by the border; they all count.

Generation of example i of a split uses only `np.random.default_rng([SEED, SPLIT_IDS[split], i])`:
1. Background (in [0, 1]), one of: smooth noise (a sum of 4 random low-frequency cosine waves per channel),
   soft stripes between two colours (period 8-20 px, random angle and sharpness), or a linear gradient between
   two colours in a random direction. Shapes cannot be told from the background by colour or by flatness alone.
2. 2-3 shapes of uniformly random class, drawn in order (later ones on top, so they may occlude):
   circle (radius 7-15 px), rectangle (half sides 6-14 px, aspect <= 2.2, rotated 0-90 deg), triangle
   (vertices at 0.8-1 times a radius of 9-17 px around the centre, at angles 120 deg apart +-23 deg).
   Centres lie in [6, 58] px, so shapes may be cut by the border. A shape's colour is the best of 8 random
   colours by contrast with what it covers (10th percentile of the distance to every 4th covered pixel);
   it is shaded by up to +-15 % along a random direction.
3. Geometry is analytic: a pixel is labelled with the topmost shape containing its centre; the image blends
   each shape by its coverage of a 3x3 grid of sub-pixel samples (antialiased edges), then adds Gaussian
   noise (sigma 0.03) and rounds to uint8.

Version 1.1.0 added 'centres' and 'count'; images and labels are those of 1.0.0.

Splits: train 2,000 / validation 300 / test 300 examples, stored in index order. `MEAN` and `STD` are the
per-channel mean and (population) std over the train images in [0, 1] pixel units.

`shapes_crowded` (`ShapesCrowded`, 1.0.0) is the same generator with the `CROWDED` layout, for counting: 0-15
shapes per image (uniform), every size halved, centres in [3, 61] px, its own seed; 'centres' holds 15 rows.
"""

import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds

CLASS_NAMES = ("background", "circle", "rectangle", "triangle")
IMAGE_SIZE = 64
SPLIT_SIZES = {"train": 2000, "validation": 300, "test": 300}
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
SEED = 20261
MEAN = (0.4985, 0.4954, 0.4936)
STD = (0.2502, 0.2494, 0.2482)


@dataclasses.dataclass(frozen=True)
class Layout:
    """How many shapes an image holds (uniform in [min_shapes, max_shapes]), their sizes (times `size_scale`) and
    how close to the border their centres may lie (`margin` px)."""

    min_shapes: int = 2
    max_shapes: int = 3
    size_scale: float = 1.0
    margin: float = 6.0


STANDARD = Layout()
CROWDED = Layout(min_shapes=0, max_shapes=15, size_scale=0.5, margin=3.0)
CROWDED_SEED = 20262
CROWDED_MEAN = (0.5015, 0.4951, 0.4971)
CROWDED_STD = (0.2413, 0.2409, 0.2403)
MAX_SHAPES = STANDARD.max_shapes

_SUBSAMPLES = (np.arange(3) + 0.5) / 3  # sub-pixel sample offsets; the middle one is the pixel centre
_NOISE_STD = 0.03


@dataclasses.dataclass(frozen=True)
class Shape:
    """One drawn shape: `label` (index into CLASS_NAMES), `params` in pixels (x right, y down, pixel (r, c)
    covers [c, c+1) x [r, r+1)), and its base `colour` in [0, 1]. Circle params: (cx, cy, radius); rectangle:
    (cx, cy, half_width, half_height, angle in radians); triangle: (x0, y0, x1, y1, x2, y2)."""

    label: int
    params: tuple[float, ...]
    colour: tuple[float, float, float]


def contains(shape: Shape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether the points (x, y) lie inside `shape` (boundary included)."""
    p = shape.params
    if CLASS_NAMES[shape.label] == "circle":
        return (x - p[0]) ** 2 + (y - p[1]) ** 2 <= p[2] ** 2
    if CLASS_NAMES[shape.label] == "rectangle":
        dx, dy = x - p[0], y - p[1]
        cos, sin = np.cos(p[4]), np.sin(p[4])
        return (np.abs(dx * cos + dy * sin) <= p[2]) & (np.abs(-dx * sin + dy * cos) <= p[3])
    vertices = np.reshape(p, (3, 2))
    sides = [(b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]) for a, b in zip(vertices, vertices[[1, 2, 0]])]
    return (np.min(sides, axis=0) >= 0) | (np.max(sides, axis=0) <= 0)


def generate_example(
    split: str, index: int, layout: Layout = STANDARD, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray, list[Shape]]:
    """Example `index` of `split`: (image uint8 (64, 64, 3), label uint8 (64, 64), shapes in drawing order)."""
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    image = background(rng)
    label = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    shapes = []
    for _ in range(rng.integers(layout.min_shapes, layout.max_shapes + 1)):
        shape = random_shape(rng, layout)
        rows, cols = pixel_box(shape)
        centre_inside, colour = paint(image, functools.partial(contains, shape), rows, cols, shape.params[:2], rng)
        label[rows, cols][centre_inside] = shape.label
        shapes.append(dataclasses.replace(shape, colour=tuple(colour.tolist())))
    return add_noise(image, rng), label, shapes


def paint(image: np.ndarray, inside, rows: slice, cols: slice, origin, rng: np.random.Generator):
    """Draws one shape into `image` (float (64, 64, 3), in place) as step 3 of the module docstring says, and
    returns (the pixels of the window `rows` x `cols` whose centre it contains, its base colour (3,)).

    `inside(x, y)` says which points the shape contains; the window must hold the whole shape and at least one
    pixel centre inside it; the shading ramps along a random direction through `origin` (x, y). Draws from
    `rng`: 8 candidate colours, then the shading direction."""
    sub_y = (np.arange(rows.start, rows.stop)[:, None] + _SUBSAMPLES).reshape(-1, 1)
    sub_x = (np.arange(cols.start, cols.stop)[:, None] + _SUBSAMPLES).reshape(1, -1)
    covered = inside(sub_x, sub_y).reshape(sub_y.size // 3, 3, sub_x.size // 3, 3)
    coverage = np.count_nonzero(covered, axis=(1, 3))[..., None] / 9
    centre_inside = covered[:, 1, :, 1]
    window = image[rows, cols]  # a view: drawing below writes into `image`
    colour = farthest_colour(rng.uniform(0, 1, (8, 3)), window[centre_inside][::4])  # of 8, every 4th pixel
    direction = rng.normal(size=2)
    ramp = (sub_x[:, 1::3] - origin[0]) * direction[0] + (sub_y[1::3] - origin[1]) * direction[1]
    shading = 1 + 0.15 * ramp / max(np.abs(ramp[centre_inside]).max(), 1e-6)
    window[:] = window * (1 - coverage) + np.clip(colour * shading[..., None], 0, 1) * coverage
    return centre_inside, colour


def add_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The finished float image plus Gaussian noise (sigma `_NOISE_STD`), rounded to uint8."""
    image = image + rng.normal(0, _NOISE_STD, image.shape)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def shape_centres(shapes: list[Shape], max_shapes: int = MAX_SHAPES) -> np.ndarray:
    """float32 (max_shapes, 2): each shape's (row, col) centre in pixels (module docstring), padded with -1."""
    centres = np.full((max_shapes, 2), -1.0, np.float32)
    for i, shape in enumerate(shapes):
        if CLASS_NAMES[shape.label] == "triangle":
            centres[i] = np.mean(shape.params[1::2]), np.mean(shape.params[0::2])
        else:
            centres[i] = shape.params[1], shape.params[0]
    return centres


def pixel_box(shape: Shape) -> tuple[slice, slice]:
    """The rows and columns of the pixels that `shape` may touch."""
    p = shape.params
    if CLASS_NAMES[shape.label] == "triangle":
        xs, ys = p[0::2], p[1::2]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    else:
        reach = p[2] if CLASS_NAMES[shape.label] == "circle" else np.hypot(p[2], p[3])
        x0, x1, y0, y1 = p[0] - reach, p[0] + reach, p[1] - reach, p[1] + reach
    return pixel_span(y0, y1), pixel_span(x0, x1)


def pixel_span(low: float, high: float) -> slice:
    """The pixel indices, within the image, of the pixels that touch [low, high] (pixel coordinates)."""
    return slice(max(int(np.floor(low)), 0), min(int(np.ceil(high)), IMAGE_SIZE))


def background(rng: np.random.Generator) -> np.ndarray:
    """A (64, 64, 3) float background in [0, 1]: smooth noise, soft stripes or a gradient."""
    centres = np.arange(IMAGE_SIZE) + 0.5
    y, x = centres[:, None, None], centres[None, :, None]
    kind = rng.integers(3)
    if kind == 0:  # smooth noise: 4 cosine waves per channel, 0.5-2.5 cycles per image
        freq = rng.uniform(0.5, 2.5, (2, 3, 4, 1)) * rng.choice([-1, 1], (2, 3, 4, 1)) * 2 * np.pi / IMAGE_SIZE
        phase_x = freq[0] * centres  # (channel, wave, x)
        phase_y = freq[1] * centres + rng.uniform(0, 2 * np.pi, (3, 4, 1))
        # sum over waves of cos(phase_x + phase_y) = cos cos - sin sin, as (channel, y, x) matrix products
        waves = np.cos(phase_y).transpose(0, 2, 1) @ np.cos(phase_x) - np.sin(phase_y).transpose(0, 2, 1) @ np.sin(
            phase_x
        )
        waves = waves.transpose(1, 2, 0)
        return np.clip(rng.uniform(0.3, 0.7, 3) + 0.3 / 4 * waves, 0, 1)
    first, second = rng.uniform(0, 1, (2, 3))
    angle = rng.uniform(0, np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    if kind == 1:  # soft stripes
        wave = np.sin(2 * np.pi * along / rng.uniform(8, 20) + rng.uniform(0, 2 * np.pi))
        weight = np.clip(0.5 + rng.uniform(0.5, 1.5) * wave, 0, 1)
    else:  # linear gradient
        weight = (along - along.min()) / (along.max() - along.min())
    return first + (second - first) * weight


def random_shape(rng: np.random.Generator, layout: Layout = STANDARD) -> Shape:
    """A shape of uniformly random class, drawn as step 2 of the module docstring says (colour unset), at the
    `layout`'s size and margin."""
    label = int(rng.integers(1, len(CLASS_NAMES)))
    cx, cy = rng.uniform(layout.margin, IMAGE_SIZE - layout.margin, 2)
    name, scale = CLASS_NAMES[label], layout.size_scale
    if name == "circle":
        params = (cx, cy, scale * rng.uniform(7, 15))
    elif name == "rectangle":
        half_width = rng.uniform(6, 14)
        half_height = np.clip(half_width * np.exp(rng.uniform(-np.log(2.2), np.log(2.2))), 6, 14)
        params = (cx, cy, scale * half_width, scale * half_height, rng.uniform(0, np.pi / 2))
    else:
        angles = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.4, 0.4, 3)
        radii = scale * rng.uniform(9, 17) * rng.uniform(0.8, 1.0, 3)
        params = tuple(np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).ravel())
    return Shape(label, tuple(float(v) for v in params), (0.0, 0.0, 0.0))


def farthest_colour(candidates: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The colour of `candidates` (K, 3) farthest from the `covered` pixels (N, 3): the largest 10th percentile
    of the squared distances to them; the first candidate when nothing is covered."""
    if not len(covered):
        return candidates[0]
    squared_distance = ((candidates[:, None, :] - covered[None, :, :]) ** 2).sum(axis=-1)
    tenth = len(covered) // 10
    return candidates[np.argmax(np.partition(squared_distance, tenth, axis=1)[:, tenth])]


class ShapesSegmentation(tfds.core.GeneratorBasedBuilder):
    """Generated shapes on textured backgrounds with per-pixel class labels; 4 classes."""

    name = "shapes_segmentation"
    VERSION = tfds.core.Version("1.1.0")
    LAYOUT, SEED = STANDARD, SEED
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Adds 'centres' and 'count' (object centres for counting); images and labels unchanged.",
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8, encoding="bytes"),
                    "label": tfds.features.Tensor(
                        shape=(IMAGE_SIZE, IMAGE_SIZE),
                        dtype=np.uint8,
                        encoding="bytes",
                        doc=f"Per-pixel class: {', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))}.",
                    ),
                    "centres": tfds.features.Tensor(
                        shape=(self.LAYOUT.max_shapes, 2),
                        dtype=np.float32,
                        encoding="bytes",
                        doc="(row, col) of each shape's centre in pixels, padded with -1.",
                    ),
                    "count": tfds.features.Scalar(dtype=np.int32, doc="Number of shapes drawn."),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # example i of a split is generate_example(split, i)
            metadata=tfds.core.MetadataDict(class_names=list(CLASS_NAMES)),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        return {split: self._generate_examples(split, size) for split, size in SPLIT_SIZES.items()}

    def _generate_examples(self, split, size):
        for index in range(size):
            image, label, shapes = generate_example(split, index, self.LAYOUT, self.SEED)
            centres = shape_centres(shapes, self.LAYOUT.max_shapes)
            yield index, {"image": image, "label": label, "centres": centres, "count": len(shapes)}


class ShapesCrowded(ShapesSegmentation):
    """`ShapesSegmentation` with the `CROWDED` layout: 0-15 half-size shapes per image, for counting."""

    name = "shapes_crowded"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    LAYOUT, SEED = CROWDED, CROWDED_SEED
