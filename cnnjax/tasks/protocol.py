"""The task interface: everything a run needs to know about what it learns, behind one `typing.Protocol`.

The train loop and the steps use a task only through `Task`. Inside the mapped per-device steps: `loss`,
`train_metrics` and `eval_sums`, with collectives over `cnnjax.parallel.AXIS`; `eval_sums` returns per-device
sums that the eval step adds over devices (`lax.psum`) and the evaluation over batches, so the metrics of a
split are exact. On the host: `summarize`, `describe`, `preprocess` and `panels`. A task that chooses something
on the validation split for the test split (multi-label: decision thresholds) is also a `ValidationTuned`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import jax

if TYPE_CHECKING:  # annotations only: the steps that use a task need not import the dataset catalog
    from cnnjax.data.dataset import Dataset
    from cnnjax.data.preprocess import Preprocessing


class PanelWriter(Protocol):
    """Draws image / ground truth / prediction panels of a host eval batch as a PNG at `path`."""

    def __call__(self, path: str, variables: dict, batch: dict, title: str) -> None: ...


class Task(Protocol):
    """A task: classification, multi-label classification, segmentation, counting or keypoints (`make_task` builds
    the config's).

    Batches hold 'image', 'label' (the task's) and, for evaluation, 'mask' (B,) (1 = a real example)."""

    name: ClassVar[str]  # the config's `task`
    headline: ClassVar[str]  # the metric the summary leads with
    headline_higher_is_better: ClassVar[bool]  # the direction of the headline: accuracy-like True, error-like False
    train_metric_names: ClassVar[tuple[str, ...]]  # the keys of `train_metrics`
    model_task: ClassVar[str]  # the registry task (`cnnjax.models.registry.model_task`) of the models it trains

    @classmethod
    def from_config(cls, config, dataset: Dataset) -> Task:
        """The task with the config's `loss` settings, for `dataset` (this task's view of it)."""
        ...

    @property
    def wants_features(self) -> bool:
        """Whether the train step asks the model for its features dict to pass to `loss` (else it passes {})."""
        ...

    def loss(self, logits: jax.Array, batch: dict, features: Mapping[str, jax.Array]) -> jax.Array:
        """This device's loss, whose mean over devices is the global batch's (and whose gradients', averaged
        over devices, are the global batch's gradient)."""
        ...

    def train_metrics(self, logits: jax.Array, batch: dict) -> dict:
        """The global batch's `train_metric_names` (collectives over `AXIS`)."""
        ...

    def eval_sums(self, logits: jax.Array, batch: dict) -> dict:
        """This device's sums over its real examples; 'count' among them (the number of real examples)."""
        ...

    def summarize(self, totals: dict) -> dict:
        """The metrics of a split from its summed `eval_sums` (host numpy); 'count' and 'loss' among them."""
        ...

    def describe(self, result: dict) -> str:
        """One line of `summarize`'s result for the progress output."""
        ...

    def headline_line(self, result: dict) -> str:
        """The lead of the run's summary line for the test split's `summarize` result (`write_summary`)."""
        ...

    def preprocess(self, config, dataset: Dataset) -> Preprocessing:
        """The preprocessing of the config's `dataset` section for `dataset` (this task's view of it)."""
        ...

    def panels(self, model, dataset: Dataset, preprocess: Preprocessing) -> PanelWriter | None:
        """The writer of evaluation panels for `model` (its prediction jitted once), or None: no panels."""
        ...


@runtime_checkable
class ValidationTuned(Protocol):
    """A task whose test metrics use choices made on the validation split (multi-label: per-class thresholds)."""

    def tune(self, test: dict, validation: dict) -> dict:
        """The test split's `summarize` result with the choices made on the validation split's applied (a new dict;
        neither argument changes). The train loop calls it once both splits are evaluated, before it logs the test
        split and writes the summary; with the test split the validation one, on that split's own result."""
        ...
