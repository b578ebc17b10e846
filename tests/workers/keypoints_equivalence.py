"""Worker (4 emulated CPU devices): the evaluation of a split (PCK, pixel error, loss, per keypoint too) on 4 devices
equals the 1-device one: hits and counts exactly, float sums to 1e-6. (The train step's loss is a mean over equal
shares, as counting's; tests/parallel proves such steps equal on N devices.) Asserts inside; prints the numbers."""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.config import load_config  # noqa: E402
from cnnjax.data.pipeline import eval_batches  # noqa: E402
from cnnjax.parallel import REPLICATED, DataParallel  # noqa: E402
from cnnjax.train.evaluation import Evaluator  # noqa: E402
from cnnjax.train.experiment import prepare_experiment  # noqa: E402
from cnnjax.train.optimizer import make_optimizer  # noqa: E402
from cnnjax.train.state import create_train_state  # noqa: E402
from cnnjax.train.steps import make_eval_step  # noqa: E402

assert jax.device_count() == 4, jax.devices()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEVICES = {"1": jax.devices()[:1], "4": jax.devices()}


def main():
    config = load_config(
        os.path.join(REPO, "experiments", "shapes_keypoints.py"),
        ["model.overrides.width=4", "model.overrides.depth=2"],
    )
    exp = prepare_experiment(config)
    state = create_train_state(exp.model, make_optimizer(config)[0], exp.image_shape, config.seed)

    # Evaluation of 100 validation images, global batch 32: 3 full batches and one of 4 real + 28 padding.
    validation = exp.dataset.open("validation[:100]")
    results = {}
    for name, devices in DEVICES.items():
        dp = DataParallel(devices)
        batches = eval_batches(validation, preprocess=exp.preprocess, global_batch_size=32)
        eval_step = make_eval_step(exp.model, exp.task, exp.preprocess.on_device)
        results[name] = Evaluator(dp, eval_step, REPLICATED, exp.task)(dp.put(state), batches)
        print(f"eval on {name} device(s): {results[name]}")
    one, four = results["1"], results["4"]
    assert one["count"] == four["count"] == 100
    assert one["visible_keypoints"] == four["visible_keypoints"] < 6 * 100  # keypoints out of view count nowhere
    assert one["pck"] == four["pck"] and one["per_keypoint_pck"] == four["per_keypoint_pck"]
    for key in ("mean_error", "loss"):
        assert abs(one[key] - four[key]) <= 1e-6 * abs(one[key]), key
    np.testing.assert_allclose(one["per_keypoint_error"], four["per_keypoint_error"], rtol=1e-6)
    print("OK")


if __name__ == "__main__":
    main()
