"""TFDS builder for a generated 10-class image-classification dataset of shapes (offline, NumPy only).

Each example is a 32x32 RGB image, uint8 (32, 32, 3), showing one object whose outline is the class
('label', `CLASS_NAMES`): circle, ring, triangle, square, pentagon, hexagon, star, cross, crescent, arrow.
Colour, fill texture, size, rotation, position, background and clutter vary and carry no label
information; how much they vary is the builder config (`DIFFICULTIES`: 'easy', 'standard' (the default),
'hard'), so a study picks how hard the task is: `dataset.name='shapes_classification/hard'`.

Generation of example i of a split uses only `np.random.default_rng([SEED, config index, split id, i])`;
the class of example i is `i % 10`, so every split is balanced and example order carries no information
beyond the index (the training pipeline shuffles).
1. Background in [0, 1]: flat, or (textured configs) smooth noise, soft stripes or a linear gradient.
2. Clutter under the object: small random polygons (radius 2-5 px) and thin bars; the 'hard' config also
   draws some over the object (partial occlusion). Clutter is never an outline of a class.
3. The object: the class outline at a radius of `scale` x 16 px (the outline's farthest point from its
   centre), rotated uniformly in [0, 2 pi), centred so at least ~80 % of the radius stays inside the
   image; filled with a colour chosen, among `colour_candidates` random ones, as the most distant from
   what it covers (fewer candidates: lower contrast), and a texture (solid, or in the textured configs
   stripes or checks between that colour and a second one).
4. Pixels blend each shape by its coverage of a 3x3 grid of sub-pixel samples (antialiased edges); then
   Gaussian noise of std `noise` and rounding to uint8.

Splits: train 10,000 / validation 2,000 / test 2,000 examples, stored in index order. `STATS` holds each
config's per-channel mean and (population) std over its train images in [0, 1] pixel units.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data.shapes_builder import farthest_colour

CLASS_NAMES = (
    "circle",
    "ring",
    "triangle",
    "square",
    "pentagon",
    "hexagon",
    "star",
    "cross",
    "crescent",
    "arrow",
)
IMAGE_SIZE = 32
SPLIT_SIZES = {"train": 10_000, "validation": 2_000, "test": 2_000}
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
SEED = 20262
_SUBSAMPLES = (np.arange(3) + 0.5) / 3  # sub-pixel sample offsets within a pixel


@dataclasses.dataclass(eq=False)
class Difficulty(tfds.core.BuilderConfig):
    """How much the nuisance factors vary (module docstring)."""

    textured: bool = True  # textured backgrounds and fill textures; flat and solid otherwise
    scale: tuple[float, float] = (0.45, 0.9)  # object radius / half the image size
    clutter: tuple[int, int] = (0, 3)  # clutter pieces under the object, inclusive range
    occluders: tuple[int, int] = (0, 0)  # clutter pieces over the object, inclusive range
    colour_candidates: int = 6
    noise: float = 0.03


DIFFICULTIES = (
    Difficulty(
        name="easy",
        description="Flat backgrounds, solid fills, large objects, no clutter.",
        scale=(0.6, 0.9),
        clutter=(0, 0),
        textured=False,
        colour_candidates=8,
        noise=0.02,
    ),
    Difficulty(name="standard", description="Textured backgrounds and fills, sizes 0.45-0.9, up to 3 clutter pieces."),
    Difficulty(
        name="hard",
        description="Small objects, low contrast, clutter under and over the object, more noise.",
        scale=(0.35, 0.8),
        clutter=(2, 5),
        occluders=(0, 2),
        colour_candidates=2,
        noise=0.07,
    ),
)
STATS = {  # config name -> (mean, std) per channel over the train split, pixel units in [0, 1]
    "easy": ((0.4965, 0.4982, 0.4993), (0.3004, 0.2983, 0.3015)),
    "standard": ((0.5006, 0.5, 0.5015), (0.2834, 0.2817, 0.2837)),
    "hard": ((0.5005, 0.5, 0.4976), (0.276, 0.2776, 0.2775)),
}


def _regular_polygon(sides: int, inner: float = 0.0) -> np.ndarray:
    """Vertices (x, y) of a regular polygon of radius 1 (a star when `inner` > 0: 2 x sides vertices)."""
    if inner:
        angles = np.arange(2 * sides) * np.pi / sides - np.pi / 2
        radii = np.where(np.arange(2 * sides) % 2, inner, 1.0)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    angles = np.arange(sides) * 2 * np.pi / sides - np.pi / 2
    return np.stack([np.cos(angles), np.sin(angles)], 1)


_ARROW = np.array([[-1.0, -0.25], [0.2, -0.25], [0.2, -0.6], [1.0, 0.0], [0.2, 0.6], [0.2, 0.25], [-1.0, 0.25]])
_CROSS = np.array(
    [
        [-0.3, -1],
        [0.3, -1],
        [0.3, -0.3],
        [1, -0.3],
        [1, 0.3],
        [0.3, 0.3],
        [0.3, 1],
        [-0.3, 1],
        [-0.3, 0.3],
        [-1, 0.3],
        [-1, -0.3],
        [-0.3, -0.3],
    ]
)
_POLYGONS = {
    "triangle": _regular_polygon(3),
    "square": _regular_polygon(4),
    "pentagon": _regular_polygon(5),
    "hexagon": _regular_polygon(6),
    "star": _regular_polygon(5, inner=0.45),
    "cross": _CROSS / np.hypot(1, 0.3),
    "arrow": _ARROW,
}


def inside_polygon(vertices: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether the points (x, y) lie inside the closed polygon `vertices` (V, 2), by the even-odd rule."""
    inside = np.zeros(np.broadcast(x, y).shape, bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def inside_outline(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points (u, v), in the outline's own frame (radius 1, centred at 0), lie inside class `name`."""
    r2 = u**2 + v**2
    if name == "circle":
        return r2 <= 1
    if name == "ring":
        return (r2 <= 1) & (r2 >= 0.55**2)
    if name == "crescent":
        return (r2 <= 1) & ((u - 0.5) ** 2 + v**2 > 0.8**2)
    return inside_polygon(_POLYGONS[name], u, v)


def generate_example(config: Difficulty, split: str, index: int) -> tuple[np.ndarray, int]:
    """Example `index` of `split` under `config`: (image uint8 (32, 32, 3), label)."""
    config_id = [d.name for d in DIFFICULTIES].index(config.name)
    rng = np.random.default_rng([SEED, config_id, SPLIT_IDS[split], index])
    label = index % len(CLASS_NAMES)
    x, y = sample_grid()
    image = background(rng, config.textured)
    for _ in range(rng.integers(config.clutter[0], config.clutter[1] + 1)):
        draw_clutter(rng, image, x, y)
    radius = rng.uniform(*config.scale) * IMAGE_SIZE / 2
    margin = 0.8 * radius
    centre = rng.uniform(margin, IMAGE_SIZE - margin, 2)
    draw_object(rng, image, CLASS_NAMES[label], centre, radius, config)
    for _ in range(rng.integers(config.occluders[0], config.occluders[1] + 1)):
        draw_clutter(rng, image, x, y)
    image = image + rng.normal(0, config.noise, image.shape)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), label


def sample_grid() -> tuple[np.ndarray, np.ndarray]:
    """The sub-pixel sample coordinates (x (1, 96), y (96, 1)) of a 32x32 image, 3x3 samples a pixel."""
    sub = (np.arange(IMAGE_SIZE)[:, None] + _SUBSAMPLES).reshape(-1)
    return sub[None, :], sub[:, None]


def draw_object(rng, image: np.ndarray, name: str, centre, radius: float, config: Difficulty) -> None:
    """Paints the outline of class `name` at `centre` (x, y) px, `radius` px, over `image` (32, 32, 3): a rotation
    uniform in [0, 2 pi), the farthest of `config.colour_candidates` random colours from the pixels it covers, and
    a fill texture (`config.textured`); draws from `rng` in that order."""
    x, y = sample_grid()
    cx, cy = centre
    angle = rng.uniform(0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u = ((x - cx) * cos + (y - cy) * sin) / radius
    v = (-(x - cx) * sin + (y - cy) * cos) / radius
    inside = inside_outline(name, u, v)
    colour = farthest_colour(rng.uniform(0, 1, (config.colour_candidates, 3)), image[_pixels(inside)])
    _blend(image, inside, _texture(rng, colour, config.textured, x, y))


def _pixels(samples: np.ndarray) -> np.ndarray:
    """A (32, 32) mask of the pixels whose centre sample is set, from a (96, 96) sample mask."""
    return samples[1::3, 1::3]


def _blend(image: np.ndarray, samples: np.ndarray, fill: np.ndarray) -> None:
    """Paints `fill` ((96, 96, 3) or (3,)) over `image` (32, 32, 3) where `samples` (96, 96) is set, each pixel
    weighted by its covered fraction of the 3x3 samples."""
    fill = np.broadcast_to(fill, (*samples.shape, 3))
    covered = samples.reshape(IMAGE_SIZE, 3, IMAGE_SIZE, 3)
    coverage = covered.mean(axis=(1, 3))[..., None]
    painted = (fill * samples[..., None]).reshape(IMAGE_SIZE, 3, IMAGE_SIZE, 3, 3).sum(axis=(1, 3)) / 9
    image *= 1 - coverage
    image += painted


def background(rng: np.random.Generator, textured: bool) -> np.ndarray:
    """(32, 32, 3) in [0, 1]: flat, or one of smooth noise, soft stripes, a linear gradient."""
    first, second = rng.uniform(0, 1, (2, 3))
    if not textured:
        return np.broadcast_to(first, (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()
    centres = np.arange(IMAGE_SIZE) + 0.5
    y, x = centres[:, None, None], centres[None, :, None]
    kind = rng.integers(3)
    if kind == 0:  # smooth noise: 3 cosine waves per channel, 0.5-2 cycles per image
        freq = rng.uniform(0.5, 2, (2, 3, 3)) * 2 * np.pi / IMAGE_SIZE
        phase = rng.uniform(0, 2 * np.pi, (3, 3))
        waves = np.cos(x[..., None] * freq[0] + y[..., None] * freq[1] + phase).sum(-1)
        return np.clip(first + 0.12 * waves, 0, 1)
    angle = rng.uniform(0, np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    if kind == 1:  # soft stripes, period 5-12 px
        weight = np.clip(0.5 + np.sin(2 * np.pi * along / rng.uniform(5, 12) + rng.uniform(0, 2 * np.pi)), 0, 1)
    else:
        weight = (along - along.min()) / (along.max() - along.min())
    return first + (second - first) * weight


def _texture(rng: np.random.Generator, colour: np.ndarray, textured: bool, x: np.ndarray, y: np.ndarray):
    """The object's fill at the samples: `colour`, or stripes / checks of `colour` and a second colour."""
    kind = rng.integers(3) if textured else 0
    if kind == 0:
        return colour
    second = np.clip(colour + rng.uniform(-0.35, 0.35, 3), 0, 1)
    period = rng.uniform(3, 7)
    angle = rng.uniform(0, np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    if kind == 1:
        odd = np.floor(along / period) % 2
    else:
        across = -x * np.sin(angle) + y * np.cos(angle)
        odd = (np.floor(along / period) + np.floor(across / period)) % 2
    return np.where(odd[..., None] == 1, second, colour)


def draw_clutter(rng: np.random.Generator, image: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """A small random polygon (3-5 jittered vertices, radius 2-5 px) or a thin bar, in a random colour."""
    cx, cy = rng.uniform(0, IMAGE_SIZE, 2)
    if rng.integers(2):
        count = rng.integers(3, 6)
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = rng.uniform(2, 5, count)
        vertices = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        samples = inside_polygon(vertices, x, y)
    else:
        angle, length, width = rng.uniform(0, np.pi), rng.uniform(5, 12), rng.uniform(0.8, 1.8)
        along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        samples = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    _blend(image, samples, rng.uniform(0, 1, 3))


class ShapesClassification(tfds.core.GeneratorBasedBuilder):
    """Generated objects of 10 shape classes on varied backgrounds; difficulty set by the builder config."""

    name = "shapes_classification"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = list(DIFFICULTIES)
    DEFAULT_BUILDER_CONFIG_NAME = "standard"

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8, encoding="bytes"),
                    "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # example i of a split is generate_example(config, split, i)
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        return {split: self._generate_examples(split, size) for split, size in SPLIT_SIZES.items()}

    def _generate_examples(self, split, size):
        for index in range(size):
            image, label = generate_example(self.builder_config, split, index)
            yield index, {"image": image, "label": label}
