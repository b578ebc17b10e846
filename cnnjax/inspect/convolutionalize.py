"""Classifier -> heat-map model: a dense head over a fixed-size map, applied as convolutions.

A classifier whose head flattens an h x w x c feature map into dense layers (:class:`DenseHeadModel`: LeNet-5,
AlexNet, VGG) is a fully-convolutional net in disguise (Long et al., FCN): the first dense layer is an h x w
valid convolution with the same weights (kernel reshaped to (h, w, c, out)) and every later one a 1 x 1
convolution.  :func:`convolutionalize` evaluates exactly that: on a map of H x W it applies the head to each of
the (H - h + 1) x (W - w + 1) windows of size h x w (stride 1 on the map, so stride = the map's jump in pixels),
which is the convolution's arithmetic tap for tap.

Invariant: at the training size the map is h x w, there is one window, and the score map is 1 x 1 holding the
classifier's logits; an image 2x larger gives a map about 2x larger in each direction.  The head's input
adapter (an adaptive average pool, as torchvision's VGG / AlexNet) is the identity on an h x w window, so it is
part of the head, not of the convolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnjax.errors import InvalidInputError

HEAD_METHOD = "dense_head"


@runtime_checkable
class DenseHeadModel(Protocol):
    """A model whose forward ends ``logits, pre_logits = self.dense_head(feature_map, train)``, the head being
    dense layers (and point-wise ops) over the flattened map (module docstring)."""

    def dense_head(self, feature_map: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]: ...


def convolutionalize(model: nn.Module, variables: dict, train_image_shape: tuple[int, int, int]) -> Callable:
    """``scores(images) -> (N, H', W', num_classes)``: the classifier ``model`` with ``variables`` (trained on
    images of ``train_image_shape``, (h, w, c)) as a fully-convolutional model, for images of any size at least
    the training size (module docstring).  Raises ``InvalidInputError`` for a model without a dense head."""
    if not isinstance(model, DenseHeadModel):
        raise InvalidInputError(
            f"{type(model).__name__} has no dense head over a fixed-size feature map (a `dense_head` method): "
            "its head pools globally, so it already applies to any size; convolutionalize takes LeNet-5, AlexNet "
            "and VGG-style classifiers"
        )
    window = _head_map_size(model, variables, train_image_shape)

    def scores(images):
        if images.shape[1] < train_image_shape[0] or images.shape[2] < train_image_shape[1]:
            raise InvalidInputError(
                f"images of {images.shape[1]}x{images.shape[2]} are smaller than the training size "
                f"{train_image_shape[0]}x{train_image_shape[1]}"
            )
        return _apply_head_per_window(model, variables, images, window)

    return scores


def _head_map_size(model, variables, image_shape) -> tuple[int, int]:
    """The (h, w) of the map the head takes at the training size."""
    seen = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == HEAD_METHOD and context.module.scope.path == ():
            seen.append(args[0].shape[1:3])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda v: model.apply(v, jnp.zeros((1, *image_shape)), train=False), variables)
    return seen[0]


def _apply_head_per_window(model, variables, images, window: tuple[int, int]):
    height, width = window

    def per_window(next_fun, args, kwargs, context):
        if context.method_name != HEAD_METHOD or context.module.scope.path != ():
            return next_fun(*args, **kwargs)
        feature_map, *rest = args
        n, rows, cols, channels = feature_map.shape
        out_rows, out_cols = rows - height + 1, cols - width + 1
        taps = [
            feature_map[:, i : i + out_rows, j : j + out_cols] for i in range(height) for j in range(width)
        ]  # each (n, out_rows, out_cols, c): the map under tap (i, j) of every window
        windows = jnp.stack(taps, axis=3).reshape(n * out_rows * out_cols, height, width, channels)
        logits, pre_logits = next_fun(windows, *rest, **kwargs)
        return logits.reshape(n, out_rows, out_cols, -1), pre_logits.reshape(n, out_rows, out_cols, -1)

    with nn.intercept_methods(per_window):
        return model.apply(variables, images, train=False)
