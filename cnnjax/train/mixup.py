"""mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on the device, per global batch, as timm's `Mixup` in its
default 'batch' mode.

Rule: once per step, with probability `prob`, the whole global batch is mixed with itself reversed (example g with
example G-1-g, as timm's `x.flip(0)`): by mixup, `λ·x + (1-λ)·x'` with λ ~ Beta(mixup_alpha, mixup_alpha), or by
CutMix, a box of area ≈ (1-λ)·H·W pasted from x' with λ ~ Beta(cutmix_alpha, cutmix_alpha), the box centre uniform,
clipped at the borders, and λ then corrected to the pasted area (timm's `correct_lam`). With both alphas set, CutMix
is chosen with probability `switch_prob`. The targets are `λ·t + (1-λ)·t'` of the label-smoothed one-hot targets, so
each row sums to 1; an unmixed batch gets the smoothed targets alone.

Invariant: the mixed batch depends on the global batch and the step's key only, not on the device count. The
decisions are drawn from a key every device shares; each device fetches its partner examples from the device holding
the mirrored share (`lax.ppermute` over `cnnjax.parallel.AXIS`) and reverses them.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from cnnjax.parallel import AXIS
from cnnjax.tasks.losses import one_hot_targets


@dataclasses.dataclass(frozen=True)
class Mixup:
    num_classes: int
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0

    @classmethod
    def from_config(cls, config, num_classes: int) -> Mixup | None:
        """The config's mixing (`dataset.mixup_alpha`, `cutmix_alpha`, `mix_prob`, `mix_switch_prob`; the targets
        smoothed by `loss.label_smoothing`), or None when both alphas are 0."""
        d = config.dataset
        if not (d.mixup_alpha or d.cutmix_alpha):
            return None
        smoothing = config.loss.label_smoothing
        return cls(num_classes, d.mixup_alpha, d.cutmix_alpha, d.mix_prob, d.mix_switch_prob, smoothing)

    def draw(self, key: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """This step's (λ, blend, box): λ the weight of each example's own target, `blend` the weight of its own
        pixels outside the box (λ for mixup, 1 for CutMix and no mixing), `box` (top, bottom, left, right) the region
        pasted from its partner (empty unless CutMix)."""
        apply_key, switch_key, mixup_key, cutmix_key, box_key = jax.random.split(key, 5)
        if self.mixup_alpha and self.cutmix_alpha:
            use_cutmix = jax.random.uniform(switch_key) < self.switch_prob
        else:
            use_cutmix = jnp.bool_(self.cutmix_alpha > 0)
        applied = jax.random.uniform(apply_key) < self.prob
        use_cutmix = applied & use_cutmix
        lam_mixup = (
            jax.random.beta(mixup_key, self.mixup_alpha, self.mixup_alpha) if self.mixup_alpha else jnp.float32(1)
        )
        lam_cutmix = (
            jax.random.beta(cutmix_key, self.cutmix_alpha, self.cutmix_alpha) if self.cutmix_alpha else jnp.float32(1)
        )
        box, lam_box = _cutmix_box(box_key, jnp.where(use_cutmix, lam_cutmix, 1.0), height, width)
        blend = jnp.where(applied & ~use_cutmix, lam_mixup, 1.0).astype(jnp.float32)
        return jnp.where(use_cutmix, lam_box, blend), blend, box

    def __call__(self, batch: dict, key: jax.Array) -> dict:
        """This device's share of the mixed global batch: 'image' mixed, 'target' (B, num_classes) added, 'label'
        kept (the train accuracy counts each example's own label). Inside the mapped step (collectives over AXIS)."""
        images = batch["image"]
        _, height, width, _ = images.shape
        lam, blend, box = self.draw(key, height, width)
        targets = one_hot_targets(batch["label"], self.num_classes, self.label_smoothing)
        partner_images, partner_targets = _mirrored(images), _mirrored(targets)
        rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
        inside = (rows >= box[0]) & (rows < box[1]) & (cols >= box[2]) & (cols < box[3])
        blended = (blend * images + (1 - blend) * partner_images).astype(images.dtype)
        mixed = jnp.where(inside[None, :, :, None], partner_images, blended)
        return {**batch, "image": mixed, "target": lam * targets + (1 - lam) * partner_targets}


def _cutmix_box(key: jax.Array, lam: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """timm's `rand_bbox` + `correct_lam`: cut (int(H·√(1-λ)), int(W·√(1-λ))) centred at a uniform pixel, clipped;
    returns the box (top, bottom, left, right) and 1 - its area / (H·W)."""
    ratio = jnp.sqrt(1 - lam)
    cut_h, cut_w = (jnp.floor(size * ratio).astype(jnp.int32) for size in (height, width))
    cy_key, cx_key = jax.random.split(key)
    cy, cx = jax.random.randint(cy_key, (), 0, height), jax.random.randint(cx_key, (), 0, width)
    top, bottom = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height)
    left, right = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)
    area = (bottom - top) * (right - left)
    return jnp.stack([top, bottom, left, right]), 1 - area.astype(jnp.float32) / (height * width)


def _mirrored(x: jax.Array) -> jax.Array:
    """This device's share of the global batch reversed: the mirrored device's share, reversed."""
    n = lax.axis_size(AXIS)
    return lax.ppermute(x, AXIS, perm=[(i, n - 1 - i) for i in range(n)])[::-1]
