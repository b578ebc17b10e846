"""Grain input pipelines: an infinite, resumable training stream and padded, masked eval batches.

Both are defined on the global stream, so the data a step sees does not depend on the process count:
training shuffles the whole split by seed (a new permutation every epoch, epochs flow into each other),
global batch b holds stream positions [b*G, (b+1)*G), and process p reads and augments only positions
[b*G + p*L, b*G + (p+1)*L), L = G / process_count. Example augmentation draws from
`default_rng([seed, position])`, so the processes' batches concatenate to the 1-process batch exactly.
"""

import dataclasses
import os

import grain
import numpy as np

from cnnjax.data import augment


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """uint8 -> [0, 1] -> crop/resize to image_size -> (train) pad-crop, hflip -> normalise.

    Train: 'pad_crop' resizes the whole image (bilinear) and pads-and-crops by `pad_crop` pixels;
    'random_resized' takes the Inception crop. Eval: the whole image resized, or with `eval_resize`
    the shorter side resized to it and the centre cropped. `mean` is per channel, or a per-pixel
    mean image (image_size, image_size, C), subtracted before padding so pads hold the mean (He et al.).
    """

    image_size: int
    mean: tuple | np.ndarray
    std: tuple
    pad_crop: int = 0
    hflip: bool = False
    pad_mode: str = "zeros"
    train_crop: str = "pad_crop"
    eval_resize: int = 0

    def apply(self, example, rng: np.random.Generator | None = None) -> dict:
        """Preprocesses one example; augments only when given an `rng`."""
        image = np.asarray(example["image"], np.float32) / 255.0
        if rng is not None and self.train_crop == "random_resized":
            image = augment.random_resized_crop(image, self.image_size, rng)
        elif rng is None and self.eval_resize:
            image = augment.resize_center_crop(image, self.eval_resize, self.image_size)
        else:
            image = augment.resize_bilinear(image, self.image_size)
        per_pixel = np.ndim(self.mean) == 3
        if per_pixel:
            image = augment.normalize(image, self.mean, self.std)
        if rng is not None and self.pad_crop:
            image = augment.random_pad_crop(image, self.pad_crop, rng, self.pad_mode)
        if rng is not None and self.hflip:
            image = augment.random_hflip(image, rng)
        if not per_pixel:
            image = augment.normalize(image, self.mean, self.std)
        return {"image": image, "label": np.int32(example["label"])}


def train_batches(
    source,
    *,
    preprocess: Preprocess,
    global_batch_size: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    start_step: int = 0,
):
    """This process's endless stream of {'image': float32 (L, S, S, C), 'label': int32 (L,)} from global batch
    `start_step` on (batch i is a function of i alone)."""
    local_batch_size = _local_batch_size(global_batch_size, process_count)

    def load(position, example):
        return preprocess.apply(example, np.random.default_rng([seed, position]))

    # Grain reshuffles epoch e with seed (shuffle_seed + e); hashing `seed` keeps runs with
    # neighbouring seeds from sharing permutations an epoch apart.
    shuffle_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    stream = grain.MapDataset.source(source).shuffle(seed=shuffle_seed).repeat()
    stream = stream.map_with_index(load)
    # Chunk c of L positions is process c % P's share of global batch c // P.
    local = stream.batch(local_batch_size)[process_index::process_count][start_step:]
    return iter(local.to_iter_dataset(_read_options()))


def eval_batches(
    source, *, preprocess: Preprocess, global_batch_size: int, process_index: int = 0, process_count: int = 1
) -> grain.IterDataset:
    """This process's share of the split, in order, as {'image', 'label', 'mask'} batches.

    The split is padded to whole global batches; padding repeats real examples with mask 0.0, so
    over all processes and batches each example appears exactly once with mask 1.0.
    """
    local_batch_size = _local_batch_size(global_batch_size, process_count)
    size = len(source)
    padded_size = -(-size // global_batch_size) * global_batch_size

    def load(index):
        batch = preprocess.apply(source[index % size])
        batch["mask"] = np.float32(index < size)
        return batch

    positions = grain.MapDataset.range(padded_size).map(load)
    local = positions.batch(local_batch_size)[process_index::process_count]
    return local.to_iter_dataset(_read_options())


def _local_batch_size(global_batch_size: int, process_count: int) -> int:
    if global_batch_size % process_count:
        raise ValueError(f"global_batch_size {global_batch_size} is not divisible by the {process_count} processes.")
    return global_batch_size // process_count


def _read_options() -> grain.ReadOptions:
    """Batches are built in threads, a few ahead (Grain's default buffer of 500 would hold 500 batches)."""
    threads = min(8, os.cpu_count() or 1)
    return grain.ReadOptions(num_threads=threads, prefetch_buffer_size=2 * threads)
