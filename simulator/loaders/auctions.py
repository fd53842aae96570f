"""Telling auction (cross) prints apart from continuous trading: :class:`CrossRule`.

Volume in :class:`models.BookSnapshots` is continuous trading only; the opening and closing
crosses are kept per day in ``auction_volume`` (and reported by the
:class:`~simulator.loaders.DataQualityReport`).  How a cross print is recognised depends on
the source:

* **Databento MBP-10 (XNAS.ITCH).**  Databento normalises both ITCH *Trade (Non-Cross)*
  messages (matches against non-displayed orders) and *Cross Trade* messages into one
  trade record (action ``T``) with side ``N``; Nasdaq sends one *Cross Trade* message per
  opening, closing or halt/IPO cross, quantity 0 when nothing matched.  Cross
  participations themselves are non-printable executions and produce no trade record.
  Side ``N`` alone therefore does not identify a cross.  Rule used here: at each cross
  time (09:30:00 opening, 16:00:00 closing, exchange local time), the **first trade
  record at or after that time** is the cross print when its side is ``N`` and it lies
  within ``window_s`` seconds of the cross time; if the first trade after the cross time
  has a known aggressor (``B``/``A``), continuous trading has resumed and no cross is
  recorded for that time.  Halt and IPO crosses are not recognised in Databento files
  (their side-``N`` print stays in continuous volume).
* **LOBSTER.**  Event type 6 is a cross trade, an aggregate of executions already shown
  by type 4/5 messages; LOBSTER gives it a pseudo order id: -1 opening cross, -2 closing
  cross, other negative ids halt/IPO and other intraday crosses.  The type-6 size is the
  auction volume; executions (types 4 and 5) stamped with exactly the time of a type-6
  message are its participations and are excluded from continuous volume as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.errors import InvalidParameterError

__all__ = [
    "CrossRule",
    "NO_TRADE",
    "CONTINUOUS",
    "UNKNOWN_SIDE",
    "CROSS_OPEN",
    "CROSS_CLOSE",
    "CROSS_OTHER",
    "CROSS_PART",
    "classify_crosses",
]

# Per-row trade kinds (int8).
NO_TRADE = 0
CONTINUOUS = 1
"""A trade known to be continuous trading (a known aggressor, or a LOBSTER execution)."""
UNKNOWN_SIDE = 2
"""A Databento side-'N' trade: a hidden-order match, or a cross print (see the rule)."""
CROSS_OPEN = 3
CROSS_CLOSE = 4
CROSS_OTHER = 5
"""A halt, IPO or other intraday cross print (LOBSTER only): excluded from volume."""
CROSS_PART = 6
"""An execution that is part of a cross print (LOBSTER): excluded, not counted twice."""

_NS_PER_SECOND = 10**9


def _clock_ns(name: str, text: str) -> int:
    parts = str(text).split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise InvalidParameterError(
            f"{name} must be a time 'HH:MM' or 'HH:MM:SS'; got {text!r}"
        ) from None
    if not (0 <= hours <= 24 and 0 <= minutes <= 59 and 0 <= seconds <= 59):
        raise InvalidParameterError(f"{name} must be a valid time of day; got {text!r}")
    return ((hours * 60 + minutes) * 60 + seconds) * _NS_PER_SECOND


@dataclass(frozen=True)
class CrossRule:
    """Where the opening and closing crosses print, in exchange local time.

    Parameters
    ----------
    opening : str, default '09:30'
        Opening cross time, 'HH:MM' or 'HH:MM:SS'.
    closing : str, default '16:00'
        Closing cross time.
    window_s : float, default 10
        A Databento side-``N`` print counts as the cross only within this many seconds
        after the cross time (Nasdaq prints it within about a second; FROG on 2025-04-03:
        09:30:00.98).

    Raises
    ------
    InvalidParameterError
        If a time is malformed, the closing time is not after the opening, or the window
        is not in (0, 3600] seconds.
    """

    opening: str = "09:30"
    closing: str = "16:00"
    window_s: float = 10.0
    opening_ns: int = field(init=False, repr=False)
    closing_ns: int = field(init=False, repr=False)
    window_ns: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        opening = _clock_ns("cross opening time", self.opening)
        closing = _clock_ns("cross closing time", self.closing)
        if closing <= opening:
            raise InvalidParameterError(
                f"cross closing time must be after the opening; got {self.opening!r} and "
                f"{self.closing!r}"
            )
        window = float(self.window_s)
        if not (np.isfinite(window) and 0 < window <= 3600):
            raise InvalidParameterError(f"cross_window_s must be in (0, 3600]; got {window!r}")
        object.__setattr__(self, "window_s", window)
        object.__setattr__(self, "opening_ns", opening)
        object.__setattr__(self, "closing_ns", closing)
        object.__setattr__(self, "window_ns", int(round(window * _NS_PER_SECOND)))

    @classmethod
    def from_option(cls, cross_times, window_s: float) -> CrossRule | None:
        """Build from the loaders' ``cross_times`` / ``cross_window_s`` options.

        ``cross_times=None`` turns separation off (every trade is continuous volume).
        """
        if cross_times is None:
            return None
        if not isinstance(cross_times, tuple | list) or len(cross_times) != 2:
            raise InvalidParameterError(
                "cross_times must be None or a pair (opening, closing) like "
                f"('09:30', '16:00'); got {cross_times!r}"
            )
        return cls(opening=str(cross_times[0]), closing=str(cross_times[1]), window_s=window_s)


def classify_crosses(local_ns, trade_kind, rule: CrossRule | None) -> np.ndarray:
    """Mark the Databento side-``N`` prints that are the opening and closing crosses.

    Parameters
    ----------
    local_ns : ndarray of int64, shape (rows,)
        Event times sorted ascending, wall-clock nanoseconds in exchange local time
        (``ns // 86400e9`` is the local date).
    trade_kind : ndarray of int8, shape (rows,)
        Kinds as defined in this module.
    rule : CrossRule or None
        None leaves every kind unchanged.

    Returns
    -------
    ndarray of int8, shape (rows,)
        ``trade_kind`` with the cross prints set to ``CROSS_OPEN`` / ``CROSS_CLOSE``
        (first trade record at or after each day's cross time, side ``N``, within the
        window).  Vectorised over days.
    """
    kind = np.array(trade_kind, dtype=np.int8)
    if rule is None:
        return kind
    trades = np.flatnonzero(kind != NO_TRADE)
    if trades.size == 0:
        return kind
    trade_ns = np.asarray(local_ns, dtype=np.int64)[trades]
    days = np.unique(trade_ns // (86_400 * _NS_PER_SECOND))
    for cross_ns, code in ((rule.opening_ns, CROSS_OPEN), (rule.closing_ns, CROSS_CLOSE)):
        targets = days * (86_400 * _NS_PER_SECOND) + cross_ns
        first = np.searchsorted(trade_ns, targets, side="left")
        found = first < trades.size
        rows = trades[first[found]]
        hit = (kind[rows] == UNKNOWN_SIDE) & (
            np.asarray(local_ns)[rows] < targets[found] + rule.window_ns
        )
        kind[rows[hit]] = code
    return kind
