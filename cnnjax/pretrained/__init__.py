"""Pretrained weights: torchvision / timm state dicts to cnnjax variables and back (:mod:`.convert`)."""

from cnnjax.pretrained.convert import export_torch, load_torch
from cnnjax.pretrained.state_dict import read_state_dict, write_state_dict

__all__ = ["export_torch", "load_torch", "read_state_dict", "write_state_dict"]
