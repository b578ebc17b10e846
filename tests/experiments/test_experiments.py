"""Every experiment file trains through `cnnjax train`, once and shrunk, to a finite loss and a better-than-chance
test metric, on its bundled data or on learnable stand-ins for data not on disk; the default experiment trains in
full to its published accuracy; bad inputs fail before any compile with a clear message."""

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from experiment_runs import coloured_classes, experiment, pets_like, summary, train, train_on_stand_in

from cnnjax.reporting import read_metrics


@pytest.mark.xla_lane
def test_default_experiment_reaches_97_percent_on_the_digits_test_split(tmp_path, capsys):
    """The README's main job, unchanged (fixed seed)."""
    assert train(tmp_path, experiment("digits_lenet5.py")) == 0
    result = summary(tmp_path)
    assert result["test_accuracy"] >= 0.97 and result["num_test_examples"] == 270
    assert result["line"] in capsys.readouterr().out
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "tensorboard")
    validation = read_metrics(str(tmp_path), "validation")
    assert [r["step"] for r in validation] == [250, 500, 750, 1000, 1250, 1500]
    assert all(r["count"] == 270 for r in validation)


@dataclasses.dataclass(frozen=True)
class StandIn:
    """Learnable examples (`experiment_runs`) in place of a dataset that is not on disk."""

    dataset: str
    as_data_source: Callable
    splits: tuple[str, ...] = ("train", "test")
    size: int = 64  # examples a split


def accuracy_at_least(bar: float):
    return lambda result, train_rows: result["test_accuracy"] >= bar


def accuracy_and_ema_accuracy_at_least(bar: float):
    """Both the raw weights and their moving average (`train.ema_decay`) beat ``bar``."""
    return lambda result, train_rows: min(result["test_accuracy"], result["test_ema_accuracy"]) >= bar


def miou_at_least(bar: float):
    """A constant answer's mIoU is at most 1 / classes (one class's IoU, the others' 0): ``bar`` beats it."""
    return lambda result, train_rows: result["test_miou"] >= bar > 1 / len(result["test_per_class_iou"])


def learns_shapes(result, train_rows) -> bool:
    """The bundled shapes take longer to learn than a shrunk run (see `shapes_*.py`): the train pixel
    accuracy rises by 0.2 from the first logged window to the last, and the test's is above a uniform guess's."""
    first, last = train_rows[0]["pixel_accuracy"], train_rows[-1]["pixel_accuracy"]
    return last >= first + 0.2 and result["test_pixel_accuracy"] >= 0.5 > 1 / len(result["test_per_class_iou"])


def learns_to_count(result, train_rows) -> bool:
    """Counting beats no constant answer even after a full run (`shapes_counting.py`): the train count MAE
    halves from the first logged window to the last, and the test's is at most half the first window's."""
    first, last = train_rows[0]["count_mae"], train_rows[-1]["count_mae"]
    consistent = result["test_count_rmse"] >= result["test_count_mae"] and "validation_count_mae" in result
    return consistent and last <= first / 2 and result["test_count_mae"] <= first / 2


def map_at_least(bar: float):
    """Multi-label: the test mAP beats ``bar``, with a per-class AP and a validation-chosen threshold per class, for
    the weights and for their moving average (`train.ema_decay`)."""

    def passed(result, train_rows) -> bool:
        lists = ("per_class_ap", "thresholds", "ema_thresholds")
        per_class = all(len(result[f"test_{key}"]) == LABELS for key in lists)
        return per_class and min(result["test_f1"], result["test_ema_f1"]) > 0 and result["test_map"] >= bar

    return passed


def finds_keypoints(result, train_rows) -> bool:
    """Answering every image with each keypoint's mean position over the train split scores test PCK@0.1 0.87 %
    (mean error 17.1 px): the test PCK beats that more than 5 times over (the shrunk run: ~10 %), and the train
    PCK rises."""
    return result["test_pck"] >= 0.05 and train_rows[-1]["pck"] > train_rows[0]["pck"]


@dataclasses.dataclass(frozen=True)
class Run:
    config: str  # experiments/FILE.py[:arg]
    shrink: tuple[str, ...]  # a smaller model (and any setting of its own for the run)
    beats_chance: Callable[[dict, list[dict]], bool]  # (summary, train rows of metrics.jsonl) -> passed
    stand_in: StandIn | None = None  # None: the bundled dataset


# Chance: accuracy 0.1 (10 classes: digits, the stand-ins); a constant answer's mIoU at most 1/3 (pets).
# The bars leave a margin below what these 150-step runs reach (figures in this file's commit messages).
LABELS = 10
CIFAR = StandIn("cifar10", coloured_classes(64, LABELS, 32))
IMAGENET = StandIn("imagenet2012", coloured_classes(64, LABELS, None), splits=("train", "validation"))
PETS = StandIn("oxford_iiit_pet", pets_like(32), size=32)
ACCURACY = accuracy_at_least(0.3)
CIFAR_SHRINK = ("model.overrides.stage_sizes=(1, 1, 1)", "model.overrides.width=4")
IMAGENET_SMALL = ("dataset.image_size=32", "dataset.eval_resize=36", "parallel.bn_group_size=4")  # 2 groups a batch
UNET_SHRINK = ("model.overrides.width=4", "model.overrides.depth=2")
# The generated shapes sit near chance for the first ~100 steps of SGD; AdamW and 300 steps reach ~38 %.
SHAPES_CLASSIFICATION_SHRINK = (
    "dataset.name='shapes_classification/easy'",
    "model.overrides.widths=(8, 16, 32)",
    *("train.num_steps=300", "train.batch_size=32", "optimizer.name='adamw'", "optimizer.learning_rate=3e-3"),
    "optimizer.weight_decay=1e-2",
)
# Multi-label: a random ranking's mAP is about the mean prevalence, 0.21 +- 0.008 (sd) for 500 test images and 10
# classes of prevalence 0.2 (simulated; the largest of 300 random draws: 0.238), so 0.24 beats chance; these 300
# steps reach 0.27 (the loss sits near the prior's for the first ~100 steps).
SHAPES_MULTILABEL_SHRINK = (
    "model.overrides.widths=(16, 32, 64)",
    *("train.num_steps=300", "train.batch_size=32", "optimizer.name='adamw'", "optimizer.learning_rate=3e-3"),
    *("optimizer.weight_decay=1e-2", "train.ema_decay=0.9"),
)
SHORT = ("train.num_steps=150", "train.batch_size=16", "train.eval_batch_size=64", "train.eval_every_steps=0")
RUNS = {
    "digits_simple_cnn": Run("digits_simple_cnn.py", ("model.overrides.widths=(8, 16)",), ACCURACY),
    "cifar10_resnet": Run("cifar10_resnet.py:resnet20", CIFAR_SHRINK, ACCURACY, CIFAR),
    "cifar10_resnet_modern": Run(
        "cifar10_resnet_modern.py:resnet20",
        (*CIFAR_SHRINK, "train.ema_decay=0.9"),
        accuracy_and_ema_accuracy_at_least(0.3),
        CIFAR,
    ),
    "cifar10_preact_resnet": Run("cifar10_preact_resnet.py:110", CIFAR_SHRINK, ACCURACY, CIFAR),
    "cifar10_wrn": Run(
        "cifar10_wrn.py:wrn28_10_dropout", (*CIFAR_SHRINK, "model.overrides.widen_factor=1"), ACCURACY, CIFAR
    ),
    "imagenet_resnet50": Run(
        "imagenet_resnet50.py",
        (*IMAGENET_SMALL, "model.overrides.stage_sizes=(1, 1, 1, 1)", "model.overrides.width=4"),
        ACCURACY,
        IMAGENET,
    ),
    "imagenet_mobilenet_v2": Run(
        "imagenet_mobilenet_v2.py",
        (*IMAGENET_SMALL, "model.overrides.inverted_residual_setting=((1, 8, 1, 1), (6, 8, 1, 2))"),
        ACCURACY,
        IMAGENET,
    ),
    "pets_segmentation": Run(
        "pets_segmentation.py:unet", (*UNET_SHRINK, "dataset.image_size=32"), miou_at_least(0.4), PETS
    ),
    "shapes_classification": Run("shapes_classification.py:simple_cnn", SHAPES_CLASSIFICATION_SHRINK, ACCURACY),
    "shapes_multilabel": Run("shapes_multilabel.py:simple_cnn", SHAPES_MULTILABEL_SHRINK, map_at_least(0.24)),
    "shapes_segmentation": Run("shapes_segmentation.py:unet", UNET_SHRINK, learns_shapes),
    "shapes_counting": Run("shapes_counting.py", UNET_SHRINK, learns_to_count),
    # No warm-up and 3x the rate: the recipe's 100 warm-up steps are most of a 150-step run.
    "shapes_keypoints": Run(
        "shapes_keypoints.py",
        (*UNET_SHRINK, "schedule.warmup_steps=0", "optimizer.learning_rate=3e-3"),
        finds_keypoints,
    ),
}


FINE_TUNING = {"finetune_shapes_deeplabv3", "linear_probe_shapes"}  # test_fine_tuning_experiments.py runs them


def test_every_experiment_file_has_a_run():
    files = {path.stem for path in Path(experiment("digits_lenet5.py")).parent.glob("*.py")}
    assert files - {"digits_lenet5"} - FINE_TUNING == set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_experiment_trains_to_a_finite_loss_and_beats_chance(tmp_path, name):
    run = RUNS[name]
    config, overrides = experiment(run.config), (*SHORT, *run.shrink)  # a run's own settings win
    if run.stand_in is None:
        code = train(tmp_path / "run", config, *overrides)
    else:
        stand_in = run.stand_in
        code = train_on_stand_in(
            tmp_path,
            stand_in.dataset,
            stand_in.as_data_source,
            config,
            *overrides,
            splits=stand_in.splits,
            size=stand_in.size,
        )
    assert code == 0
    result, rows = summary(tmp_path / "run"), read_metrics(str(tmp_path / "run"), "train")
    assert rows and all(math.isfinite(loss) for loss in (*(row["loss"] for row in rows), result["test_loss"]))
    assert run.beats_chance(result, rows), (result, rows)
    if result["task"] in ("segmentation", "counting"):  # dense tasks draw their test split's panels at the last step
        panel = tmp_path / "run" / "panels" / f"test_step{result['steps']:07d}.png"
        assert panel.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_relaunch_resumes_and_sets_an_uncommitted_checkpoint_aside(tmp_path):
    args = ("train.num_steps=2", "model.overrides.widths=(8, 16)")
    assert train(tmp_path, experiment("digits_simple_cnn.py"), *args) == 0
    (tmp_path / "checkpoints" / "9" / "state").mkdir(parents=True)  # a step dir Orbax never committed
    assert train(tmp_path, experiment("digits_simple_cnn.py"), *args) == 0  # resumes from step 2, not 9
    assert [n.split(".")[0] for n in os.listdir(tmp_path / "checkpoints") if "uncommitted" in n] == ["9"]
    rows = [(r["step"], r["split"]) for r in read_metrics(str(tmp_path))]
    assert rows == [(0, "compile"), (2, "train"), (2, "validation"), (2, "test")], "each row once after a resume"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (("dataset.name='cifar10'",), "cnnjax data prepare cifar10"),
        (("dataset.image_size=8",), "needs height and width >= 16"),  # below LeNet-5 minimum
        (("model.overrides.in_channels=3",), "channel"),
        (("train.batch_size=0",), "train.batch_size must be at least 1"),
        (("model.overrides.widht=4",), "widht"),
    ],
)
def test_bad_inputs_fail_fast_with_a_clear_message(tmp_path, capsys, overrides, message):
    data_dir = tmp_path / "empty_data"  # nothing prepared here (digits prepares itself on first use)
    code = train(tmp_path / "run", experiment("digits_lenet5.py"), *overrides, f"dataset.data_dir='{data_dir}'")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "run"), "nothing is written before everything is checked"


def test_another_runs_workdir_fails_with_the_differing_keys(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"name": "someone_else"}))
    assert train(tmp_path, experiment("digits_lenet5.py")) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "name: stored 'someone_else', now 'digits_lenet5'" in err
    assert json.loads((tmp_path / "config.json").read_text()) == {"name": "someone_else"}
