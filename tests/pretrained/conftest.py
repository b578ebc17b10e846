"""torch, torchvision and timm for the pretrained-weight tests: the README's test command installs them (the CPU
torch needs torchvision's two op schemas declared before the import: cnnjax.pretrained.torch_modules)."""

import pytest

pytest.importorskip("torch")
