"""The torch mapping of each model family; importing this package registers them all."""

from cnnjax.pretrained.families import alexnet, mobilenet, resnet, vgg  # noqa: F401
