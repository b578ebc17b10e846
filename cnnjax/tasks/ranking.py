"""Multi-label ranking metrics from score histograms: exact average precision and F1-best thresholds from sums.

Quantisation: a class's score is its logit z, put in one of `NUM_BINS` equal bins of
[-`LOGIT_RANGE`, `LOGIT_RANGE`]: bin floor((z + LOGIT_RANGE) · NUM_BINS / (2 · LOGIT_RANGE)), logits beyond
the range in the end bins (width 1/128 in logit). The range is a choice: scores above 16 (probability beyond
1 - 1.1e-7, where float32's sigmoid reaches 1 at z ≈ 16.6) or below -16 are tied. Binning the logit orders
examples as binning the sigmoid probability would, with finer bins where the probability saturates.

The device side (`histograms`) counts, per class and bin, the positive and the negative examples: sums, so the
counts of a split add over devices and batches. The host side reads everything off them:
- `average_precision`: per class, Σ over bins b (highest first) holding positives of
  (positives in b / all positives) · precision at "score ≥ bin b", which is exactly scikit-learn's
  `average_precision_score` of the bin indices as scores (tied scores are one threshold). A class without
  positives has no AP: NaN (scikit-learn warns and returns 0); mAP is the mean over the classes with positives.
- `f1_thresholds`: per class, the bin t (predict positive iff score bin ≥ t; t = NUM_BINS never) of the largest
  F1 = 2TP / (2TP + FP + FN) (0 when that is 0 / 0), the highest such t on ties.
"""

import jax
import jax.numpy as jnp
import numpy as np

NUM_BINS = 4096
LOGIT_RANGE = 16.0


def score_bins(logits: jax.Array) -> jax.Array:
    """int32 bin indices of `logits` (module docstring), same shape."""
    scaled = (logits.astype(jnp.float32) + LOGIT_RANGE) * (NUM_BINS / (2 * LOGIT_RANGE))
    return jnp.clip(jnp.floor(scaled), 0, NUM_BINS - 1).astype(jnp.int32)


def histograms(logits: jax.Array, labels: jax.Array, real: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(positives, negatives), int32 (C, NUM_BINS): the counts of the `real` (N,) examples' scores by class and bin,
    split by their multi-hot `labels` (N, C)."""
    bins = score_bins(logits)
    classes = jnp.broadcast_to(jnp.arange(bins.shape[-1]), bins.shape)
    positive = labels > 0
    empty = jnp.zeros((bins.shape[-1], NUM_BINS), jnp.int32)

    def count(selected):
        return empty.at[classes, bins].add((selected & real[:, None]).astype(jnp.int32))

    return count(positive), count(~positive)


def _from_the_top(counts: np.ndarray) -> np.ndarray:
    """(C, NUM_BINS) -> (C, NUM_BINS + 1): column t holds the count in bins >= t (column NUM_BINS: 0)."""
    counts = np.asarray(counts, np.int64)
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    return np.concatenate([above, np.zeros((counts.shape[0], 1), np.int64)], axis=1)


def average_precision(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """float64 (C,): each class's average precision (module docstring); NaN for a class without positives."""
    true, false = _from_the_top(positives)[:, :-1], _from_the_top(negatives)[:, :-1]
    total = true[:, 0].astype(np.float64)
    precision = np.where(positives > 0, true / np.maximum(true + false, 1), 0.0)  # at each bin holding positives
    return (np.asarray(positives) * precision).sum(axis=1) / np.where(total > 0, total, np.nan)


def mean_average_precision(ap: np.ndarray) -> float:
    """The mean of `ap` over the classes with positives (not NaN); NaN when no class has any."""
    present = ap[~np.isnan(ap)]
    return float(present.mean()) if present.size else float("nan")


def counts_at(positives: np.ndarray, negatives: np.ndarray, thresholds: np.ndarray):
    """(true positives, false positives, false negatives), int64 (C,), predicting positive iff bin >= thresholds."""
    rows = np.arange(len(thresholds))
    true, false = _from_the_top(positives), _from_the_top(negatives)
    tp = true[rows, thresholds]
    return tp, false[rows, thresholds], true[:, 0] - tp


def f1(tp, fp, fn) -> np.ndarray:
    """2TP / (2TP + FP + FN) elementwise; 0 where that is 0 / 0."""
    tp, errors = np.asarray(tp, np.float64), np.asarray(fp, np.float64) + np.asarray(fn, np.float64)
    return np.divide(2 * tp, 2 * tp + errors, out=np.zeros_like(tp), where=2 * tp + errors > 0)


def f1_thresholds(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """int64 (C,): each class's F1-best threshold bin in 0 .. NUM_BINS (module docstring)."""
    true, false = _from_the_top(positives), _from_the_top(negatives)
    scores = f1(true, false, true[:, :1] - true)  # (C, NUM_BINS + 1): the F1 of every threshold
    return NUM_BINS - np.argmax(scores[:, ::-1], axis=1)


def threshold_probability(thresholds: np.ndarray) -> np.ndarray:
    """The sigmoid probability at each threshold bin's lower edge: a score is positive iff the exact (float64)
    sigmoid of its logit is at least this (bin 0, which holds every logit below the range: 0.0; NUM_BINS, which no
    score reaches: 1.0). float32's sigmoid rounds near 1 (to 1.0 from z ≈ 16.6): compare logits with the bin edges,
    or float64 probabilities, to reproduce the decisions exactly."""
    thresholds = np.asarray(thresholds)
    edges = -LOGIT_RANGE + thresholds * (2 * LOGIT_RANGE / NUM_BINS)
    probability = 1 / (1 + np.exp(-edges))
    return np.where(thresholds == 0, 0.0, np.where(thresholds == NUM_BINS, 1.0, probability))
