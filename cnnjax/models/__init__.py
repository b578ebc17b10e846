"""Model families; importing this package imports (and so registers) every family."""

from cnnjax.models.alexnet import AlexNet
from cnnjax.models.cifar_resnet import CifarResNet
from cnnjax.models.lenet import LeNet5
from cnnjax.models.mobilenet import MobileNetV2
from cnnjax.models.plain import SimpleCNN
from cnnjax.models.registry import create_model, list_models, register_model
from cnnjax.models.resnet import ResNet
from cnnjax.models.vgg import VGG

__all__ = [
    "VGG",
    "AlexNet",
    "CifarResNet",
    "LeNet5",
    "MobileNetV2",
    "ResNet",
    "SimpleCNN",
    "create_model",
    "list_models",
    "register_model",
]
