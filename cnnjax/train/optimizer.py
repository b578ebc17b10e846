"""Optimizer and learning-rate schedule from the config (optax)."""

from collections.abc import Sequence

import jax
import optax

from cnnjax.train.frozen import freeze_updates
from cnnjax.train.layer_decay import decay_by_layer


def make_schedule(config) -> optax.Schedule:
    """Warm-up (if any) followed by a constant, piecewise (step), cosine or exponential schedule.

    Warm-up starts at `warmup_factor` × the rate and ramps linearly to it ('linear') or holds until
    the end of warm-up ('constant'). Piecewise boundaries are absolute step numbers; cosine and the
    exponential staircase (× decay_factor every decay_every_steps) count from the end of warm-up.
    """
    s = config.schedule
    lr, warmup, total = config.optimizer.learning_rate, s.warmup_steps, config.train.num_steps
    if s.name == "constant":
        main = optax.constant_schedule(lr)
    elif s.name == "piecewise":
        scales = {b - warmup: s.decay_factor for b in s.boundaries if b > warmup}
        main = optax.piecewise_constant_schedule(lr, scales)
    elif s.name == "cosine":
        main = optax.cosine_decay_schedule(lr, decay_steps=max(total - warmup, 1), alpha=s.final_fraction)
    elif s.name == "exponential":
        main = optax.exponential_decay(lr, s.decay_every_steps, s.decay_factor, staircase=True)
    else:
        raise ValueError(f"unknown schedule {s.name!r}")
    if not warmup:
        return main
    start = s.warmup_factor * lr
    if s.warmup_mode == "linear":
        ramp = optax.linear_schedule(start, lr, warmup)
    elif s.warmup_mode == "constant":
        ramp = optax.constant_schedule(start)
    else:
        raise ValueError(f"unknown warm-up mode {s.warmup_mode!r}")
    return optax.join_schedules([ramp, main], [warmup])


def weight_decay_mask(params):
    """True for the weights that get weight decay: kernels, not biases or norm scales/offsets (ndim ≤ 1)."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config, layers: Sequence[str] = ()) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """SGD (momentum / Nesterov) or RMSProp (TensorFlow's: eps inside the root, momentum on the scaled
    step), both with L2 added to the gradient as in PyTorch, or AdamW (decoupled decay); the gradient first
    clipped to ``optimizer.clip_norm`` (global L2 norm) when set; layer-wise rate
    decay over ``layers`` (the model's, in call order: `cnnjax.train.layer_decay`, needed when
    ``optimizer.layer_decay`` < 1) and no updates for ``train.frozen`` parameters (`cnnjax.train.frozen`)."""
    c = config.optimizer
    schedule = make_schedule(config)
    mask = None if c.decay_biases_and_norms else weight_decay_mask
    l2 = optax.add_decayed_weights(c.weight_decay, mask=mask)
    if c.name == "sgd":
        tx = optax.chain(l2, optax.sgd(schedule, momentum=c.momentum or None, nesterov=c.nesterov))
    elif c.name == "rmsprop":
        rmsprop = optax.rmsprop(
            schedule,
            decay=c.decay,
            eps=c.eps,
            initial_scale=c.initial_scale,
            eps_in_sqrt=True,
            centered=False,
            momentum=c.momentum or None,
        )
        tx = optax.chain(l2, rmsprop)
    elif c.name == "adamw":
        tx = optax.adamw(schedule, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay, mask=mask)
    else:
        raise ValueError(f"unknown optimizer {c.name!r}")
    if c.clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(c.clip_norm), tx)
    if c.layer_decay != 1.0:
        if not layers:
            raise ValueError("optimizer.layer_decay < 1 needs the layers of cnnjax.train.layer_decay.layer_order")
        tx = decay_by_layer(tx, list(layers), c.layer_decay)
    return freeze_updates(tx, tuple(config.train.frozen)), schedule
