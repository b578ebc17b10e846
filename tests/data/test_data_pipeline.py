"""Grain pipelines: global order, process slicing, position from the step, parallelism, eval coverage;
the device half of classification preprocessing."""

import os
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.data import augment, device_ops, pipeline, workers
from cnnjax.data.preprocess import Preprocess
from subprocesses import REPO, WORKERS

AUGMENT = Preprocess(image_size=12, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), pad_crop=3, hflip=True)
PLAIN = Preprocess(image_size=6, mean=(0.0,) * 3, std=(1.0,) * 3)
KEYS = ("image", "label", "crop_offset", "flip")


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
        assert set(a) == set(e)
        for key in a:
            np.testing.assert_array_equal(a[key], e[key])


def train(source, preprocess=AUGMENT, global_batch_size=8, seed=7, start_step=0, **share):
    return pipeline.train_batches(
        source,
        preprocess=preprocess,
        global_batch_size=global_batch_size,
        seed=seed,
        start_step=start_step,
        share=pipeline.HostShare(**share),
    )


def test_train_batch_shapes_and_dtypes():
    batch = next(train(make_source(20), process_index=1, process_count=2))
    assert batch["image"].shape == (4, 12, 12, 3) and batch["image"].dtype == np.uint8
    assert batch["label"].shape == (4,) and batch["label"].dtype == np.int32
    assert batch["crop_offset"].shape == (4, 2) and batch["crop_offset"].dtype == np.int32
    assert batch["flip"].shape == (4,) and batch["flip"].dtype == np.bool_
    assert set(next(train(make_source(20), preprocess=PLAIN))) == {"image", "label"}


def test_stream_is_a_fresh_permutation_every_epoch_without_drops():
    size, batch = 10, 4  # 10 batches = 40 positions = 4 epochs; batches straddle epoch ends.
    it = train(make_source(size), preprocess=PLAIN, global_batch_size=batch, seed=5)
    stream = np.concatenate([b["label"] for b in take(it, 10)])
    epochs = stream.reshape(4, size)
    for epoch in epochs:
        assert sorted(epoch) == list(range(size))
    assert len({tuple(e) for e in epochs}) == 4
    other = train(make_source(size), preprocess=PLAIN, global_batch_size=batch, seed=6)
    other_epochs = np.concatenate([b["label"] for b in take(other, 10)]).reshape(4, size)
    # Neighbouring seeds share no epoch permutation (not even shifted by an epoch).
    assert not {tuple(e) for e in epochs} & {tuple(e) for e in other_epochs}


@pytest.mark.parametrize("process_count", [2, 4])
def test_processes_concatenate_to_the_single_process_batch(process_count):
    source = make_source(23)
    single = take(train(source), 9)
    shards = [take(train(source, process_index=p, process_count=process_count), 9) for p in range(process_count)]
    joined = [{key: np.concatenate([shard[b][key] for shard in shards]) for key in KEYS} for b in range(9)]
    assert_batches_equal(joined, single)


@pytest.mark.parametrize("start_step", [1, 4, 7])  # 6 batches of 6 positions cross the 20-example epochs.
def test_batches_from_a_start_step_continue_the_stream(start_step):
    source = make_source(20)
    stream = take(train(source, global_batch_size=6, process_index=1, process_count=2), 10)
    resumed = take(train(source, global_batch_size=6, process_index=1, process_count=2, start_step=start_step), 3)
    assert_batches_equal(resumed, stream[start_step : start_step + 3])


def test_stacked_streams_are_each_seeds_stream_after_the_batch_axis():
    source, seeds, share = make_source(20), (7, 3, 9), {"process_index": 1, "process_count": 2, "num_threads": 2}
    stacked = pipeline.stacked_train_batches(
        source, preprocess=AUGMENT, global_batch_size=6, seeds=seeds, start_step=2, share=pipeline.HostShare(**share)
    )
    batches = take(stacked, 4)
    assert batches[0]["image"].shape == (3, len(seeds), 12, 12, 3)
    for i, seed in enumerate(seeds):
        alone = take(train(source, global_batch_size=6, seed=seed, start_step=2, **share), 4)
        assert_batches_equal([{k: v[:, i] for k, v in b.items()} for b in batches], alone)


def test_the_same_batches_for_any_number_of_threads_and_workers():
    source = make_source(30)
    expected = take(train(source), 6)
    assert_batches_equal(take(train(source, num_threads=3), 6), expected)
    workers = train(source, num_workers=2, num_threads=1)
    assert_batches_equal(take(workers, 6), expected)
    workers.close()
    serial = list(pipeline.eval_batches(source, preprocess=AUGMENT, global_batch_size=8))
    assert_batches_equal(
        list(
            pipeline.eval_batches(
                source, preprocess=AUGMENT, global_batch_size=8, share=pipeline.HostShare(num_workers=1)
            )
        ),
        serial,
    )


def test_same_seed_same_batches_and_augmentation_varies():
    source = make_source(16)
    first, second = (take(train(source, global_batch_size=16, seed=3), 3) for _ in range(2))
    assert_batches_equal(first, second)
    # Each example is seen once per epoch; its three augmented views differ.
    views = [np.asarray(AUGMENT.on_device(b)["image"])[np.argsort(b["label"])] for b in first]
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
    size, local = 1000, 4  # global batches of 8 (train())
    order = np.concatenate([b["label"] for b in take(train(make_source(size), preprocess=PLAIN, seed=1), 60)])
    by_process = order.reshape(-1, 2, local)  # (global batch, process, example)
    source = RecordingSource(make_source(size))
    it = train(source, preprocess=PLAIN, seed=1, process_index=1, process_count=2, num_threads=2)
    take(it, 2)
    time.sleep(0.3)  # Let the bounded read-ahead settle.
    reads = set(source.reads)
    assert set(by_process[:2, 1].ravel()) <= reads <= set(by_process[:, 1].ravel())
    assert not reads & set(by_process[:, 0].ravel())


def test_data_workers_ignore_sigint_and_die_with_their_parent():
    trainer = subprocess.Popen(
        [sys.executable, str(WORKERS / "data_workers.py"), "0.05"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    try:
        worker_pids = [int(pid) for pid in trainer.stdout.readline().split()[1:]]
        assert len(worker_pids) == 2
        # Batches come from the workers in turn: once batch 1 is read, both workers have started. (A Ctrl-C
        # while a worker process is still importing, under load, can kill it: not covered here.)
        while not trainer.stdout.readline().startswith("batch 1"):
            pass
        os.killpg(trainer.pid, signal.SIGINT)
        while (line := trainer.stdout.readline()) not in ("sigint\n", ""):
            pass
        assert line == "sigint\n" and all(trainer.stdout.readline().startswith("batch") for _ in range(4))
        assert all(_alive(pid) for pid in worker_pids)  # the workers went on
        trainer.kill()
        trainer.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in worker_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in worker_pids)
    finally:
        trainer.kill()
        trainer.stdout.close()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not yet reaped, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    "size,global_batch,process_count", [(37, 8, 1), (37, 8, 2), (37, 8, 4), (5, 12, 2), (16, 8, 2)]
)
def test_eval_covers_every_example_once(size, global_batch, process_count):
    source = make_source(size)
    shards = [
        list(
            pipeline.eval_batches(
                source,
                preprocess=PLAIN,
                global_batch_size=global_batch,
                share=pipeline.HostShare(process_index=p, process_count=process_count),
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
    batches = pipeline.eval_batches(
        source, preprocess=AUGMENT, global_batch_size=4, share=pipeline.HostShare(num_threads=2)
    )
    first, second = list(batches), list(batches)
    assert_batches_equal(first, second)
    assert set(first[0]) == {"image", "label", "mask"}
    np.testing.assert_array_equal(first[0]["image"][1], AUGMENT.apply(source[1])["image"])


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"global_batch_size": 6, "process_count": 4}, "divisible"),
        ({"start_step": -1}, "start_step must be >= 0"),
        ({"num_workers": -2}, "num_workers must be -1"),
    ],
)
def test_bad_arguments_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(make_source(4), **{"global_batch_size": 4, **kwargs})


@pytest.mark.parametrize("size_in,size_out", [(8, 13), (32, 20), (7, 7 * 4)])
def test_resize_matches_jax_bilinear(size_in, size_out):
    image = np.random.default_rng(1).random((size_in, size_in + 1, 2), dtype=np.float32)
    expected = jax.image.resize(jnp.asarray(image), (size_out, size_out, 2), "linear", antialias=False)
    np.testing.assert_allclose(augment.resize_bilinear(image, size_out), expected, atol=1e-5)


def test_resize_to_the_same_size_is_identity():
    image = np.random.default_rng(1).random((9, 9, 3), dtype=np.float32)
    assert augment.resize_bilinear(image, 9) is image


def reference_train_view(pixels, offset, flip, preprocess):
    """The float32 host path the device replaces: [0, 1], zero pad, crop, flip, normalise per channel."""
    image = pixels / np.float32(255)
    pad = preprocess.pad_crop
    image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))[offset[0] :, offset[1] :][
        : pixels.shape[0], : pixels.shape[1]
    ]
    image = image[:, ::-1] if flip else image
    return (image - np.asarray(preprocess.mean, np.float32)) / np.asarray(preprocess.std, np.float32)


def test_on_device_pads_crops_flips_and_normalises_as_the_host_decisions_say():
    batch = next(train(make_source(40, image_size=12), global_batch_size=32))
    out = jax.jit(AUGMENT.on_device)(batch)
    assert set(out) == {"image", "label"} and out["image"].dtype == jnp.float32
    for i in range(32):
        expected = reference_train_view(batch["image"][i], batch["crop_offset"][i], batch["flip"][i], AUGMENT)
        np.testing.assert_allclose(out["image"][i], expected, rtol=1e-6, atol=1e-6)
    offsets = np.concatenate(
        [next(train(make_source(40, 12), seed=s, global_batch_size=32))["crop_offset"] for s in range(4)]
    )
    assert offsets.min() == 0 and offsets.max() == 2 * AUGMENT.pad_crop  # the whole range of shifts
    assert 0.25 < batch["flip"].mean() < 0.75


def test_reflect_padding_mirrors_without_repeating_the_edge():
    images = jnp.arange(4, dtype=jnp.float32).reshape(1, 1, 4, 1).repeat(4, axis=1)
    left = device_ops.pad_crop(images, np.array([[0, 0]]), 2, "reflect")[0, 0, :, 0]
    right = device_ops.pad_crop(images, np.array([[0, 4]]), 2, "reflect")[0, 0, :, 0]
    assert list(left) == [2.0, 1.0, 0.0, 1.0] and list(right) == [2.0, 3.0, 2.0, 1.0]


def test_eval_on_device_normalises_per_channel():
    batch = {"image": np.full((1, 4, 4, 3), 255, np.uint8), "label": np.int32([3]), "mask": np.float32([1])}
    out = Preprocess(image_size=4, mean=(0.5, 0.0, 1.0), std=(0.5, 2.0, 1.0)).on_device(batch)
    np.testing.assert_allclose(out["image"][0, 0, 0], [1.0, 0.5, 0.0])
    assert out["label"] is batch["label"] and out["mask"] is batch["mask"]


def test_auto_parallelism_is_a_worker_process_per_core_and_none_on_one_core(monkeypatch):
    for cores, expected in ((1, (0, 1)), (2, (2, 1)), (16, (16, 1))):
        monkeypatch.setattr(workers, "available_cores", lambda cores=cores: cores)
        assert workers.resolve(-1, -1) == expected
    assert workers.resolve(3, -1) == (3, 1) and workers.resolve(0, -1) == (0, 1) and workers.resolve(0, 2) == (0, 2)
