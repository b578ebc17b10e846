"""The torch mapping of each model family; importing this package registers them all."""

from cnnjax.pretrained.families import alexnet, densenet, efficientnet, googlenet, mobilenet, resnet, segmentation, vgg  # noqa: F401
