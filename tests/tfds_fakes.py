"""Makes a standard TFDS dataset look prepared on disk, for use with `tfds.testing.mock_data`."""

import tensorflow_datasets as tfds


def fake_prepared(name: str, data_dir: str, size: int, splits=("train", "test")) -> None:
    """Writes the dataset_info.json and (empty) array_record shards that a real preparation leaves."""
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    infos = []
    for split in splits:
        template = tfds.core.ShardedFileTemplate(
            data_dir=builder.data_path, dataset_name=builder.name, split=split, filetype_suffix="array_record"
        )
        infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[size], num_bytes=0, filename_template=template))
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    for split in splits:
        for path in builder.info.splits[split].filepaths:
            path.touch()
