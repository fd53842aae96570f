"""The ``adaptive`` policy: re-plan the rest of the day from today's observed liquidity.

Method
------
At the open the policy plans like ``exact``: the exact optimum of the problem's model (fitted
on the training window); that plan is its prediction.  Then, at each interval t, it reads the
book that opens t and compares it with what the model expected for t:

* spread: ``y_h = log(h_obs / h_t)``, with ``h_obs`` the observed half spread (touch offset
  from the mid on the walked side) and ``h_t`` the model's slippage of the first share (the
  training days' mean half spread for the default fit);
* depth: ``y_a = log(e_obs / e_t)``, with ``e_obs`` the observed slippage beyond the touch
  (``VWAP - mid - h_obs``) of an order walking the whole visible book of V shares, and
  ``e_t = a_t V^delta_t`` the model's (``a = alpha`` for a power law, ``beta`` with
  ``delta = 1`` for a linear model).  A book ``m`` times as deep gives ``y_a = -delta log m``:
  the ratio is that of the model's scale parameter that reproduces today's book.

A ratio the book cannot give (an empty side, a model with ``h_t = 0`` as fitted with
``h='zero'``, no slippage beyond a one-level touch) keeps the last forecast for t.

For the rest of the day each log ratio decays toward 0 (the training days' level) as an
AR(1), ``f_s = y_t phi^(s - t)`` for s >= t, and the model of interval s becomes
``h_s exp(f_h,s)`` and ``a_s exp(f_a,s)``: interval t itself is priced as observed (f = y_t),
near intervals like the present, far ones like the training days.  The remaining shares are
allocated over t .. N-1 by the exact solver (:func:`strategies.solve_exact`) within the
problem's bounds, and the first entry is traded.  This is certainty-equivalent
model-predictive control: the KKT conditions of the re-solve trade at t until its marginal
cost under today's book reaches the multiplier of the rest of the day, so the policy buys a
cheap (narrow, deep) minute and waits through an expensive one.

The persistence ``phi`` of each ratio is estimated causally, from the ratios observed today
up to t and nothing later: the least-squares AR(1) coefficient through the origin, shrunk
toward ``prior_persistence`` with the weight of ``prior_intervals`` pairs of observations.
The problem carries only the fitted model and profiles (no time series of the training
days), so the training window cannot supply it here; a value estimated elsewhere can be
given as ``persistence``.  A day that stays thin keeps its ratios away from 0, which drives
the estimate toward 1 and keeps the forecast at today's level.

Why: (1) ratios to the model rather than raw levels keep the intraday pattern the training
window did find (u_shape) and correct only today's deviation from it; (2) pricing interval t
from its own book removes the noise of the per-interval fit exactly where the decision is
taken -- error maximisation on noisy per-minute fits is what makes a static optimiser lose
to ``equal`` when no pattern persists (markov), while here the fit enters the decision only
through the multiplier, an average over the rest of the day; (3) decaying toward the training
level rather than toward a day level estimated from today's ratios: measured on the markov
regime (power model, no cap, 40 walk-forward test days), a running mean of today's ratios as
the attractor captured 0.71 of the oracle's saving at 2-20% of ADV, decay toward 0 captured
0.75-0.82 (u_shape: 0.78-0.90 and 0.80-0.88); with decay toward 0 the persistence matters
little (fixed 0 .. 0.9: within 0.02 of the online estimate; 0.98: 0.03-0.06 worse in
markov), and the online estimate is insensitive to its prior weight (0, 30 or 100
intervals: within 0.01).

Between re-solves
-----------------
A re-solve is needed only when the information changed materially.  The policy keeps the
multiplier of its last re-solve (the marginal cost of the rest of the day, dollars per share)
and tracks how far new information may have moved it: the surprise in each log ratio
(observed minus what the last re-solve forecast for t) times its average weight over the
intervals left (the mean of ``phi^k``), summed with its sign since the last re-solve, plus
the relative gap between the shares left and what the last plan left.  While that stays
within ``resolve_tolerance``, it trades at t the shares whose marginal cost under today's
book at t equals the kept multiplier (the last re-solve's KKT condition with interval t
repriced), else it re-solves.  Measured (markov with the power model and no cap, u_shape
with the linear model and a 30% cap; 40 test days x 2%, 8%, 20% of ADV): the captured share
of the oracle's saving is within 0.006 of re-solving at every interval for tolerances up to
0.2, 0.01 lower at 0.5 and up to 0.015 lower at 1; at the default 0.2 about 4% (markov) and
7% (u_shape) of the intervals re-solve, mostly near the close, where a surprise weighs on few
intervals and the re-solve is small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from models.errors import InvalidParameterError

from .exact import solve_exact
from .policy import AdaptivePolicy, Observation
from .problem import AllocationProblem
from .registry import register

__all__ = ["AdaptiveStrategy", "AdaptiveState", "OrderSetup", "SignalStats"]


@dataclass(frozen=True, eq=False)
class _RestOfDay:
    """The attributes :func:`strategies.solve_exact` reads of a linear or power-law model,
    for the intervals t .. N-1 (building a validated model every interval would cost more
    than the solve)."""

    kind: str
    n_intervals: int
    h: np.ndarray
    alpha: np.ndarray | None = None
    delta: np.ndarray | None = None
    beta: np.ndarray | None = None


class SignalStats(NamedTuple):
    """Running sums of one observed log ratio y_0 .. y_t (for the day level and persistence).

    Attributes
    ----------
    count : int
        Observations n.
    total : float
        sum y.
    squares : float
        sum y^2.
    cross : float
        sum y_u y_(u-1), u = 1 .. n-1.
    first, last : float
        y_0 and y_(n-1).
    """

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    cross: float = 0.0
    first: float = 0.0
    last: float = 0.0

    def add(self, y: float) -> SignalStats:
        """The stats with one more observation."""
        if self.count == 0:
            return SignalStats(1, y, y * y, 0.0, y, y)
        return SignalStats(
            self.count + 1,
            self.total + y,
            self.squares + y * y,
            self.cross + y * self.last,
            self.first,
            y,
        )

    def persistence(self, prior: float, prior_weight: float) -> float:
        """AR(1) coefficient of the series toward 0 (least squares through the origin of
        y_u on y_(u-1)), shrunk toward ``prior`` with ``prior_weight`` pairs, in [0, 0.999].
        """
        pairs = self.count - 1
        if pairs < 1:
            return prior
        lagged = self.squares - self.last * self.last  # sum of y_(u-1)^2, u = 1 .. n-1
        if not lagged > 1e-12 * self.squares:
            return prior  # a zero series (to rounding) says nothing about persistence
        rho = self.cross / lagged
        weight = pairs + prior_weight
        return min(max((pairs * rho + prior_weight * prior) / weight, 0.0), 0.999)


@dataclass(frozen=True, eq=False)
class OrderSetup:
    """What the ``adaptive`` policy derives once from the problem of one parent order.

    Attributes
    ----------
    problem : AllocationProblem
        The parent order.
    n_intervals : int
        N.
    h : ndarray, shape (N,)
        The model's slippage of the first share, dollars per share.
    scale : ndarray, shape (N,)
        The model's scale (``alpha``, or ``beta`` of a linear model), dollars per share per
        share^delta.
    delta : ndarray, shape (N,)
        The model's exponent (1 for a linear model).
    later_lower, later_upper : ndarray, shape (N + 1,)
        ``sum_{s>=k} lower_s`` and ``sum_{s>=k} upper_s``, shares.
    side : str
        ``'buy'`` (walks the asks) or ``'sell'``.
    rows : tuple of tuple of float
        Per interval t, as plain floats for the per-interval arithmetic:
        ``(h_t, scale_t, delta_t, lower_t, upper_t, later_lower[t+1], later_upper[t+1])``.
    """

    problem: AllocationProblem
    n_intervals: int
    h: np.ndarray
    scale: np.ndarray
    delta: np.ndarray
    later_lower: np.ndarray
    later_upper: np.ndarray
    side: str
    rows: tuple[tuple[float, ...], ...]


class AdaptiveState(NamedTuple):
    """State of the ``adaptive`` policy for one parent order (picklable, never mutated).

    Attributes
    ----------
    setup : OrderSetup
        What was derived from the problem at the open.
    spread, depth : SignalStats
        Running sums of today's observed log ratios.
    plan_left : ndarray or None
        What the last re-solve planned to have left at the start of intervals
        ``plan_start`` .. N: the suffix sums of its schedule for ``plan_start`` .. N-1,
        shares (None before the first re-solve).
    plan_start : int
        The interval of the last re-solve.
    multiplier : float
        Its Lagrange multiplier (marginal cost of the rest of the day), dollars per share;
        NaN when no interval was strictly inside its bounds.
    forecast : tuple of float
        ``(y_h, phi_h, y_a, phi_a)`` of the last re-solve: the log ratios observed then and
        their persistence.
    drift : tuple of float
        Surprises in the (spread, depth) log ratios since the last re-solve, each weighted
        by its average weight over the rest of the day (:meth:`AdaptiveStrategy._weights`)
        and summed with their signs: about the relative move of the rest-of-day multiplier.
    solves : int
        Re-solves so far (for measurements).
    """

    setup: OrderSetup
    spread: SignalStats = SignalStats()
    depth: SignalStats = SignalStats()
    plan_left: np.ndarray | None = None
    plan_start: int = 0
    multiplier: float = math.nan
    forecast: tuple[float, ...] = ()
    drift: tuple[float, float] = (0.0, 0.0)
    solves: int = 0


def _check_fraction(name: str, value, low: float, high: float, *, open_high: bool = False):
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and low <= value and (value < high if open_high else value <= high)
    if not ok:
        bracket = ")" if open_high else "]"
        raise InvalidParameterError(f"{name} must be in [{low}, {high}{bracket}; got {value!r}")


@register("adaptive")
@dataclass(frozen=True)
class AdaptiveStrategy(AdaptivePolicy):
    """Re-plans the rest of the day at every interval from today's observed spread and depth.

    See the module docstring for the method and why.  Linear and power-law models.

    Parameters
    ----------
    persistence : float or None, default None
        AR(1) persistence per interval of the observed log ratios, in [0, 1); None
        estimates it causally from today's observations (shrunk toward
        ``prior_persistence``).
    prior_persistence : float, default 0.9
        Persistence assumed before there is evidence, in [0, 1).
    prior_intervals : float, default 30
        Weight of ``prior_persistence`` in pairs of observations, >= 0.
    resolve_tolerance : float, default 0.2
        Materiality threshold of a re-solve: the estimated relative move of the rest-of-day
        multiplier since the last re-solve (module docstring), >= 0; 0 re-solves at every
        interval.
    max_log_ratio : float, default 3
        Observed log ratios are clipped to +-this (a book 20 times thinner or wider than
        expected is treated as 20 times), > 0.
    """

    description: ClassVar[str] = (
        "Re-plans the rest of the day each interval (exact solver) from today's spread and "
        "depth relative to the training model"
    )
    optimizes_model: ClassVar[bool] = True
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear", "power")
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"persistence": 1.0},
        {"prior_persistence": -0.1},
        {"prior_intervals": -1.0},
        {"resolve_tolerance": float("nan")},
        {"max_log_ratio": 0.0},
    )

    persistence: float | None = None
    prior_persistence: float = 0.9
    prior_intervals: float = 30.0
    resolve_tolerance: float = 0.2
    max_log_ratio: float = 3.0

    def __post_init__(self) -> None:
        if self.persistence is not None:
            _check_fraction("persistence", self.persistence, 0.0, 1.0, open_high=True)
        _check_fraction("prior_persistence", self.prior_persistence, 0.0, 1.0, open_high=True)
        _check_fraction("prior_intervals", self.prior_intervals, 0.0, math.inf)
        _check_fraction("resolve_tolerance", self.resolve_tolerance, 0.0, math.inf)
        _check_fraction("max_log_ratio", self.max_log_ratio, 0.0, math.inf)
        if self.max_log_ratio <= 0:
            raise InvalidParameterError(f"max_log_ratio must be > 0; got {self.max_log_ratio!r}")

    # ------------------------------------------------------------------ the plan at the open
    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """The plan at the open: the exact optimum of the problem's model, shares (N,)."""
        return solve_exact(
            problem.model, problem.total_shares, problem.lower, problem.upper, validate=False
        )

    # ------------------------------------------------------------------ stepping
    def start(self, problem: AllocationProblem) -> AdaptiveState:
        """The state before the open: the model's arrays and no observation yet."""
        model = problem.model
        n = problem.n_intervals
        if problem.kind == "linear":
            scale = np.asarray(model.beta, dtype=float)
            delta = np.ones(n)
        else:
            scale = np.asarray(model.alpha, dtype=float)
            delta = np.broadcast_to(np.asarray(model.delta, dtype=float), (n,)).copy()

        def later(values: np.ndarray) -> np.ndarray:
            return np.concatenate([np.cumsum(values[::-1])[::-1], [0.0]])

        h = np.asarray(model.h, dtype=float)
        later_lower, later_upper = later(problem.lower), later(problem.upper)
        columns = (h, scale, delta, problem.lower, problem.upper, later_lower[1:], later_upper[1:])
        setup = OrderSetup(
            problem=problem,
            n_intervals=n,
            h=h,
            scale=scale,
            delta=delta,
            later_lower=later_lower,
            later_upper=later_upper,
            side=problem.side,
            rows=tuple(zip(*(c.tolist() for c in columns), strict=True)),
        )
        return AdaptiveState(setup)

    def _observe(self, obs: Observation, side: str, row: tuple) -> tuple[float, float]:
        """Today's log ratios (spread, depth) at interval t; NaN where the book says nothing."""
        h_obs, visible, mean_offset = obs.snapshot.side_summary(side)
        if not visible > 0:
            return math.nan, math.nan
        h_model, scale, delta = row[0], row[1], row[2]
        y_h = math.log(h_obs / h_model) if h_obs > 0 and h_model > 0 else math.nan
        excess = mean_offset - h_obs
        expected = scale * visible**delta
        y_a = math.log(excess / expected) if excess > 0 and expected > 0 else math.nan
        cap = self.max_log_ratio
        return (
            min(max(y_h, -cap), cap) if y_h == y_h else y_h,
            min(max(y_a, -cap), cap) if y_a == y_a else y_a,
        )

    def decide(self, state: AdaptiveState, observation: Observation):
        """Trade at t against the exact re-plan of the rest of the day (module docstring).

        Returns
        -------
        (float, AdaptiveState)
            Shares to trade in the observed interval, and the new state.
        """
        obs = observation
        t = obs.interval
        setup = state.setup
        remaining = obs.remaining_shares
        if t >= setup.n_intervals - 1 or remaining <= 0:
            return max(remaining, 0.0), state
        row = setup.rows[t]
        y_h, y_a = self._observe(obs, setup.side, row)
        spread, depth = state.spread, state.depth
        # A book that says nothing keeps the last forecast for this interval.
        previous = _forecast_at(state, t)
        if y_h != y_h:
            y_h = previous[0]
        else:
            spread = spread.add(y_h)
        if y_a != y_a:
            y_a = previous[1]
        else:
            depth = depth.add(y_a)
        # strategies.feasible_range, in plain floats.
        lo = min(max(row[3], remaining - row[6], 0.0), remaining)
        hi = max(min(row[4], remaining - row[5], remaining), lo)
        lam = state.multiplier
        if state.plan_left is not None and lam == lam and self.resolve_tolerance > 0:
            w_h, w_a = _weights(state, t)
            drift = (
                state.drift[0] + (y_h - previous[0]) * w_h,
                state.drift[1] + (y_a - previous[1]) * w_a,
            )
            planned = float(state.plan_left[t - state.plan_start])
            moved = abs(remaining - planned) / planned if planned > 0 else math.inf
            if max(abs(drift[0]), abs(drift[1])) + moved <= self.resolve_tolerance:
                # Nothing material changed: trade at t until today's marginal cost at t
                # reaches the last re-solve's multiplier.
                x = _inverse_marginal(row, y_h, y_a, lam)
                new = AdaptiveState(
                    setup,
                    spread,
                    depth,
                    state.plan_left,
                    state.plan_start,
                    lam,
                    state.forecast,
                    drift,
                    state.solves,
                )
                return min(max(x, lo), hi), new
        return self._resolve(state, t, remaining, spread, depth, y_h, y_a, lo, hi)

    def _resolve(self, state, t, remaining, spread, depth, y_h, y_a, lo, hi):
        """Re-plan t .. N-1 exactly under the updated model; trade its first entry."""
        setup = state.setup
        n = setup.n_intervals
        if self.persistence is None:
            phi_h = spread.persistence(self.prior_persistence, self.prior_intervals)
            phi_a = depth.persistence(self.prior_persistence, self.prior_intervals)
        else:
            phi_h = phi_a = float(self.persistence)
        lags = np.arange(n - t, dtype=float)
        h = setup.h[t:] * np.exp(y_h * phi_h**lags)
        scale = setup.scale[t:] * np.exp(y_a * phi_a**lags)
        delta = setup.delta[t:]
        if setup.problem.kind == "linear":
            rest = _RestOfDay("linear", n - t, h, beta=scale)
        else:
            rest = _RestOfDay("power", n - t, h, alpha=scale, delta=delta)
        lower, upper = setup.problem.lower[t:], setup.problem.upper[t:]
        x = solve_exact(rest, remaining, lower, upper, validate=False)
        free = (x > lower) & (x < upper) & (x > 0)
        if free.any():
            i = int(free.argmax())
            lam = float(h[i] + (1.0 + delta[i]) * scale[i] * x[i] ** delta[i])
        else:
            lam = math.nan
        new = AdaptiveState(
            setup,
            spread,
            depth,
            np.concatenate([np.cumsum(x[::-1])[::-1], [0.0]]),
            t,
            lam,
            (y_h, phi_h, y_a, phi_a),
            (0.0, 0.0),
            state.solves + 1,
        )
        return min(max(float(x[0]), lo), hi), new


def _inverse_marginal(row: tuple, y_h: float, y_a: float, lam: float) -> float:
    """Shares at t whose marginal cost under today's book at t equals ``lam``."""
    h = row[0] * math.exp(y_h)
    if lam <= h:
        return 0.0
    d = row[2]
    return ((lam - h) / ((1.0 + d) * row[1] * math.exp(y_a))) ** (1.0 / d)


def _weights(state: AdaptiveState, t: int) -> tuple[float, float]:
    """Average weight over the intervals left of a surprise in each log ratio at t: the mean
    of phi^k, k = 0 .. N-t-1 (1 / (N - t) for phi = 0)."""
    n_left = state.setup.n_intervals - t
    phi_h, phi_a = state.forecast[1], state.forecast[3]

    def weight(phi: float) -> float:
        if phi <= 0.0:
            return 1.0 / n_left
        return (1.0 - phi**n_left) / ((1.0 - phi) * n_left)

    return weight(phi_h), weight(phi_a)


def _forecast_at(state: AdaptiveState, t: int) -> tuple[float, float]:
    """What the last re-solve forecast for interval t's log ratios ((0, 0) before any)."""
    if not state.forecast:
        return 0.0, 0.0
    y_h, phi_h, y_a, phi_a = state.forecast
    lag = t - state.plan_start
    return y_h * phi_h**lag, y_a * phi_a**lag
