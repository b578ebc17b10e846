"""mixup / CutMix (cnnjax.train.mixup): the same global batch gives the same mixed batch and loss on 1 and 4 devices,
equal to the hand computation, with targets summing to 1, and unmixed batches keep their images (the 4-device worker);
the loss takes the soft targets; settings that cannot work are refused."""

import numpy as np
import pytest
from mixing import NUM_CLASSES
from subprocesses import run_worker

from cnnjax.config import base_config, validate_config
from cnnjax.config.loading import ConfigError
from cnnjax.tasks import Classification


def test_the_mixed_batch_and_loss_are_the_same_on_1_and_4_devices():
    output = run_worker("mixup_equivalence", num_devices=4)
    print(output)
    assert output.strip().endswith("OK")


def test_the_classification_loss_takes_the_soft_targets():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, NUM_CLASSES)).astype(np.float32)
    targets = rng.dirichlet(np.ones(NUM_CLASSES), 4).astype(np.float32)
    batch = {"label": np.zeros(4, np.int32), "target": targets}
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(targets * log_softmax).sum(-1).mean()
    assert float(Classification(label_smoothing=0.3).loss(logits, batch, {})) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"task": "segmentation", "dataset.cutmix_alpha": 1.0}, "mixup / cutmix / auto_augment are for classification"),
        ({"dataset.mixup_alpha": -0.1}, "mixup_alpha and cutmix_alpha must be >= 0"),
        ({"dataset.mix_prob": 1.5}, "mix_prob and mix_switch_prob in"),
    ],
)
def test_settings_that_cannot_work_are_refused(settings, message):
    config = base_config()
    for key, value in settings.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    with pytest.raises(ConfigError, match=message.replace("/", ".")):
        validate_config(config)
