"""The bundled digits dataset: offline preparation, fixed stratified splits, stored values, stats."""

import collections
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from cnnjax.data import catalog, digits_builder, pipeline
from cnnjax.data.preprocess import Preprocess

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One copy prepared on first use by `ensure_prepared`, offline."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    catalog.ensure_prepared("digits", data_dir)
    return data_dir


def read_all(data_dir, split):
    source = catalog.open_split("digits", split, data_dir)
    images = np.stack([source[i]["image"] for i in range(len(source))])
    labels = np.array([source[i]["label"] for i in range(len(source))])
    return images, labels


def test_info(data_dir):
    info = catalog.ensure_prepared("digits", data_dir)
    assert info == catalog.DatasetInfo(
        name="digits",
        image_shape=(8, 8, 1),
        num_classes=10,
        split_sizes={"train": 1257, "validation": 270, "test": 270},
        mean=(0.3056,),
        std=(0.3760,),
        task="classification",
        class_names=tuple(str(d) for d in range(10)),
    )


def test_second_ensure_prepared_is_fast(data_dir):
    start = time.perf_counter()
    catalog.ensure_prepared("digits", data_dir)
    assert time.perf_counter() - start < 1


def test_prepare_is_offline_and_idempotent(tmp_path, data_dir):
    assert catalog.prepare("digits", str(tmp_path)) == catalog.ensure_prepared("digits", data_dir)
    assert catalog.prepare("digits", str(tmp_path)).split_sizes == digits_builder.SPLIT_SIZES


def test_processes_preparing_the_same_data_dir_at_once_all_succeed(tmp_path):
    code = 'import sys; from cnnjax.data import catalog; catalog.ensure_prepared("digits", sys.argv[1])'
    workers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE) for _ in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()[-2000:]


def test_splits_are_disjoint_complete_and_stratified():
    indices = digits_builder.split_indices()
    assert {s: len(i) for s, i in indices.items()} == digits_builder.SPLIT_SIZES
    assert sorted(np.concatenate(list(indices.values()))) == list(range(1797))
    labels = sk_datasets.load_digits().target
    overall = np.bincount(labels, minlength=10) / len(labels)
    for index in indices.values():
        share = np.bincount(labels[index], minlength=10) / len(index)
        assert (share > 0).all() and np.abs(share - overall).max() < 0.01


def test_stored_examples_are_sklearns_scaled_to_uint8(data_dir):
    digits = sk_datasets.load_digits()
    for split, index in digits_builder.split_indices().items():
        images, labels = read_all(data_dir, split)
        assert images.dtype == np.uint8 and images.shape == (len(index), 8, 8, 1)
        expected = digits_builder.to_uint8(digits.images[index])[..., None]
        stored = collections.Counter(zip(map(bytes, images), labels.tolist()))
        assert stored == collections.Counter(zip(map(bytes, expected), digits.target[index].tolist()))


def test_uint8_rule():
    np.testing.assert_array_equal(digits_builder.to_uint8([0, 1, 8, 15, 16]), [0, 16, 128, 239, 255])


def test_mean_std_constants_are_measured_on_train(data_dir):
    images, _ = read_all(data_dir, "train")
    pixels = images.astype(np.float64) / 255
    info = catalog.ensure_prepared("digits", data_dir)
    np.testing.assert_allclose(info.mean, [pixels.mean()], atol=1e-4)
    np.testing.assert_allclose(info.std, [pixels.std()], atol=1e-4)


def test_trains_and_evaluates_through_the_pipeline(data_dir):
    info = catalog.ensure_prepared("digits", data_dir)
    preprocess = Preprocess(image_size=16, mean=info.mean, std=info.std, pad_crop=2, hflip=False)
    train = catalog.open_split("digits", "train", data_dir)
    batch = next(pipeline.train_batches(train, preprocess=preprocess, global_batch_size=32, seed=0))
    assert batch["image"].shape == (32, 16, 16, 1) and batch["image"].dtype == np.uint8
    assert batch["label"].dtype == np.int32
    test = catalog.open_split("digits", "test", data_dir)
    batches = list(pipeline.eval_batches(test, preprocess=preprocess, global_batch_size=64))
    assert sum(b["mask"].sum() for b in batches) == 270 and len(batches) == 5
