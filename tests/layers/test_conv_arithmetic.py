"""conv_output_size / resolve_padding against the shapes XLA actually produces."""

import itertools

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from cnnjax.layers.conv_arithmetic import conv_output_size, per_dim, resolve_padding, resolve_padding_nd

SIZES = (1, 2, 7, 8, 15, 16)
KERNELS = (1, 2, 3, 5)
STRIDES = (1, 2, 3)
DILATIONS = (1, 2)
PADDINGS = ("valid", "same", "full", 0, 1, 2, (0, 1), (2, 0))


def xla_output_size(n, k, s, d, pads):
    """Spatial size of lax.conv_general_dilated's output (abstract evaluation, no compile)."""
    x = jax.ShapeDtypeStruct((1, 1, n), jnp.float32)
    w = jax.ShapeDtypeStruct((1, 1, k), jnp.float32)
    out = jax.eval_shape(lambda x, w: lax.conv_general_dilated(x, w, (s,), pads, rhs_dilation=(d,)), x, w)
    return out.shape[-1]


def test_output_size_matches_xla_for_every_mode():
    checked = rejected = 0
    for n, k, s, d, p in itertools.product(SIZES, KERNELS, STRIDES, DILATIONS, PADDINGS):
        try:
            pads = resolve_padding(p, n, k, s, d)
        except ValueError as error:  # only when the padded input is smaller than the kernel
            lo, hi = (0, 0) if p == "valid" else (p, p) if isinstance(p, int) else p
            assert "output size would be < 1" in str(error) and n + lo + hi < d * (k - 1) + 1
            rejected += 1
            continue
        assert conv_output_size(n, k, s, d, p) == xla_output_size(n, k, s, d, [pads]), (n, k, s, d, p, pads)
        checked += 1
    assert checked > 1000 and rejected > 50


@pytest.mark.parametrize("n,k,s,d", list(itertools.product(SIZES, KERNELS, STRIDES, DILATIONS)))
def test_same_matches_xla_same(n, k, s, d):
    k_eff = d * (k - 1) + 1
    assert resolve_padding("same", n, k, s, d) == tuple(lax.padtype_to_pads((n,), (k_eff,), (s,), "SAME")[0])
    assert conv_output_size(n, k, s, d, "same") == -(-n // s)


@pytest.mark.parametrize("n,k,d", list(itertools.product(SIZES, KERNELS, DILATIONS)))
def test_closed_forms_at_stride_1(n, k, d):
    k_eff = d * (k - 1) + 1
    if n >= k_eff:
        assert conv_output_size(n, k, 1, d, "valid") == n - k_eff + 1
    assert conv_output_size(n, k, 1, d, "same") == n
    assert conv_output_size(n, k, 1, d, "full") == n + k_eff - 1


def test_same_puts_the_odd_pixel_at_the_end():
    assert resolve_padding("same", 8, 3, 2) == (0, 1)
    assert resolve_padding("same", 8, 4, 1) == (1, 2)


def test_int_padding_is_symmetric_unlike_xla_same():
    # PyTorch's padding=1 on a stride-2 3x3 conv over an even input: (1, 1); XLA 'SAME': (0, 1).
    assert resolve_padding(1, 32, 3, 2) == (1, 1)
    assert resolve_padding("same", 32, 3, 2) == (0, 1)
    assert conv_output_size(32, 3, 2, 1, 1) == conv_output_size(32, 3, 2, 1, "same") == 16


def test_explicit_pairs_are_honoured():
    assert resolve_padding((2, 5), 10, 3) == (2, 5)
    assert conv_output_size(10, 3, 1, 1, (2, 5)) == 15
    assert resolve_padding_nd(((1, 2), (0, 0)), (8, 9), (3, 3), (1, 1), (1, 1)) == ((1, 2), (0, 0))
    assert resolve_padding_nd(("same", 1), (8, 9), (3, 3), (2, 2), (1, 1)) == ((0, 1), (1, 1))
    assert resolve_padding_nd("full", (4, 4), (3, 2), (1, 1), (1, 2)) == ((2, 2), (2, 2))


@pytest.mark.parametrize(
    "padding,match",
    [
        (-1, "non-negative"),
        ((0, -2), "non-negative"),
        ("SAMEISH", "unknown padding mode"),
        (1.5, "invalid padding"),
        ((1, 2, 3), "invalid padding"),
        (True, "invalid padding"),
    ],
)
def test_bad_padding_raises(padding, match):
    with pytest.raises(ValueError, match=match):
        resolve_padding(padding, 8, 3)


def test_output_below_one_and_bad_sizes_raise():
    with pytest.raises(ValueError, match="output size would be < 1"):
        conv_output_size(4, 3, dilation=2)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        conv_output_size(8, 3, stride=0)
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        conv_output_size(-3, 3)
    with pytest.raises(ValueError, match="flat sequence of ints is ambiguous"):
        resolve_padding_nd((1, 2), (8, 8), (3, 3), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="kernel_size must be an int or 2 ints"):
        per_dim((3, 3, 3), 2, "kernel_size")
