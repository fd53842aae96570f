"""Data-quality accounting for the order-book loaders: :class:`DataQualityReport`.

Every loader counts each fault it handles instead of passing it on silently, returns the
counts on request (``return_report=True``) and emits at most one one-line
:class:`DataQualityWarning` per call summarising them.  Auction (cross) prints kept apart
from continuous volume are not faults; they are reported as notes
(``"opening cross: 42,747 sh excluded from minute 0"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from models.errors import InvalidParameterError

__all__ = ["DataQualityReport", "DataQualityWarning", "emit_quality_warning"]


class DataQualityWarning(UserWarning):
    """Market data had faults that a loader repaired, dropped or carried forward."""


_COUNT_FIELDS = (
    "rows_read",
    "malformed_rows",
    "duplicate_rows",
    "unsorted_rows",
    "rows_outside_session",
    "crossed_or_locked_snapshots",
    "one_sided_snapshots",
    "empty_intervals",
    "backfilled_snapshots",
    "trades",
    "days",
    "opening_crosses",
    "closing_crosses",
    "auction_trade_rows",
)
_SHARE_FIELDS = (
    "trade_shares",
    "opening_cross_shares",
    "closing_cross_shares",
    "other_cross_shares",
)

# (field, phrase) of the counts that are faults, in the order they are reported.
_FAULTS = (
    ("malformed_rows", "malformed rows dropped"),
    ("duplicate_rows", "exact duplicate rows dropped"),
    ("unsorted_rows", "rows out of time order (sorted stably)"),
    ("rows_outside_session", "rows outside the session (not binned)"),
    ("crossed_or_locked_snapshots", "crossed or locked snapshots repaired"),
    ("one_sided_snapshots", "one-sided snapshots repaired"),
    ("empty_intervals", "intervals with no event (book carried forward)"),
    ("backfilled_snapshots", "snapshots before the first event (filled with the first book)"),
)


@dataclass(frozen=True)
class DataQualityReport:
    """Counts of what a loader read, dropped, sorted and repaired.

    Parameters
    ----------
    source : str, default ''
        File name(s) the counts refer to.
    rows_read : int, default 0
        Data rows (events) read, malformed ones included.
    malformed_rows : int, default 0
        Rows dropped because a field was missing, non-numeric or out of range (a wrong
        field count, a non-numeric price, a negative size, levels not moving away from the
        touch, an unparsable timestamp).
    duplicate_rows : int, default 0
        Rows dropped because they repeat an earlier row in every field (Databento: same
        timestamps, same ``sequence``, same content), so a file with every row twice
        loads like the original.
    unsorted_rows : int, default 0
        Rows whose timestamp precedes the previous row's.  Rows are then sorted stably by
        time (each row carries the full book after its event, so sorting is safe) rather
        than rejected.
    rows_outside_session : int, default 0
        Valid rows outside the session window.  Those before the session still define the
        book in force at its start; none of them contribute volume.
    crossed_or_locked_snapshots : int, default 0
        Interval snapshots with best ask <= best bid, repaired by
        :meth:`models.BookSnapshots.from_arrays` (last valid snapshot of the day carried
        forward, else the first later one).
    one_sided_snapshots : int, default 0
        Interval snapshots with an empty bid or ask side, repaired by the same rule.
    empty_intervals : int, default 0
        Intervals with no event inside them: the book in force is carried forward.
    backfilled_snapshots : int, default 0
        Intervals starting before the day's first event, whose snapshot is the first book
        of the day (flagged as repaired).
    trades : int, default 0
        Continuous-trading trade events counted in session volume.
    days : int, default 0
        Trading days produced.
    trade_shares : float, default 0
        Total continuous shares traded in the session (the sum of the snapshots'
        volume; auction prints excluded).
    opening_crosses, closing_crosses : int, default 0
        Days on which an opening / closing cross print was found.
    opening_cross_shares, closing_cross_shares : float, default 0
        Shares of those prints, kept apart in ``BookSnapshots.auction_volume``.
    other_cross_shares : float, default 0
        Shares of halt, IPO and other intraday cross prints (LOBSTER type 6 with another
        pseudo order id), excluded from volume.
    auction_trade_rows : int, default 0
        Trade rows excluded from continuous volume as auction prints or as executions
        that are part of one.

    Raises
    ------
    InvalidParameterError
        If a count is negative.
    """

    source: str = ""
    rows_read: int = 0
    malformed_rows: int = 0
    unsorted_rows: int = 0
    rows_outside_session: int = 0
    crossed_or_locked_snapshots: int = 0
    one_sided_snapshots: int = 0
    empty_intervals: int = 0
    backfilled_snapshots: int = 0
    trades: int = 0
    days: int = 0
    trade_shares: float = 0.0
    duplicate_rows: int = 0
    opening_crosses: int = 0
    closing_crosses: int = 0
    opening_cross_shares: float = 0.0
    closing_cross_shares: float = 0.0
    other_cross_shares: float = 0.0
    auction_trade_rows: int = 0

    def __post_init__(self) -> None:
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise InvalidParameterError(f"{name} must be an integer >= 0; got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in _SHARE_FIELDS:
            value = getattr(self, name)
            if not value >= 0:
                raise InvalidParameterError(f"{name} must be >= 0; got {value!r}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "source", str(self.source))

    @property
    def has_faults(self) -> bool:
        """True if any fault was counted."""
        return any(getattr(self, name) > 0 for name, _ in _FAULTS)

    def warnings(self) -> list[str]:
        """One-line descriptions of each fault counted, e.g. ``'3 malformed rows dropped'``."""
        return [f"{getattr(self, name)} {text}" for name, text in _FAULTS if getattr(self, name)]

    def notes(self) -> list[str]:
        """Auction prints kept apart, e.g. ``'opening cross: 42,747 sh excluded from minute 0'``.

        The opening cross prints in the first minute of the regular session; the closing
        cross at its end (after the session window, so it was never in an interval).
        """
        out = []
        for what, days, shares, where in (
            ("opening", self.opening_crosses, self.opening_cross_shares, "excluded from minute 0"),
            ("closing", self.closing_crosses, self.closing_cross_shares, "kept apart"),
        ):
            if days:
                on = f" on {days} days" if days > 1 else ""
                out.append(f"{what} cross: {shares:,.0f} sh{on} {where}")
        if self.other_cross_shares:
            out.append(
                f"other crosses (halt/IPO): {self.other_cross_shares:,.0f} sh excluded from volume"
            )
        return out

    def summary(self) -> str:
        """One line: the source, the rows and days read, every fault counted and the notes."""
        head = f"{self.source}: {self.rows_read} rows, {self.days} day(s), {self.trades} trades"
        faults = self.warnings()
        text = head + ("; " + "; ".join(faults) if faults else "; no faults")
        notes = self.notes()
        return text + ("; " + "; ".join(notes) if notes else "")

    def to_dict(self) -> dict:
        """The report as a plain dict (field name -> value)."""
        return asdict(self)

    @classmethod
    def combine(cls, reports: Sequence[DataQualityReport]) -> DataQualityReport:
        """Sum the counts of several reports (for example one per daily file).

        Raises
        ------
        InvalidParameterError
            If ``reports`` is empty.
        """
        reports = list(reports)
        if not reports:
            raise InvalidParameterError("combine needs at least one report; got none")
        if len(reports) == 1:
            return reports[0]
        totals = {
            f.name: sum(getattr(r, f.name) for r in reports)
            for f in fields(cls)
            if f.name != "source"
        }
        names = [r.source for r in reports]
        source = f"{len(names)} files ({names[0]} .. {names[-1]})"
        return cls(source=source, **totals)


def emit_quality_warning(report: DataQualityReport, stacklevel: int = 3) -> None:
    """Emit one one-line :class:`DataQualityWarning` if ``report`` counted any fault."""
    if report.has_faults:
        warnings.warn(report.summary(), DataQualityWarning, stacklevel=stacklevel)
