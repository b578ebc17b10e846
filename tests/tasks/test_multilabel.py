"""Multi-label classification: AP and mAP from summed histograms equal scikit-learn's on the quantised scores (ties,
masked examples, a class without positives), the F1-best validation thresholds and the test metrics at them on
hand-made examples, train metrics and evaluation on 4 devices as on 1, and configs refused before anything
compiles."""

import os
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_runs import experiment, train
from sklearn.metrics import average_precision_score
from subprocesses import run_worker

from cnnjax.config import base_config
from cnnjax.data.dataset import open_dataset
from cnnjax.parallel import AXIS
from cnnjax.tasks import Multilabel, ValidationTuned, make_task
from cnnjax.tasks.ranking import LOGIT_RANGE, NUM_BINS, score_bins

TASK = Multilabel()
EVAL_SUMS = jax.jit(TASK.eval_sums)  # one program a shape (eager, each op compiles on its own)
BIN_WIDTH = 2 * LOGIT_RANGE / NUM_BINS


def totals_of(logits, labels, mask) -> dict:
    """The host totals of eval_sums over two batches (the evaluator's sum), as the evaluator hands them over."""
    halves = [slice(0, len(labels) // 2), slice(len(labels) // 2, None)]
    sums = [EVAL_SUMS(logits[h], {"label": labels[h], "mask": mask[h]}) for h in halves]
    return {k: np.asarray(sums[0][k]) + np.asarray(sums[1][k]) for k in sums[0]}


def test_ap_and_map_equal_sklearn_on_the_quantised_scores_with_ties_masks_and_a_class_without_positives():
    """Rule: a class without positives has AP NaN and is left out of mAP; sklearn's macro AP over the others."""
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 5)) < 0.3).astype(np.int32)
    labels[:, 4] = 0  # no positives
    logits = np.round(rng.normal(0, 2, labels.shape) + 1.5 * labels).astype(np.float32)  # integer logits: many ties
    logits[:8, 0], logits[8:16, 0] = 40.0, -40.0  # beyond the range: tied in the end bins
    mask = (np.arange(300) < 280).astype(np.float32)  # padding rows count nowhere
    result = TASK.summarize(totals_of(logits, labels, mask))

    real, scores = mask > 0, np.asarray(score_bins(jnp.asarray(logits)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the class without positives
        expected = [average_precision_score(labels[real, c], scores[real, c]) for c in range(5)]
    assert np.allclose(result["per_class_ap"][:4], expected[:4], rtol=0, atol=1e-12)
    assert np.isnan(result["per_class_ap"][4])
    assert result["map"] == pytest.approx(average_precision_score(labels[real, :4], scores[real, :4]), abs=1e-12)
    assert result["count"] == 280
    loss = np.mean(np.logaddexp(0, logits[real]) - labels[real] * logits[real])
    assert result["loss"] == pytest.approx(loss, rel=1e-5)
    predicted = logits[real] > 0
    assert result["label_accuracy"] == np.mean(predicted == labels[real])
    assert result["exact_match"] == np.mean((predicted == labels[real]).all(-1))


def logits_at(bins) -> np.ndarray:
    """Logits in the middle of score bins `bins`."""
    return -LOGIT_RANGE + (np.asarray(bins, np.float32) + 0.5) * BIN_WIDTH


def histograms_of(columns, rows: int = 6) -> dict:
    """The summarized result of one example per (bin, label) pair in each class's column: [(bin, label), ...]."""
    logits, labels = np.zeros((rows, len(columns)), np.float32), np.zeros((rows, len(columns)), np.int32)
    mask = np.ones(rows, np.float32)
    for c, column in enumerate(columns):
        padded = column + [(0, 0)] * (rows - len(column))  # fillers: negatives in bin 0, where no threshold sits
        logits[:, c] = logits_at([b for b, _ in padded])
        labels[:, c] = [y for _, y in padded]
    return TASK.summarize(totals_of(logits, labels, mask))


def test_thresholds_maximise_validation_f1_and_the_test_metrics_use_them():
    # Class 0: positives in bins 10, 8, 5, negatives in 9, 3. F1 at "bin >= t": t > 10: 0; 10: 1/2; 9: 2/5;
    # 6-8: 2/3; 4-5: 6/7 (best: the highest, 5); <= 3: 3/4. Class 1: one positive in bin 6, so F1 is 1 for every
    # t <= 6 (ties: the highest, 6). Class 2: no positives: F1 0 everywhere, so NUM_BINS (never positive).
    validation = histograms_of([[(10, 1), (8, 1), (5, 1), (9, 0), (3, 0)], [(6, 1)], [(7, 0)]])
    # Test, at thresholds 5 / 6 / never: class 0 TP bin 6, FP bin 7, FN bin 4; class 1 TP bin 7, FN bin 5;
    # class 2 FN bin 9.
    test = histograms_of([[(6, 1), (7, 0), (4, 1)], [(7, 1), (5, 1)], [(9, 1)]])
    tuned = TASK.tune(test, validation)
    edges = -LOGIT_RANGE + np.array([5, 6]) * BIN_WIDTH
    assert np.allclose(tuned["thresholds"], [*(1 / (1 + np.exp(-edges))), 1.0], rtol=0, atol=1e-12)
    assert tuned["per_class_f1"] == pytest.approx([0.5, 2 / 3, 0.0])
    tp, fp, fn = 2, 1, 3
    assert (tuned["precision"], tuned["recall"]) == pytest.approx((tp / (tp + fp), tp / (tp + fn)))
    assert tuned["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert tuned["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 3)
    assert "histograms" not in tuned and "histograms" in test, "tune returns a new dict without the histograms"
    assert tuned["map"] == test["map"] and isinstance(TASK, ValidationTuned)


def test_train_metrics_over_two_devices_are_the_global_batch_s():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(0, 1, (2, 4, 3)), (rng.random((2, 4, 3)) < 0.5).astype(np.int32)
    logits[0, 0] = np.where(labels[0, 0] > 0, 1.0, -1.0)  # one exact match among the 8 examples
    metrics = jax.vmap(TASK.train_metrics, axis_name=AXIS)(jnp.asarray(logits), {"label": jnp.asarray(labels)})
    hits = (logits > 0) == (labels > 0)
    assert np.allclose(metrics["label_accuracy"], hits.mean())
    assert np.allclose(metrics["exact_match"], hits.all(-1).mean())
    assert float(metrics["exact_match"][0]) >= 1 / 8


def test_four_device_train_step_and_evaluation_equal_one_device():
    assert run_worker("multilabel_equivalence", num_devices=4).strip().endswith("OK")


def config_for(dataset: str, **loss):
    config = base_config()
    config.task, config.dataset.name, config.model.name = "multilabel", dataset, "lenet5"
    config.loss.update(loss)
    return config


def test_make_task_refuses_a_dataset_without_multi_hot_labels(data_dir):
    message = "config.task is 'multilabel' but dataset 'digits' serves classification; set --config.task="
    with pytest.raises(ValueError, match=re.escape(message)):
        make_task(config_for("digits"), open_dataset("digits"))


@pytest.mark.parametrize("loss", [{"label_smoothing": 0.1}, {"aux_weight": 0.3}])
def test_softmax_loss_settings_are_refused(loss):
    with pytest.raises(ValueError, match=f"config.loss.{next(iter(loss))} is for classification"):
        Multilabel.from_config(config_for("shapes_multilabel", **loss), dataset=None)


def test_a_multilabel_run_on_a_single_label_dataset_fails_in_one_line_before_anything_is_written(tmp_path, capsys):
    code = train(tmp_path / "run", experiment("digits_lenet5.py"), "task='multilabel'")
    err = capsys.readouterr().err
    assert code == 2 and "serves classification; set --config.task=classification" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not os.path.exists(tmp_path / "run")
