"""Multi-label classification: a sigmoid per class, binary cross-entropy, (mean) average precision, and decision
thresholds chosen on the validation split."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from cnnjax.data.preprocess import Preprocess
from cnnjax.errors import InvalidInputError
from cnnjax.parallel import AXIS
from cnnjax.tasks import ranking
from cnnjax.tasks.classification import image_preprocess

HISTOGRAMS = "histograms"  # a split's result entry: [positives, negatives] per class and score bin (nested lists)


@dataclasses.dataclass(frozen=True)
class Multilabel:
    """A `Task` and a `ValidationTuned`. Batches hold 'image' (B, H, W, C), the multi-hot 'label' (B, K) and, for
    evaluation, 'mask' (B,). It trains classification models with K outputs, one logit per class.

    Loss: the binary cross-entropy of sigmoid(logit) against the label, averaged over classes and examples
    (equal shards: the device mean is the global batch's). A class is predicted present when its probability
    is above 0.5 (train metrics, `exact_match`, `label_accuracy`) or, for the test split, at least the class's
    threshold chosen on the validation split (`tune`). Ranking metrics come from score histograms
    (`cnnjax.tasks.ranking`, which states the quantisation): per-class AP, mAP (the headline) over the classes
    with positives, exactly scikit-learn's on the quantised scores.
    """

    name = "multilabel"
    train_metric_names = ("label_accuracy", "exact_match")
    headline = "map"
    headline_higher_is_better = True
    model_task = "classification"
    wants_features = False

    @classmethod
    def from_config(cls, config, dataset) -> Multilabel:
        """Refuses the softmax-only loss settings (label smoothing, auxiliary heads)."""
        for key in ("label_smoothing", "aux_weight"):
            if config.loss[key]:
                raise InvalidInputError(f"config.loss.{key} is for classification; this run's task is 'multilabel'")
        return cls()

    def loss(self, logits, batch, features):
        return _binary_cross_entropy(logits, batch["label"]).mean()

    def train_metrics(self, logits, batch) -> dict:
        hits = (logits > 0) == (batch["label"] > 0)
        return {
            "label_accuracy": lax.pmean(hits.mean(), AXIS),
            "exact_match": lax.pmean(hits.all(-1).mean(), AXIS),
        }

    def eval_sums(self, logits, batch) -> dict:
        real = batch["mask"] > 0
        hits = ((logits > 0) == (batch["label"] > 0)) & real[:, None]
        positives, negatives = ranking.histograms(logits, batch["label"], real)
        loss = jnp.where(real, _binary_cross_entropy(logits, batch["label"]).mean(-1), 0.0)
        return {
            "loss_sum": loss.sum(),
            "label_hits": hits.sum(dtype=jnp.int32),
            "exact_matches": (hits.all(-1) & real).sum(dtype=jnp.int32),
            "positives": positives,
            "negatives": negatives,
            "count": real.sum(dtype=jnp.int32),
        }

    def summarize(self, totals: dict) -> dict:
        """The split's loss, mAP, per-class AP (NaN: no positives), exact match and label accuracy at 0.5, and its
        histograms (for `tune`; scalar logs and the summary leave them out)."""
        count, positives, negatives = int(totals["count"]), totals["positives"], totals["negatives"]
        ap = ranking.average_precision(positives, negatives)
        return {
            "loss": float(totals["loss_sum"]) / count,
            "map": ranking.mean_average_precision(ap),
            "per_class_ap": ap.tolist(),
            "exact_match": int(totals["exact_matches"]) / count,
            "label_accuracy": int(totals["label_hits"]) / (count * positives.shape[0]),
            "count": count,
            HISTOGRAMS: [np.asarray(positives).tolist(), np.asarray(negatives).tolist()],
        }

    def tune(self, test: dict, validation: dict) -> dict:
        """`test` without its histograms, with each class's F1-best threshold on `validation` ('thresholds', as
        probabilities) and, at those thresholds, the test split's micro-averaged 'precision', 'recall', 'f1', its
        'macro_f1' (over all classes) and 'per_class_f1'."""
        thresholds = ranking.f1_thresholds(*(np.asarray(h) for h in validation[HISTOGRAMS]))
        tp, fp, fn = ranking.counts_at(*(np.asarray(h) for h in test[HISTOGRAMS]), thresholds)
        per_class = ranking.f1(tp, fp, fn)
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        return {
            **{k: v for k, v in test.items() if k != HISTOGRAMS},
            "thresholds": ranking.threshold_probability(thresholds).tolist(),
            "precision": float(tp / (tp + fp)) if tp + fp else 0.0,
            "recall": float(tp / (tp + fn)) if tp + fn else 0.0,
            "f1": float(ranking.f1(tp, fp, fn)),
            "macro_f1": float(per_class.mean()),
            "per_class_f1": per_class.tolist(),
        }

    def describe(self, result: dict) -> str:
        return (
            f"mAP {result['map']:.4f} · exact match {100 * result['exact_match']:.2f}% · loss {result['loss']:.4f} "
            f"({result['count']} images)"
        )

    def headline_line(self, result: dict) -> str:
        at = f" · F1 {result['f1']:.4f} at the validation thresholds" if "f1" in result else ""
        return f"test mAP {result['map']:.4f}{at} ({result['count']} images)"

    def preprocess(self, config, dataset) -> Preprocess:
        return image_preprocess(config, dataset)

    def panels(self, model, dataset, preprocess) -> None:
        """No panels: a set of labels has no picture."""
        return None


def _binary_cross_entropy(logits, labels):
    """(B, K) per-label binary cross-entropy of sigmoid(`logits`) against the multi-hot `labels`, in float32."""
    return optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), labels.astype(jnp.float32))
