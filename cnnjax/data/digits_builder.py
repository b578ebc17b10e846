"""TFDS builder for scikit-learn's bundled 8x8 handwritten digits (offline, no TensorFlow).

1,797 grayscale 8x8 images of the digits 0-9 from `sklearn.datasets.load_digits` (the UCI
"Optical Recognition of Handwritten Digits" test set). Pixels are counts 0..16; they are stored as
uint8 (8, 8, 1) with ``round(v * 255 / 16)``, so 0 -> 0, 8 -> 128 and 16 -> 255.

Splits are fixed and stratified by class (every class is in every split): scikit-learn
``train_test_split(test_size=0.3, stratify=y, random_state=0)`` holds 30 % of the indices out of
train, and ``train_test_split(test_size=0.5, stratify=..., random_state=0)`` halves those into
validation and test: train 1,257 / validation 270 / test 270 examples.
"""

import numpy as np
import tensorflow_datasets as tfds

SPLIT_SIZES = {"train": 1257, "validation": 270, "test": 270}


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Maps digit pixel counts 0..16 to uint8 0..255 with round(v * 255 / 16)."""
    return np.round(np.asarray(pixels, np.float64) * 255.0 / 16.0).astype(np.uint8)


def split_indices() -> dict[str, np.ndarray]:
    """The fixed stratified split: example indices into `load_digits()` for each split."""
    from sklearn import datasets as sk_datasets  # a slow import that only preparing the data needs
    from sklearn import model_selection

    labels = sk_datasets.load_digits().target
    index = np.arange(len(labels))
    train, rest = model_selection.train_test_split(index, test_size=0.3, stratify=labels, random_state=0)
    validation, test = model_selection.train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=0)
    return {"train": train, "validation": validation, "test": test}


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 handwritten digits, 10 classes, stratified train/validation/test."""

    name = "digits"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Bundled with scikit-learn: nothing to download.
        return {split: self._generate_examples(index) for split, index in split_indices().items()}

    def _generate_examples(self, index):
        from sklearn import datasets as sk_datasets

        digits = sk_datasets.load_digits()
        images = to_uint8(digits.images)[..., None]
        for i in index:
            yield int(i), {"image": images[i], "label": int(digits.target[i])}
