"""Exponential moving average of the weights (`train.ema_decay`), as timm's `ModelEmaV3`.

After every train step (skipped non-finite steps included: their weights are the kept ones) each EMA array moves
towards the step's new value, `ema + (1 - d) * (new - ema)`, for the parameters and the BatchNorm statistics alike.
As timm's `ModelEmaV3.get_decay(step)` with the count of updates: the first update copies the weights (d = 0); the
u-th (u >= 2) decays by `d = train.ema_decay`, or with a warm-up power p > 0 by `min(ema_decay, 1 - u ** -p)` (timm's
`use_warmup`, gamma 1; p = 2/3 suits runs under a million steps, 3/4 longer ones), so early averages are not
dominated by the random initialisation. The EMA starts as a copy of the initial
weights (after `model.init_from`), lives in the train state (`EmaTrainState.ema`), is checkpointed with it and is
evaluated beside the raw weights.
"""

import dataclasses

import jax
import jax.numpy as jnp

EMA = "ema"  # an evaluation result's entry (and its sums') holding the same metrics for the moving average


@dataclasses.dataclass(frozen=True)
class Ema:
    decay: float
    warmup_power: float = 0.0

    @classmethod
    def from_config(cls, config) -> "Ema | None":
        """The config's EMA, or None when `train.ema_decay` is 0."""
        c = config.train
        return cls(c.ema_decay, c.ema_warmup_power) if c.ema_decay else None

    def decay_at(self, updates) -> jax.Array:
        """The decay of the `updates`-th update (1-based; module docstring)."""
        updates = jnp.asarray(updates, jnp.float32)
        decay = jnp.float32(self.decay)
        if self.warmup_power:
            decay = jnp.minimum(decay, 1 - updates ** -jnp.float32(self.warmup_power))
        return jnp.where(updates <= 1, jnp.float32(0), decay)

    def update(self, ema: dict, variables: dict, updates) -> dict:
        """`ema` ({'params', 'batch_stats'}) moved towards `variables` (same structure) at the `updates`-th update."""
        weight = 1 - self.decay_at(updates)
        return jax.tree.map(lambda e, v: e + (weight * (v - e)).astype(e.dtype), ema, variables)
