"""What a run learns: classification, multi-label classification, segmentation, counting and keypoints behind one
interface, `Task`.

`make_task(config, dataset)` builds the config's task. Losses and metrics live in leaf modules that import
nothing from cnnjax (`losses`, `pixelwise`, `count_losses`, `ranking`, `keypoint_metrics`).
"""

from cnnjax.tasks.classification import Classification
from cnnjax.tasks.counting import Counting
from cnnjax.tasks.factory import TASKS, make_task
from cnnjax.tasks.keypoints import Keypoints
from cnnjax.tasks.multilabel import Multilabel
from cnnjax.tasks.protocol import PanelWriter, Task, ValidationTuned
from cnnjax.tasks.segmentation import Segmentation

__all__ = [
    "TASKS",
    "Classification",
    "Counting",
    "Keypoints",
    "Multilabel",
    "PanelWriter",
    "Segmentation",
    "Task",
    "ValidationTuned",
    "make_task",
]
