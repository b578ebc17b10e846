"""A trained model as a function of the pixels it is fed, and any layer's activation inside it.

Pixels are float32 ``(N, H, W, C)`` in [0, 1]: the image the model is fed, before normalisation.  The model
sees ``(pixels - mean) / std`` (its run's preprocessing), so every budget, prior and picture built on
:class:`PixelModel` is in pixel units.

A layer is named by
- a key of the model's features dict (``apply(..., return_features=True)``; each family's docstring lists
  its names: ``s4``, ``stage1``, ``encoder2`` ...),
- the path of any flax module, its names joined by ``/`` (``c1``, ``encoder1_conv1/conv``): the output of
  the module's ``__call__`` (of its first call, for a module called more than once),
- :data:`LOGITS`: the model's output, ``(N, classes)`` or per pixel ``(N, H, W, classes)``.
A features-dict key wins over a module path of the same name.  Gradients with respect to a layer (``add``:
Grad-CAM) reach module outputs and the logits; features-dict entries are read only.  Inference mode
throughout (BatchNorm's running statistics), so the examples of a batch are independent: a batch of N
images with N objectives gives each image the gradient of its own objective, as ``vmap`` would, in one
forward pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from cnnjax.data import device_ops
from cnnjax.errors import InvalidInputError
from cnnjax.inspect.trained_run import TrainedRun

LOGITS = "logits"
LISTED_LAYERS = 12  # names an unknown-layer error lists
SUGGESTION_CUTOFF = 0.5  # difflib similarity of a suggested name: 'c2' ~ 'c1' is 0.5


class PixelModel(struct.PyTreeNode):
    """``model`` with its ``variables`` as a function of [0, 1] pixels (module docstring); normalisation by
    ``mean`` / ``std`` (per channel, or a per-pixel mean image).  A pytree whose leaves are the arrays, so
    jitted functions take it as an argument: one compile per model and shape."""

    model: nn.Module = struct.field(pytree_node=False)
    variables: Mapping
    mean: jax.Array
    std: jax.Array

    @classmethod
    def of_run(cls, run: TrainedRun) -> PixelModel:
        """The run's trained model and its preprocessing's normalisation."""
        mean, std = (np.asarray(v, np.float32) for v in (run.preprocess.mean, run.preprocess.std))
        return cls(run.model, run.variables, mean, std)

    def normalize(self, pixels) -> jax.Array:
        return device_ops.normalize(pixels, self.mean, self.std)

    def logits(self, pixels) -> jax.Array:
        return self.apply(pixels)[0]

    def apply(
        self, pixels, read: Collection[str] = (), add: Mapping[str, jax.Array] | None = None
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The logits and ``{layer: activation}`` of the layers ``read``; ``add[path]`` is added to that module's
        output (zeros: its gradient is the gradient with respect to the activation)."""
        return self._apply(pixels, read.__contains__, add or {})

    def _apply(self, pixels, wanted: Callable[[str], bool], add: Mapping[str, jax.Array]):
        outputs: dict[str, jax.Array] = {}

        def intercept(next_fun, args, kwargs, context):
            y = next_fun(*args, **kwargs)
            name = "/".join(context.module.path)
            if context.method_name != "__call__" or not name or name in outputs or not isinstance(y, jax.Array):
                return y
            if name in add:
                y = y + add[name]
            outputs[name] = y
            return y

        with nn.intercept_methods(intercept):
            logits, features = self.model.apply(
                self.variables, self.normalize(pixels), train=False, return_features=True
            )
        found = {name: y for name, y in outputs.items() if wanted(name)}
        found.update({name: y for name, y in features.items() if wanted(name)})
        if wanted(LOGITS):
            found[LOGITS] = logits
        return logits, found


def layer_shapes(net: PixelModel, image_shape: Sequence[int]) -> dict[str, jax.ShapeDtypeStruct]:
    """Every layer's activation shape for one image of ``image_shape`` (H, W, C), in the order the forward
    pass computes them (module outputs, then features-dict entries, then the logits); traced, not compiled."""
    pixels = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    names: list[str] = []  # in the order found; a pytree dict would come back sorted

    def activations(n, x):
        _, found = n._apply(x, lambda name: True, {})
        names.extend(found)
        return list(found.values())

    return dict(zip(names, jax.eval_shape(activations, net, pixels), strict=True))


def features_names(net: PixelModel, image_shape: Sequence[int]) -> list[str]:
    """The model's features-dict keys (read-only layers), in the model's order."""
    pixels = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    names: list[str] = []

    def features(n, x):
        _, found = n.model.apply(n.variables, n.normalize(x), train=False, return_features=True)
        names.extend(found)
        return 0

    jax.eval_shape(features, net, pixels)
    return names


def check_layers(
    net: PixelModel, image_shape: Sequence[int], names: Sequence[str], *, gradient: bool = False
) -> dict[str, jax.ShapeDtypeStruct]:
    """The activation shapes of ``names``; an unknown name (or, with ``gradient``, a features-dict entry, which
    gradients do not reach) raises ``InvalidInputError`` naming the close and the available layers."""
    shapes = layer_shapes(net, image_shape)
    usable = shapes
    if gradient:
        read_only = set(features_names(net, image_shape))
        usable = {name: shape for name, shape in shapes.items() if name not in read_only}
    for name in names:
        if name in usable:
            continue
        if name in shapes:
            raise InvalidInputError(
                f"layer {name!r} is a features-dict entry, which gradients do not reach; take a module's output "
                f"({_listing(usable)})"
            )
        raise InvalidInputError(f"unknown layer {name!r}{did_you_mean(name, usable)} ({_listing(usable)})")
    return {name: usable[name] for name in names}


def did_you_mean(name: str, choices: Collection[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` naming up to 3 of ``choices`` close to ``name`` (short layer names such
    as ``c2`` and ``c1`` included), or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=SUGGESTION_CUTOFF)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def _listing(shapes: Mapping[str, jax.ShapeDtypeStruct]) -> str:
    names = list(shapes)
    shown = ", ".join(names[:LISTED_LAYERS])
    more = f", ... ({len(names)} in all; cnnjax summary lists the modules)" if len(names) > LISTED_LAYERS else ""
    return f"layers: {shown}{more}"
