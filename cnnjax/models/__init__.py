"""Model families; importing this package imports (and so registers) every family."""

from cnnjax.models.alexnet import AlexNet, AlexNetPaper
from cnnjax.models.cifar_resnet import CifarResNet
from cnnjax.models.deeplab import DeepLabV3
from cnnjax.models.densenet import DenseNet
from cnnjax.models.efficientnet import EfficientNet
from cnnjax.models.fcn import FCN
from cnnjax.models.inception import GoogLeNet, GoogLeNetPaper
from cnnjax.models.lenet import LeNet5
from cnnjax.models.mobilenet import MobileNetV2
from cnnjax.models.plain import SimpleCNN
from cnnjax.models.preact_resnet import CifarPreActResNet, PreActResNet
from cnnjax.models.registry import create_model, list_models, register_model
from cnnjax.models.resnet import ResNet
from cnnjax.models.segmenter import Segmenter
from cnnjax.models.unet import UNet
from cnnjax.models.vgg import VGG

__all__ = [
    "FCN",
    "VGG",
    "AlexNet",
    "AlexNetPaper",
    "CifarPreActResNet",
    "CifarResNet",
    "DeepLabV3",
    "DenseNet",
    "EfficientNet",
    "GoogLeNet",
    "GoogLeNetPaper",
    "LeNet5",
    "MobileNetV2",
    "PreActResNet",
    "ResNet",
    "Segmenter",
    "SimpleCNN",
    "UNet",
    "create_model",
    "list_models",
    "register_model",
]
