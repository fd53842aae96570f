"""Walking books past their visible depth: the beyond-depth tail and the marginal offset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import BookImpact, InvalidParameterError, marginal_offset, walk_levels
from models.book_walk import beyond_depth_tail


def _book(levels, sizes, mid=10.0):
    """One ask side at mid + offsets (buy)."""
    off = np.asarray(levels, dtype=float)
    return mid + off, np.asarray(sizes, dtype=float), np.asarray(mid)


def test_tail_slope_is_the_visible_density_with_a_floor():
    # Levels 0.01, 0.02, 0.04 with 100, 200, 50 shares: span 0.03 over 3 levels, so the
    # price rises 3/2 * 0.03 = 0.045 per 350 shares past the deepest level.
    px, sz, mid = _book([0.01, 0.02, 0.04], [100.0, 200.0, 50.0], mid=10.0)
    visible, deepest, slope = beyond_depth_tail(px - mid, sz, mid, 25.0)
    assert (visible, deepest) == (350.0, pytest.approx(0.04))
    assert slope == pytest.approx(0.045 / 350)
    # The floor (100 bps of 10 = 0.10 per 350 shares) binds when it is steeper.
    assert beyond_depth_tail(px - mid, sz, mid, 100.0)[2] == pytest.approx(0.1 / 350)
    # A one-level book has no span: the floor alone sets its tail.
    one = beyond_depth_tail(np.array([0.01]), np.array([500.0]), 10.0, 25.0)
    assert one[2] == pytest.approx(25e-4 * 10.0 / 500)
    # No displayed level: nothing to continue, an order > 0 costs +inf.
    empty = walk_levels(np.array([np.nan]), np.array([0.0]), 10.0, [0.0, 1.0], "buy")
    assert empty.cost[0] == 0.0 and np.isinf(empty.cost[1])


def test_deep_orders_cost_more_per_share_the_deeper_they_go():
    px, sz, mid = _book([0.01, 0.02, 0.03], [100.0, 100.0, 100.0])
    x = np.array([300.0, 3_000.0, 30_000.0, 300_000.0])
    walk = walk_levels(px, sz, mid, x, "buy", 25.0)
    slope = 3 / 2 * 0.02 / 300
    e = x - 300.0
    expected = 6.0 + e * 0.03 + 0.5 * slope * e**2
    np.testing.assert_allclose(walk.cost, expected, rtol=1e-12)
    np.testing.assert_allclose(walk.beyond_shares, e)
    assert np.all(np.diff(walk.slippage) > 0)
    # Roughly linear growth of the slippage per share deep in the tail (quadratic cost).
    assert walk.slippage[3] / walk.slippage[2] > 9.0


@st.composite
def ask_books(draw):
    levels = draw(st.integers(1, 6))
    gaps = np.array(draw(st.lists(st.integers(1, 20), min_size=levels, max_size=levels)))
    sizes = np.array(draw(st.lists(st.integers(1, 3000), min_size=levels, max_size=levels)))
    shown = draw(st.integers(1, levels))
    half_spread = draw(st.integers(1, 10)) * 0.005
    off = half_spread + np.concatenate([[0], np.cumsum(gaps[1:])]) * 0.01
    off = np.where(np.arange(levels) < shown, off, np.nan)
    sizes = np.where(np.arange(levels) < shown, sizes, 0).astype(float)
    mid = draw(st.integers(100, 50_000)) / 100
    return off, sizes, mid


@settings(max_examples=60, deadline=None)
@given(
    book=ask_books(),
    q=st.lists(st.floats(0.5, 40_000), min_size=1, max_size=6),
    bps=st.floats(0, 200),
    side=st.sampled_from(["buy", "sell"]),
)
def test_marginal_offset_is_the_left_derivative_of_the_cost(book, q, bps, side):
    off, sizes, mid = book
    sign = 1.0 if side == "buy" else -1.0
    px = mid + sign * off
    q = np.sort(np.asarray(q))
    eps = 1e-3
    m = marginal_offset(px, sizes, mid, q, side, bps)
    m_eps = marginal_offset(px, sizes, mid, q - eps, side, bps)
    c = walk_levels(px, sizes, mid, np.concatenate([q, q - eps]), side, bps).cost
    fd = (c[: q.size] - c[q.size :]) / eps
    cum = np.cumsum(sizes)
    kink = np.any(np.abs(cum[None, :] - q[:, None]) < 2 * eps, axis=1)
    # Exact on every piece (flat levels, linear tail): the mean marginal over [q - eps, q].
    np.testing.assert_allclose(0.5 * (m + m_eps)[~kink], fd[~kink], rtol=1e-6, atol=1e-9)
    assert np.all(np.diff(m) >= -1e-12)
    # The planner's model prices the same rule.
    model = BookImpact(
        offsets=off[None], sizes=sizes[None], reference_mid=[mid], side=side, beyond_depth_bps=bps
    )
    np.testing.assert_allclose(model.marginal_cost(q[:, None])[:, 0], m, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.cost(q[:, None])[:, 0], c[: q.size], rtol=1e-9, atol=1e-9)


def test_marginal_offset_shapes_and_level_boundaries():
    px, sz, mid = _book([0.01, 0.02, np.nan], [100.0, 50.0, 0.0])
    q = np.array([0.0, 100.0, 100.5, 150.0, 151.0])
    slope = max(2 * 0.01, 25e-4 * 10.0) / 150
    np.testing.assert_allclose(
        marginal_offset(px, sz, mid, q, "buy"), [0.01, 0.01, 0.02, 0.02, 0.02 + slope]
    )
    many = marginal_offset(np.broadcast_to(px, (4, 2, 3)), sz, np.full((4, 2), 10.0), q, "buy")
    assert many.shape == (4, 2, 5)
    with pytest.raises(InvalidParameterError, match="beyond_depth_bps must be finite"):
        marginal_offset(px, sz, mid, q, "buy", -1.0)
    with pytest.raises(InvalidParameterError, match="shares must be finite and >= 0"):
        marginal_offset(px, sz, mid, [-1.0], "buy")
