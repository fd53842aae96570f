"""The hindsight oracle: the cheapest schedule found for the market that charges.

The oracle knows the test day's books.  What "cheapest" means is the impact cost the
market charges (:meth:`simulator.market.Market.realize`), with its transient impact:

* **No transient impact** (half-life 0).  The realised cost is separable over intervals,
  ``sum_t C_t(x_t)`` with ``C_t`` the convex cost of walking the test day's book at t, and its
  exact minimiser under the day's bounds is the water-filling solution on the test day's
  books (:func:`strategies.solve_exact` on :meth:`models.BookImpact.from_snapshots`).
  Permanent impact shifts every price and the mid together, so it changes the shortfall but
  not the impact cost.
* **Transient impact** (depletion ``D_t = r (D_{t-1} + x_{t-1})``).  Interval t costs
  ``C_t(D_t + x_t) - C_t(D_t)``, a difference of convex functions of the schedule: not convex
  in general for a real book.  The oracle starts from the static optimum and from every
  evaluated strategy's schedule, keeps the cheapest, and improves it by projected gradient
  descent on ``{sum x = S, lower <= x <= upper}`` with an Armijo line search (each accepted
  step lowers the realised cost, so the method converges to a stationary point).  The exact
  gradient is ``p_s(D_s + x_s) + sum_{t>s} r^(t-s) [p_t(D_t + x_t) - p_t(D_t)]`` with ``p_t``
  the book's marginal offset (:func:`models.book_walk.marginal_offset`).
  Because ``C_t`` is convex with ``C_t(0) = 0``, ``C_t(D + x) - C_t(D) >= C_t(x)`` for every
  ``D >= 0``: the static optimum's separable cost is a **lower bound** on any schedule's
  realised cost, and ``gap_usd`` states how far the oracle is from it.

Either way the oracle is the minimum over its own candidates and every evaluated schedule,
so no strategy of the day captures more than 100% of the achievable saving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import BookImpact
from models.book_walk import marginal_offset
from strategies import project_capped_simplex, round_schedule, solve_exact, solve_exact_batch

from .filters import ar1_filter
from .market import Market

__all__ = ["OracleResult", "hindsight_oracle", "static_optima"]

_MAX_ITERATIONS = 200
_ARMIJO = 1e-4
_MIN_RELATIVE_STEP = 1e-12


@dataclass(frozen=True, eq=False)
class OracleResult:
    """The hindsight schedule of one (test day, order size).

    Attributes
    ----------
    schedule : ndarray, shape (N,)
        Shares per interval.
    cost_usd : float
        Its realised impact cost on the market that charges, dollars.
    lower_bound_usd : float
        A lower bound on the realised cost of any feasible schedule, dollars (equal to
        ``cost_usd`` up to lot rounding when the cost is separable).
    method : str
        How it was found.
    realization : Realization or None
        The market's realisation of ``schedule`` (arrays of shape (1, N)) when it was
        computed on the way, so the caller need not realise it again; None otherwise.
    """

    schedule: np.ndarray
    cost_usd: float
    lower_bound_usd: float
    method: str
    realization: object = None

    @property
    def gap_usd(self) -> float:
        """Distance to the lower bound, dollars (>= 0)."""
        return max(0.0, self.cost_usd - self.lower_bound_usd)


def _realised(market: Market, side: str, x: np.ndarray) -> np.ndarray:
    return np.asarray(market.realize(0, np.atleast_2d(x), side=side).total_impact_usd)


def _gradient(market: Market, side: str, x: np.ndarray, r: float) -> np.ndarray:
    """Exact (left) gradient of the realised transient cost at schedule ``x``, $/share."""
    books = market.books
    px, sz = books.side_levels(side)
    px, sz = px[0], sz[0]
    mid = 0.5 * (books.bid_px[0, :, 0] + books.ask_px[0, :, 0])
    depleted = np.zeros_like(x)
    depleted[1:] = r * ar1_filter(x, r)[:-1]
    bps = market.beyond_depth_bps
    after = marginal_offset(px, sz, mid, (depleted + x)[:, None], side, bps)[:, 0]
    before = marginal_offset(px, sz, mid, depleted[:, None], side, bps)[:, 0]
    # sum_{t>s} r^(t-s) a_t, by filtering the reversed series.
    carried = np.zeros_like(x)
    carried[:-1] = r * ar1_filter((after - before)[::-1], r)[::-1][1:]
    return after + carried


def _descend(market, side, x, cost, lower, upper, total, r):
    """Projected gradient descent with an Armijo line search; never increases the cost."""
    step = None
    for _ in range(_MAX_ITERATIONS):
        g = _gradient(market, side, x, r)
        spread = float(np.ptp(g))
        if not np.isfinite(spread) or spread <= 0:
            break
        if step is None:
            step = 0.05 * total / (x.size * spread)
        accepted = False
        while step * spread > _MIN_RELATIVE_STEP * total / x.size:
            trial = project_capped_simplex(x - step * g, total, lower, upper)[0]
            trial_cost = float(_realised(market, side, trial)[0])
            if trial_cost <= cost - _ARMIJO * float(g @ (x - trial)):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        improvement = cost - trial_cost
        x, cost = trial, trial_cost
        step *= 2.0
        if improvement <= 1e-12 * max(abs(cost), 1.0):
            break
    return x, cost


def static_optima(
    book_model: BookImpact, sizes: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """The exact optimum of the separable book cost for many order sizes of one day at once.

    Parameters
    ----------
    book_model : BookImpact
        The test day's book as an impact model.
    sizes : ndarray, shape (K,)
        Order sizes S, shares.
    lower, upper : ndarray, shape (K, N)
        Each size's bounds, shares.

    Returns
    -------
    ndarray, shape (K, N)
        One schedule per size (the starting point and lower bound of :func:`hindsight_oracle`).
    """
    return solve_exact_batch(book_model, np.asarray(sizes, dtype=float), lower=lower, upper=upper)


def hindsight_oracle(
    market: Market,
    side: str,
    size_shares: float,
    lower: np.ndarray,
    upper: np.ndarray,
    lot_size: float = 0.0,
    candidates: np.ndarray | None = None,
    book_model: BookImpact | None = None,
    candidate_costs: np.ndarray | None = None,
    static: np.ndarray | None = None,
) -> OracleResult:
    """The cheapest schedule found for one test day's market (see the module docstring).

    Parameters
    ----------
    market : Market
        The market that charges, holding the single test day (day 0).
    side : {'buy', 'sell'}
    size_shares : float
        S in shares.
    lower, upper : ndarray, shape (N,)
        The day's bounds in shares.
    lot_size : float, default 0
        Round to whole lots (0 = no rounding).
    candidates : ndarray, shape (K, N), optional
        Feasible schedules evaluated that day (the strategies'): the oracle is never more
        expensive than any of them.
    book_model : BookImpact, optional
        The test day's book as an impact model (built from ``market.books`` when omitted;
        pass it to share one across order sizes).
    candidate_costs : ndarray, shape (K,), optional
        The candidates' realised impact on this market, dollars, when the caller has them
        already (the evaluator's execution): they are not realised again, and the oracle is
        compared with exactly the costs the rows report.
    static : ndarray, shape (N,), optional
        The exact optimum of the separable book cost for this size and these bounds, when
        the caller solved it already (:func:`static_optima`, one batch for every size).

    Returns
    -------
    OracleResult
    """
    model = book_model
    if model is None:
        model = BookImpact.from_snapshots(
            market.books, side=side, beyond_depth_bps=market.beyond_depth_bps
        )
    if static is None:
        static = solve_exact(model, size_shares, lower=lower, upper=upper)
    bound = float(np.sum(model.cost(static)))
    r = market.recovery_factor
    first = static if lot_size <= 0 else round_schedule(static, lot_size, lower, upper)
    pool = first[None, :]
    first_realized = market.realize(0, pool, side=side)
    costs = np.asarray(first_realized.total_impact_usd, dtype=float)
    if candidates is not None and len(candidates):
        candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
        if candidate_costs is None:
            candidate_costs = _realised(market, side, candidates)
        candidate_costs = np.asarray(candidate_costs, dtype=float)
        if candidate_costs.shape != (len(candidates),):
            raise ValueError(
                f"candidate_costs must have shape ({len(candidates)},); got {candidate_costs.shape}"
            )
        pool = np.concatenate([pool, candidates])
        costs = np.concatenate([costs, candidate_costs])
    best = int(np.argmin(costs))
    if r == 0.0:
        method = "exact optimum of the separable book cost"
        realization = first_realized if best == 0 else None
        return OracleResult(pool[best], float(costs[best]), bound, method, realization)
    x, cost = _descend(
        market,
        side,
        static.copy(),
        float(_realised(market, side, static)[0]),
        lower,
        upper,
        size_shares,
        r,
    )
    if lot_size > 0:
        x = round_schedule(x, lot_size, lower, upper)
        cost = float(_realised(market, side, x)[0])
    if costs[best] < cost:
        # A candidate was cheaper: improve it too, and keep the better of the two.
        y, y_cost = _descend(
            market, side, pool[best].copy(), float(costs[best]), lower, upper, size_shares, r
        )
        if lot_size > 0:
            y = round_schedule(y, lot_size, lower, upper)
            y_cost = float(_realised(market, side, y)[0])
        x, cost = (y, y_cost) if y_cost < costs[best] else (pool[best], float(costs[best]))
    method = (
        "best schedule found under transient impact (projected gradient from the static "
        "optimum and every strategy's schedule)"
    )
    return OracleResult(x, cost, bound, method)
