"""Heat-map targets, sub-pixel peak decoding and PCK sums of keypoint estimation, in float32.

Keypoints are (..., K, 2) (row, col) in continuous pixel coordinates: pixel (r, c) covers [r, r+1) x [c, c+1), so
its centre is (r + 0.5, c + 0.5). Heat maps are (B, H, W, K), one channel per keypoint. Two losses (`LOSSES`):
'mse', the squared error against Gaussians of peak 1 (`heatmaps`; SimpleBaseline, HRNet), and 'softmax', the
cross-entropy of each channel's softmax over the pixels against the same Gaussian normalised to sum 1 (a heat map
as a distribution over positions): its gradient, softmax - target, points at the keypoint from the first step
whatever the scale of the output, where the squared error first spends hundreds of steps pulling every pixel of a
fresh model's output to 0 (README, Keypoints: 2.5 % against 90.7 % validation PCK after 500 steps).

Decoding takes each channel's argmax pixel and refines it along each axis with the vertex of the parabola through
the logarithms of the peak and its two neighbours (for 'softmax' logits, which are log-probabilities up to a
constant: through the logits themselves). The log of a sampled Gaussian exp(-d^2 / (2 sigma^2)) is exactly a
parabola, so the targets decode to their keypoints (to float precision) and a Gaussian-like prediction decodes to
its centre with no grid bias, which the usual quarter-pixel shift towards the higher neighbour (error up to
0.25 px) and a soft-argmax (pulled towards the mean of the whole map) lack. Since the argmax is the largest of the
three, the vertex lies within half a pixel of it; where a neighbour is not positive (no logarithm) the parabola
goes through the values themselves, and at the border (one neighbour) the argmax's centre stays.

Metrics over a split are exact sums (`keypoint_sums`): per keypoint the number of visible instances, the number
within `threshold` x the object size of the truth (PCK's hits) and the sum of the pixel distances; they add up
over devices and batches, and `keypoint_metrics` forms the ratios once, from the totals.
"""

import jax
import jax.numpy as jnp
import numpy as np

LOSSES = ("softmax", "mse")


def heatmaps(points: jax.Array, height: int, width: int, sigma: float) -> jax.Array:
    """(B, H, W, K) float32: exp(-d^2 / (2 sigma^2)), d the distance from each pixel's centre to the keypoint of
    `points` (B, K, 2) (peak 1 at the keypoint)."""
    rows = jnp.arange(height, dtype=jnp.float32) + 0.5
    cols = jnp.arange(width, dtype=jnp.float32) + 0.5
    points = points.astype(jnp.float32)
    along_rows = jnp.exp(-((rows[None, :, None] - points[:, None, :, 0]) ** 2) / (2 * sigma**2))  # (B, H, K)
    along_cols = jnp.exp(-((cols[None, :, None] - points[:, None, :, 1]) ** 2) / (2 * sigma**2))  # (B, W, K)
    return along_rows[:, :, None, :] * along_cols[:, None, :, :]


def _visible_or_origin(points: jax.Array, visible: jax.Array) -> jax.Array:
    """`points` with the keypoints not `visible` at (0, 0): an unlabelled keypoint's stored coordinates (NaN in some
    datasets) never reach a loss, where a NaN times its zero weight would still be NaN."""
    return jnp.where(visible[..., None] > 0, points, 0.0)


def squared_errors(logits: jax.Array, points: jax.Array, visible: jax.Array, sigma: float) -> jax.Array:
    """(B,): per example the mean over pixels and channels of (logits - `heatmaps`)^2, channels of keypoints not
    `visible` (B, K) counting 0 (SimpleBaseline's JointsMSELoss with target weights)."""
    _, height, width, _ = logits.shape
    targets = heatmaps(_visible_or_origin(points, visible), height, width, sigma)
    weights = visible.astype(jnp.float32)[:, None, None, :]
    return (((logits.astype(jnp.float32) - targets) * weights) ** 2).mean((1, 2, 3))


def cross_entropies(logits: jax.Array, points: jax.Array, visible: jax.Array, sigma: float) -> jax.Array:
    """(B,): per example the mean over channels of -sum over pixels of t log softmax(logits), t the channel's
    `heatmaps` divided by its sum, channels of keypoints not `visible` (B, K) counting 0."""
    _, height, width, _ = logits.shape
    targets = heatmaps(_visible_or_origin(points, visible), height, width, sigma)
    mass = targets.sum((1, 2), keepdims=True)
    targets = targets / jnp.where(mass > 0, mass, 1.0)
    log_probabilities = jax.nn.log_softmax(logits.astype(jnp.float32), axis=(1, 2))
    per_channel = -(targets * log_probabilities).sum((1, 2))  # (B, K)
    return (per_channel * visible.astype(jnp.float32)).mean(1)


def decode(maps: jax.Array, log_space: bool = False) -> jax.Array:
    """(B, K, 2) float32 (row, col): each channel's peak of `maps` (B, H, W, K), refined to sub-pixel precision
    (module docstring); `log_space`: the maps are log-probabilities up to a constant (softmax logits)."""
    batch, height, width, count = maps.shape
    flat = maps.astype(jnp.float32).transpose(0, 3, 1, 2).reshape(batch, count, height * width)
    index = jnp.argmax(flat, axis=-1)
    row, col = index // width, index % width

    def at(r, c):
        r, c = jnp.clip(r, 0, height - 1), jnp.clip(c, 0, width - 1)
        return jnp.take_along_axis(flat, (r * width + c)[..., None], axis=-1)[..., 0]

    peak = at(row, col)
    vertex = _linear_vertex if log_space else _log_vertex
    row_offset = vertex(at(row - 1, col), peak, at(row + 1, col)) * ((row > 0) & (row < height - 1))
    col_offset = vertex(at(row, col - 1), peak, at(row, col + 1)) * ((col > 0) & (col < width - 1))
    return jnp.stack([row + 0.5 + row_offset, col + 0.5 + col_offset], axis=-1)


def _log_vertex(before: jax.Array, peak: jax.Array, after: jax.Array) -> jax.Array:
    """`_linear_vertex` of the logarithms where both neighbours are positive, else of the values themselves."""
    positive = (before > 0) & (after > 0)

    def log(v):
        return jnp.where(positive, jnp.log(jnp.maximum(v, jnp.finfo(jnp.float32).tiny)), v)

    return _linear_vertex(log(before), log(peak), log(after))


def _linear_vertex(before: jax.Array, peak: jax.Array, after: jax.Array) -> jax.Array:
    """The offset in [-1/2, 1/2] of the vertex of the parabola through (-1, before), (0, peak), (1, after); `peak`
    is the largest of the three (0 when all are equal)."""
    rise_before, rise_after = peak - before, peak - after  # >= 0
    total = rise_before + rise_after
    return jnp.where(total > 0, (rise_before - rise_after) / (2 * jnp.where(total > 0, total, 1.0)), 0.0)


def keypoint_sums(predicted: jax.Array, points: jax.Array, visible: jax.Array, size: jax.Array, threshold: float):
    """Per keypoint (K,) sums over the batch: 'visible' (int32: instances with visible > 0), 'hits' (int32: those
    predicted within `threshold` x `size` (B,) of the truth), 'error_sum' (float32: their pixel distances).
    `predicted` and `points` are (B, K, 2)."""
    seen = visible > 0
    distance = jnp.linalg.norm(predicted.astype(jnp.float32) - points.astype(jnp.float32), axis=-1)
    hits = seen & (distance <= threshold * size[:, None])
    return {
        "visible": seen.sum(0, dtype=jnp.int32),
        "hits": hits.sum(0, dtype=jnp.int32),
        "error_sum": jnp.where(seen, distance, 0.0).sum(0),
    }


def keypoint_metrics(totals: dict) -> dict:
    """From summed `keypoint_sums` (host): 'pck' and 'mean_error' over all visible instances, and per keypoint
    ('per_keypoint_pck', 'per_keypoint_error': NaN for a keypoint never visible).

    Raises:
      ValueError: no keypoint is visible.
    """
    visible, hits, errors = (np.asarray(totals[k], np.float64) for k in ("visible", "hits", "error_sum"))
    if visible.sum() == 0:
        raise ValueError("no keypoint is visible in the split")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_keypoint_pck, per_keypoint_error = hits / visible, errors / visible
    return {
        "pck": float(hits.sum() / visible.sum()),
        "mean_error": float(errors.sum() / visible.sum()),
        "per_keypoint_pck": [float(v) for v in per_keypoint_pck],
        "per_keypoint_error": [float(v) for v in per_keypoint_error],
    }
