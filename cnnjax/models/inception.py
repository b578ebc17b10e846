"""GoogLeNet / Inception v1 (Szegedy et al., 2014, arXiv:1409.4842): torchvision's and the paper's.

Auxiliary classifiers: with ``aux_logits=True`` the heads after inception 4a and 4d are built at
init and run only in train mode, where ``apply(..., train=True, return_features=True)`` returns
their logits in the features dict as ``aux1`` and ``aux2``; ``cnnjax.tasks.losses.googlenet_loss`` adds them to
the main loss with the paper's weight 0.3.  In evaluation they are skipped (their parameters stay
unused), so logits alone are returned exactly as for any classifier.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
from flax.typing import Initializer

from cnnjax.imagenet import IMAGENET_MEAN, IMAGENET_STD
from cnnjax.layers import ConvNormAct, ModuleDef, adaptive_avg_pool, avg_pool, global_avg_pool, max_pool
from cnnjax.layers.local_response_norm import local_response_norm
from cnnjax.models.classifier import Classifier
from cnnjax.models.registry import register_model

# Inception widths (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), the paper's Table 1: one
# tuple of modules per stage (3a-3b, 4a-4e, 5a-5b), a stride-2 max-pool between stages.
INCEPTION_STAGES = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)


def ceil_max_pool(x, window: int, strides: int):
    """PyTorch's ``MaxPool2d(window, strides, ceil_mode=True)`` (no padding): a last, partial
    window is kept when it starts inside the input (padding it with -inf on the high side)."""
    pads = []
    for n in x.shape[1:-1]:
        out = -(-(n - window) // strides) + 1
        if (out - 1) * strides >= n:
            out -= 1
        pads.append((0, max(0, (out - 1) * strides + window - n)))
    return max_pool(x, window, strides=strides, padding=tuple(pads))


class Inception(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> ``fifth_kernel`` (the
    paper's 5x5); max-pool 3x3/1 pad 1 -> 1x1.  ``widths`` is a row of :data:`INCEPTION_STAGES`;
    ``conv(features, kernel, padding=, name=)`` makes each conv-[norm]-ReLU unit."""

    widths: Sequence[int]
    conv: ModuleDef
    fifth_kernel: int = 3

    @nn.compact
    def __call__(self, x):
        ch1, red3, ch3, red5, ch5, proj = self.widths
        k = self.fifth_kernel
        b1 = self.conv(ch1, 1, padding=0, name="branch1")(x)
        b2 = self.conv(red3, 1, padding=0, name="branch2_reduce")(x)
        b2 = self.conv(ch3, 3, padding=1, name="branch2")(b2)
        b3 = self.conv(red5, 1, padding=0, name="branch3_reduce")(x)
        b3 = self.conv(ch5, k, padding=k // 2, name="branch3")(b3)
        b4 = self.conv(proj, 1, padding=0, name="branch4")(max_pool(x, 3, strides=1, padding=1))
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an inception map pooled to 4x4: 1x1 conv unit (128) -> flatten ->
    Dense 1024 -> ReLU -> dropout 0.7 -> Dense ``num_classes``; ``conv`` makes the conv unit,
    ``dense`` the Dense layers (dtypes and initialiser bound)."""

    num_classes: int
    conv: ModuleDef
    dense: ModuleDef

    dropout_rate: ClassVar[float] = 0.7

    @nn.compact
    def __call__(self, x, train: bool):
        x = self.conv(128, 1, padding=0, name="conv")(x)
        x = nn.relu(self.dense(1024, name="fc1")(x.reshape(x.shape[0], -1)))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.dense(self.num_classes, name="fc2")(x)


@register_model("googlenet")
class GoogLeNet(Classifier):
    """torchvision's GoogLeNet: conv 7x7/2 (64) -> max-pool 3x3/2 -> conv 1x1 (64) -> conv 3x3
    (192) -> max-pool 3x3/2 -> inception 3a, 3b -> max-pool 3x3/2 -> 4a ... 4e -> max-pool 2x2/2 ->
    5a, 5b -> global average pool -> dropout 0.2 -> Dense.  Every conv unit is torchvision's
    BasicConv2d: conv without bias -> BatchNorm (eps 1e-3) -> ReLU; max-pools use ceil mode.

    Differences from the paper (all torchvision's; :class:`GoogLeNetPaper` has the paper's):
    BatchNorm, 3x3 instead of 5x5 convs in the "5x5" branch, no local response norm, a 2x2 last
    max-pool, dropout 0.2 instead of 0.4, auxiliary heads pooling adaptively to 4x4 and off by
    default, N(0, 0.01) init (torchvision's trunc_normal_ cut at +-2, i.e. 200 std).
    Parameters with 1000 classes: 6,624,904; with ``aux_logits=True`` 13,004,888.
    ``transform_input`` (torchvision's, which its ImageNet weights need: they were ported from
    TensorFlow, trained on inputs in [-1, 1]) maps each channel of an input normalised with the
    ImageNet mean and std to ``(pixel - 0.5) / 0.5``: ``x * std_c / 0.5 + (mean_c - 0.5) / 0.5``.

    ``aux_logits`` (see the module docstring): heads after ``aux_after`` (block names) whose
    logits appear in train mode as ``aux1`` / ``aux2`` features.  ``stem_widths`` / ``stages`` /
    ``aux_after`` may be overridden to shrink the net (tests).  Features: ``stem`` (after the
    second max-pool, 1/8), ``stage3`` / ``stage4`` / ``stage5`` (after 3b, 4e, 5b: 1/8, 1/16,
    1/32), ``pre_logits``.  ``min_input_size`` = 15: every 3x3/2 pool needs an input >= 2.
    """

    stem_widths: Sequence[int] = (64, 64, 192)
    stages: Sequence[Sequence[Sequence[int]]] = INCEPTION_STAGES
    aux_logits: bool = False
    transform_input: bool = False
    aux_after: Sequence[str] = ("4a", "4d")
    dropout_rate: float = 0.2
    use_bn: bool = True
    fifth_kernel: int = 3
    lrn: bool = False
    last_pool_window: int = 2
    kernel_init: Initializer = nn.initializers.normal(0.01)

    min_input_size: ClassVar[int] = 15

    def aux_pool(self, x):
        """Pooling of the auxiliary heads: adaptive to 4x4, as torchvision."""
        return adaptive_avg_pool(x, 4)

    def maybe_lrn(self, x):
        """Local response norm as Caffe's bvlc_googlenet when ``lrn`` (size 5, alpha 1e-4 / 5,
        beta 0.75, k 1), identity otherwise."""
        return local_response_norm(x, 5, 1e-4, 0.75, k=1.0) if self.lrn else x

    def forward(self, x, train):
        init = self.kernel_init
        norm = functools.partial(self.norm(train), epsilon=1e-3) if self.use_bn else None
        conv = functools.partial(ConvNormAct, conv=functools.partial(self.conv, kernel_init=init), norm=norm)
        dense = functools.partial(self.dense, kernel_init=init)
        c1, c2, c3 = self.stem_widths
        if self.transform_input:
            mean, std = jnp.asarray(IMAGENET_MEAN, x.dtype), jnp.asarray(IMAGENET_STD, x.dtype)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        x = conv(c1, 7, strides=2, padding=3, name="conv1")(x)
        x = self.maybe_lrn(ceil_max_pool(x, 3, 2))
        x = conv(c2, 1, padding=0, name="conv2")(x)
        x = self.maybe_lrn(conv(c3, 3, padding=1, name="conv3")(x))
        x = ceil_max_pool(x, 3, 2)
        features = {"stem": x}
        if self.aux_logits and self.num_classes == 0:
            self.fail("aux_logits needs num_classes > 0 (the auxiliary heads are classifiers)")
        with_aux = self.aux_logits and (train or self.is_initializing())
        aux = iter(range(1, len(self.aux_after) + 1))
        for stage, rows in enumerate(self.stages, start=3):
            if stage > 3:
                x = ceil_max_pool(x, 3 if stage < 2 + len(self.stages) else self.last_pool_window, 2)
            for i, widths in enumerate(rows):
                block = f"{stage}{'abcdefgh'[i]}"
                x = Inception(widths, conv, self.fifth_kernel, name=f"inception{block}")(x)
                if with_aux and block in self.aux_after:
                    name = f"aux{next(aux)}"
                    head = InceptionAux(self.num_classes, conv, dense, name=name)
                    head = head(self.aux_pool(x), train)
                    if train:
                        features[name] = head
            features[f"stage{stage}"] = x
        x = features["pre_logits"] = global_avg_pool(x)
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        return self.head(x, kernel_init=self.kernel_init), features


@register_model("googlenet_paper")
class GoogLeNetPaper(GoogLeNet):
    """GoogLeNet as the paper (Table 1, Fig. 3) and its reference Caffe model bvlc_googlenet.

    Differences from :class:`GoogLeNet` (torchvision): convs with bias and ReLU, no BatchNorm;
    true 5x5 convs in the third branch; local response norm (size 5, alpha 1e-4 / 5, beta 0.75,
    k 1, Caffe's convention) after the first max-pool and after conv3; a 3x3/2 max-pool before
    inception 5a; dropout 0.4; auxiliary heads (when ``aux_logits``) average-pooling 5x5 / stride
    3 (14x14 -> 4x4 at 224 px), so they need inception 4a's map >= 5x5 (inputs >= 79 px);
    Xavier-uniform weights and zero biases (Caffe uses Xavier and biases 0.2).  Same elsewhere:
    ceil-mode max-pools, global average pool (the paper's 7x7 average pool at 224 px).
    ``min_input_size`` = 31 (the extra 3x3/2 pool).
    """

    dropout_rate: float = 0.4
    use_bn: bool = False
    fifth_kernel: int = 5
    lrn: bool = True
    last_pool_window: int = 3
    kernel_init: Initializer = nn.initializers.xavier_uniform()

    min_input_size: ClassVar[int] = 31

    def aux_pool(self, x):
        """Pooling of the auxiliary heads: 5x5 average / stride 3, as the paper."""
        if min(x.shape[1:3]) < 5:
            self.fail(f"auxiliary heads need inception maps >= 5x5, got {x.shape[1]}x{x.shape[2]}; use inputs >= 79")
        return avg_pool(x, 5, strides=3)
