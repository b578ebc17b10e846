"""cnnjax.data.rand_augment against torchvision 0.28's tensor RandAugment / TrivialAugmentWide (the comparisons skip
without torch; the CPU torch needs torchvision's op schemas declared first: cnnjax.pretrained.torch_modules)."""

import dataclasses

import numpy as np
import pytest

from cnnjax.data.preprocess import Preprocess
from cnnjax.data.rand_augment import POLICIES, _augmentation_space, apply_op, augment

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
GEOMETRIC_TOLERANCE = 0.01  # fraction of pixels that may differ at rounding ties (module docstring); 0 measured
BINS = (0, 1, 9, 15, 29, 30)  # RandAugment's default, the smallest and the largest


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    low_contrast = rng.integers(37, 179, (33, 40, 3), dtype=np.uint8)  # 255 / 141 != (1 / 141) * 255 in float32
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    rgb[0, :4] = [(0, 72, 24), (10, 21, 6), (20, 18, 4), (30, 63, 18)]  # float32 and float64 grayscale truncate apart
    return [rgb, low_contrast, rng.integers(0, 256, (17, 23, 1), dtype=np.uint8)]


@pytest.fixture(scope="module")
def tv():
    """(_apply_op, RandAugment, TrivialAugmentWide, NEAREST) from torchvision."""
    pytest.importorskip("torch")
    from cnnjax.pretrained.torch_modules import torchvision

    torchvision()
    from torchvision.transforms import InterpolationMode, RandAugment, TrivialAugmentWide
    from torchvision.transforms.autoaugment import _apply_op

    return _apply_op, RandAugment, TrivialAugmentWide, InterpolationMode.NEAREST


def _torch_op(tv, image: np.ndarray, op: str, magnitude: float) -> np.ndarray:
    import torch

    apply, _, _, nearest = tv
    chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return apply(chw, op, magnitude, interpolation=nearest, fill=None).permute(1, 2, 0).numpy()


def _magnitudes(op: str, image_size: tuple[int, int]) -> list[float]:
    """Both policies' values at BINS (Posterize and Solarize: every bin), both signs for signed ops."""
    values = {0.0}
    for policy in ("randaugment", "trivialaugment"):
        table, signed = _augmentation_space(policy, 31, image_size)[op]
        if table is not None:
            chosen = table if op in ("Posterize", "Solarize") else table[list(BINS)]
            values |= {sign * float(v) for v in chosen for sign in ((1, -1) if signed else (1,))}
    return sorted(values)


@pytest.mark.parametrize("op", sorted(_augmentation_space("randaugment", 31, (1, 1))))
def test_op_matches_torchvision(images, tv, op):
    for image in images:
        for magnitude in _magnitudes(op, image.shape[:2]):
            ours, theirs = apply_op(image, op, magnitude), _torch_op(tv, image, op, magnitude)
            assert ours.dtype == np.uint8 and ours.shape == image.shape
            differing = np.any(ours != theirs, axis=-1).mean()
            bound = GEOMETRIC_TOLERANCE if op in GEOMETRIC else 0.0
            assert differing <= bound, (op, magnitude, image.shape, differing)


@pytest.mark.parametrize("num_bins", [31, 10])
@pytest.mark.parametrize("image_size", [(32, 32), (33, 40), (224, 173)])
def test_magnitude_tables_match_torchvision(tv, image_size, num_bins):
    _, rand_augment, trivial_augment, _ = tv
    theirs = {
        "randaugment": rand_augment()._augmentation_space(num_bins, image_size),
        "trivialaugment": trivial_augment()._augmentation_space(num_bins),
    }
    for policy, space in theirs.items():
        ours = _augmentation_space(policy, num_bins, image_size)
        assert list(ours) == list(space)  # the op order the draws index
        for op, (magnitudes, signed) in space.items():
            table, our_signed = ours[op]
            assert our_signed == signed, (policy, op)
            if magnitudes.ndim == 0:
                assert table is None, (policy, op)
            else:
                np.testing.assert_array_equal(table, magnitudes.numpy().astype(np.float32), err_msg=f"{policy} {op}")


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment"])
def test_augment_deterministic_per_generator_state(images, policy):
    for image in images:
        first = [augment(image, np.random.default_rng(seed), policy) for seed in range(8)]
        again = [augment(image, np.random.default_rng(seed), policy) for seed in range(8)]
        for a, b in zip(first, again):
            assert a.dtype == np.uint8 and a.shape == image.shape
            np.testing.assert_array_equal(a, b)
        assert len({a.tobytes() for a in first}) > 1  # different states draw different ops


def test_augment_none_and_unknown_policy(images):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert augment(images[0], rng, "none") is images[0]
    assert rng.bit_generator.state == state  # draws nothing
    with pytest.raises(ValueError, match="randaugment.*trivialaugment"):
        augment(images[0], rng, "autoaugment")
    assert POLICIES == ("none", "randaugment", "trivialaugment")


def test_apply_op_rejects_unknown_op(images):
    with pytest.raises(ValueError, match="Equalize"):
        apply_op(images[0], "Invert", 0.0)


def test_the_train_preprocessing_augments_after_its_other_draws_and_only_in_training():
    """`dataset.auto_augment`: the crop offset and flip drawn before it are unchanged (runs without it keep their
    streams), the image is `augment` of the resized pixels with the rng as those draws left it, eval is untouched."""
    example = {"image": np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8), "label": 2}
    plain = Preprocess(image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, pad_crop=4, hflip=True)
    augmented = dataclasses.replace(plain, auto_augment="randaugment", auto_augment_num_ops=2, auto_augment_magnitude=9)
    changed = 0
    for position in range(16):
        before, after = (p.apply(example, np.random.default_rng([0, position])) for p in (plain, augmented))
        rng = np.random.default_rng([0, position])
        rng.integers(0, 9, size=2), rng.random()  # the crop offset and flip, drawn first
        expected = augment(before["image"], rng, "randaugment", num_ops=2, magnitude=9)
        np.testing.assert_array_equal(after["image"], expected)
        np.testing.assert_array_equal(after["crop_offset"], before["crop_offset"])
        assert after["flip"] == before["flip"] and after["image"].dtype == np.uint8
        changed += not np.array_equal(after["image"], before["image"])
    assert changed >= 12  # two ops, rarely both the identity
    np.testing.assert_array_equal(augmented.apply(example)["image"], plain.apply(example)["image"])
