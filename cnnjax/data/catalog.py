"""Which datasets cnnjax knows, where they live on disk, and how to prepare and open them.

Every dataset is a TFDS dataset stored as `array_record` (random access, read without TensorFlow).
Bundled datasets ('digits', 'shapes_segmentation', 'shapes_crowded', 'shapes_classification[/easy|/standard|/hard]',
'shapes_multilabel', 'shapes_keypoints') are generated offline on first use. Standard
datasets (mnist, cifar10, cifar100, imagenet2012, oxford_iiit_pet, or any TFDS name) are prepared once
with `cnnjax data prepare NAME`, which needs TensorFlow and network; `ensure_prepared` only looks at
the disk, so it never blocks on TFDS's download retries.
"""

import dataclasses
import difflib
import errno
import math
import os
import tempfile

import numpy as np
import tensorflow_datasets as tfds

from cnnjax.data import (
    augment,
    digits_builder,
    shapes_builder,
    shapes_classification_builder,
    shapes_keypoints_builder,
    shapes_multilabel_builder,
)
from cnnjax.errors import CnnjaxError, InvalidInputError
from cnnjax.imagenet import IMAGENET_MEAN, IMAGENET_STD

BUNDLED = {
    "digits": digits_builder.Digits,
    "shapes_segmentation": shapes_builder.ShapesSegmentation,
    "shapes_crowded": shapes_builder.ShapesCrowded,
    "shapes_classification": shapes_classification_builder.ShapesClassification,
    "shapes_multilabel": shapes_multilabel_builder.ShapesMultilabel,
    "shapes_keypoints": shapes_keypoints_builder.ShapesKeypoints,
}

# Per-channel mean and std in [0, 1] pixel units, by dataset name or `name/config` for a builder config.
# Digits: measured on its train split (population std over all pixels). Others: the literature's values.
STATS = {
    "digits": ((0.3056,), (0.3760,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": (IMAGENET_MEAN, IMAGENET_STD),
    "oxford_iiit_pet": (IMAGENET_MEAN, IMAGENET_STD),  # ImageNet's, as for pretrained backbones
    "shapes_segmentation": (shapes_builder.MEAN, shapes_builder.STD),
    "shapes_crowded": (shapes_builder.CROWDED_MEAN, shapes_builder.CROWDED_STD),
    "shapes_multilabel": (shapes_multilabel_builder.MEAN, shapes_multilabel_builder.STD),
    "shapes_keypoints": (shapes_keypoints_builder.MEAN, shapes_keypoints_builder.STD),
    **{f"shapes_classification/{config}": stats for config, stats in shapes_classification_builder.STATS.items()},
}
# TFDS datasets without measured statistics are normalised to [-1, 1].
DEFAULT_MEAN_STD = 0.5


@dataclasses.dataclass(frozen=True)
class PixelLabels:
    """Where a segmentation dataset keeps its per-pixel classes: feature `key`, whose stored values plus
    `offset` are the class indices 0 .. len(class_names) - 1 (other values: the ignore label)."""

    key: str
    class_names: tuple[str, ...]
    offset: int = 0

    def label(self, example: dict) -> np.ndarray:
        """int32 (H, W): the example's class indices."""
        label = np.asarray(example[self.key], np.int32)
        if label.ndim == 3:  # (H, W, 1) masks
            label = label[..., 0]
        return label + self.offset


# Segmentation datasets; with MULTILABEL's, the datasets that are not classification ones ('label' a ClassLabel).
PIXEL_LABELS = {
    "shapes_segmentation": PixelLabels("label", shapes_builder.CLASS_NAMES),
    "shapes_crowded": PixelLabels("label", shapes_builder.CLASS_NAMES),
    # The Oxford-IIIT Pet trimap stores 1 pet, 2 background, 3 border (unclassified).
    "oxford_iiit_pet": PixelLabels("segmentation_mask", ("pet", "background", "border"), offset=-1),
}


# Multi-label datasets: their 'label' is a multi-hot (num_classes,) vector of the classes named here.
MULTILABEL = {"shapes_multilabel": shapes_multilabel_builder.CLASS_NAMES}


@dataclasses.dataclass(frozen=True)
class DensityTargets:
    """Where a dataset keeps its object centres for the 'counting' task: feature `key`, float (K, 2) (row, col)
    in pixels (pixel (r, c) covers [r, r+1) x [c, c+1)), rows with a negative coordinate being padding; each
    object becomes a normalised Gaussian of std `sigma` pixels in the density map (`density_map`)."""

    key: str = "centres"
    sigma: float = 3.0

    def label(self, example: dict) -> np.ndarray:
        """float32 (H, W): the example's density map."""
        height, width = np.shape(example["image"])[:2]
        return density_map(example[self.key], height, width, self.sigma)


# Datasets that also serve the 'counting' task (a density map whose sum is the object count).
DENSITY = {"shapes_segmentation": DensityTargets(), "shapes_crowded": DensityTargets(sigma=2.0)}  # half-size shapes


@dataclasses.dataclass(frozen=True)
class KeypointLabels:
    """Where a keypoints dataset keeps its labels: features 'keypoints' float (K, 2), the (row, col) of each of
    `names` in pixels (pixel (r, c) covers [r, r+1) x [c, c+1)); 'visible' bool (K,), whether it is labelled
    and in view; 'size' float, the object's size in pixels (PCK's scale). A horizontal flip swaps the
    keypoints of each of `flip_pairs` (left and right)."""

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]

    def label(self, example: dict) -> dict:
        """{'label': float32 (K, 2) keypoints, 'visible': float32 (K,) 0 / 1, 'size': float32}."""
        return {
            "label": np.asarray(example["keypoints"], np.float32),
            "visible": np.asarray(example["visible"], np.float32),
            "size": np.float32(example["size"]),
        }


# Keypoints datasets: their own task is 'keypoints', one output (a heat map) per keypoint.
KEYPOINTS = {
    "shapes_keypoints": KeypointLabels(shapes_keypoints_builder.KEYPOINT_NAMES, shapes_keypoints_builder.FLIP_PAIRS)
}


class DatasetNotPreparedError(CnnjaxError, RuntimeError):
    """A standard dataset is not on disk as array_record, or cannot be prepared here; says why."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a training loop needs to know about a prepared dataset.

    `image_shape` is the stored (H, W, C); H and W are None where images vary in size (imagenet2012).
    `task` is the use this info describes: 'classification' (one 'label' per image), 'multilabel' (a multi-hot
    'label' (num_classes,) per image), 'segmentation' (a label per pixel), 'counting' (a density map, one output
    channel: num_classes 1) or 'keypoints' (one output channel per keypoint, `KeypointLabels`); `tasks` lists every
    task the dataset serves, its own first (`for_task` switches); `class_names` name the outputs 0 .. num_classes - 1;
    `flip_pairs` are the outputs that a horizontal flip swaps (keypoints: left and right).
    """

    name: str
    image_shape: tuple[int | None, int | None, int]
    num_classes: int
    split_sizes: dict[str, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    task: str = "classification"
    class_names: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ("classification",)
    flip_pairs: tuple[tuple[int, int], ...] = ()


def for_task(info: DatasetInfo, task: str) -> DatasetInfo:
    """`info` for the use `task`, one of `info.tasks` ('counting': one output channel, the density).

    Raises:
      ValueError: the dataset does not serve `task`.
    """
    if task not in info.tasks:
        raise InvalidInputError(f"Dataset '{info.name}' serves {' and '.join(info.tasks)}, not {task}.")
    if task == info.task:
        return info
    return dataclasses.replace(info, task=task, num_classes=1, class_names=("density",))


def resolve_data_dir(data_dir: str | None) -> str:
    """`data_dir`, else $CNNJAX_DATA_DIR, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    data_dir = (
        data_dir or os.environ.get("CNNJAX_DATA_DIR") or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    )
    return os.path.expanduser(data_dir)


def ensure_prepared(name: str, data_dir: str) -> DatasetInfo:
    """Returns the dataset's info, generating a bundled dataset if needed; never touches the network.

    Raises:
      ValueError: `name` is neither a bundled nor a TFDS dataset.
      DatasetNotPreparedError: a standard dataset is not on disk as array_record.
    """
    builder = _builder(name, data_dir)
    problem = _not_prepared_reason(builder)
    if problem and _base_name(name) in BUNDLED:
        tfds.disable_progress_bar()  # bundled datasets are small: keep the training output readable
        try:
            builder.download_and_prepare(file_format="array_record")
        except OSError as e:  # another process (same data_dir) finished first: its directory is there; use it
            if not isinstance(e, FileExistsError) and e.errno != errno.ENOTEMPTY:
                raise
            builder = _builder(name, data_dir)
            if _not_prepared_reason(builder):
                raise
    elif problem:
        raise DatasetNotPreparedError(
            f"Dataset '{name}' is not prepared in data_dir '{data_dir}': {problem}. Prepare it with\n"
            f"  cnnjax data prepare {name} --data_dir {data_dir}\n"
            "(this needs TensorFlow, pip install 'cnnjax[prepare]', and network access)."
        )
    return _info(name, builder)


def describe(name: str, data_dir: str) -> DatasetInfo:
    """The dataset's info from its builder's metadata, prepared or not: nothing is generated or downloaded
    (`split_sizes` is empty for a dataset not prepared in `data_dir`).

    Raises:
      ValueError: `name` is neither a bundled nor a TFDS dataset.
    """
    return _info(name, _builder(name, data_dir))


def prepare(name: str, data_dir: str) -> DatasetInfo:
    """Generates (bundled) or downloads and converts (standard) the dataset into array_record.

    Raises:
      DatasetNotPreparedError: a standard dataset and TensorFlow is not installed.
    """
    builder = _builder(name, data_dir)
    if _base_name(name) not in BUNDLED:
        try:
            import tensorflow  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import
        except ImportError as e:
            raise DatasetNotPreparedError(
                f"Preparing '{name}' needs TensorFlow (TFDS uses it to download and encode the images) "
                "and network access. Install it with: pip install 'cnnjax[prepare]'. Training reads the "
                "prepared array_record files without TensorFlow."
            ) from e
    builder.download_and_prepare(file_format="array_record")
    return ensure_prepared(name, data_dir)


def open_split(name: str, split: str, data_dir: str, task: str | None = None):
    """A random-access source (len, getitem) of `split` (TFDS slicing allowed: 'train[:2000]', 'train[:20%]')
    of dicts with 'image' uint8 (H, W, C) and 'label': an int, for multi-label datasets (`MULTILABEL`) a
    multi-hot uint8 (num_classes,), for segmentation datasets the int32 (H, W) class map (see `PIXEL_LABELS`),
    for `task='counting'` the float32 (H, W) density map (see `DENSITY`, `density_map`), or for keypoints datasets
    the float32 (K, 2) keypoints beside 'visible' and 'size' (see `KEYPOINTS`). `task` None: the dataset's own.

    Raises:
      ValueError: unknown dataset or split, a slice that selects no examples, or a task the dataset does not serve.
      DatasetNotPreparedError: see `ensure_prepared`.
    """
    info = ensure_prepared(name, data_dir)
    if split.partition("[")[0] not in info.split_sizes:
        raise InvalidInputError(f"Dataset '{name}' has no split '{split}'; available: {', '.join(info.split_sizes)}.")
    task = for_task(info, task or info.task).task
    builder = _builder(name, data_dir)
    if builder.info.splits[split].num_examples == 0:
        raise InvalidInputError(f"split '{split}' of {name} selects no examples")
    source = builder.as_data_source(split)
    if task == "counting":
        return _LabelledSource(source, DENSITY[_base_name(name)])
    if task == "keypoints":
        return _LabelledSource(source, KEYPOINTS[_base_name(name)])
    pixel_labels = PIXEL_LABELS.get(_base_name(name))
    return source if pixel_labels is None else _LabelledSource(source, pixel_labels)


def density_map(centres: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:
    """float32 (height, width): a sum of Gaussians of std `sigma` at the `centres` (K, 2) (row, col) in pixels
    (rows with a negative coordinate are padding). Each pixel holds the Gaussian's integral over its square,
    so an object's Gaussian sums to 1 over the infinite pixel grid; the mass falling outside the image is
    dropped (clipped, not renormalised), so the map sums to the count minus the tails cut by the border
    (< 1e-3 for a centre 10 pixels or more inside with sigma 3; 0.023 per border 6 pixels away)."""

    def pixel_masses(centre: float, size: int) -> np.ndarray:
        cdf = [0.5 * (1 + math.erf((edge - centre) / (sigma * math.sqrt(2)))) for edge in range(size + 1)]
        return np.diff(cdf)

    density = np.zeros((height, width), np.float64)
    for row, col in np.asarray(centres, np.float64):
        if row >= 0 and col >= 0:
            density += np.outer(pixel_masses(row, height), pixel_masses(col, width))
    return density.astype(np.float32)


class _LabelledSource:
    """A source whose examples are {'image', 'label'}: the label is `labels.label` of the wrapped source's example
    (`PixelLabels`: class indices; `DensityTargets`: a density map), or {'image', **`labels.label`}
    (`KeypointLabels`: keypoints and more)."""

    def __init__(self, source, labels: PixelLabels | DensityTargets | KeypointLabels):
        self._source, self._labels = source, labels

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index):
        example = self._source[index]
        label = self._labels.label(example)
        return {"image": example["image"], **(label if isinstance(label, dict) else {"label": label})}


def mean_image(name: str, split: str, data_dir: str, image_size: int) -> np.ndarray:
    """The split's per-pixel mean image, float32 (image_size, image_size, C) in [0, 1] pixel units.

    Images are resized to image_size first. Summed in float64 in index order, so it is deterministic;
    computed once and cached beside the prepared data (written atomically, safe for several processes).
    """
    path = os.path.join(os.fspath(_builder(name, data_dir).data_path), f"cnnjax_mean_image_{split}_{image_size}.npy")
    if os.path.exists(path):
        return np.load(path)
    source = open_split(name, split, data_dir)
    total = 0.0
    for index in range(len(source)):
        image = augment.resize_bilinear(np.asarray(source[index]["image"], np.float32) / 255.0, image_size)
        total = total + image.astype(np.float64)
    mean = (total / len(source)).astype(np.float32)
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix=".npy.tmp", delete=False) as f:
        np.save(f, mean)
    os.replace(f.name, path)
    return mean


def _builder(name: str, data_dir: str) -> tfds.core.DatasetBuilder:
    base = _base_name(name)
    if base in BUNDLED:
        config = name.split(":")[0].partition("/")[2] or None
        configs = [c.name for c in BUNDLED[base].BUILDER_CONFIGS]
        if config is not None and config not in configs:
            hint = f"; use one of {', '.join(f'{base}/{c}' for c in configs)}" if configs else ""
            raise InvalidInputError(f"Dataset '{base}' has no builder config '{config}'{hint}.")
        return BUNDLED[base](config=config, data_dir=data_dir)
    known = set(BUNDLED) | set(STATS) | set(tfds.list_builders(with_community_datasets=False))
    if base not in known:
        close = [c for c in STATS if c.startswith(base)] + difflib.get_close_matches(base, sorted(known))
        close = list(dict.fromkeys(close))[:3]
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInputError(
            f"Unknown dataset '{name}'.{hint} Cataloged: {', '.join(STATS)}; any TFDS dataset name also works."
        )
    return tfds.builder(name, data_dir=data_dir)


def _base_name(name: str) -> str:
    """'imagenet2012_subset/1pct:5.0.0' -> 'imagenet2012_subset'."""
    return name.split("/")[0].split(":")[0]


def _not_prepared_reason(builder: tfds.core.DatasetBuilder) -> str | None:
    """Why `builder`'s data is not readable as array_record, or None when it is."""
    if not (builder.data_path / "dataset_info.json").exists():
        return f"nothing found at {builder.data_path}"
    if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
        return (
            f"{builder.data_path} holds {builder.info.file_format.value} files, which cannot be "
            "read without TensorFlow; delete that folder and prepare it again as array_record"
        )
    missing = [p for split in builder.info.splits.values() for p in split.filepaths if not p.exists()]
    if missing:
        return f"{len(missing)} array_record file(s) missing, e.g. {missing[0]}"
    return None


def _info(name: str, builder: tfds.core.DatasetBuilder) -> DatasetInfo:
    features = builder.info.features
    keypoints = KEYPOINTS.get(_base_name(name))
    if keypoints is not None:
        return DatasetInfo(
            name=name,
            image_shape=tuple(features["image"].shape),
            num_classes=len(keypoints.names),
            split_sizes={split: info.num_examples for split, info in builder.info.splits.items()},
            mean=STATS[_base_name(name)][0],
            std=STATS[_base_name(name)][1],
            task="keypoints",
            class_names=keypoints.names,
            tasks=("keypoints",),
            flip_pairs=keypoints.flip_pairs,
        )
    pixel_labels = PIXEL_LABELS.get(_base_name(name))
    label_key = "label" if pixel_labels is None else pixel_labels.key
    if "image" not in features or label_key not in features:
        raise InvalidInputError(
            f"Dataset '{name}' needs 'image' and '{label_key}' features; it has {', '.join(features)}."
        )
    multilabel = MULTILABEL.get(_base_name(name))
    task = "segmentation" if pixel_labels else "multilabel" if multilabel else "classification"
    density = DENSITY.get(_base_name(name))
    if density is not None and density.key not in features:
        raise InvalidInputError(f"Dataset '{name}' needs a '{density.key}' feature for counting; prepare it again.")
    class_names = tuple(
        pixel_labels.class_names if pixel_labels else multilabel if multilabel else features["label"].names
    )
    image_shape = tuple(features["image"].shape)
    channels = image_shape[-1]
    config = builder.builder_config
    stats_key = _base_name(name) if config is None else f"{_base_name(name)}/{config.name}"
    mean, std = STATS.get(stats_key, STATS.get(_base_name(name), ((DEFAULT_MEAN_STD,) * channels,) * 2))
    return DatasetInfo(
        name=name,
        image_shape=image_shape,
        num_classes=len(class_names),
        split_sizes={split: info.num_examples for split, info in builder.info.splits.items()},
        mean=tuple(mean),
        std=tuple(std),
        task=task,
        class_names=class_names,
        tasks=(task, "counting") if density is not None else (task,),
    )
