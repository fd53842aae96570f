"""Replaying books and charging schedules their realised impact: :class:`Market`.

The simulator is the truth a schedule is charged against (DESIGN.md, "Realisation").  For
each interval t of the test day the child order of ``x_t`` shares walks that interval's
replayed (or synthetic) book, on top of which two effects of the order itself apply:

* **transient impact** -- the liquidity the order consumed recovers with a half-life of
  ``transient_half_life`` intervals.  The consumed-shares state is
  ``D_t = sum_{s<t} x_s r^(t-s)`` with ``r = 2^(-1/half_life)`` (``D_0 = 0``; ``r = 0`` for
  a half-life of 0, so the book is fully replenished each interval; ``r = 1`` for an
  infinite half-life).  The book at t is the replayed book with its first ``D_t`` shares on
  the walked side removed, so the child order costs ``C_t(D_t + x_t) - C_t(D_t)``, where
  ``C_t`` is the cost of walking the replayed book from the touch (models.book_walk);
* **permanent impact** -- every share traded moves all later prices, mids included, by
  ``permanent_impact`` dollars per share in the trade direction (up for buys, down for
  sells): prices at t are shifted by ``sign * gamma * sum_{s<t} x_s``.

Beyond the visible depth the walk continues on the tail of :mod:`models.book_walk`: the
marginal price rises from the deepest level at the book's own depth density, and at least
by ``beyond_depth_bps`` basis points of the mid per visible depth's worth of shares (the
rule :class:`models.BookImpact` plans with).  The tail is defined on the replayed,
unshifted book and its mid: a permanent shift moves every price and the mid together, so
every offset from the mid, the tail's included, is unchanged and the impact cost needs no
correction for it.  Under transient impact the consumed depth D_t counts against the
visible depth first, so a child order after earlier ones reaches the tail sooner.

Costs, in dollars:

* impact cost -- fills versus the interval's own (permanently shifted) mid, what an impact
  model predicts;
* implementation shortfall -- fills versus the arrival mid (the unshifted mid of the first
  snapshot of the day), what a desk pays.

Two ways to execute, with the same state and the same costs:

* :meth:`Market.realize` charges schedules fixed before the open, every interval at once
  (vectorised over intervals and over a batch of schedules);
* :meth:`Market.start` / :meth:`Market.step` execute interval by interval, for adaptive
  policies that decide each child order from what they observed.  A
  :class:`MarketState` holds, for K parent orders stepping together on one day, the next
  interval, the unrecovered depletion ``D_t`` and the shares traded so far; ``step`` charges
  a (K,) vector of child orders in one call and returns the fills
  (:class:`StepFill`) and the next state.  :func:`realization_from_steps` assembles the
  fills of a whole day into a :class:`Realization` equal to ``realize`` of the executed
  schedules (to rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.book_walk import DEFAULT_BEYOND_DEPTH_BPS, beyond_depth_tail, side_sign, walk_levels
from models.errors import InvalidParameterError, InvalidTypeError
from models.snapshots import BookSnapshots

from .filters import ar1_filter

__all__ = [
    "DayBook",
    "Market",
    "MarketState",
    "REALIZATION_ARRAYS",
    "Realization",
    "StepFill",
    "build_realization",
    "realization_from_steps",
]


@dataclass(frozen=True, eq=False)
class Realization:
    """Realised execution of one schedule, or of a batch of schedules on the same day.

    Every per-interval array has the shape of the schedule passed to
    :meth:`Market.realize`: (N,) for one schedule, (K, N) for a batch.

    Attributes
    ----------
    shares : ndarray
        Child order sizes, shares.
    fill_vwap : ndarray
        Volume-weighted average fill price of each child order, dollars per share; NaN
        where nothing was traded.
    impact_cost_usd : ndarray
        ``shares * (fill_vwap - mid_t)`` for a buy (``mid_t - fill_vwap`` for a sell), with
        ``mid_t`` the interval's own mid after permanent impact, dollars; 0 where nothing
        was traded.
    shortfall_usd : ndarray
        Implementation shortfall versus the arrival mid, ``shares * (fill_vwap -
        arrival_mid)`` for a buy (sign flipped for a sell), dollars.
    exhausted : ndarray of bool
        True where the child order went beyond the visible depth left by earlier child
        orders (part of it filled on the beyond-depth tail).
    beyond_shares : ndarray
        Shares of each child order filled beyond the visible depth (on the tail), shares;
        under transient impact, beyond the depth left by earlier child orders.
    arrival_mid : float
        Mid of the first snapshot of the day, dollars.
    side : str
        ``'buy'`` or ``'sell'``.
    day : int
        Day position in the market's books.
    """

    shares: np.ndarray
    fill_vwap: np.ndarray
    impact_cost_usd: np.ndarray
    shortfall_usd: np.ndarray
    exhausted: np.ndarray
    beyond_shares: np.ndarray
    arrival_mid: float
    side: str
    day: int

    @property
    def total_shares(self) -> np.ndarray | float:
        """Shares traded over the day, shape () or (K,)."""
        return self.shares.sum(axis=-1)

    @property
    def total_impact_usd(self) -> np.ndarray | float:
        """Total impact cost over the day, dollars, shape () or (K,)."""
        return self.impact_cost_usd.sum(axis=-1)

    @property
    def total_shortfall_usd(self) -> np.ndarray | float:
        """Total implementation shortfall over the day, dollars, shape () or (K,)."""
        return self.shortfall_usd.sum(axis=-1)

    @property
    def exhausted_intervals(self) -> np.ndarray | int:
        """Number of intervals whose child order went beyond the visible depth."""
        return self.exhausted.sum(axis=-1)

    @property
    def beyond_depth_share(self) -> np.ndarray | float:
        """Fraction of the shares traded over the day that filled beyond the visible depth.

        NaN for an empty schedule.
        """
        total = self.total_shares
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.beyond_shares.sum(axis=-1) / total, np.nan)

    @property
    def impact_bps(self) -> np.ndarray | float:
        """Total impact in basis points of arrival notional, ``1e4 cost / (S m_arrival)``.

        NaN for an empty schedule.
        """
        notional = self.total_shares * self.arrival_mid
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(notional > 0, 1e4 * self.total_impact_usd / notional, np.nan)

    @property
    def shortfall_bps(self) -> np.ndarray | float:
        """Total shortfall in basis points of arrival notional; NaN for an empty schedule."""
        notional = self.total_shares * self.arrival_mid
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(notional > 0, 1e4 * self.total_shortfall_usd / notional, np.nan)


@dataclass(frozen=True, eq=False)
class DayBook:
    """One day's walked side prepared once for stepping: every array has N rows.

    The quantities :func:`models.book_walk.walk_levels` derives from a book on every call
    (offsets from the mid, depth before each level, the beyond-depth tail of
    :func:`models.book_walk.beyond_depth_tail`), computed for all N intervals at once, so
    that a step only fills the levels.

    Attributes
    ----------
    mid : ndarray, shape (N,)
        Replayed mid, dollars.
    offset : ndarray, shape (N, L)
        Offset of each level from the mid in the trade direction, dollars per share (0 for
        an empty level).
    size : ndarray, shape (N, L)
        Displayed shares (0 for an empty level).
    before : ndarray, shape (N, L)
        Shares displayed before each level.
    visible, deepest, slope : ndarray, shape (N,)
        Visible depth (shares), deepest offset (dollars per share) and tail slope
        (dollars per share per share).
    """

    mid: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    before: np.ndarray
    visible: np.ndarray
    deepest: np.ndarray
    slope: np.ndarray


@dataclass(frozen=True, eq=False)
class MarketState:
    """Where K parent orders stepping together stand on one day, before ``interval``.

    Attributes
    ----------
    day : int
        Day position in the market's books.
    side : str
        ``'buy'`` or ``'sell'``.
    interval : int
        Next interval to execute, 0 .. N (N: the day is over).
    depletion : ndarray, shape (K,)
        ``D_t``: shares of the walked side consumed by each order's earlier child orders
        and not yet recovered (0 without transient impact).
    traded : ndarray, shape (K,)
        Shares each order traded in intervals 0 .. t-1.
    arrival_mid : float
        Mid of the first snapshot of the day, dollars.
    book : DayBook
        The day's walked side, prepared once by :meth:`Market.start`.
    """

    day: int
    side: str
    interval: int
    depletion: np.ndarray
    traded: np.ndarray
    arrival_mid: float
    book: DayBook

    @property
    def n_orders(self) -> int:
        """K, the number of parent orders stepping together."""
        return int(self.traded.shape[0])


@dataclass(frozen=True, eq=False)
class StepFill:
    """The fills of the K child orders of one interval; arrays of shape (K,).

    Attributes
    ----------
    interval : int
        The interval executed.
    shares : ndarray
        Child order sizes, shares.
    fill_vwap : ndarray
        Volume-weighted average fill price, dollars per share (NaN where nothing traded).
    impact_cost_usd : ndarray
        Fills versus the interval's own (permanently shifted) mid, dollars.
    shortfall_usd : ndarray
        Fills versus the arrival mid, dollars.
    exhausted : ndarray of bool
        True where the child order went beyond the visible depth left by earlier orders.
    beyond_shares : ndarray
        Shares filled beyond that depth, shares.
    """

    interval: int
    shares: np.ndarray
    fill_vwap: np.ndarray
    impact_cost_usd: np.ndarray
    shortfall_usd: np.ndarray
    exhausted: np.ndarray
    beyond_shares: np.ndarray


@dataclass(frozen=True, eq=False)
class Market:
    """A market that charges schedules the impact they realise on replayed books.

    Parameters
    ----------
    books : BookSnapshots
        Books replayed (real or synthetic), shaped (days, intervals, levels).
    transient_half_life : float, default 0
        Half-life, in intervals, of the recovery of the liquidity the order consumed;
        0 replenishes the book fully each interval, ``inf`` never.
    permanent_impact : float, default 0
        Permanent price move per share traded, dollars per share, applied to all later
        intervals in the trade direction.
    beyond_depth_bps : float, default 25
        Floor of the beyond-depth tail's price slope: basis points of the mid per visible
        depth's worth of shares past the deepest level (see :mod:`models.book_walk`).

    Raises
    ------
    InvalidTypeError
        If ``books`` is not a BookSnapshots.
    InvalidParameterError
        If a parameter is negative or NaN.
    """

    books: BookSnapshots
    transient_half_life: float = 0.0
    permanent_impact: float = 0.0
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS

    def __post_init__(self) -> None:
        if not isinstance(self.books, BookSnapshots):
            raise InvalidTypeError(
                f"books must be a BookSnapshots; got {type(self.books).__name__}"
            )
        h = self.transient_half_life
        if not isinstance(h, int | float | np.integer | np.floating) or np.isnan(h) or h < 0:
            raise InvalidParameterError(f"transient_half_life must be >= 0; got {h!r}")
        g = self.permanent_impact
        if not isinstance(g, int | float | np.integer | np.floating) or not np.isfinite(g) or g < 0:
            raise InvalidParameterError(f"permanent_impact must be finite and >= 0; got {g!r}")
        b = self.beyond_depth_bps
        if not isinstance(b, int | float | np.integer | np.floating) or not np.isfinite(b) or b < 0:
            raise InvalidParameterError(f"beyond_depth_bps must be finite and >= 0; got {b!r}")
        object.__setattr__(self, "transient_half_life", float(h))
        object.__setattr__(self, "permanent_impact", float(g))
        object.__setattr__(self, "beyond_depth_bps", float(b))

    @property
    def n_days(self) -> int:
        """Number of days that can be realised."""
        return self.books.n_days

    @property
    def n_intervals(self) -> int:
        """Intervals per day N (the schedule length)."""
        return self.books.n_intervals

    @property
    def recovery_factor(self) -> float:
        """Fraction of consumed liquidity still missing one interval later, ``2^(-1/h)``."""
        h = self.transient_half_life
        return 0.0 if h == 0.0 else float(2.0 ** (-1.0 / h))

    def realize(self, day: int, schedule, side: str = "buy") -> Realization:
        """Execute a schedule (or a batch of schedules) on one day's books.

        Parameters
        ----------
        day : int
            Day position in ``books`` (0-based).
        schedule : array_like, shape (N,) or (K, N)
            Shares to trade in each interval (finite, >= 0), fixed before the day.
        side : {'buy', 'sell'}, default 'buy'
            ``buy`` walks the asks, ``sell`` the bids.

        Returns
        -------
        Realization
            Per-interval arrays shaped like ``schedule``.

        Raises
        ------
        InvalidParameterError
            If ``day`` is out of range, ``side`` is unknown, or ``schedule`` has the wrong
            shape or a negative or non-finite entry.
        """
        sign = side_sign(side)
        if not isinstance(day, int | np.integer) or isinstance(day, bool):
            raise InvalidParameterError(f"day must be an integer; got {day!r}")
        if not 0 <= day < self.n_days:
            raise InvalidParameterError(f"day must be in [0, {self.n_days - 1}]; got {day}")
        x = np.array(schedule, dtype=float)
        n = self.n_intervals
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise InvalidParameterError(
                f"schedule must have shape ({n},) or (K, {n}); got shape {x.shape}"
            )
        bad = ~np.isfinite(x) | (x < 0)
        if np.any(bad):
            raise InvalidParameterError(
                f"schedule must be finite and >= 0 shares; got {float(x[bad][0])!r}"
            )
        single = x.ndim == 1
        x2 = x[None, :] if single else x  # (K, N)

        day = int(day)
        px, sz = self.books.side_levels(side)
        px, sz = px[day], sz[day]  # (N, L)
        # This day's mid only (BookSnapshots.mid would compute every day's).
        mid = 0.5 * (self.books.bid_px[day, :, 0] + self.books.ask_px[day, :, 0])  # (N,)
        arrival_mid = float(mid[0])

        r = self.recovery_factor
        consumed = np.zeros_like(x2)
        if r > 0.0:
            # D_t = r (D_{t-1} + x_{t-1}): a first-order linear filter of the schedule.
            carried = ar1_filter(x2, r, axis=-1)
            consumed[:, 1:] = r * carried[:, :-1]

        # Walk the unshifted book with rows = intervals and columns = schedules: cheaper
        # than broadcasting the book over the batch.
        k = x2.shape[0]
        if r > 0.0:
            # One walk for the depth consumed before and after each child order.
            both = walk_levels(
                px,
                sz,
                mid,
                np.concatenate([consumed + x2, consumed]).T,
                side,
                self.beyond_depth_bps,
            )
            cost_after, cost_before = both.cost.T[:k], both.cost.T[k:]
            exhausted_after = both.exhausted.T[:k]
            impact = cost_after - cost_before
            beyond = both.beyond_shares.T[:k] - both.beyond_shares.T[k:]
        else:
            after = walk_levels(px, sz, mid, x2.T, side, self.beyond_depth_bps)
            impact = after.cost.T
            exhausted_after = after.exhausted.T
            beyond = after.beyond_shares.T

        own_mid = np.broadcast_to(mid, x2.shape)
        gamma = self.permanent_impact
        if gamma > 0.0:
            traded_before = np.zeros_like(x2)
            traded_before[:, 1:] = np.cumsum(x2, axis=-1)[:, :-1]
            # Shifting every price and the mid together leaves the offsets from the mid,
            # hence the walk and its tail (defined on the unshifted book), unchanged.
            own_mid = own_mid + sign * gamma * traded_before

        traded = x2 > 0
        exhausted = exhausted_after & traded
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(traded, own_mid + sign * impact / np.where(traded, x2, 1.0), np.nan)
        shortfall = impact + sign * x2 * (own_mid - arrival_mid)

        def out(a: np.ndarray) -> np.ndarray:
            a = np.array(a[0] if single else a)
            a.setflags(write=False)
            return a

        return Realization(
            shares=out(x2),
            fill_vwap=out(vwap),
            impact_cost_usd=out(impact),
            shortfall_usd=out(shortfall),
            exhausted=out(exhausted),
            beyond_shares=out(np.where(traded, beyond, 0.0)),
            arrival_mid=arrival_mid,
            side=side,
            day=day,
        )

    def start(self, day: int, n_orders: int, side: str = "buy") -> MarketState:
        """Open day ``day`` for ``n_orders`` parent orders that will step together.

        Parameters
        ----------
        day : int
            Day position in ``books`` (0-based).
        n_orders : int
            K, the number of parent orders (>= 1); each ``step`` takes K child orders.
        side : {'buy', 'sell'}, default 'buy'

        Returns
        -------
        MarketState
            Before interval 0: no depletion, nothing traded.

        Raises
        ------
        InvalidParameterError
            If ``day`` is out of range, ``n_orders`` < 1 or ``side`` is unknown.
        """
        sign = side_sign(side)
        day = self._check_day(day)
        if not isinstance(n_orders, int | np.integer) or isinstance(n_orders, bool) or n_orders < 1:
            raise InvalidParameterError(f"n_orders must be an integer >= 1; got {n_orders!r}")
        books = self.books
        px, sz = books.side_levels(side)
        px, sz = px[day], sz[day]  # (N, L)
        mid = 0.5 * (books.bid_px[day, :, 0] + books.ask_px[day, :, 0])
        # The walk of models.book_walk, its per-book part done once for the whole day.
        finite = np.isfinite(px) & (sz > 0)
        size = np.where(finite, sz, 0.0)
        offset = np.where(finite, sign * (px - mid[:, None]), 0.0)
        visible, deepest, slope = beyond_depth_tail(
            np.where(finite, offset, np.nan), size, mid, self.beyond_depth_bps
        )
        book = DayBook(
            mid=mid,
            offset=offset,
            size=size,
            before=np.cumsum(size, axis=-1) - size,
            visible=visible,
            deepest=deepest,
            slope=slope,
        )
        zeros = np.zeros(int(n_orders))
        return MarketState(day, side, 0, zeros, zeros, float(mid[0]), book)

    def step(self, state: MarketState, shares) -> tuple[StepFill, MarketState]:
        """Execute one interval's child orders of the K parent orders of ``state``.

        The child orders walk the interval's replayed book with each order's unrecovered
        depletion ``D_t`` removed first and its prices shifted by ``gamma`` times the shares
        it traded before; then ``D_(t+1) = r (D_t + x_t)``.  The walk is that of
        :func:`models.book_walk.walk_levels` (levels, then the beyond-depth tail); summed
        over a day, the costs are those of :meth:`realize` on the executed schedules.

        Parameters
        ----------
        state : MarketState
            Where the orders stand (not modified).
        shares : array_like, shape (K,)
            Child orders of interval ``state.interval``, shares (finite, >= 0).

        Returns
        -------
        (StepFill, MarketState)
            The fills and the state before the next interval.

        Raises
        ------
        InvalidParameterError
            If the day is over, or ``shares`` has the wrong shape or a negative or non-finite
            entry.
        """
        if not isinstance(state, MarketState):
            raise InvalidTypeError(f"state must be a MarketState; got {type(state).__name__}")
        t = state.interval
        n = self.n_intervals
        if t >= n:
            raise InvalidParameterError(f"interval must be < {n}: the day is over; got {t}")
        k = state.n_orders
        x = np.array(shares, dtype=float)
        if x.shape != (k,):
            raise InvalidParameterError(f"shares must have shape ({k},); got shape {x.shape}")
        if not (np.isfinite(x).all() and (x >= 0).all()):
            bad = float(x[~(np.isfinite(x) & (x >= 0))][0])
            raise InvalidParameterError(f"shares must be finite and >= 0; got {bad!r}")
        sign = 1.0 if state.side == "buy" else -1.0
        book = state.book
        depleted = state.depletion
        r = self.recovery_factor
        if r > 0.0:
            walked = _walk_one(book, t, np.concatenate([depleted + x, depleted]))
            impact = walked[0][:k] - walked[0][k:]
            beyond = walked[1][:k] - walked[1][k:]
            exhausted = walked[1][:k] > 0
            next_depletion = r * (depleted + x)
        else:
            impact, beyond = _walk_one(book, t, x)
            exhausted = beyond > 0
            next_depletion = depleted
        mid = float(book.mid[t])
        if self.permanent_impact > 0:
            own_mid = mid + sign * self.permanent_impact * state.traded
        else:
            own_mid = np.full(k, mid)
        traded = x > 0
        per_share = np.divide(impact, x, out=np.full(k, np.nan), where=traded)
        vwap = own_mid + sign * per_share  # NaN where nothing traded
        shortfall = impact + sign * x * (own_mid - state.arrival_mid)
        fill = StepFill(
            interval=t,
            shares=x,
            fill_vwap=vwap,
            impact_cost_usd=impact,
            shortfall_usd=shortfall,
            exhausted=exhausted & traded,
            beyond_shares=np.where(traded, beyond, 0.0),
        )
        following = MarketState(
            state.day,
            state.side,
            t + 1,
            next_depletion,
            state.traded + x,
            state.arrival_mid,
            book,
        )
        return fill, following

    def _check_day(self, day) -> int:
        if not isinstance(day, int | np.integer) or isinstance(day, bool):
            raise InvalidParameterError(f"day must be an integer; got {day!r}")
        if not 0 <= day < self.n_days:
            raise InvalidParameterError(f"day must be in [0, {self.n_days - 1}]; got {day}")
        return int(day)


def _walk_one(book: DayBook, t: int, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cost in dollars, shares beyond the visible depth) of orders ``shares`` (M,) walking
    interval t's book from the touch: :func:`models.book_walk.walk_levels` on one book."""
    size = book.size[t]
    offset = book.offset[t]
    filled = np.minimum(np.maximum(shares[:, None] - book.before[t], 0.0), size)
    cost = filled @ offset
    excess = np.maximum(shares - book.visible[t], 0.0)
    if (excess > 0).any():
        with np.errstate(invalid="ignore"):
            tail = excess * (book.deepest[t] + 0.5 * book.slope[t] * excess)
        cost = cost + np.where(excess > 0, tail, 0.0)
    # An order within the first level fills at the touch (as walk_levels computes it).
    at_touch = shares <= size[0]
    cost = np.where(at_touch, shares * offset[0], cost)
    return cost, excess


def realization_from_steps(fills: list[StepFill], state: MarketState) -> Realization:
    """The day's :class:`Realization` of K stepped orders, arrays of shape (K, N).

    Parameters
    ----------
    fills : list of StepFill
        The fills of intervals 0 .. N-1, in order.
    state : MarketState
        The final state (its day, side and arrival mid are copied).

    Returns
    -------
    Realization
    """

    return build_realization(
        lambda name: np.stack([getattr(f, name) for f in fills], axis=-1),
        state.arrival_mid,
        state.side,
        state.day,
    )


REALIZATION_ARRAYS = (
    "shares",
    "fill_vwap",
    "impact_cost_usd",
    "shortfall_usd",
    "exhausted",
    "beyond_shares",
)
"""The per-order, per-interval arrays of a :class:`Realization`."""


def build_realization(array, arrival_mid: float, side: str, day: int) -> Realization:
    """A :class:`Realization` whose arrays are ``array(name)`` for each name of
    :data:`REALIZATION_ARRAYS`, made read-only (new arrays: stacked, taken or joined from
    other realisations)."""
    arrays = {}
    for name in REALIZATION_ARRAYS:
        a = array(name)
        a.setflags(write=False)
        arrays[name] = a
    return Realization(**arrays, arrival_mid=arrival_mid, side=side, day=day)
