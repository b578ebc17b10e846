"""Each family's torchvision / timm model and cnnjax's of the same shrunk depth, one converted into the other, give
the same logits (and backbone stage features) in eval mode, and the conversion round-trips bit for bit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch_twins import CLASSES, TWINS, images, randomize_batch_norm

from cnnjax.models import create_model
from cnnjax.pretrained import export_torch, load_torch
from cnnjax.pretrained.mapping import family_of

TOLERANCE = 1e-4  # of the logits' scale (max |logit|), float32


@pytest.mark.parametrize("name", list(TWINS))
def test_converted_weights_give_torch_outputs_and_round_trip(name):
    twin = TWINS[name]
    torch.manual_seed(0)
    reference = randomize_batch_norm(twin.build())
    x = images(twin.size)
    stages = {}
    for feature, submodule in twin.stages.items():
        reference.get_submodule(submodule).register_forward_hook(
            lambda module, args, out, feature=feature: stages.__setitem__(feature, out.numpy())
        )
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))
    expected = expected["out"].numpy().transpose(0, 2, 3, 1) if twin.segmentation else expected.numpy()
    state_dict = reference.state_dict()

    variables = load_torch(twin.model, state_dict, **twin.options)
    model = create_model(twin.model, num_classes=CLASSES, **twin.options)
    apply = jax.jit(functools.partial(model.apply, train=False, return_features=True))  # one compile, not op by op
    logits, features = apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1)))
    scale = np.abs(expected).max()
    difference = np.abs(np.asarray(logits) - expected).max() / scale
    print(f"{name}: max |logits difference| / max |logit| = {difference:.1e}")
    assert difference <= TOLERANCE
    for feature, value in stages.items():
        got = np.asarray(features[feature]).transpose(0, 3, 1, 2)
        assert np.abs(got - value).max() <= TOLERANCE * np.abs(value).max(), feature

    exported = export_torch(twin.model, variables, **twin.options)
    family = family_of(twin.model)
    assert set(state_dict) - set(exported) == {k for k in state_dict if family.is_dropped(k)} - set(exported)
    for key, value in exported.items():
        assert np.array_equal(value, state_dict[key].numpy()), key
        assert value.dtype == state_dict[key].numpy().dtype, key
    missing, unexpected = reference.load_state_dict({k: torch.from_numpy(v) for k, v in exported.items()}, strict=False)
    assert not unexpected and all(family.is_dropped(k) for k in missing)
