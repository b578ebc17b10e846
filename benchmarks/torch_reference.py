"""Hand-written PyTorch reference models (torchvision cannot be installed here) matching cnnjax's.

``cifar_resnet20`` (option-A shortcuts, as akamaster's pytorch_resnet_cifar10), ``resnet50``
(torchvision v1.5 layout) and ``mobilenet_v2`` (torchvision layout), channels-last friendly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


class _CifarBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(c_in, c_out, 3, stride), nn.ReLU(inplace=True), *_conv_bn(c_out, c_out, 3))
        self.pad = c_out - c_in
        self.stride = stride

    def forward(self, x):
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = F.pad(
                x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2)
            )
        return F.relu(self.body(x) + shortcut)


def cifar_resnet20(num_classes: int = 10) -> nn.Module:
    layers: list[nn.Module] = [*_conv_bn(3, 16, 3), nn.ReLU(inplace=True)]
    c_in = 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(_CifarBlock(c_in, width, 2 if stage and not block else 1))
            c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


class _Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = 4 * width
        self.body = nn.Sequential(
            *_conv_bn(c_in, width, 1), nn.ReLU(inplace=True), *_conv_bn(width, width, 3, stride), nn.ReLU(inplace=True)
        )
        self.body.extend(_conv_bn(width, c_out, 1))
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


def resnet50(num_classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = [*_conv_bn(3, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for block in range(blocks):
            layers.append(_Bottleneck(c_in, width, 2 if stage and not block else 1))
            c_in = 4 * width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, num_classes))


class _InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [*_conv_bn(c_in, hidden, 1), nn.ReLU6(inplace=True)] if expand != 1 else []
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True)]
        self.body = nn.Sequential(*layers, *_conv_bn(hidden, c_out, 1))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    setting = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )
    layers: list[nn.Module] = [*_conv_bn(3, 32, 3, 2), nn.ReLU6(inplace=True)]
    c_in = 32
    for t, c, n, s in setting:
        for i in range(n):
            layers.append(_InvertedResidual(c_in, c, s if i == 0 else 1, t))
            c_in = c
    layers += [*_conv_bn(c_in, 1280, 1), nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Dropout(0.2), nn.Linear(1280, num_classes))


MODELS = {"cifar_resnet20": cifar_resnet20, "resnet50": resnet50, "mobilenet_v2": mobilenet_v2}


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step_fn(model: nn.Module, lr: float = 0.1):
    """An eager SGD-momentum train step ``(images NCHW, labels) -> loss``."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(images, labels):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    return step
