"""Book-walk cases that kill surviving mutants: books with empty levels, zero orders."""

from __future__ import annotations

import numpy as np
import pytest

from models import walk_levels


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_zero_order_on_an_empty_book_costs_nothing_at_the_mid(side):
    # No displayed level: a zero order fills nothing at the mid (slippage 0), any positive
    # order costs +inf (module docstring).
    price = np.array([[np.nan, np.nan, np.nan]])
    size = np.zeros((1, 3))
    res = walk_levels(price, size, np.array([20.0]), np.array([[0.0, 5.0]]), side)
    np.testing.assert_array_equal(res.slippage[0, 0], 0.0)
    np.testing.assert_array_equal(res.vwap[0, 0], 20.0)
    np.testing.assert_array_equal(res.cost[0, 0], 0.0)
    assert res.cost[0, 1] == np.inf
    np.testing.assert_array_equal(res.exhausted, [[False, True]])
    np.testing.assert_array_equal(res.beyond_shares, [[0.0, 5.0]])


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_empty_levels_between_displayed_ones_add_no_cost(side):
    # Level 2 is empty (NaN price, or a price with size 0): the walk skips it.
    sign = 1.0 if side == "buy" else -1.0
    mid = 10.0
    price = mid + sign * np.array([[0.01, np.nan, 0.03], [0.01, 0.02, 0.03]])
    size = np.array([[100.0, 0.0, 200.0], [100.0, 0.0, 200.0]])
    res = walk_levels(price, size, np.array([mid, mid]), np.array([250.0]), side)
    expected = 100 * 0.01 + 150 * 0.03
    np.testing.assert_allclose(res.cost[:, 0], [expected, expected], rtol=1e-12)
    np.testing.assert_allclose(res.slippage[:, 0], expected / 250.0, rtol=1e-12)
    assert not res.exhausted.any()
