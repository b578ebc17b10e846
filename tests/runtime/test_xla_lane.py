"""The CNNJAX_ONEDNN=0 lane (`CNNJAX_ONEDNN=0 pytest -m xla_lane`, README): oneDNN is really off there, so the
lane's shrunk models and the default experiment run the XLA-based conv paths of users without a compiler."""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from cnnjax.models import create_model
from cnnjax.native.onednn import TARGET_NAME, onednn_available, unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
KEY = jax.random.key(0)
IN_LANE = os.environ.get("CNNJAX_ONEDNN", "").strip() == "0"
MODELS = {  # plain, depthwise and transposed convs
    "mobilenet_v2": dict(width_multiplier=0.25, inverted_residual_setting=((1, 16, 1, 1), (6, 24, 2, 2))),
    "unet_small": dict(width=4, depth=2),
}


@pytest.mark.xla_lane
@pytest.mark.skipif(not IN_LANE, reason="checks the CNNJAX_ONEDNN=0 lane")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_onednn_is_off_and_a_cpu_train_step_has_no_onednn_call(name):
    assert not onednn_available() and unavailable_reason() == "disabled by CNNJAX_ONEDNN=0"
    model = create_model(name, num_classes=3, platform="cpu", **MODELS[name])
    x = jnp.zeros((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, KEY, x)

    def loss(params, state):
        out, _ = model.apply({**state, "params": params}, x, train=True, mutable=list(state), rngs={"dropout": KEY})
        return jnp.sum(out**2)

    state = {k: v for k, v in variables.items() if k != "params"}
    text = jax.jit(jax.grad(loss)).lower(variables["params"], state).as_text()
    assert "convolution" in text and TARGET_NAME not in text


def test_ci_runs_the_readme_command_with_both_lanes():
    readme = (ROOT / "README.md").read_text()
    command = readme.split("**Run the test suite**", 1)[1].split("```bash\n", 1)[1].split("\n", 1)[0]
    workers = "-n 2 --dist loadfile"  # the suite in two pytest-xdist workers
    lanes = f" -m pytest {workers} && CNNJAX_ONEDNN=0 .venv/bin/python -m pytest {workers} -m xla_lane"
    assert command.endswith(lanes), command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
