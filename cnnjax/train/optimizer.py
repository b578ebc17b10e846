"""Optimizer and learning-rate schedule from the config (optax)."""

import jax
import optax


def make_schedule(config) -> optax.Schedule:
    """Linear warm-up (if any) followed by a constant, piecewise (step) or cosine schedule.

    Piecewise boundaries are absolute step numbers; cosine decays over the steps after warm-up.
    """
    lr, warmup, total = config.optimizer.learning_rate, config.schedule.warmup_steps, config.train.num_steps
    name = config.schedule.name
    if name == "constant":
        main = optax.constant_schedule(lr)
    elif name == "piecewise":
        scales = {b - warmup: config.schedule.decay_factor for b in config.schedule.boundaries if b > warmup}
        main = optax.piecewise_constant_schedule(lr, scales)
    elif name == "cosine":
        main = optax.cosine_decay_schedule(lr, decay_steps=max(total - warmup, 1), alpha=config.schedule.final_fraction)
    else:
        raise ValueError(f"unknown schedule {name!r}")
    if not warmup:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def weight_decay_mask(params):
    """True for the weights that get weight decay: kernels, not biases or norm scales/offsets (ndim ≤ 1)."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """SGD (momentum / Nesterov, L2 added to the gradient as in PyTorch) or AdamW (decoupled decay)."""
    c = config.optimizer
    schedule = make_schedule(config)
    mask = None if c.decay_biases_and_norms else weight_decay_mask
    if c.name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(c.weight_decay, mask=mask),
            optax.sgd(schedule, momentum=c.momentum or None, nesterov=c.nesterov),
        )
    elif c.name == "adamw":
        tx = optax.adamw(schedule, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay, mask=mask)
    else:
        raise ValueError(f"unknown optimizer {c.name!r}")
    return tx, schedule
