"""What a run learns: classification, segmentation, counting and keypoints behind one interface, `Task`.

`make_task(config, dataset)` builds the config's task. Losses and metrics live in leaf modules that import
nothing from cnnjax (`losses`, `pixelwise`, `count_losses`, `keypoint_metrics`).
"""

from cnnjax.tasks.classification import Classification
from cnnjax.tasks.counting import Counting
from cnnjax.tasks.factory import TASKS, make_task
from cnnjax.tasks.keypoints import Keypoints
from cnnjax.tasks.protocol import PanelWriter, Task
from cnnjax.tasks.segmentation import Segmentation

__all__ = ["TASKS", "Classification", "Counting", "Keypoints", "PanelWriter", "Segmentation", "Task", "make_task"]
