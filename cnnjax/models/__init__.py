"""Model families; importing this package imports (and so registers) every family."""

from cnnjax.models.cifar_resnet import CifarResNet
from cnnjax.models.lenet import LeNet5
from cnnjax.models.plain import SimpleCNN
from cnnjax.models.registry import create_model, list_models, register_model

__all__ = ["CifarResNet", "LeNet5", "SimpleCNN", "create_model", "list_models", "register_model"]
