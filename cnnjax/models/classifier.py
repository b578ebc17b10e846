"""The interface every model of the zoo shares (:class:`ImageModel`: fields, input checks, features API)
and the classifiers' base."""

from __future__ import annotations

import functools
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Dtype

from cnnjax.errors import InvalidInputError
from cnnjax.layers import Conv, ModuleDef, batch_norm, conv_target
from cnnjax.models.input_checks import check_image_batch

Features = dict[str, jnp.ndarray]


class ImageModel(nn.Module, kw_only=True):
    """Base of the zoo's models (:class:`Classifier`, :class:`~cnnjax.models.segmenter.Segmenter`);
    a family implements :meth:`forward`.

    ``model.apply(variables, images, train=False, return_features=False)`` returns logits, or with
    ``return_features=True`` a pair ``(logits, features)`` whose dict holds the named intermediate
    features (``stem``, ``stage1`` ..., ``pre_logits``; each family's docstring lists its names),
    so segmentation heads and visualisation reuse a classifier unchanged.  Images are NHWC floats;
    a wrong rank, channel count, dtype or a size below ``min_input_size`` raises ``ValueError``
    while tracing, before anything compiles.

    Common fields (keyword-only): ``num_classes``, ``in_channels``, ``dtype`` (compute, e.g.
    bfloat16), ``param_dtype`` (parameters and BatchNorm statistics), ``bn_axis_name`` (the mapped
    axis over which BatchNorm averages batch statistics; ``None`` keeps them per device; accepted
    and unused by models without BatchNorm), ``bn_group_size`` (0: ``nn.BatchNorm``; n: statistics
    over groups of n images, :class:`~cnnjax.layers.grouped_batch_norm.GroupedBatchNorm`),
    ``platform`` (what the convs are traced for: ``'cpu'`` takes the CPU conv paths, any other
    platform and ``None`` XLA's convs) and ``conv_implementation`` (any of :data:`cnnjax.layers.NAMES`,
    in place of ``'auto'`` in every conv; ``'xla'``: every conv XLA's); see :mod:`cnnjax.layers.conv_target`.
    ``remat`` recomputes each block's activations in the backward pass (``nn.remat``) instead of keeping them: same
    outputs, gradients and parameter paths, less memory, more compute; it is for the families that build blocks
    (``has_blocks``: residual, inverted-residual, MBConv and dense blocks, and segmenters on their backbones), and an
    error elsewhere.
    """

    min_input_size: ClassVar[int] = 1
    has_blocks: ClassVar[bool] = False  # whether `remat` applies (the family builds its blocks with `block_class`)

    num_classes: int
    in_channels: int = 3
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    bn_axis_name: str | None = None
    bn_group_size: int = 0
    platform: str | None = None
    conv_implementation: str = "auto"
    remat: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False, return_features: bool = False):
        check_image_batch(x, in_channels=self.in_channels, min_size=self.min_input_size, model_name=type(self).__name__)
        if self.remat and not self.has_blocks:
            self.fail("remat=True needs blocks to rematerialise (ResNets, MobileNetV2, EfficientNet, DenseNet, ...)")
        with conv_target(self.platform, self.conv_implementation):
            logits, features = self.forward(x, train)
        return (logits, features) if return_features else logits

    def forward(self, x, train: bool) -> tuple[jnp.ndarray, Features]:
        """Logits and the dict of named features; called inside the compact ``__call__``."""
        raise NotImplementedError

    def block_class(self, block: type[nn.Module], static_argnums: tuple[int, ...] = ()) -> type[nn.Module]:
        """``block`` (a module class) as the model builds its blocks: rematerialised with ``remat`` (``nn.remat``;
        ``static_argnums`` counts ``self`` as 0, e.g. ``(2,)`` for ``__call__(self, x, train)``)."""
        return nn.remat(block, static_argnums=static_argnums) if self.remat else block

    @property
    def dtypes(self) -> dict:
        """``dtype`` / ``param_dtype`` as keyword arguments (for a sub-model's constructor)."""
        return {"dtype": self.dtype, "param_dtype": self.param_dtype}

    def with_dtypes(self, module: ModuleDef, **options) -> ModuleDef:
        """``module`` (a class or factory with ``dtype`` / ``param_dtype`` fields) with this model's
        dtypes and ``options`` bound: the factory a model builds once and passes down to its blocks."""
        return functools.partial(module, dtype=self.dtype, param_dtype=self.param_dtype, **options)

    @property
    def conv(self) -> ModuleDef:
        """:class:`~cnnjax.layers.Conv` with this model's dtypes bound."""
        return self.with_dtypes(Conv)

    @property
    def dense(self) -> ModuleDef:
        """``nn.Dense`` with this model's dtypes bound."""
        return self.with_dtypes(nn.Dense)

    def norm(self, train: bool) -> ModuleDef:
        """The BatchNorm factory for this call (batch statistics when training), dtypes bound."""
        return self.with_dtypes(batch_norm(train, self.bn_axis_name, group_size=self.bn_group_size))

    def fail(self, message: str):
        """Raises ``InvalidInputError`` (a ``ValueError``) prefixed with the model's name."""
        raise InvalidInputError(f"{type(self).__name__}: {message}")

    def check_choice(self, field: str, value, choices) -> None:
        """Fails unless the option ``field``'s ``value`` is one of ``choices``."""
        if value not in choices:
            self.fail(f"{field} must be one of {choices}, got {value!r}")


class Classifier(ImageModel):
    """Base of the zoo's classifiers: :class:`ImageModel` with logits of shape ``(N, num_classes)``.

    ``num_classes=0`` builds it without its head (as timm): no ``head`` parameters, and the
    "logits" are the ``pre_logits`` features.  Segmentation models embed backbones this way, so a
    backbone's parameters are the classifier's minus ``head``.
    """

    def head(self, x, **kwargs):
        """The final ``Dense(num_classes)`` named ``head``; the identity when ``num_classes == 0``."""
        if self.num_classes == 0:
            return x
        return self.dense(self.num_classes, name="head", **kwargs)(x)
