"""Synthetic intraday markets: multi-day :class:`~models.BookSnapshots` with liquidity regimes.

The generator draws, for every day, interval and book level at once (arrays shaped
``(days, intervals, levels)``; no Python loop over minutes or levels):

* **mid price** -- a geometric random walk whose per-interval volatility follows an
  intraday U shape (``volatility_u_ratio``), with an overnight gap between days and an
  optional drift; prices are rounded to the tick;
* **spread** -- an integer number of ticks, wide at the open (``spread_ticks_open``)
  decaying to ``spread_ticks_midday``, times persistent lognormal noise;
* **depth per level** -- an intraday U-shaped profile (``depth_u_ratio``) growing away from
  the touch (``depth_growth_per_level``), times lognormal day-to-day noise and
  minute-to-minute AR(1) noise (``noise_persistence``) common to the levels, plus
  level-specific AR(1) noise; sizes are whole shares >= 1;
* **traded volume** -- U-shaped (``volume_u_ratio``), lognormal AR(1) noise correlated with
  the depth noise (``volume_depth_correlation``).

Default orders of magnitude were measured on the real files in ``../shared/data``
(one-minute snapshots of the 09:30-16:00 session):

=====  ======  ===========  ===================  ===================  =============
stock  mid $   spread       depth per level      volume per minute    daily vol
=====  ======  ===========  ===================  ===================  =============
FROG   31.5    6 ticks      ~100-130 shares      mean 597, median     2.7 %
       (2025)  (open 44,    (touch 25 midday,    159 (open 1,980,
               midday 5)    290 open, 680 close) midday 180, close
                                                 1,650)
GOOG   570     25 ticks     ~100 shares          mean 1,811           1.0 %
AMZN   223     13 ticks     ~100 shares          mean 2,079           1.5 %
=====  ======  ===========  ===================  ===================  =============

(GOOG levels are 2-3 ticks apart; FROG and AMZN levels 1 tick.  Minute-to-minute standard
deviation of the change of log total depth: FROG 0.31, GOOG 0.46, AMZN 0.81; correlation
of log volume with log depth 0.15-0.19.)  The defaults are FROG-like.

Regimes (``regime=``) are presets of :class:`MarketParams` plus a regime path:

``calm``
    Flat intraday profiles, lower volatility.
``u_shape`` (default)
    U-shaped volatility, depth and volume; spread wide at the open.
``stressed``
    ``u_shape`` made thin and wide all day (``stressed_*`` factors).
``event``
    ``u_shape`` with a liquidity shock in ``[event_start, event_start + event_length)`` on
    days hit with probability ``event_probability`` (``event_*`` factors).
``markov``
    ``calm`` with hidden switching between calm and stressed states (transition
    probabilities per interval ``markov_calm_to_stressed``, ``markov_stressed_to_calm``).
``trend``
    ``u_shape`` with a drift of ``drift_per_day`` (default 2 % per day).
``calibrated``
    The intraday profiles estimated from real snapshots by :func:`calibrate_params`, with
    the same noise model (pass ``profile=calibrate_params(books)``).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np

from models.errors import InvalidParameterError, InvalidTypeError
from models.snapshots import BookSnapshots

from .filters import ar1_filter

__all__ = [
    "REGIMES",
    "IntradayProfile",
    "MarketParams",
    "SyntheticMarket",
    "calibrate_params",
    "synthesize_market",
]

REGIMES = ("calm", "u_shape", "stressed", "event", "markov", "trend", "calibrated")
"""Names accepted by :func:`synthesize_market`."""

_SESSION_MINUTES = 390.0
_SESSION_OPEN_NS = (9 * 3600 + 30 * 60) * 1_000_000_000


@dataclass(frozen=True, eq=False)
class IntradayProfile:
    """Typical (median) intraday liquidity profiles, one value per interval.

    Parameters
    ----------
    spread_ticks : ndarray, shape (N,)
        Quoted spread in ticks (>= 1).
    depth_shares : ndarray, shape (N, L)
        Displayed shares per level on one side, level 0 at the touch (> 0).
    volume_shares : ndarray, shape (N,)
        Mean shares traded per interval (>= 0).
    volatility : ndarray, shape (N,)
        Standard deviation of the log mid return into each interval (dimensionless, >= 0).

    Raises
    ------
    InvalidParameterError
        If shapes disagree or values are out of range.
    """

    spread_ticks: np.ndarray
    depth_shares: np.ndarray
    volume_shares: np.ndarray
    volatility: np.ndarray

    def __post_init__(self) -> None:
        depth = np.array(self.depth_shares, dtype=float)
        if depth.ndim != 2 or depth.shape[0] == 0 or depth.shape[1] == 0:
            raise InvalidParameterError(
                f"depth_shares must have shape (intervals, levels); got shape {depth.shape}"
            )
        n = depth.shape[0]
        checks = {
            "spread_ticks": (1.0, "spread_ticks must be finite and >= 1"),
            "volume_shares": (0.0, "volume_shares must be finite and >= 0"),
            "volatility": (0.0, "volatility must be finite and >= 0"),
        }
        for name, (low, msg) in checks.items():
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != (n,):
                raise InvalidParameterError(f"{name} must have shape {(n,)}; got {arr.shape}")
            bad = ~np.isfinite(arr) | (arr < low)
            if np.any(bad):
                raise InvalidParameterError(f"{msg}; got {float(arr[bad][0])!r}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        bad = ~np.isfinite(depth) | (depth <= 0)
        if np.any(bad):
            raise InvalidParameterError(
                f"depth_shares must be finite and > 0; got {float(depth[bad][0])!r}"
            )
        depth.setflags(write=False)
        object.__setattr__(self, "depth_shares", depth)

    @property
    def n_intervals(self) -> int:
        """Number of intervals N."""
        return self.depth_shares.shape[0]

    @property
    def n_levels(self) -> int:
        """Number of book levels L."""
        return self.depth_shares.shape[1]


def _check(name: str, value, low: float, high: float = np.inf, low_open: bool = False) -> None:
    ok = isinstance(value, int | float | np.integer | np.floating) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise InvalidParameterError(f"{name} must be in {bracket}{low}, {high}]; got {value!r}")


@dataclass(frozen=True, kw_only=True)
class MarketParams:
    """Parameters of the synthetic market, with units and FROG-like defaults.

    Parameters
    ----------
    initial_price_usd : float, default 31.0
        Mid price at the first open, dollars (FROG 31.5, GOOG 570, AMZN 223).
    tick_size_usd : float, default 0.01
        Minimum price increment, dollars.
    daily_volatility : float, default 0.02
        Standard deviation of the open-to-close log return (FROG 0.027, GOOG 0.010,
        AMZN 0.015), spread over the intervals along the U-shaped volatility profile.
    overnight_volatility : float, default 0.01
        Standard deviation of the log gap between a close and the next open.
    drift_per_day : float, default 0.0
        Expected open-to-close log return (the ``trend`` regime uses 0.02).
    volatility_u_ratio : float, default 3.0
        Per-interval volatility at the open and close relative to midday (FROG ~4).
    u_shape_power : float, default 4.0
        Exponent p of the U shape ``1 + (ratio - 1) * |2 tau - 1|^p``, tau in [0, 1] the
        time of day; larger p gives a flatter middle and steeper edges.
    spread_ticks_midday : float, default 5.0
        Median quoted spread at midday, ticks (FROG 5).
    spread_ticks_open : float, default 30.0
        Median quoted spread at the open, ticks, decaying to midday (FROG 44 in the first
        half hour).
    spread_open_decay_intervals : float, default 15.0
        e-folding time of the opening spread, intervals.
    spread_noise_sd : float, default 0.3
        Standard deviation of the lognormal AR(1) spread noise.
    level_gap_ticks : float, default 1.0
        Mean distance between adjacent levels, ticks (>= 1; gaps are 1 + Poisson).
        FROG and AMZN 1, GOOG 2-3.
    depth_touch_shares : float, default 100.0
        Median displayed shares at the touch at midday, per side.
    depth_growth_per_level : float, default 0.02
        Fractional growth of the median size per level away from the touch (level l holds
        ``depth_touch_shares * (1 + growth)**l``); real books are nearly flat.
    depth_u_ratio : float, default 3.0
        Depth at the open and close relative to midday.
    day_noise_sd : float, default 0.3
        Standard deviation of the lognormal day-to-day depth multiplier.
    minute_noise_sd : float, default 0.35
        Stationary standard deviation of the log AR(1) depth noise common to all levels
        (with persistence 0.8 the change per minute has sd 0.31, as FROG).
    noise_persistence : float, default 0.8
        AR(1) coefficient per interval of the minute-to-minute noises, in [0, 1).
    level_noise_sd : float, default 0.4
        Stationary standard deviation of the level-specific log AR(1) size noise.
    volume_midday_shares : float, default 180.0
        Mean shares traded per interval at midday (FROG 180).
    volume_u_ratio : float, default 12.0
        Volume at the open and close relative to midday (FROG ~11 for the first and last
        half hours; the default day mean is ~580 shares per minute, FROG 597).
    volume_noise_sd : float, default 0.6
        Stationary standard deviation of the log AR(1) volume noise (mean-preserving:
        the multiplier is ``exp(noise - sd**2 / 2)``).
    volume_depth_correlation : float, default 0.3
        Correlation of the log volume noise with the common log depth noise, in [-1, 1].
    stressed_depth_factor : float, default 0.3
        Depth multiplier in stressed intervals.
    stressed_spread_factor : float, default 3.0
        Spread multiplier in stressed intervals.
    stressed_volatility_factor : float, default 2.0
        Volatility multiplier in stressed intervals.
    stressed_volume_factor : float, default 1.5
        Volume multiplier in stressed intervals.
    event_start : int, default 180
        First interval of the event window (0-based).
    event_length : int, default 30
        Length of the event window, intervals.
    event_depth_factor : float, default 0.2
        Depth multiplier inside the event window.
    event_spread_factor : float, default 4.0
        Spread multiplier inside the event window.
    event_volatility_factor : float, default 3.0
        Volatility multiplier inside the event window.
    event_volume_factor : float, default 3.0
        Volume multiplier inside the event window.
    event_probability : float, default 0.25
        Probability that a given day has an event, drawn independently per day.
    markov_calm_to_stressed : float, default 0.01
        Probability per interval of switching from calm to stressed (``markov``).
    markov_stressed_to_calm : float, default 0.05
        Probability per interval of switching from stressed back to calm (``markov``).
    profile : IntradayProfile or None, default None
        Explicit intraday profiles (``calibrated``); when set they replace the parametric
        volatility, spread, depth and volume profiles.

    Raises
    ------
    InvalidParameterError
        If a value is outside its range.
    """

    initial_price_usd: float = 31.0
    tick_size_usd: float = 0.01
    daily_volatility: float = 0.02
    overnight_volatility: float = 0.01
    drift_per_day: float = 0.0
    volatility_u_ratio: float = 3.0
    u_shape_power: float = 4.0
    spread_ticks_midday: float = 5.0
    spread_ticks_open: float = 30.0
    spread_open_decay_intervals: float = 15.0
    spread_noise_sd: float = 0.3
    level_gap_ticks: float = 1.0
    depth_touch_shares: float = 100.0
    depth_growth_per_level: float = 0.02
    depth_u_ratio: float = 3.0
    day_noise_sd: float = 0.3
    minute_noise_sd: float = 0.35
    noise_persistence: float = 0.8
    level_noise_sd: float = 0.4
    volume_midday_shares: float = 180.0
    volume_u_ratio: float = 12.0
    volume_noise_sd: float = 0.6
    volume_depth_correlation: float = 0.3
    stressed_depth_factor: float = 0.3
    stressed_spread_factor: float = 3.0
    stressed_volatility_factor: float = 2.0
    stressed_volume_factor: float = 1.5
    event_start: int = 180
    event_length: int = 30
    event_depth_factor: float = 0.2
    event_spread_factor: float = 4.0
    event_volatility_factor: float = 3.0
    event_volume_factor: float = 3.0
    event_probability: float = 0.25
    markov_calm_to_stressed: float = 0.01
    markov_stressed_to_calm: float = 0.05
    profile: IntradayProfile | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        positive = (
            "initial_price_usd",
            "tick_size_usd",
            "volatility_u_ratio",
            "u_shape_power",
            "spread_open_decay_intervals",
            "depth_touch_shares",
            "depth_u_ratio",
            "volume_u_ratio",
            "stressed_depth_factor",
            "stressed_spread_factor",
            "stressed_volatility_factor",
            "stressed_volume_factor",
            "event_depth_factor",
            "event_spread_factor",
            "event_volatility_factor",
            "event_volume_factor",
        )
        for name in positive:
            _check(name, getattr(self, name), 0.0, low_open=True)
        nonneg = (
            "daily_volatility",
            "overnight_volatility",
            "spread_noise_sd",
            "day_noise_sd",
            "minute_noise_sd",
            "level_noise_sd",
            "volume_noise_sd",
            "volume_midday_shares",
        )
        for name in nonneg:
            _check(name, getattr(self, name), 0.0)
        _check("drift_per_day", self.drift_per_day, -np.inf)
        _check("spread_ticks_midday", self.spread_ticks_midday, 1.0)
        _check("spread_ticks_open", self.spread_ticks_open, 1.0)
        _check("level_gap_ticks", self.level_gap_ticks, 1.0)
        _check("depth_growth_per_level", self.depth_growth_per_level, -1.0, low_open=True)
        _check("volume_depth_correlation", self.volume_depth_correlation, -1.0, 1.0)
        _check("event_probability", self.event_probability, 0.0, 1.0)
        _check("markov_calm_to_stressed", self.markov_calm_to_stressed, 0.0, 1.0)
        _check("markov_stressed_to_calm", self.markov_stressed_to_calm, 0.0, 1.0)
        if not (0.0 <= self.noise_persistence < 1.0):
            raise InvalidParameterError(
                f"noise_persistence must be in [0, 1); got {self.noise_persistence!r}"
            )
        for name in ("event_start", "event_length"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 0:
                raise InvalidParameterError(f"{name} must be an integer >= 0; got {value!r}")
        if self.profile is not None and not isinstance(self.profile, IntradayProfile):
            raise InvalidTypeError(
                f"profile must be an IntradayProfile or None; got {type(self.profile).__name__}"
            )

    def intraday_profile(self, intervals: int, levels: int) -> IntradayProfile:
        """Median intraday profiles implied by these parameters.

        Parameters
        ----------
        intervals, levels : int
            Number of intervals N per day and of book levels L per side.

        Returns
        -------
        IntradayProfile
            :attr:`profile` adapted to ``levels`` (missing deep levels repeat the deepest
            one, extra levels are dropped) if set, else the parametric U-shaped profiles.

        Raises
        ------
        InvalidParameterError
            If :attr:`profile` has a different number of intervals.
        """
        if self.profile is not None:
            prof = self.profile
            if prof.n_intervals != intervals:
                raise InvalidParameterError(
                    f"intervals must equal the calibrated profile's {prof.n_intervals}; "
                    f"got {intervals}"
                )
            idx = np.minimum(np.arange(levels), prof.n_levels - 1)
            return dataclasses.replace(prof, depth_shares=prof.depth_shares[:, idx])
        tau = (np.arange(intervals) + 0.5) / intervals
        u = np.abs(2.0 * tau - 1.0) ** self.u_shape_power
        vol_shape = 1.0 + (self.volatility_u_ratio - 1.0) * u
        volatility = self.daily_volatility * vol_shape / np.sqrt(np.sum(vol_shape**2))
        opening = np.exp(-np.arange(intervals) / self.spread_open_decay_intervals)
        spread = (
            self.spread_ticks_midday + (self.spread_ticks_open - self.spread_ticks_midday) * opening
        )
        growth = (1.0 + self.depth_growth_per_level) ** np.arange(levels)
        depth = self.depth_touch_shares * (1.0 + (self.depth_u_ratio - 1.0) * u)[:, None] * growth
        volume = self.volume_midday_shares * (1.0 + (self.volume_u_ratio - 1.0) * u)
        return IntradayProfile(
            spread_ticks=np.maximum(spread, 1.0),
            depth_shares=depth,
            volume_shares=volume,
            volatility=volatility,
        )


_PRESETS: dict[str, dict[str, float]] = {
    "calm": {
        "volatility_u_ratio": 1.0,
        "depth_u_ratio": 1.0,
        "volume_u_ratio": 1.0,
        "spread_ticks_open": 5.0,
        "daily_volatility": 0.012,
    },
    "u_shape": {},
    "stressed": {},
    "event": {},
    "markov": {
        "volatility_u_ratio": 1.0,
        "depth_u_ratio": 1.0,
        "volume_u_ratio": 1.0,
        "spread_ticks_open": 5.0,
        "daily_volatility": 0.012,
    },
    "trend": {"drift_per_day": 0.02},
    "calibrated": {},
}


@dataclass(frozen=True, eq=False)
class SyntheticMarket:
    """A synthetic multi-day market.

    Attributes
    ----------
    books : BookSnapshots
        Snapshots shaped (days, intervals, levels), prices in dollars, sizes and volume in
        shares; usable exactly like real data.
    regime_path : ndarray of str, shape (days, intervals)
        Liquidity state of each interval: ``'calm'``, ``'u_shape'``, ``'stressed'``,
        ``'event'``, ``'trend'`` or ``'calibrated'``.
    params : MarketParams
        The parameters used (regime preset plus overrides).
    regime : str
        Regime name passed to :func:`synthesize_market`.
    seed : int
        Seed used.
    """

    books: BookSnapshots
    regime_path: np.ndarray
    params: MarketParams
    regime: str
    seed: int


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], sd: float, phi: float) -> np.ndarray:
    """Stationary Gaussian AR(1) noise along axis 1 with standard deviation ``sd``."""
    innov = rng.standard_normal(shape)
    innov[:, 1:] *= np.sqrt(1.0 - phi * phi)
    return sd * ar1_filter(innov, phi, axis=1)


def _regime_states(
    regime: str, params: MarketParams, days: int, intervals: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stressed mask, event mask, labels), each (days, intervals)."""
    stressed = np.zeros((days, intervals), dtype=bool)
    event = np.zeros((days, intervals), dtype=bool)
    base = {"markov": "calm"}.get(regime, regime)
    labels = np.full((days, intervals), base, dtype="<U10")
    if regime == "stressed":
        stressed[:] = True
    elif regime == "event":
        hit = rng.random(days) < params.event_probability
        t = np.arange(intervals)
        window = (t >= params.event_start) & (t < params.event_start + params.event_length)
        event = hit[:, None] & window[None, :]
        labels = np.where(event, "event", "u_shape").astype(labels.dtype)
    elif regime == "markov":
        p_in, p_out = params.markov_calm_to_stressed, params.markov_stressed_to_calm
        stationary = p_in / (p_in + p_out) if p_in + p_out > 0 else 0.0
        u = rng.random((days, intervals))
        state = u[:, 0] < stationary
        stressed[:, 0] = state
        # A hidden chain is sequential in time; the state is a vector over days.
        for t in range(1, intervals):
            state = np.where(state, u[:, t] >= p_out, u[:, t] < p_in)
            stressed[:, t] = state
        labels = np.where(stressed, "stressed", "calm").astype(labels.dtype)
    return stressed, event, labels


def _session_starts(intervals: int) -> np.ndarray:
    step = int(round(_SESSION_MINUTES * 60e9 / intervals))
    return (_SESSION_OPEN_NS + step * np.arange(intervals, dtype=np.int64)).astype(
        "timedelta64[ns]"
    )


def synthesize_market(
    regime: str = "u_shape",
    days: int = 20,
    intervals: int = 390,
    levels: int = 10,
    seed: int = 0,
    start_date: str = "2024-01-02",
    symbol: str = "SYN",
    profile: MarketParams | IntradayProfile | None = None,
    **params,
) -> SyntheticMarket:
    """Generate a synthetic multi-day market in a liquidity regime.

    Parameters
    ----------
    regime : str, default 'u_shape'
        One of :data:`REGIMES` (see the module docstring).
    days : int, default 20
        Number of trading days (business days from ``start_date``).
    intervals : int, default 390
        Intervals per 09:30-16:00 session (390 one-minute bins).
    levels : int, default 10
        Book levels per side.
    seed : int, default 0
        Seed of ``numpy.random.SeedSequence``; the same seed gives bit-identical output.
    start_date : str, default '2024-01-02'
        First trading date (rolled forward to a business day).
    symbol : str, default 'SYN'
        Symbol stored in the snapshots.
    profile : MarketParams or IntradayProfile, optional
        Required for ``regime='calibrated'``: the result of :func:`calibrate_params` (its
        scalar parameters and profiles) or bare profiles.  With another regime the profiles
        replace the parametric shapes and the regime's states (stressed, event, Markov
        switching) and drift act on top of them.
    **params
        Overrides of any :class:`MarketParams` field (units as documented there).

    Returns
    -------
    SyntheticMarket

    Raises
    ------
    InvalidParameterError
        If the regime or a parameter is unknown or out of range, or ``calibrated`` is
        requested without a profile.
    """
    if regime not in REGIMES:
        raise InvalidParameterError(f"regime must be one of {REGIMES}; got {regime!r}")
    for name, value, low in (("days", days, 1), ("intervals", intervals, 2), ("levels", levels, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError(f"seed must be an integer >= 0; got {seed!r}")
    known = {f.name for f in dataclasses.fields(MarketParams)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidParameterError(
            f"params must be MarketParams fields; got unknown {', '.join(map(repr, unknown))}"
        )
    if regime == "calibrated":
        if profile is None:
            raise InvalidParameterError(
                "profile must be given for regime 'calibrated'; got None "
                "(use profile=calibrate_params(books))"
            )
    if isinstance(profile, MarketParams):
        base = profile
    elif isinstance(profile, IntradayProfile) or profile is None:
        base = MarketParams() if profile is None else MarketParams(profile=profile)
    else:
        raise InvalidTypeError(
            f"profile must be MarketParams or IntradayProfile; got {type(profile).__name__}"
        )
    p = dataclasses.replace(base, **{**_PRESETS[regime], **params})
    prof = p.intraday_profile(intervals, levels)

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    rng_regime, rng_price, rng_spread, rng_gap, rng_depth, rng_level, rng_vol, _ = streams
    stressed, event, labels = _regime_states(regime, p, days, intervals, rng_regime)

    def factor(stress_value: float, event_value: float) -> np.ndarray:
        return np.where(stressed, stress_value, 1.0) * np.where(event, event_value, 1.0)

    depth_mult = factor(p.stressed_depth_factor, p.event_depth_factor)
    spread_mult = factor(p.stressed_spread_factor, p.event_spread_factor)
    vol_mult = factor(p.stressed_volatility_factor, p.event_volatility_factor)
    volume_mult = factor(p.stressed_volume_factor, p.event_volume_factor)
    phi = p.noise_persistence

    # Mid: log returns into each interval; interval 0 of a day carries the overnight gap.
    returns = prof.volatility * vol_mult * rng_price.standard_normal((days, intervals))
    returns += p.drift_per_day / intervals
    returns[:, 0] = p.overnight_volatility * rng_price.standard_normal(days)
    returns[0, 0] = 0.0
    log_mid = np.log(p.initial_price_usd) + np.cumsum(returns.ravel()).reshape(days, intervals)
    mid_ticks = np.exp(log_mid) / p.tick_size_usd

    spread_noise = _ar1(rng_spread, (days, intervals), p.spread_noise_sd, phi)
    spread = np.maximum(np.rint(prof.spread_ticks * spread_mult * np.exp(spread_noise)), 1.0)
    best_bid = np.rint(mid_ticks - 0.5 * spread)
    best_ask = best_bid + spread
    # Distances between levels, in ticks: 1 + Poisson, so prices strictly move away.
    gaps = 1.0 + rng_gap.poisson(p.level_gap_ticks - 1.0, (2, days, intervals, levels - 1))
    offsets = np.concatenate([np.zeros((2, days, intervals, 1)), np.cumsum(gaps, axis=-1)], -1)
    bid_ticks = best_bid[..., None] - offsets[0]
    ask_ticks = best_ask[..., None] + offsets[1]

    day_noise = p.day_noise_sd * rng_depth.standard_normal((days, 1))
    common = day_noise + _ar1(rng_depth, (days, intervals), p.minute_noise_sd, phi)
    level_noise = _ar1(rng_level, (days, intervals, 2 * levels), p.level_noise_sd, phi).reshape(
        days, intervals, 2, levels
    )
    typical = prof.depth_shares * depth_mult[..., None]  # (days, intervals, levels)
    sizes = np.maximum(
        np.rint(typical[:, :, None, :] * np.exp(common[..., None, None] + level_noise)), 1.0
    )
    bid_sz, ask_sz = sizes[:, :, 0], sizes[:, :, 1]

    rho = p.volume_depth_correlation
    minute_std = (common - day_noise) / p.minute_noise_sd if p.minute_noise_sd > 0 else 0.0
    own = _ar1(rng_vol, (days, intervals), 1.0, phi)
    volume_noise = p.volume_noise_sd * (rho * minute_std + np.sqrt(1.0 - rho * rho) * own)
    volume = np.rint(
        prof.volume_shares * volume_mult * np.exp(volume_noise - 0.5 * p.volume_noise_sd**2)
    )

    # A bid at or below zero cannot exist: such deep levels are empty (they trail).
    bid_empty = bid_ticks <= 0
    bid_px = np.where(bid_empty, np.nan, bid_ticks * p.tick_size_usd)
    bid_sz = np.where(bid_empty, 0.0, bid_sz)
    ask_px = ask_ticks * p.tick_size_usd

    dates = np.busday_offset(
        np.datetime64(start_date, "D"), np.arange(days), roll="forward"
    ).astype("datetime64[D]")
    books = BookSnapshots(
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        volume=volume,
        dates=dates,
        interval_starts=_session_starts(intervals),
        symbol=symbol,
        tick_size=p.tick_size_usd,
    )
    labels.setflags(write=False)
    return SyntheticMarket(books=books, regime_path=labels, params=p, regime=regime, seed=seed)


def _smooth(values: np.ndarray, window: int, axis: int = 0) -> np.ndarray:
    """Running median then running mean along ``axis`` (edges held), robust to spikes."""
    if window <= 1:
        return values
    size = [1] * values.ndim
    size[axis] = window
    from scipy.ndimage import median_filter, uniform_filter1d

    med = median_filter(values, size=tuple(size), mode="nearest")
    return uniform_filter1d(med, size=window, axis=axis, mode="nearest")


def _robust_sd(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (robust to heavy tails)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _ar1_fit(resid: np.ndarray) -> tuple[float, float]:
    """(robust stationary sd, lag-1 autocorrelation) of residuals (days, intervals)."""
    resid = resid - np.median(resid, axis=1, keepdims=True)
    sd = _robust_sd(resid)
    scale = float(np.mean(resid**2))
    if sd == 0.0 or scale == 0.0:
        return sd, 0.0
    rho = float(np.mean(resid[:, 1:] * resid[:, :-1]) / scale)
    return sd, float(np.clip(rho, 0.0, 0.99))


def calibrate_params(books: BookSnapshots, smoothing_intervals: int = 15) -> MarketParams:
    """Estimate the synthetic market's profiles and noise from real snapshots.

    Intraday profiles (pooled over days, and over both sides for depth) are medians per
    interval smoothed by a running median then a running mean of ``smoothing_intervals``
    (spread in ticks, shares per level), the mean traded volume per interval (running
    mean), and the volatility of the log mid return into each interval (root mean square,
    smoothed).  Noise parameters come from
    the log residuals around the profiles: the common depth noise (stationary sd and lag-1
    autocorrelation), the level-specific size noise, the spread and volume noise and the
    volume-depth correlation; the day-to-day depth noise needs at least two days (it
    keeps its default otherwise).

    Parameters
    ----------
    books : BookSnapshots
        Real snapshots, one day or more.
    smoothing_intervals : int, default 15
        Smoothing window, intervals (1 disables smoothing).

    Returns
    -------
    MarketParams
        With :attr:`MarketParams.profile` set; pass it as
        ``synthesize_market('calibrated', profile=...)``.

    Raises
    ------
    InvalidTypeError
        If ``books`` is not a BookSnapshots.
    InvalidParameterError
        If ``smoothing_intervals`` is not an integer >= 1.
    """
    from scipy.ndimage import uniform_filter1d

    if not isinstance(books, BookSnapshots):
        raise InvalidTypeError(f"books must be a BookSnapshots; got {type(books).__name__}")
    if not isinstance(smoothing_intervals, int | np.integer) or smoothing_intervals < 1:
        raise InvalidParameterError(
            f"smoothing_intervals must be an integer >= 1; got {smoothing_intervals!r}"
        )
    w = int(smoothing_intervals)
    tick = books.tick_size
    mid = books.mid
    spread_ticks = np.maximum(books.spread / tick, 1.0)
    spread_prof = np.maximum(_smooth(np.median(spread_ticks, axis=0), w), 1.0)

    sizes = np.stack([books.bid_sz, books.ask_sz])  # (2, days, intervals, levels)
    sizes = np.where(sizes > 0, sizes, np.nan)
    with warnings.catch_warnings():
        # All-NaN slices (levels never displayed) are handled just below.
        warnings.simplefilter("ignore", RuntimeWarning)
        level_med = np.nanmedian(sizes, axis=(0, 1))  # (intervals, levels)
        fill = np.nanmedian(level_med, axis=0)
    # Levels never seen in an interval take that level's median; never seen at all, the
    # nearest shallower seen level's median (1 share if none).
    seen = np.isfinite(fill)
    source = np.maximum.accumulate(np.where(seen, np.arange(fill.size), -1))
    fill = np.where(source >= 0, fill[np.maximum(source, 0)], 1.0)
    level_med = np.where(np.isfinite(level_med), level_med, fill)
    depth_prof = np.exp(_smooth(np.log(level_med), w, axis=0))

    # Volume is a flow: its profile is the smoothed mean, so expected volume is preserved.
    volume_prof = uniform_filter1d(books.volume.mean(axis=0), size=w, mode="reflect")
    log_mid = np.log(mid)
    returns = np.diff(log_mid, axis=1)
    sq = np.concatenate([returns[:, :1] ** 2, returns**2], axis=1).mean(axis=0)
    vol_prof = np.sqrt(np.maximum(uniform_filter1d(sq, size=max(w, 2) * 2, mode="nearest"), 0.0))

    total = np.nansum(sizes, axis=(0, 3)) / 2.0  # mean per side (days, intervals)
    log_depth_resid = np.log(np.maximum(total, 1.0)) - np.log(depth_prof.sum(axis=1))
    minute_sd, persistence = _ar1_fit(log_depth_resid)
    day_sd = (
        float(np.std(log_depth_resid.mean(axis=1), ddof=1))
        if books.n_days > 1
        else MarketParams.day_noise_sd
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level_resid = np.log(sizes) - np.log(depth_prof) - log_depth_resid[None, :, :, None]
        level_sd = _robust_sd(level_resid)
    spread_sd, _ = _ar1_fit(np.log(spread_ticks) - np.log(spread_prof))
    # Minutes without trades have no log: the volume noise is measured where trades occur.
    traded = books.volume > 0
    log_vol_resid = np.where(traded, np.log(np.maximum(books.volume, 1.0)), np.nan) - np.log(
        np.maximum(volume_prof, 1.0)
    )
    volume_sd = _robust_sd(log_vol_resid)
    log_vol_resid = np.where(traded, log_vol_resid, 0.0)
    a = log_depth_resid - log_depth_resid.mean(axis=1, keepdims=True)
    b = log_vol_resid - log_vol_resid.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    corr = float(np.clip(np.sum(a * b) / denom, -1.0, 1.0)) if denom > 0 else 0.0
    ask, bid = books.ask_px, books.bid_px
    gaps = np.concatenate([np.diff(ask, axis=-1), -np.diff(bid, axis=-1)], axis=-1) / tick
    gap = float(np.nanmedian(gaps)) if np.any(np.isfinite(gaps)) else 1.0
    profile = IntradayProfile(
        spread_ticks=spread_prof,
        depth_shares=depth_prof,
        volume_shares=volume_prof,
        volatility=vol_prof,
    )
    return MarketParams(
        initial_price_usd=float(mid[0, 0]),
        tick_size_usd=tick,
        daily_volatility=float(np.sqrt(np.sum(vol_prof**2))),
        spread_ticks_midday=float(np.median(spread_prof)),
        spread_ticks_open=float(spread_prof[0]),
        level_gap_ticks=max(1.0, gap),
        depth_touch_shares=float(np.median(depth_prof[:, 0])),
        day_noise_sd=day_sd,
        minute_noise_sd=minute_sd,
        noise_persistence=persistence,
        level_noise_sd=level_sd,
        spread_noise_sd=spread_sd,
        volume_midday_shares=float(np.median(volume_prof)),
        volume_noise_sd=volume_sd,
        volume_depth_correlation=corr,
        profile=profile,
    )
