"""What a run learns: the loss, the metrics and the preprocessing of each task, behind one interface.

A task object is used by the per-device steps (`loss`, `train_metrics`, `eval_sums`, all inside the
mapped step, with collectives over `cnnjax.parallel.AXIS`) and on the host (`summarize`, `describe`).
`eval_sums` returns per-device sums that the eval step adds over devices (`lax.psum`) and the
evaluation adds over batches, so metrics are exact over the whole split.
"""

from cnnjax.tasks.classification import Classification
from cnnjax.tasks.counting import Counting
from cnnjax.tasks.factory import TASKS, make_task
from cnnjax.tasks.segmentation import Segmentation

__all__ = ["TASKS", "Classification", "Counting", "Segmentation", "make_task"]
