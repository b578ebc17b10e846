"""Every sweep file in experiments/ablations loads with its comparisons, and every point's model builds at the
point's input size (traced, never compiled); the studies' points differ in the way their docstrings say."""

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from cnnjax.config import apply_overrides, load_config
from cnnjax.sweep.definition import load_sweep
from cnnjax.train.experiment import build_model
from tests.abstract_models import KEY, count_params

ABLATIONS = Path(__file__).resolve().parents[2] / "experiments" / "ablations"
STUDIES = sorted(path.stem for path in ABLATIONS.glob("*.py"))


def point_variables(path: Path, overrides: dict) -> dict:
    config = load_config(str(path))
    apply_overrides(config, [f"{key}={value!r}" for key, value in overrides.items()])
    model = build_model(config, num_classes=10, in_channels=3, platform="cpu")
    size = config.dataset.image_size
    return jax.eval_shape(model.init, KEY, jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32))


@pytest.mark.parametrize("study", STUDIES)
def test_every_sweep_file_loads_and_every_point_builds(study):
    sweep = load_sweep(str(ABLATIONS / f"{study}.py"), [], 3)
    points = {run.point: run.overrides for run in sweep.runs if run.seed == 0}
    assert len(points) >= 2 and {run.seed for run in sweep.runs} == {0, 1, 2}
    assert {name for pair in sweep.comparisons for name in pair} <= set(points)
    params = {name: count_params(point_variables(ABLATIONS / f"{study}.py", o)["params"]) for name, o in points.items()}
    if study == "residual_depth":  # option-A shortcuts have no parameters: plain and residual twins match
        assert all(params[f"plain{depth}"] == params[f"resnet{depth}"] for depth in (8, 20, 32))
        assert params["resnet8"] < params["resnet20"] < params["resnet32"]
    if study == "separable":  # the docstring's counts
        assert (params["standard"], params["separable"]) == (288_746, 38_314)
    if study == "downsampling":  # the same convs, only the resolution they run at differs
        assert len(set(params.values())) == 1
