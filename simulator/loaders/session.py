"""Binning order-book events into per-interval snapshots over a trading session.

Definitions (DESIGN.md and issue 2):

* The snapshot of interval ``[t, t + dt)`` is the book in force at its start: the book after
  the last event at or before ``t`` (ties: the last in file order).  Events before the
  session therefore define the opening book.
* The volume of an interval is the sum of continuous-trading trade sizes of the events
  inside ``[t, t + dt)``, in shares.  Opening and closing cross prints are kept apart per
  day (``auction_volume``); see :mod:`simulator.loaders.auctions` for how they are found.
* An interval with no event inside it leaves the book unchanged, so the next snapshot
  carries the book forward; such intervals are counted.
* An interval that starts before the day's first event has no book in force; its snapshot
  is the book after the day's first event, flagged as repaired and counted.

Times are wall-clock nanoseconds in the exchange time zone (America/New_York by default),
counted from the Unix epoch as if that wall clock were UTC, so ``ns // 86400e9`` is the
local date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from models.errors import DataError, InvalidParameterError
from models.snapshots import BookSnapshots

from .auctions import (
    CONTINUOUS,
    CROSS_CLOSE,
    CROSS_OPEN,
    CROSS_OTHER,
    NO_TRADE,
    UNKNOWN_SIDE,
    CrossRule,
    classify_crosses,
)
from .quality import DataQualityReport

__all__ = [
    "SessionGrid",
    "SessionCounts",
    "check_loader_options",
    "clean_book_rows",
    "combine_days",
    "snapshots_from_events",
]

NS_PER_DAY = 86_400 * 10**9
_NS_PER_MINUTE = 60 * 10**9
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _parse_clock(name: str, text: str) -> int:
    """'HH:MM[:SS]' -> nanoseconds after midnight."""
    match = _CLOCK.match(str(text))
    if match is None:
        raise InvalidParameterError(f"{name} must be a time 'HH:MM' or 'HH:MM:SS'; got {text!r}")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if hours > 24 or minutes > 59 or seconds > 59:
        raise InvalidParameterError(f"{name} must be a valid time of day; got {text!r}")
    return ((hours * 60 + minutes) * 60 + seconds) * 10**9


def _clock(ns: int) -> str:
    """Nanoseconds after midnight -> 'HH:MM'."""
    minutes = int(ns // _NS_PER_MINUTE)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class SessionGrid:
    """The interval grid of a trading session in exchange local time.

    Parameters
    ----------
    interval_minutes : float, default 1
        Interval length in minutes; must divide the session length.
    session : tuple of str, default ('09:30', '16:00')
        Session start and end, 'HH:MM' or 'HH:MM:SS' local time; the end is exclusive.
    tz : str, default 'America/New_York'
        IANA time zone of the exchange.

    Raises
    ------
    InvalidParameterError
        If the times are malformed, the end is not after the start, the interval does not
        divide the session, or the time zone is unknown.
    """

    interval_minutes: float = 1.0
    session: tuple[str, str] = ("09:30", "16:00")
    tz: str = "America/New_York"
    start_ns: int = field(init=False)
    end_ns: int = field(init=False)
    step_ns: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.session, tuple | list) or len(self.session) != 2:
            raise InvalidParameterError(
                f"session must be a pair (start, end) like ('09:30', '16:00'); got {self.session!r}"
            )
        start = _parse_clock("session start", self.session[0])
        end = _parse_clock("session end", self.session[1])
        if end <= start:
            raise InvalidParameterError(
                f"session end must be after its start; got {tuple(self.session)!r}"
            )
        minutes = float(self.interval_minutes)
        if not (np.isfinite(minutes) and minutes > 0):
            raise InvalidParameterError(f"interval_minutes must be > 0; got {minutes!r}")
        step = int(round(minutes * _NS_PER_MINUTE))
        if step <= 0 or (end - start) % step != 0:
            raise InvalidParameterError(
                f"interval_minutes must divide the {(end - start) / _NS_PER_MINUTE:g}-minute "
                f"session {self.session[0]}-{self.session[1]}; got {minutes!r}"
            )
        try:
            ZoneInfo(str(self.tz))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidParameterError(
                f"tz must be an IANA time zone name; got {self.tz!r}"
            ) from exc
        object.__setattr__(self, "session", (str(self.session[0]), str(self.session[1])))
        object.__setattr__(self, "interval_minutes", minutes)
        object.__setattr__(self, "start_ns", start)
        object.__setattr__(self, "end_ns", end)
        object.__setattr__(self, "step_ns", step)

    @property
    def n_intervals(self) -> int:
        """Number of intervals in the session."""
        return (self.end_ns - self.start_ns) // self.step_ns

    @property
    def starts(self) -> np.ndarray:
        """Interval starts as timedelta64[ns] offsets from local midnight, shape (N,)."""
        ns = self.start_ns + self.step_ns * np.arange(self.n_intervals, dtype=np.int64)
        return ns.astype("timedelta64[ns]")

    @property
    def label(self) -> str:
        """e.g. ``'regular session 09:30-16:00 America/New_York'``."""
        kind = "regular session" if tuple(self.session) == ("09:30", "16:00") else "session"
        return f"{kind} {_clock(self.start_ns)}-{_clock(self.end_ns)} {self.tz}"


@dataclass(frozen=True)
class SessionCounts:
    """What :func:`snapshots_from_events` sorted, skipped and repaired (see DataQualityReport)."""

    unsorted_rows: int
    rows_outside_session: int
    crossed_or_locked_snapshots: int
    one_sided_snapshots: int
    empty_intervals: int
    backfilled_snapshots: int
    trades: int
    days: int
    trade_shares: float
    opening_crosses: int = 0
    closing_crosses: int = 0
    opening_cross_shares: float = 0.0
    closing_cross_shares: float = 0.0
    other_cross_shares: float = 0.0
    auction_trade_rows: int = 0


def clean_book_rows(bid_px, bid_sz, ask_px, ask_sz):
    """Normalise per-event book rows and flag malformed ones.

    A level is empty when its price is missing (NaN) or its size is 0; empty levels get
    price NaN and size 0 and are moved behind the filled ones.  A row is malformed when a
    price is infinite or <= 0, a size is negative or missing at a priced level, an unpriced
    level has a positive size, or the filled levels do not move away from the touch
    (bids strictly falling, asks strictly rising).

    Parameters
    ----------
    bid_px, bid_sz, ask_px, ask_sz : ndarray, shape (rows, levels)
        Prices in dollars (NaN = empty) and sizes in shares.

    Returns
    -------
    book : dict of str -> ndarray, shape (rows, levels)
        Normalised ``bid_px, bid_sz, ask_px, ask_sz``.
    malformed : ndarray of bool, shape (rows,)
    """
    book = {}
    malformed = np.zeros(np.shape(bid_px)[0], dtype=bool)
    for side, px, sz, sign in (("bid", bid_px, bid_sz, -1.0), ("ask", ask_px, ask_sz, 1.0)):
        px = np.asarray(px, dtype=float)
        sz = np.asarray(sz, dtype=float)
        priced = np.isfinite(px)
        with np.errstate(invalid="ignore"):
            bad = (
                np.isinf(px)
                | (priced & (px <= 0))
                | (sz < 0)
                | (priced & np.isnan(sz))
                | (~priced & (sz > 0))
            )
            empty = ~priced | ~(sz > 0)
        px = np.where(empty, np.nan, px)
        sz = np.where(empty, 0.0, sz)
        gap = empty[:, :-1] & ~empty[:, 1:]
        if np.any(gap):
            # Only rows with an empty level before a filled one need re-ordering.
            rows = np.flatnonzero(gap.any(axis=1))
            order = np.argsort(empty[rows], axis=1, kind="stable")
            px[rows] = np.take_along_axis(px[rows], order, axis=1)
            sz[rows] = np.take_along_axis(sz[rows], order, axis=1)
        with np.errstate(invalid="ignore"):
            step = sign * np.diff(px, axis=1)
            bad_order = np.isfinite(step) & (step <= 0)
        malformed |= bad.any(axis=1) | bad_order.any(axis=1)
        book[f"{side}_px"], book[f"{side}_sz"] = px, sz
    return book, malformed


def _span(local_ns: np.ndarray) -> str:
    """'2024-10-21 07:54-09:04' (or first and last date) of sorted wall-clock times."""
    first, last = int(local_ns[0]), int(local_ns[-1])
    d0 = np.datetime64(first // NS_PER_DAY, "D")
    d1 = np.datetime64(last // NS_PER_DAY, "D")
    t0, t1 = _clock(first % NS_PER_DAY), _clock(last % NS_PER_DAY)
    return f"{d0} {t0}-{t1}" if d0 == d1 else f"{d0} {t0} to {d1} {t1}"


def snapshots_from_events(
    local_ns,
    trade_shares,
    book: dict,
    grid: SessionGrid,
    *,
    source: str,
    symbol: str = "",
    on_invalid: str = "repair",
    trade_kind=None,
    aggressor=None,
    crosses: CrossRule | None = None,
    resilience: bool = False,
) -> tuple[BookSnapshots, SessionCounts]:
    """Bin valid events into one snapshot and one volume per interval of every day.

    Volume is continuous trading only: opening and closing cross prints (see
    :mod:`simulator.loaders.auctions` for the rule) go to the day's ``auction_volume``,
    other crosses and cross participations are left out of both.

    Parameters
    ----------
    local_ns : ndarray of int64, shape (rows,)
        Event times, wall-clock nanoseconds in ``grid.tz`` (see module docstring).
    trade_shares : ndarray, shape (rows,)
        Shares traded by each event (0 for events that are not trades).
    book : dict of str -> ndarray, shape (rows, levels)
        ``bid_px, bid_sz, ask_px, ask_sz`` after each event, as from
        :func:`clean_book_rows`.
    grid : SessionGrid
        Session and interval length.
    source : str
        File name used in error messages.
    symbol : str, default ''
        Instrument symbol stored on the result.
    on_invalid : {'repair', 'raise'}, default 'repair'
        Crossed, locked or one-sided snapshots are repaired by
        :meth:`BookSnapshots.from_arrays` and counted, or rejected.
    trade_kind : ndarray of int8, shape (rows,), optional
        Trade kind per row (:mod:`simulator.loaders.auctions`); by default every row
        with shares is a continuous trade.
    aggressor : ndarray of int8, shape (rows,), optional
        +1 / -1 for trades that consumed displayed asks / bids, else 0 (used by the
        resilience estimate).
    crosses : CrossRule, optional
        Where side-``N`` prints are recognised as opening and closing crosses; None
        recognises none (explicit cross kinds are still honoured).
    resilience : bool, default False
        Also estimate each day's recovery half-life (``resilience_half_life``).

    Returns
    -------
    books : BookSnapshots
        Shape (days, N, levels) for every local date with at least one session event.
    counts : SessionCounts

    Raises
    ------
    DataError
        If no event falls inside the session, or ``on_invalid='raise'`` and a snapshot is
        crossed, locked or one-sided, or a day has no valid snapshot.
    """
    local_ns = np.asarray(local_ns, dtype=np.int64)
    trade_shares = np.asarray(trade_shares, dtype=float)
    if local_ns.size == 0:
        raise DataError(f"{source} has no valid rows")
    kind = (
        np.where(trade_shares > 0, CONTINUOUS, NO_TRADE).astype(np.int8)
        if trade_kind is None
        else np.asarray(trade_kind, dtype=np.int8)
    )
    side = (
        np.zeros(local_ns.size, dtype=np.int8)
        if aggressor is None
        else np.asarray(aggressor, dtype=np.int8)
    )
    unsorted = int(np.count_nonzero(np.diff(local_ns) < 0))
    if unsorted:
        order = np.argsort(local_ns, kind="stable")
        local_ns = local_ns[order]
        trade_shares = trade_shares[order]
        kind, side = kind[order], side[order]
        book = {name: arr[order] for name, arr in book.items()}
    kind = classify_crosses(local_ns, kind, crosses)
    continuous = (kind == CONTINUOUS) | (kind == UNKNOWN_SIDE)
    continuous_shares = np.where(continuous, trade_shares, 0.0)

    day = local_ns // NS_PER_DAY
    tod = local_ns - day * NS_PER_DAY
    in_session = (tod >= grid.start_ns) & (tod < grid.end_ns)
    if not np.any(in_session):
        raise DataError(f"{source} has no rows in the {grid.label} (rows span {_span(local_ns)})")
    session_days = np.unique(day[in_session])
    n_int = grid.n_intervals
    offsets = grid.start_ns + grid.step_ns * np.arange(n_int, dtype=np.int64)
    bounds = np.searchsorted(day, session_days, side="left")
    ends = np.searchsorted(day, session_days, side="right")

    # One pass per day (days, not intervals): searchsorted finds every snapshot at once.
    rows = np.empty((session_days.size, n_int), dtype=np.int64)
    backfilled = np.empty((session_days.size, n_int), dtype=bool)
    volume = np.empty((session_days.size, n_int))
    n_events = np.empty((session_days.size, n_int), dtype=np.int64)
    for i, (lo, hi) in enumerate(zip(bounds, ends, strict=True)):
        day_tod = tod[lo:hi]
        last = np.searchsorted(day_tod, offsets, side="right") - 1
        backfilled[i] = last < 0
        rows[i] = lo + np.maximum(last, 0)
        inside = in_session[lo:hi]
        bins = (day_tod[inside] - grid.start_ns) // grid.step_ns
        volume[i] = np.bincount(bins, weights=continuous_shares[lo:hi][inside], minlength=n_int)
        n_events[i] = np.bincount(bins, minlength=n_int)

    # Auction prints of each session day, wherever in the day they fall.
    day_pos = np.searchsorted(session_days, day)
    on_session_day = (day_pos < session_days.size) & (
        session_days[np.minimum(day_pos, session_days.size - 1)] == day
    )
    auction = np.zeros((session_days.size, 2))
    found = np.zeros((session_days.size, 2), dtype=bool)
    for col, code in enumerate((CROSS_OPEN, CROSS_CLOSE)):
        hit = on_session_day & (kind == code)
        auction[:, col] = np.bincount(
            day_pos[hit], weights=trade_shares[hit], minlength=session_days.size
        )
        found[day_pos[hit], col] = True
    other = on_session_day & (kind == CROSS_OTHER)
    auction_rows = on_session_day & (kind >= CROSS_OPEN)

    snap = {name: arr[rows] for name, arr in book.items()}
    best_bid, best_ask = snap["bid_px"][..., 0], snap["ask_px"][..., 0]
    one_sided = ~np.isfinite(best_bid) | ~np.isfinite(best_ask)
    with np.errstate(invalid="ignore"):
        crossed = ~one_sided & (best_ask <= best_bid)
    dates = session_days.astype("datetime64[D]")
    if on_invalid == "raise" and np.any(one_sided | crossed):
        d, t = np.argwhere(one_sided | crossed)[0]
        what = "one-sided" if one_sided[d, t] else "crossed or locked"
        raise DataError(
            f"{source}: snapshot at {dates[d]} {_clock(int(offsets[t]))} is {what} "
            f"(bid {float(best_bid[d, t])!r}, ask {float(best_ask[d, t])!r}); "
            "pass on_invalid='repair' to carry the last valid book forward"
        )
    half_life = None
    if resilience:
        from .resilience import daily_half_lives  # resilience imports this module

        half_life = daily_half_lives(
            local_ns, side, book["bid_sz"][:, 0], book["ask_sz"][:, 0], session_days, grid
        )
    try:
        books = BookSnapshots.from_arrays(
            volume=volume,
            dates=dates,
            interval_starts=offsets.astype("timedelta64[ns]"),
            symbol=symbol,
            on_invalid=on_invalid,
            repaired=backfilled,
            auction_volume=auction,
            resilience_half_life=half_life,
            **snap,
        )
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    trade_in_session = in_session & continuous & (trade_shares > 0)
    counts = SessionCounts(
        unsorted_rows=unsorted,
        rows_outside_session=int(np.count_nonzero(~in_session)),
        crossed_or_locked_snapshots=int(np.count_nonzero(crossed)),
        one_sided_snapshots=int(np.count_nonzero(one_sided)),
        empty_intervals=int(np.count_nonzero(n_events == 0)),
        backfilled_snapshots=int(np.count_nonzero(backfilled)),
        trades=int(np.count_nonzero(trade_in_session)),
        days=int(session_days.size),
        trade_shares=float(continuous_shares[in_session].sum()),
        opening_crosses=int(np.count_nonzero(found[:, 0])),
        closing_crosses=int(np.count_nonzero(found[:, 1])),
        opening_cross_shares=float(auction[:, 0].sum()),
        closing_cross_shares=float(auction[:, 1].sum()),
        other_cross_shares=float(trade_shares[other].sum()),
        auction_trade_rows=int(np.count_nonzero(auction_rows)),
    )
    return books, counts


def combine_days(path_books, path_reports) -> tuple[BookSnapshots, DataQualityReport]:
    """Concatenate per-file snapshots (sorted by date), refusing a date seen twice.

    Raises
    ------
    DataError
        If two files give the same date.
    """
    seen: dict = {}
    for path, books in path_books:
        for date in books.dates:
            if date in seen:
                raise DataError(
                    f"date {date} appears in both {seen[date]} and {path.name}; load one "
                    "symbol at a time, one file per day"
                )
            seen[date] = path.name
    parts = [books for _, books in path_books]
    books = parts[0] if len(parts) == 1 else BookSnapshots.concat(parts)
    return books, DataQualityReport.combine(path_reports)


def check_loader_options(on_invalid: str, levels) -> None:
    """Validate the ``on_invalid`` and ``levels`` options shared by the loaders."""
    if on_invalid not in ("repair", "raise"):
        raise InvalidParameterError(f"on_invalid must be 'repair' or 'raise'; got {on_invalid!r}")
    if levels is not None and (
        isinstance(levels, bool) or not isinstance(levels, int | np.integer) or levels < 1
    ):
        raise InvalidParameterError(f"levels must be None or an integer >= 1; got {levels!r}")
