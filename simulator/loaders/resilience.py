"""The book's recovery half-life from order-book events: :func:`estimate_resilience`.

Method (an event study of depth at the touch, vectorised over events and lags):

1. *Events.*  Each timestamp at which visible aggressive trades hit one side (Databento
   trade records with side ``B``/``A``; LOBSTER type-4 executions, the side taken from the
   executed order's direction) is one event on the side it consumed (asks after buys,
   bids after sells).  Trades with an unknown side, hidden executions and auction prints
   are not events.  An event is used when it left the touch depth on that side (shares
   at the best price, whatever that price is after the trade) below its pre-trade value
   and below the day's steady-state touch depth Q-bar, the time-weighted mean over the
   session.
2. *Deficit curve.*  For lags tau on a log-spaced grid (default 40 lags from 1 ms to
   300 s) the deficit Q-bar - Q(t + tau) is read from the book in force at t + tau
   (lags past the session end are left out).  Deficits are pooled as a ratio of sums,
   G(tau) = sum_i [Q-bar - Q_i(t_i + tau)] / sum_i [Q-bar - Q_i(t_i)], so large
   depletions weigh more; G(0) = 1.
3. *Fit.*  G(tau) = a exp(-ln 2 tau / h) + c by least squares over the lags (a and c
   in closed form for each h on a fine log grid, then a parabolic refinement of log h).
   h is the half-life; 1 - a - c is the share refilled faster than the first lag
   ("immediate"), c the share not recovered within the horizon (or an offset of Q-bar).
   When the fitted exponential recovers under 5% of the deficit within the horizon, h is
   infinite if the deficit stayed above half (no recovery seen) and 0 if it fell below
   half before the first lag (instant refill; the engine's "full recovery each interval").
4. *Interval.*  Percentile bootstrap over blocks of events (default 60-s blocks of the
   session, resampled with replacement per day, 1,000 resamples), so the clustering of
   trades in sweeps is respected.

Other traders' later trades are part of the measured recovery (they deplete the book
again), and the touch moves with the price, so h describes the market's recovery rather
than that of an isolated order; it is the quantity the market engine's ``half_life``
stands for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.errors import DataError, InvalidParameterError

from .session import NS_PER_DAY, SessionGrid

__all__ = [
    "MIN_EVENTS",
    "ResilienceEstimate",
    "RecoveryCurve",
    "daily_half_lives",
    "estimate_resilience",
    "fit_recovery",
    "recovery_curve",
    "resilience_from_events",
]

_LN2 = float(np.log(2.0))
_GRID_POINTS = 3000
_MIN_RECOVERED = 0.05
MIN_EVENTS = 30
"""Fewer usable events than this give no estimate (NaN per day, an error when pooled)."""


@dataclass(frozen=True, eq=False)
class RecoveryCurve:
    """Per-block sums of the deficit curve (the sufficient statistics of the fit).

    Parameters
    ----------
    lags_s : ndarray, shape (K,)
        Lags in seconds.
    numerator, denominator : ndarray, shape (blocks, K)
        Sums over each block's events of Q-bar - Q(t + tau) and of the initial deficit
        Q-bar - Q(t), over the lags each event covers.
    block_day : ndarray of int64, shape (blocks,)
        Day index of each block (blocks are resampled within days).
    n_events : int
        Events used.
    n_days : int
        Days with at least one event.
    """

    lags_s: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    block_day: np.ndarray
    n_events: int
    n_days: int

    @property
    def deficit(self) -> np.ndarray:
        """G(tau): pooled deficit share at each lag, shape (K,)."""
        den = self.denominator.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, self.numerator.sum(axis=0) / den, np.nan)


@dataclass(frozen=True, eq=False)
class ResilienceEstimate:
    """Recovery half-life of depth at the touch, with a bootstrap interval.

    Parameters
    ----------
    half_life_s : float
        Half-life of the exponential recovery in seconds (inf: no recovery within the
        horizon; 0: refilled before the first lag).
    half_life_intervals : float
        The same in intervals of the session grid (``half_life_s / (60 *
        interval_minutes)``): the unit of the market engine's ``half_life``.
    ci_s, ci_intervals : tuple of float
        Percentile bootstrap interval (low, high) in seconds and in intervals.
    confidence : float
        Coverage of the interval, e.g. 0.95.
    amplitude : float
        a: share of the initial deficit that recovers with the half-life.
    persistent_fraction : float
        c: share not recovered within the horizon (relative to the steady state).
    immediate_fraction : float
        1 - a - c: share refilled faster than the first lag.
    r_squared : float
        Coefficient of determination of the fit over the lags.
    n_events, n_days, n_blocks, n_boot : int
        Events, days, bootstrap blocks and resamples used.
    interval_minutes : float
        Interval length of the session grid.
    lags_s, deficit : ndarray, shape (K,)
        The pooled deficit curve G(tau) the fit was made to.
    method : str
        One paragraph stating the method.
    source : str
        What was read.
    """

    half_life_s: float
    half_life_intervals: float
    ci_s: tuple[float, float]
    ci_intervals: tuple[float, float]
    confidence: float
    amplitude: float
    persistent_fraction: float
    immediate_fraction: float
    r_squared: float
    n_events: int
    n_days: int
    n_blocks: int
    n_boot: int
    interval_minutes: float
    lags_s: np.ndarray = field(repr=False)
    deficit: np.ndarray = field(repr=False)
    method: str = field(repr=False, default="")
    source: str = ""

    def fitted(self, lags_s) -> np.ndarray:
        """The fitted deficit share a exp(-ln2 tau / h) + c at ``lags_s`` seconds."""
        tau = np.asarray(lags_s, dtype=float)
        return self.amplitude * np.exp(-_LN2 * tau / self.half_life_s) + self.persistent_fraction

    def summary(self) -> str:
        """One line, e.g. ``'half-life 2.08 s (0.0347 intervals of 1 min), 95% CI ...'``."""
        lo, hi = self.ci_s
        lo_i, hi_i = self.ci_intervals
        return (
            f"{self.source + ': ' if self.source else ''}half-life {self.half_life_s:.3g} s "
            f"({self.half_life_intervals:.3g} intervals of {self.interval_minutes:g} min), "
            f"{self.confidence:.0%} CI [{lo:.3g}, {hi:.3g}] s = [{lo_i:.3g}, {hi_i:.3g}] "
            f"intervals; {self.n_events:,} events on {self.n_days} day(s); immediate refill "
            f"{self.immediate_fraction:.0%}, unrecovered {self.persistent_fraction:.0%}, "
            f"R^2 {self.r_squared:.2f}"
        )

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------- event study
def _day_curve(t, aggressor, bid0, ask0, start, end, lags_ns, block_ns):
    """One sorted day -> (num (E, K), den (E,), mask (E, K), block (E,)) for its events."""
    k = lags_ns.size
    empty = (np.zeros((0, k)), np.zeros(0), np.zeros((0, k), dtype=bool), np.zeros(0, int))
    first = int(np.searchsorted(t, start, side="right")) - 1  # book in force at the start
    last = int(np.searchsorted(t, end, side="left"))
    lo = max(first, 0)
    if last <= lo:
        return empty
    seg_start = np.maximum(t[lo:last], start)
    seg_end = np.minimum(np.append(t[lo + 1 : last], end), end)
    weight = np.maximum(seg_end - seg_start, 0).astype(float)
    if weight.sum() <= 0:
        return empty
    steady = {
        +1: float(np.dot(ask0[lo:last], weight) / weight.sum()),
        -1: float(np.dot(bid0[lo:last], weight) / weight.sum()),
    }

    rows = np.flatnonzero((aggressor != 0) & (t >= start) & (t < end))
    if rows.size == 0:
        return empty
    ev_t, ev_side = t[rows], aggressor[rows]
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (ev_t[1:] != ev_t[:-1]) | (ev_side[1:] != ev_side[:-1])
    ev_t, ev_side = ev_t[new], ev_side[new].astype(np.int64)
    pre = np.searchsorted(t, ev_t, side="left") - 1
    post = np.searchsorted(t, ev_t, side="right") - 1
    buy = ev_side > 0
    steady_ev = np.where(buy, steady[+1], steady[-1])

    def touch(idx, buy_mask):
        return np.where(buy_mask, ask0[idx], bid0[idx])

    ok = pre >= 0
    q_pre = np.where(ok, touch(np.maximum(pre, 0), buy), np.nan)
    q_post = touch(post, buy)
    with np.errstate(invalid="ignore"):
        use = ok & (q_post < q_pre) & (q_post < steady_ev)
    if not np.any(use):
        return empty
    ev_t, buy, q_post, steady_ev = ev_t[use], buy[use], q_post[use], steady_ev[use]
    at = ev_t[:, None] + lags_ns[None, :]
    lag_rows = np.searchsorted(t, at, side="right") - 1
    q = touch(lag_rows, buy[:, None])
    mask = at < end
    num = np.where(mask, steady_ev[:, None] - q, 0.0)
    den = steady_ev - q_post
    block = (ev_t - start) // block_ns
    return num, den, mask, block


def recovery_curve(
    local_ns,
    aggressor,
    bid_sz0,
    ask_sz0,
    *,
    grid: SessionGrid | None = None,
    horizon_s: float = 300.0,
    min_lag_s: float = 1e-3,
    n_lags: int = 40,
    block_s: float = 60.0,
) -> RecoveryCurve:
    """Deficit-curve sums per block of events, for one or many days of sorted events.

    Parameters
    ----------
    local_ns : ndarray of int64, shape (rows,)
        Event times sorted ascending, wall-clock ns in exchange local time (see
        :class:`~simulator.loaders.events.EventStream`).
    aggressor : ndarray, shape (rows,)
        +1 buyer-initiated trade on displayed asks, -1 seller-initiated on bids, else 0.
    bid_sz0, ask_sz0 : ndarray, shape (rows,)
        Shares at the best bid and best ask after each event.
    grid : SessionGrid, optional
        Session used (default 09:30-16:00 America/New_York, 1-minute intervals).
    horizon_s, min_lag_s : float
        Longest and shortest lag in seconds (default 300 and 0.001).
    n_lags : int, default 40
        Number of log-spaced lags.
    block_s : float, default 60
        Length of the blocks of events resampled by the bootstrap, seconds.

    Returns
    -------
    RecoveryCurve

    Raises
    ------
    InvalidParameterError
        If the lags or the block length are out of range, or array lengths differ.
    """
    grid = SessionGrid() if grid is None else grid
    lags_s = _lags(horizon_s, min_lag_s, n_lags)
    if not (np.isfinite(block_s) and block_s > 0):
        raise InvalidParameterError(f"block_s must be > 0; got {block_s!r}")
    t = np.asarray(local_ns, dtype=np.int64)
    arrays = [np.asarray(a) for a in (aggressor, bid_sz0, ask_sz0)]
    if any(a.shape != t.shape for a in arrays):
        raise InvalidParameterError(
            "local_ns, aggressor, bid_sz0 and ask_sz0 must have the same length; got "
            f"{[t.size, *(a.size for a in arrays)]}"
        )
    aggressor, bid0, ask0 = arrays[0], arrays[1].astype(float), arrays[2].astype(float)
    lags_ns = np.round(lags_s * 1e9).astype(np.int64)
    block_ns = int(round(block_s * 1e9))
    days = np.unique(t // NS_PER_DAY) if t.size else np.zeros(0, np.int64)
    nums, dens, block_day = [], [], []
    n_events = n_days = 0
    for d, day in enumerate(days):
        # One pass per day (days, not intervals); within a day everything is vectorised.
        lo, hi = np.searchsorted(t, [day * NS_PER_DAY, (day + 1) * NS_PER_DAY])
        start = int(day * NS_PER_DAY + grid.start_ns)
        end = int(day * NS_PER_DAY + grid.end_ns)
        num, den, mask, block = _day_curve(
            t[lo:hi], aggressor[lo:hi], bid0[lo:hi], ask0[lo:hi], start, end, lags_ns, block_ns
        )
        if den.size == 0:
            continue
        n_events += den.size
        n_days += 1
        ids, inverse = np.unique(block, return_inverse=True)
        n_b = ids.size
        sum_num = np.zeros((n_b, lags_s.size))
        sum_den = np.zeros((n_b, lags_s.size))
        np.add.at(sum_num, inverse, num)
        np.add.at(sum_den, inverse, np.where(mask, den[:, None], 0.0))
        nums.append(sum_num)
        dens.append(sum_den)
        block_day.append(np.full(n_b, d))
    if not nums:
        zero = np.zeros((0, lags_s.size))
        return RecoveryCurve(lags_s, zero, zero, np.zeros(0, np.int64), 0, 0)
    return RecoveryCurve(
        lags_s=lags_s,
        numerator=np.concatenate(nums),
        denominator=np.concatenate(dens),
        block_day=np.concatenate(block_day),
        n_events=n_events,
        n_days=n_days,
    )


def _lags(horizon_s, min_lag_s, n_lags) -> np.ndarray:
    if not (np.isfinite(min_lag_s) and min_lag_s > 0):
        raise InvalidParameterError(f"min_lag_s must be > 0; got {min_lag_s!r}")
    if not (np.isfinite(horizon_s) and horizon_s > min_lag_s):
        raise InvalidParameterError(
            f"horizon_s must be greater than min_lag_s ({min_lag_s!r}); got {horizon_s!r}"
        )
    if isinstance(n_lags, bool) or not isinstance(n_lags, int | np.integer) or n_lags < 3:
        raise InvalidParameterError(f"n_lags must be an integer >= 3; got {n_lags!r}")
    return np.geomspace(min_lag_s, horizon_s, int(n_lags))


# ---------------------------------------------------------------------- fit
def fit_recovery(deficit, lags_s) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fit of G(tau) = a exp(-ln2 tau / h) + c to one or many curves.

    For each half-life h on a log grid (from a tenth of the first lag to ten times the
    last, 3,000 points) a and c have a closed form; the best grid point is refined by a
    parabola through the squared error in log h.  Vectorised over curves.

    Parameters
    ----------
    deficit : ndarray, shape (K,) or (B, K)
        Deficit shares G at the lags (NaN entries are not allowed).
    lags_s : ndarray, shape (K,)
        Lags in seconds.

    Returns
    -------
    half_life_s, amplitude, offset, r_squared : ndarray, shape (B,)
        h, a, c and R^2.  When the fitted exponential recovers less than 5% of the
        initial deficit within the longest lag (or h is the top of the grid), h is not
        identified and is reported as inf if the deficit stayed above half on average
        (no recovery) or 0 if it was below (refilled before the first lag).
    """
    g = np.atleast_2d(np.asarray(deficit, dtype=float))
    lags = np.asarray(lags_s, dtype=float)
    grid = np.geomspace(lags[0] / 10.0, lags[-1] * 10.0, _GRID_POINTS)
    step = np.log(grid[1] / grid[0])
    basis = np.exp(-_LN2 * lags[None, :] / grid[:, None])  # (H, K)
    n_k = float(lags.size)
    s_ee = (basis * basis).sum(axis=1)
    s_e = basis.sum(axis=1)
    det = s_ee * n_k - s_e**2  # > 0 away from the flat limit
    ge = g @ basis.T  # (B, H)
    g1 = g.sum(axis=1, keepdims=True)
    gg = (g * g).sum(axis=1, keepdims=True)
    safe = det > 1e-12 * n_k * s_ee
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.where(safe, (n_k * ge - s_e * g1) / det, 0.0)
        off = np.where(safe, (s_ee * g1 - s_e * ge) / det, g1 / n_k)
    sse = gg - amp * ge - off * g1
    sse = np.where(amp >= 0, sse, np.inf)  # a growing deficit is not a recovery
    best = np.argmin(sse, axis=1)
    rows = np.arange(g.shape[0])
    inner = (best > 0) & (best < grid.size - 1)
    j = np.clip(best, 1, grid.size - 2)
    s0, s1, s2 = sse[rows, j - 1], sse[rows, j], sse[rows, j + 1]
    curv = s0 - 2.0 * s1 + s2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(inner & (curv > 0), 0.5 * (s0 - s2) / curv, 0.0)
    shift = np.clip(np.nan_to_num(shift), -1.0, 1.0)
    log_h = np.log(grid[best]) + np.where(inner, shift, 0.0) * step
    half_life = np.exp(log_h)
    e = np.exp(-_LN2 * lags[None, :] / half_life[:, None])
    s_ee_r, s_e_r = (e * e).sum(axis=1), e.sum(axis=1)
    ge_r = (g * e).sum(axis=1)
    det_r = s_ee_r * n_k - s_e_r**2
    with np.errstate(invalid="ignore", divide="ignore"):
        amp_r = (n_k * ge_r - s_e_r * g1[:, 0]) / det_r
        off_r = (s_ee_r * g1[:, 0] - s_e_r * ge_r) / det_r
    resid = g - amp_r[:, None] * e - off_r[:, None]
    total = ((g - g.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1.0 - (resid**2).sum(axis=1) / total
    # An exponential that recovers under 5% of the deficit within the horizon is not
    # identified: the deficit either never halved (inf) or halved before the first lag (0).
    recovered = amp_r * (1.0 - np.exp(-_LN2 * lags[-1] / half_life))
    flat = (best == grid.size - 1) | ~(recovered >= _MIN_RECOVERED)
    level = g.mean(axis=1)
    half_life = np.where(flat, np.where(level >= 0.5, np.inf, 0.0), half_life)
    none = ~np.isfinite(sse[rows, best])
    half_life = np.where(none & ~flat, np.nan, half_life)
    return half_life, amp_r, off_r, r2


def _method_text(curve: RecoveryCurve, block_s, n_boot, confidence) -> str:
    lags = curve.lags_s
    return (
        "Event study of depth at the touch: each timestamp with visible aggressive trades "
        "on one side (Databento side B/A trade records, LOBSTER type-4 executions) that "
        "left the touch depth on the consumed side below its pre-trade value and below the "
        "day's time-weighted mean touch depth Q-bar is an event; the deficit Q-bar - Q(t+tau) "
        f"is read at {lags.size} log-spaced lags from {lags[0]:g} to {lags[-1]:g} s and "
        "pooled as a ratio of sums over events, G(tau); G is fitted by least squares with "
        "a*exp(-ln2*tau/h) + c and h is the half-life. "
        f"{confidence:.0%} interval: percentile bootstrap over {block_s:g}-s blocks of "
        f"events resampled within days ({n_boot} resamples)."
    )


def resilience_from_events(
    local_ns,
    aggressor,
    bid_sz0,
    ask_sz0,
    *,
    grid: SessionGrid | None = None,
    horizon_s: float = 300.0,
    min_lag_s: float = 1e-3,
    n_lags: int = 40,
    block_s: float = 60.0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "",
) -> ResilienceEstimate:
    """Estimate the recovery half-life from a stream of sorted order-book events.

    Parameters
    ----------
    local_ns, aggressor, bid_sz0, ask_sz0
        As for :func:`recovery_curve`.
    grid, horizon_s, min_lag_s, n_lags, block_s
        As for :func:`recovery_curve`.
    n_boot : int, default 1000
        Bootstrap resamples (0: no interval, reported as NaN).
    confidence : float, default 0.95
        Coverage of the percentile interval, in (0, 1).
    seed : int, default 0
        Seed of the bootstrap.
    source : str, default ''
        Label stored on the result.

    Returns
    -------
    ResilienceEstimate

    Raises
    ------
    DataError
        If fewer than 30 events consumed depth at the touch.
    InvalidParameterError
        If a parameter is out of range.
    """
    grid = SessionGrid() if grid is None else grid
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise InvalidParameterError(f"n_boot must be an integer >= 0; got {n_boot!r}")
    if not (0 < confidence < 1):
        raise InvalidParameterError(f"confidence must be in (0, 1); got {confidence!r}")
    curve = recovery_curve(
        local_ns,
        aggressor,
        bid_sz0,
        ask_sz0,
        grid=grid,
        horizon_s=horizon_s,
        min_lag_s=min_lag_s,
        n_lags=n_lags,
        block_s=block_s,
    )
    return _estimate(curve, grid, block_s, int(n_boot), float(confidence), seed, source)


def _estimate(curve, grid, block_s, n_boot, confidence, seed, source) -> ResilienceEstimate:
    if curve.n_events < MIN_EVENTS:
        raise DataError(
            f"{source or 'events'}: only {curve.n_events} trades consumed depth at the touch; "
            f"the recovery half-life needs at least {MIN_EVENTS}"
        )
    g = curve.deficit
    keep = np.isfinite(g)
    lags = curve.lags_s[keep]
    h, a, c, r2 = (v[0] for v in fit_recovery(g[keep], lags))
    per_interval = 60.0 * grid.interval_minutes
    ci = (float("nan"), float("nan"))
    if n_boot:
        rng = np.random.default_rng(seed)
        weights = np.zeros((n_boot, curve.block_day.size))
        for d in np.unique(curve.block_day):
            # Resample blocks within each day, so every resample keeps the day mix.
            idx = np.flatnonzero(curve.block_day == d)
            weights[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), n_boot)
        num = weights @ curve.numerator[:, keep]
        den = weights @ curve.denominator[:, keep]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = np.where(den > 0, num / den, 0.0)
        h_boot = fit_recovery(boot, lags)[0]
        alpha = 1.0 - confidence
        h_boot = np.where(np.isnan(h_boot), np.inf, h_boot)
        lo, hi = np.quantile(h_boot, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
        ci = (float(lo), float(hi))
    return ResilienceEstimate(
        half_life_s=float(h),
        half_life_intervals=float(h) / per_interval,
        ci_s=ci,
        ci_intervals=(ci[0] / per_interval, ci[1] / per_interval),
        confidence=confidence,
        amplitude=float(a),
        persistent_fraction=float(c),
        immediate_fraction=float(1.0 - a - c),
        r_squared=float(r2),
        n_events=curve.n_events,
        n_days=curve.n_days,
        n_blocks=int(curve.block_day.size),
        n_boot=n_boot,
        interval_minutes=grid.interval_minutes,
        lags_s=curve.lags_s,
        deficit=g,
        method=_method_text(curve, block_s, n_boot, confidence),
        source=source,
    )


def daily_half_lives(
    local_ns, aggressor, bid_sz0, ask_sz0, days, grid: SessionGrid, **options
) -> np.ndarray:
    """Per-day point estimates of the half-life in intervals (NaN below 30 events).

    Parameters
    ----------
    local_ns, aggressor, bid_sz0, ask_sz0
        Sorted events as for :func:`recovery_curve`.
    days : ndarray of int64, shape (D,)
        Local dates (days since the epoch) to estimate, in order.
    grid : SessionGrid
        Session and interval length.
    **options
        ``horizon_s``, ``min_lag_s``, ``n_lags`` of :func:`recovery_curve`.

    Returns
    -------
    ndarray, shape (D,)
        Half-life in intervals per day; NaN when a day has fewer than 30 events.
    """
    t = np.asarray(local_ns, dtype=np.int64)
    out = np.full(len(days), np.nan)
    curves = []
    for i, day in enumerate(days):
        lo, hi = np.searchsorted(t, [day * NS_PER_DAY, (day + 1) * NS_PER_DAY])
        curve = recovery_curve(
            t[lo:hi], aggressor[lo:hi], bid_sz0[lo:hi], ask_sz0[lo:hi], grid=grid, **options
        )
        if curve.n_events >= MIN_EVENTS:
            curves.append((i, curve.deficit))
    if not curves:
        return out
    g = np.stack([c for _, c in curves])
    lags = _lags(
        options.get("horizon_s", 300.0), options.get("min_lag_s", 1e-3), options.get("n_lags", 40)
    )
    fine = np.all(np.isfinite(g), axis=1)
    if np.any(fine):
        h = fit_recovery(g[fine], lags)[0]
        idx = np.array([i for i, _ in curves])[fine]
        out[idx] = h / (60.0 * grid.interval_minutes)
    return out


def estimate_resilience(
    path_or_paths,
    format: str = "databento",
    *,
    interval_minutes: float = 1.0,
    session: tuple[str, str] = ("09:30", "16:00"),
    horizon_s: float = 300.0,
    min_lag_s: float = 1e-3,
    n_lags: int = 40,
    block_s: float = 60.0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **loader_options,
) -> ResilienceEstimate:
    """Estimate the book's recovery half-life from Databento MBP-10 or LOBSTER files.

    How fast depth at the touch refills after trades consume it (see the module
    docstring for the method), pooled over every day given, with a percentile bootstrap
    interval over 60-s blocks of events.  Use it on the training days only when the
    estimate feeds a backtest.

    Parameters
    ----------
    path_or_paths : str, Path, glob or list of them
        Databento MBP-10 files (``.csv``, ``.csv.gz``, ``.dbn``, ``.dbn.zst``) or LOBSTER
        order-book files (message files found by name, or ``message_path=``).
    format : {'databento', 'lobster'}, default 'databento'
        Source format.
    interval_minutes : float, default 1
        Interval of the session grid the half-life is also expressed in.
    session : tuple of str, default ('09:30', '16:00')
        Session whose events are used, local time.
    horizon_s, min_lag_s, n_lags, block_s
        Lag grid (seconds) and bootstrap block length (seconds).
    n_boot : int, default 1000
        Bootstrap resamples.
    confidence : float, default 0.95
        Interval coverage.
    seed : int, default 0
        Bootstrap seed.
    **loader_options
        ``symbol``, ``levels``, ``tz`` (Databento), ``message_path``, ``date``
        (LOBSTER).

    Returns
    -------
    ResilienceEstimate

    Raises
    ------
    DataError
        If a file cannot be read (as the loaders), or fewer than 30 events are usable.
    InvalidParameterError
        If ``format`` or a parameter is invalid.

    Examples
    --------
    >>> est = estimate_resilience("FROG_2025-04-03_mbp10.csv.gz")  # doctest: +SKIP
    >>> print(est.summary())  # doctest: +SKIP
    """
    from .dispatch import read_event_streams

    tz = loader_options.pop("tz", "America/New_York")
    grid = SessionGrid(interval_minutes=interval_minutes, session=tuple(session), tz=tz)
    streams = read_event_streams(path_or_paths, format, grid=grid, **loader_options)
    parts = [s.sorted()[0] for s in streams]
    local_ns = np.concatenate([p.local_ns for p in parts])
    order = np.argsort(local_ns, kind="stable")
    aggressor = np.concatenate([p.aggressor for p in parts])[order]
    bid0 = np.concatenate([p.book["bid_sz"][:, 0] for p in parts])[order]
    ask0 = np.concatenate([p.book["ask_sz"][:, 0] for p in parts])[order]
    names = [p.source for p in parts]
    source = names[0] if len(names) == 1 else f"{len(names)} files ({names[0]} .. {names[-1]})"
    return resilience_from_events(
        local_ns[order],
        aggressor,
        bid0,
        ask0,
        grid=grid,
        horizon_s=horizon_s,
        min_lag_s=min_lag_s,
        n_lags=n_lags,
        block_s=block_s,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        source=source,
    )
