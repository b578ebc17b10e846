"""Grain pipelines: global order, process slicing, augmentation, exact resume, eval coverage."""

import itertools
import threading
import time

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from cnnjax.data import augment, pipeline

AUGMENT = pipeline.Preprocess(image_size=12, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), pad_crop=3, hflip=True)
PLAIN = pipeline.Preprocess(image_size=6, mean=(0.0,) * 3, std=(1.0,) * 3)


def make_source(size, image_size=6):
    """In-memory examples whose label is their index."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (size, image_size, image_size, 3), dtype=np.uint8)
    return [{"image": images[i], "label": i} for i in range(size)]


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def assert_batches_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a["image"], e["image"])
        np.testing.assert_array_equal(a["label"], e["label"])


def test_train_batch_shapes_and_dtypes():
    it = pipeline.train_iterator(
        make_source(20), preprocess=AUGMENT, global_batch_size=8, seed=0, process_index=1, process_count=2
    )
    batch = next(it)
    assert batch["image"].shape == (4, 12, 12, 3) and batch["image"].dtype == np.float32
    assert batch["label"].shape == (4,) and batch["label"].dtype == np.int32


def test_stream_is_a_fresh_permutation_every_epoch_without_drops():
    size, batch = 10, 4  # 10 batches = 40 positions = 4 epochs; batches straddle epoch ends.
    it = pipeline.train_iterator(make_source(size), preprocess=PLAIN, global_batch_size=batch, seed=5)
    stream = np.concatenate([b["label"] for b in take(it, 10)])
    epochs = stream.reshape(4, size)
    for epoch in epochs:
        assert sorted(epoch) == list(range(size))
    assert len({tuple(e) for e in epochs}) == 4
    other = pipeline.train_iterator(make_source(size), preprocess=PLAIN, global_batch_size=batch, seed=6)
    other_epochs = np.concatenate([b["label"] for b in take(other, 10)]).reshape(4, size)
    # Neighbouring seeds share no epoch permutation (not even shifted by an epoch).
    assert not {tuple(e) for e in epochs} & {tuple(e) for e in other_epochs}


@pytest.mark.parametrize("process_count", [2, 4])
def test_processes_concatenate_to_the_single_process_batch(process_count):
    source, global_batch = make_source(23), 8
    single = take(pipeline.train_iterator(source, preprocess=AUGMENT, global_batch_size=global_batch, seed=7), 9)
    shards = [
        take(
            pipeline.train_iterator(
                source,
                preprocess=AUGMENT,
                global_batch_size=global_batch,
                seed=7,
                process_index=p,
                process_count=process_count,
            ),
            9,
        )
        for p in range(process_count)
    ]
    joined = [
        {key: np.concatenate([shard[b][key] for shard in shards]) for key in ("image", "label")} for b in range(9)
    ]
    assert_batches_equal(joined, single)


def test_same_seed_same_batches_and_augmentation_varies():
    source = make_source(16)
    first, second = (
        take(pipeline.train_iterator(source, preprocess=AUGMENT, global_batch_size=16, seed=3), 3) for _ in range(2)
    )
    assert_batches_equal(first, second)
    # Each example is seen once per epoch; its three augmented views differ.
    views = [b["image"][np.argsort(b["label"])] for b in first]
    assert not np.array_equal(views[0], views[1]) and not np.array_equal(views[1], views[2])


class RecordingSource:
    """A source that records which examples were read."""

    def __init__(self, examples):
        self.examples, self.reads, self.lock = examples, [], threading.Lock()

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, index):
        with self.lock:
            self.reads.append(index)
        return self.examples[index]


def test_a_process_reads_only_its_own_part_of_each_global_batch():
    size, global_batch, local = 1000, 8, 4
    order = np.concatenate(
        [
            b["label"]
            for b in take(
                pipeline.train_iterator(make_source(size), preprocess=PLAIN, global_batch_size=global_batch, seed=1), 60
            )
        ]
    )
    by_process = order.reshape(-1, 2, local)  # (global batch, process, example)
    source = RecordingSource(make_source(size))
    it = pipeline.train_iterator(
        source, preprocess=PLAIN, global_batch_size=global_batch, seed=1, process_index=1, process_count=2
    )
    take(it, 2)
    time.sleep(0.3)  # Let the bounded read-ahead settle.
    reads = set(source.reads)
    assert set(by_process[:2, 1].ravel()) <= reads <= set(by_process[:, 1].ravel())
    assert not reads & set(by_process[:, 0].ravel())


@pytest.mark.parametrize("consumed", [1, 4])  # 4 batches of 6 cross the 20-example epoch end.
def test_get_state_set_state_resumes_bitwise(consumed):
    def make():
        return pipeline.train_iterator(
            make_source(20), preprocess=AUGMENT, global_batch_size=6, seed=11, process_index=1, process_count=2
        )

    reference = make()
    take(reference, consumed)
    state = reference.get_state()
    expected = take(reference, 5)
    resumed = make()
    resumed.set_state(state)
    assert_batches_equal(take(resumed, 5), expected)


def test_orbax_checkpoint_of_iterator_resumes_bitwise(tmp_path):
    def make():
        return pipeline.train_iterator(make_source(20), preprocess=AUGMENT, global_batch_size=6, seed=2)

    reference = make()
    take(reference, 3)
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(reference)))
        manager.wait_until_finished()
    expected = take(reference, 4)
    resumed = make()
    with ocp.CheckpointManager(tmp_path / "ckpt") as manager:
        manager.restore(
            manager.latest_step(), args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(resumed))
        )
    assert_batches_equal(take(resumed, 4), expected)


@pytest.mark.parametrize(
    "size,global_batch,process_count", [(37, 8, 1), (37, 8, 2), (37, 8, 4), (5, 12, 2), (16, 8, 2)]
)
def test_eval_covers_every_example_once(size, global_batch, process_count):
    source = make_source(size)
    shards = [
        list(
            pipeline.eval_batches(
                source, preprocess=PLAIN, global_batch_size=global_batch, process_index=p, process_count=process_count
            )
        )
        for p in range(process_count)
    ]
    num_batches = -(-size // global_batch)
    assert all(len(shard) == num_batches for shard in shards)
    local = global_batch // process_count
    for shard in shards:
        for batch in shard:
            assert batch["image"].shape == (local, 6, 6, 3) and batch["mask"].dtype == np.float32
    labels = np.concatenate([shard[b]["label"] for b in range(num_batches) for shard in shards])
    mask = np.concatenate([shard[b]["mask"] for b in range(num_batches) for shard in shards])
    assert list(labels[mask == 1]) == list(range(size))  # In order, each once.
    assert (mask[size:] == 0).all() and len(mask) == num_batches * global_batch


def test_eval_is_unaugmented_and_repeatable():
    source = make_source(10)
    batches = pipeline.eval_batches(source, preprocess=AUGMENT, global_batch_size=4)
    first, second = list(batches), list(batches)
    assert_batches_equal(first, second)
    np.testing.assert_array_equal(first[0]["image"][1], AUGMENT.apply(source[1])["image"])


def test_batch_size_not_divisible_by_processes_is_an_error():
    with pytest.raises(ValueError, match="divisible"):
        pipeline.train_iterator(make_source(4), preprocess=PLAIN, global_batch_size=6, seed=0, process_count=4)


@pytest.mark.parametrize("size_in,size_out", [(8, 13), (32, 20), (7, 7 * 4)])
def test_resize_matches_jax_bilinear(size_in, size_out):
    image = np.random.default_rng(1).random((size_in, size_in + 1, 2), dtype=np.float32)
    expected = jax.image.resize(jnp.asarray(image), (size_out, size_out, 2), "linear", antialias=False)
    np.testing.assert_allclose(augment.resize_bilinear(image, size_out), expected, atol=1e-5)


def test_resize_to_the_same_size_is_identity():
    image = np.random.default_rng(1).random((9, 9, 3), dtype=np.float32)
    assert augment.resize_bilinear(image, 9) is image


def test_pad_crop_is_a_zero_padded_shifted_window():
    image = np.random.default_rng(2).random((6, 6, 1), dtype=np.float32) + 1
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    offsets = set()
    for seed in range(40):
        crop = augment.random_pad_crop(image, 2, np.random.default_rng(seed))
        matches = [
            (t, left)
            for t, left in itertools.product(range(5), repeat=2)
            if np.array_equal(crop, padded[t : t + 6, left : left + 6])
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 10


def test_hflip_mirrors_about_half_the_time():
    image = np.arange(12, dtype=np.float32).reshape(2, 6, 1)
    flips = [augment.random_hflip(image, np.random.default_rng(s)) for s in range(200)]
    mirrored = sum(np.array_equal(f, image[:, ::-1]) for f in flips)
    assert all(np.array_equal(f, image) or np.array_equal(f, image[:, ::-1]) for f in flips)
    assert 70 < mirrored < 130


def test_preprocess_scales_and_normalises_per_channel():
    example = {"image": np.full((4, 4, 3), 255, np.uint8), "label": np.int64(3)}
    out = pipeline.Preprocess(image_size=4, mean=(0.5, 0.0, 1.0), std=(0.5, 2.0, 1.0)).apply(example)
    np.testing.assert_allclose(out["image"][0, 0], [1.0, 0.5, 0.0])
    assert out["image"].dtype == np.float32 and out["label"] == 3 and out["label"].dtype == np.int32
