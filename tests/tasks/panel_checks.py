"""A task's panels drawn with a stand-in per-pixel linear model: each call writes a PNG, all calls share one compile."""

import jax.numpy as jnp
import numpy as np


class LinearPixels:
    """A stand-in model: per-pixel outputs x @ w."""

    def apply(self, variables, images, train):
        return images @ variables["params"]["w"]


def assert_panels_written_and_compiled_once(task, dataset, preprocess, outputs: int, tmp_path) -> None:
    """Draws panels of validation examples 1-2 and 2-3 with `LinearPixels` of ``outputs`` channels."""
    panels = task.panels(LinearPixels(), dataset, preprocess)
    variables = {"params": {"w": jnp.ones((3, outputs)) / 3}, "batch_stats": {}}
    source = dataset.open("validation")
    for step in (1, 2):
        examples = [preprocess.apply(source[i]) for i in (step, step + 1)]
        batch = {k: np.stack([example[k] for example in examples]) for k in examples[0]}
        panels(str(tmp_path / f"step{step}.png"), variables, batch, f"step {step}")
        assert (tmp_path / f"step{step}.png").read_bytes()[:4] == b"\x89PNG"
    assert panels._predict._cache_size() == 1  # one compile for the run's panels
