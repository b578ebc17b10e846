"""State dict files and what a checkpoint that does not fit says: .pth and .safetensors (read without torch),
missing / unexpected / mis-shaped keys named, a family's dropped keys counted on one line."""

import sys

import numpy as np
import pytest
import torch
from torch_twins import TWINS, randomize_batch_norm

from cnnjax.errors import InvalidInputError
from cnnjax.pretrained import export_torch, load_torch, read_state_dict, write_state_dict

SMALL = TWINS["resnet18"]


@pytest.fixture(scope="module")
def state_dict():
    torch.manual_seed(0)
    return {k: v.numpy() for k, v in randomize_batch_norm(SMALL.build()).state_dict().items()}


def _equal_variables(a, b):
    import jax

    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_pth_and_safetensors_files_load_the_same_variables_and_safetensors_needs_no_torch(
    state_dict, tmp_path, monkeypatch
):
    expected = load_torch(SMALL.model, state_dict, **SMALL.options)
    torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in state_dict.items()}}, tmp_path / "wrapped.pth")
    assert _equal_variables(load_torch(SMALL.model, tmp_path / "wrapped.pth", **SMALL.options), expected)
    write_state_dict(export_torch(SMALL.model, expected, **SMALL.options), tmp_path / "model.safetensors")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    assert _equal_variables(load_torch(SMALL.model, tmp_path / "model.safetensors", **SMALL.options), expected)
    with pytest.raises(InvalidInputError, match=r"needs torch"):
        read_state_dict(tmp_path / "wrapped.pth")


def test_a_damaged_or_unknown_file_is_named(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "bad.pth").write_bytes(b"not a pickle")
    (tmp_path / "weights.npz").write_bytes(b"")
    for name, message in (
        ("bad.safetensors", "cannot read .*bad.safetensors as safetensors"),
        ("bad.pth", "cannot read .*bad.pth as a torch state dict"),
        ("weights.npz", "unknown state dict format .*weights.npz"),
        ("absent.pth", "no state dict file at .*absent.pth"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            read_state_dict(tmp_path / name)


def test_missing_unexpected_and_misshaped_keys_are_named_in_one_error(state_dict):
    broken = dict(state_dict)
    del broken["layer2.0.bn1.running_var"]
    broken["layer9.0.conv1.weight"] = np.zeros((1,), np.float32)
    broken["layer1.0.conv2.weight"] = np.zeros((64, 64, 5, 5), np.float32)
    with pytest.raises(InvalidInputError) as error:
        load_torch(SMALL.model, broken, **SMALL.options)
    message = str(error.value)
    assert "\n" not in message
    assert "missing: layer2.0.bn1.running_var" in message
    assert "unexpected: layer9.0.conv1.weight" in message
    assert "mis-shaped: layer1.0.conv2.weight (64, 64, 5, 5) (cnnjax (3, 3, 64, 64))" in message


def test_a_model_without_a_mapping_and_a_head_of_another_size(state_dict):
    with pytest.raises(InvalidInputError, match=r"no torch mapping for model 'cifar_resnet20'; models that import: "):
        load_torch("cifar_resnet20", state_dict)
    with pytest.raises(InvalidInputError, match=r"mis-shaped: .*fc.weight \(10, 512\) \(cnnjax \(512, 3\)\)"):
        load_torch(SMALL.model, state_dict, num_classes=3, **SMALL.options)


def test_dropped_keys_are_counted_on_one_line(capsys):
    twin = TWINS["fcn_resnet50"]
    load_torch(twin.model, twin.build().state_dict(), **twin.options)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "dropped: 7 of FCN-ResNet50's (aux_classifier.0.weight" in lines[0]
    assert "19 BatchNorm num_batches_tracked" in lines[0]
