"""The moving average of the weights (train.ema_decay): the train step's EMA equals one computed by hand over 10 steps
(warm-up and plain decay, params and BatchNorm statistics), and its decay schedule is timm's. Resume keeps it
bitwise and the run logs and summarises it: test_resume.py's runs train with EMA on."""

import jax
import numpy as np
import optax
import pytest

from cnnjax.config import base_config, validate_config
from cnnjax.config.loading import ConfigError
from cnnjax.models import create_model
from cnnjax.parallel import REPLICATED, SHARDED, DataParallel
from cnnjax.tasks import Classification
from cnnjax.train.ema import Ema
from cnnjax.train.state import create_train_state, state_layouts, variables_of
from cnnjax.train.steps import make_train_step

STEPS = 10
EMA = Ema(decay=0.8, warmup_power=1.0)  # update 1 copies; warm-up decays 1/2, 2/3, 3/4, then 0.8 from update 5 on


def test_the_train_steps_ema_equals_a_hand_computed_average_over_10_steps():
    model = create_model("cifar_resnet20", num_classes=5, platform="cpu", stage_sizes=(1, 1, 1), width=4)
    tx = optax.sgd(0.5, momentum=0.9)  # large steps: the weights move far from their average
    step = make_train_step(model, tx, optax.constant_schedule(0.5), Classification(), ema=EMA)
    dp = DataParallel(jax.devices()[:1])
    layouts = state_layouts(per_device_batch_stats=False, ema=True)
    mapped = jax.jit(dp.map(step, (layouts, SHARDED), (layouts, REPLICATED)))
    state = create_train_state(model, tx, (8, 8, 3), seed=0, ema=True)
    average = jax.tree.map(np.float64, variables_of(state))  # starts as the initial weights
    rng = np.random.default_rng(0)
    for t in range(1, STEPS + 1):
        batch = {"image": rng.standard_normal((8, 8, 8, 3)).astype(np.float32), "label": rng.integers(0, 5, 8)}
        state = dp.to_host(mapped(dp.put(state, layouts), dp.shard_batch(batch))[0])
        decay = 0.0 if t == 1 else min(EMA.decay, 1 - 1 / t)
        average = jax.tree.map(lambda e, w, d=decay: d * e + (1 - d) * w, average, variables_of(state))
    weights, ema = variables_of(state), variables_of(state, use_ema=True)
    assert set(ema) == {"params", "batch_stats"} and jax.tree.leaves(ema["batch_stats"])
    for got, expected in zip(jax.tree.leaves(ema), jax.tree.leaves(average)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    moved = max(float(np.max(np.abs(e - w))) for e, w in zip(jax.tree.leaves(average), jax.tree.leaves(weights)))
    assert moved > 1e-2  # the average is not the weights: the comparison can tell them apart


def test_the_decay_schedule_is_timms():
    torch = pytest.importorskip("torch")
    from cnnjax.pretrained.torch_modules import timm

    for decay, power in ((0.9999, 2 / 3), (0.999, 3 / 4), (0.99, 0.0)):
        options = {"decay": decay, "use_warmup": power > 0, "warmup_power": power}
        reference = timm().utils.ModelEmaV3(torch.nn.Linear(1, 1), **options)
        ours = Ema(decay, power)
        for updates in (1, 2, 3, 10, 1_000, 100_000, 10_000_000):
            assert float(ours.decay_at(updates)) == pytest.approx(reference.get_decay(updates), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(
    "key, value, message",
    [("ema_decay", 1.0, "ema_decay must be in [0, 1)"), ("ema_warmup_power", -1.0, "ema_warmup_power >= 0")],
)
def test_bad_ema_settings_are_refused(key, value, message):
    config = base_config()
    config.train[key] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        validate_config(config)
