"""What an ascent or a gradient map measures of a layer: one channel's score per example.

Rule (every kind uses it): example i's score is its activation's entry at channel ``channels[i]``: for a
dense ``(N, K)`` activation that entry; for a map ``(N, H, W, K)`` its mean over positions, or its value at
``position`` (row, col) (one neuron).  The mean is the Σ over positions divided by H·W, so the ascent
direction is the Σ's and penalty weights do not depend on the map's size.  On the logits, with
``log_probability`` the channel's log-softmax (per position for a map) replaces its logit: maximising it
raises the class's probability, not only its score.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from cnnjax.errors import InvalidInputError
from cnnjax.inspect.layers import LOGITS


@dataclasses.dataclass(frozen=True)
class Objective:
    """Channel scores of ``layer`` (module docstring): at ``position`` or averaged over positions."""

    layer: str = LOGITS
    position: tuple[int, int] | None = None
    log_probability: bool = False

    def __post_init__(self):
        if self.log_probability and self.layer != LOGITS:
            raise InvalidInputError(f"a log-probability objective is for the {LOGITS!r} layer, not {self.layer!r}")

    def score(self, activation: jax.Array, channels: jax.Array) -> jax.Array:
        """(N,) scores of ``activation`` (N, K) or (N, H, W, K) at ``channels`` (N,) int."""
        if self.log_probability:
            activation = jax.nn.log_softmax(activation, axis=-1)
        picked = jnp.take_along_axis(activation, jnp.reshape(channels, (-1,) + (1,) * (activation.ndim - 1)), -1)
        picked = picked[..., 0]
        if picked.ndim == 1:
            return picked
        if self.position is None:
            return picked.mean(axis=(1, 2))
        row, col = self.position
        return picked[:, row, col]

    def check(self, shape: tuple[int, ...], channels) -> None:
        """Raises ``InvalidInputError`` unless ``channels`` and ``position`` fit an activation of ``shape``."""
        bad = [int(c) for c in channels if not 0 <= int(c) < shape[-1]]
        if bad:
            raise InvalidInputError(f"layer {self.layer!r} has channels 0..{shape[-1] - 1}; got {bad[0]}")
        if self.position is None:
            return
        if len(shape) != 4:
            raise InvalidInputError(f"layer {self.layer!r} has no positions (shape {tuple(shape)}): drop the position")
        row, col = self.position
        if not (0 <= row < shape[1] and 0 <= col < shape[2]):
            raise InvalidInputError(
                f"position ({row}, {col}) is outside layer {self.layer!r}'s {shape[1]}x{shape[2]} map"
            )
