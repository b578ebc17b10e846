"""Dataset catalog: data_dir resolution, clear errors, and standard datasets read through TFDS mocks."""

import importlib.util
import os
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tfds_fakes import fake_prepared

from cnnjax.data import catalog, pipeline
from cnnjax.data.preprocess import Preprocess


def test_resolve_data_dir(monkeypatch):
    monkeypatch.delenv("CNNJAX_DATA_DIR", raising=False)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    assert catalog.resolve_data_dir(None) == os.path.expanduser("~/tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", "/tfds")
    assert catalog.resolve_data_dir(None) == "/tfds"
    monkeypatch.setenv("CNNJAX_DATA_DIR", "/cnnjax")
    assert catalog.resolve_data_dir(None) == "/cnnjax"
    assert catalog.resolve_data_dir("/given") == "/given"


@pytest.mark.parametrize("typo,suggestion", [("cifar1O", "cifar10"), ("imagenet", "imagenet2012")])
def test_unknown_dataset_suggests_a_name(tmp_path, typo, suggestion):
    with pytest.raises(ValueError, match=f"Unknown dataset '{typo}'. Did you mean '{suggestion}'"):
        catalog.ensure_prepared(typo, str(tmp_path))


@pytest.mark.parametrize("name", ["cifar10", "mnist", "imagenet2012", "fashion_mnist"])
def test_unprepared_dataset_fails_fast_with_the_prepare_command(tmp_path, name):
    start = time.perf_counter()
    with pytest.raises(catalog.DatasetNotPreparedError) as error:
        catalog.open_split(name, "train", str(tmp_path))
    assert time.perf_counter() - start < 2
    message = str(error.value)
    assert name in message and str(tmp_path) in message
    assert f"cnnjax data prepare {name} --data_dir {tmp_path}" in message


def test_tfrecord_preparation_is_reported(tmp_path):
    builder = tfds.builder("mnist", data_dir=str(tmp_path))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    with pytest.raises(catalog.DatasetNotPreparedError, match="tfrecord"):
        catalog.ensure_prepared("mnist", str(tmp_path))


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None,
    reason="TensorFlow is installed: preparing would go to the network.",
)
def test_prepare_standard_dataset_without_tensorflow_says_what_to_install(tmp_path):
    with pytest.raises(catalog.DatasetNotPreparedError, match=r"pip install 'cnnjax\[prepare\]'") as error:
        catalog.prepare("cifar10", str(tmp_path))
    assert "network" in str(error.value)
    assert not any(tmp_path.iterdir())


def test_unknown_split_lists_the_available_ones(tmp_path):
    with pytest.raises(ValueError, match="train, validation, test"):
        catalog.open_split("digits", "dev", str(tmp_path))


@pytest.mark.parametrize("name,shape,mean", [("cifar10", (32, 32, 3), 0.4914), ("mnist", (28, 28, 1), 0.1307)])
def test_standard_dataset_reads_through_the_pipeline(tmp_path, name, shape, mean):
    data_dir = str(tmp_path)
    fake_prepared(name, data_dir, size=24)
    info = catalog.ensure_prepared(name, data_dir)
    assert (info.image_shape, info.num_classes, info.mean[0]) == (shape, 10, mean)
    assert info.split_sizes == {"train": 24, "test": 24}
    with tfds.testing.mock_data(num_examples=24, data_dir=data_dir):
        source = catalog.open_split(name, "train", data_dir)
        assert len(source) == 24
        example = source[3]
        assert example["image"].dtype == np.uint8 and example["image"].shape == shape
        preprocess = Preprocess(image_size=32, mean=info.mean, std=info.std, pad_crop=4, hflip=True)
        batch = next(
            pipeline.train_batches(
                source,
                preprocess=preprocess,
                global_batch_size=8,
                seed=0,
                share=pipeline.HostShare(process_index=1, process_count=2),
            )
        )
    assert batch["image"].shape == (4, 32, 32, shape[-1]) and batch["image"].dtype == np.uint8
    assert batch["label"].dtype == np.int32 and (0 <= batch["label"]).all()
