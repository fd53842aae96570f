"""The hindsight oracle: the cheapest schedule for the test day's own books.

Without transient impact the realised impact cost of a schedule is separable over
intervals, ``sum_t C_t(x_t)`` with ``C_t`` the convex cost of walking the test day's book at
t, and its exact minimiser under the day's bounds is the water-filling solution on the test
day's books (:func:`strategies.solve_exact` on :meth:`models.BookImpact.from_snapshots`).
Permanent impact shifts every price and the mid together, so it changes the shortfall but not
the impact cost the oracle minimises.
"""

from __future__ import annotations

import numpy as np

from models import BookImpact, BookSnapshots
from strategies import round_schedule, solve_exact

__all__ = ["static_oracle"]


def static_oracle(
    test: BookSnapshots,
    side: str,
    beyond_depth_bps: float,
    size_shares: float,
    lower: np.ndarray,
    upper: np.ndarray,
    lot_size: float = 0.0,
) -> np.ndarray:
    """Exact minimiser of the test day's separable book-walking cost, shares (N,).

    Parameters
    ----------
    test : BookSnapshots
        The single test day.
    side : {'buy', 'sell'}
    beyond_depth_bps : float
        The market's beyond-visible-depth rule.
    size_shares : float
        S in shares.
    lower, upper : ndarray, shape (N,)
        The day's bounds in shares.
    lot_size : float, default 0
        Round to whole lots (0 = no rounding).

    Returns
    -------
    ndarray, shape (N,)
    """
    model = BookImpact.from_snapshots(test, side=side, beyond_depth_bps=beyond_depth_bps)
    x = solve_exact(model, size_shares, lower=lower, upper=upper)
    if lot_size > 0:
        x = round_schedule(x, lot=lot_size, lower=lower, upper=upper)
    return x
