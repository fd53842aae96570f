"""Databento MBP-10 files (CSV or DBN) -> per-interval :class:`models.BookSnapshots`.

CSV: both header variants are read, Databento's own (``ts_recv`` first) and the one whose
first column is a second ``ts_event`` (pandas renames the duplicate ``ts_event.1``).  The
first column is the event time: rows are ordered by it, and it is ``ts_recv`` when
present.  Timestamps are ISO-8601 strings in UTC with nanoseconds
(``2025-04-03 13:30:00.125395235+00:00`` or ``...T...Z``) or integer nanoseconds since the
epoch.  Prices are decimal dollars; a blank price is an empty level.

DBN (``.dbn``, ``.dbn.zst``, chosen by the file suffix): decoded with the optional
``databento`` package into the same columns (see :mod:`simulator.loaders.dbn`), event time
``ts_recv``; the same records give the same snapshots as their CSV.

Volume is continuous trading only: the sum of ``size`` over trade records (action ``T``)
except the opening and closing cross prints.  Databento normalises Nasdaq's *Cross
Trade* and *Trade (Non-Cross)* messages alike to trades with side ``N``; the cross print
is the first trade at or after 09:30:00 / 16:00:00 local time when its side is ``N`` and
it lies within ``cross_window_s`` (:mod:`simulator.loaders.auctions`).  Those prints go to
``auction_volume``; ADV and profiles built from ``volume`` exclude them.

Data that parses but is wrong is refused or repaired and counted: exact duplicate records
are dropped (:attr:`DataQualityReport.duplicate_rows`), and book prices that are not
dollars (cents, fixed-point units) are a one-line :class:`DataError` naming the file.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError, InvalidParameterError

from .auctions import CONTINUOUS, NO_TRADE, UNKNOWN_SIDE, CrossRule
from .dbn import is_dbn, read_dbn_frame
from .events import EventStream
from .files import numeric_columns, read_csv_counted, resolve_paths
from .quality import DataQualityReport, emit_quality_warning
from .sanity import check_price_scale, duplicate_rows
from .session import (
    SessionGrid,
    check_loader_options,
    clean_book_rows,
    combine_days,
    snapshots_from_events,
)

__all__ = ["load_databento_mbp10", "read_databento_events"]

_TIME_COLUMNS = ("ts_recv", "ts_event")
_REQUIRED = ("action", "side", "size", "symbol")
_TZ = "America/New_York"
DATABENTO_PATTERNS = ("*.csv*", "*.dbn", "*.dbn.zst")
"""File names read from a directory: CSV (plain or compressed) and DBN."""
_PRICE_HINT_CSV = "Databento CSV prices must be decimal dollars (export with pretty_px=True)"
_PRICE_HINT_DBN = "DBN prices must be fixed-point units of 1e-9 dollars"
_LEVEL = re.compile(r"^bid_px_(\d{2})$")


def _file_levels(path: Path, columns: list[str], levels) -> int:
    """Number of book levels to read, checking the header has their columns."""
    found = sorted(int(m.group(1)) for c in columns if (m := _LEVEL.match(c)))
    n_file = 0
    while n_file in found:
        n_file += 1
    missing = [c for c in _REQUIRED if c not in columns]
    if columns[0] not in _TIME_COLUMNS:
        missing.insert(0, "ts_recv or ts_event (first column)")
    if n_file == 0:
        missing.append("bid_px_00")
    for lvl in range(n_file):
        missing += [
            f"{name}_{lvl:02d}"
            for name in ("ask_px", "bid_sz", "ask_sz")
            if f"{name}_{lvl:02d}" not in columns
        ]
    if missing:
        raise DataError(
            f"{path.name} is not a Databento MBP-10 {'DBN file' if is_dbn(path) else 'CSV'}: "
            f"missing columns {missing}; "
            f"header starts {columns[:6]}"
        )
    if levels is not None and levels > n_file:
        raise InvalidParameterError(
            f"levels must be <= the {n_file} levels of {path.name}; got {levels}"
        )
    return n_file if levels is None else int(levels)


def _local_ns(raw: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC timestamps -> (wall-clock ns in ``tz``, unparsable flag)."""
    if pd.api.types.is_integer_dtype(raw):
        stamps = pd.to_datetime(raw, unit="ns", utc=True)
    else:
        stamps = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
    bad = np.array(stamps.isna(), dtype=bool)
    local = stamps.dt.tz_convert(tz).dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return local.astype(np.int64), bad


def _read_frame(path: Path) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(rows, 1-based numbers of CSV lines skipped, column names) of a CSV or DBN file."""
    if is_dbn(path):
        frame = read_dbn_frame(path)
        return frame, np.zeros(0, dtype=np.int64), [str(c) for c in frame.columns]
    header, _ = read_csv_counted(path, nrows=0)
    columns = [str(c) for c in header.columns]
    _file_levels(path, columns, None)  # a clear error before reading a wrong file whole
    frame, skipped = read_csv_counted(path, low_memory=False)
    return frame, skipped, columns


def read_databento_events(
    path: Path, *, levels: int | None = None, symbol: str | None = None, tz: str = _TZ
) -> EventStream:
    """Parse one Databento MBP-10 file (CSV or DBN) into its valid events.

    Exact duplicate records are dropped and counted; malformed rows are dropped and
    counted; the book prices are checked for their scale (dollars).

    Parameters
    ----------
    path : Path
        A ``.csv``, ``.csv.gz``, ``.dbn`` or ``.dbn.zst`` file.
    levels : int, optional
        Book levels to keep per side (default all in the file).
    symbol : str, optional
        Keep only rows of this symbol; required when the file holds several.
    tz : str, default 'America/New_York'
        Exchange time zone the UTC timestamps are converted to.

    Returns
    -------
    EventStream

    Raises
    ------
    DataError
        If the file is missing, unreadable, lacks columns, has no valid rows, holds
        several symbols without ``symbol=``, or its prices are not dollars.
    """
    frame, skipped, columns = _read_frame(path)
    n_levels = _file_levels(path, columns, levels)
    rows_read = len(frame) + skipped.size
    duplicate = duplicate_rows(frame)
    n_duplicates = int(np.count_nonzero(duplicate))
    if n_duplicates:
        frame = frame.loc[~duplicate].reset_index(drop=True)

    local_ns, bad = _local_ns(frame[columns[0]], tz)
    # A row with too few fields is padded with NaN; the last column is never blank.
    bad |= frame[columns[-1]].isna().to_numpy()
    action = frame["action"].astype(str).to_numpy()
    side = frame["side"].astype(str).to_numpy()
    bad |= frame["action"].isna().to_numpy()
    size, garbage = numeric_columns(frame, ["size"])
    size = size[:, 0]
    is_trade = action == "T"
    with np.errstate(invalid="ignore"):
        bad |= garbage | (is_trade & ~(np.isfinite(size) & (size >= 0)))
    names = {
        name: [f"{name}_{lvl:02d}" for lvl in range(n_levels)]
        for name in ("bid_px", "bid_sz", "ask_px", "ask_sz")
    }
    raw_book = {}
    for name, cols in names.items():
        raw_book[name], garbage = numeric_columns(frame, cols)
        bad |= garbage
    book, malformed = clean_book_rows(**raw_book)
    bad |= malformed

    symbols = frame["symbol"].to_numpy()
    keep = ~bad
    if symbol is not None:
        keep &= symbols == symbol
        if not np.any(keep):
            raise DataError(f"{path.name} has no valid rows for symbol {symbol!r}")
    else:
        found = pd.unique(symbols[keep])
        if len(found) > 1:
            raise DataError(
                f"{path.name} holds several symbols {sorted(map(str, found))}; pass symbol= to "
                "choose one"
            )
    if not np.any(keep):
        raise DataError(f"{path.name} has no valid rows ({rows_read} read)")
    name = str(symbols[keep][0]) if symbol is None else str(symbol)
    book = {k: v[keep] for k, v in book.items()}
    check_price_scale(
        path.name,
        np.concatenate([book["bid_px"][:, 0], book["ask_px"][:, 0]]),
        hint=_PRICE_HINT_DBN if is_dbn(path) else _PRICE_HINT_CSV,
    )
    known = (side == "B") | (side == "A")
    kind = np.where(is_trade, np.where(known, CONTINUOUS, UNKNOWN_SIDE), NO_TRADE)
    aggressor = np.where(is_trade & (side == "B"), 1, np.where(is_trade & (side == "A"), -1, 0))
    return EventStream(
        source=path.name,
        symbol=name,
        local_ns=local_ns[keep],
        trade_shares=np.where(is_trade, size, 0.0)[keep],
        trade_kind=kind[keep].astype(np.int8),
        aggressor=aggressor[keep].astype(np.int8),
        book=book,
        rows_read=rows_read,
        malformed_rows=int(np.count_nonzero(bad)) + skipped.size,
        duplicate_rows=n_duplicates,
    )


def _load_one(path, grid, levels, symbol, on_invalid, crosses, resilience):
    stream = read_databento_events(path, levels=levels, symbol=symbol, tz=grid.tz)
    books, counts = snapshots_from_events(
        stream.local_ns,
        stream.trade_shares,
        stream.book,
        grid,
        source=path.name,
        symbol=stream.symbol,
        on_invalid=on_invalid,
        trade_kind=stream.trade_kind,
        aggressor=stream.aggressor,
        crosses=crosses,
        resilience=resilience,
    )
    report = DataQualityReport(
        source=path.name,
        rows_read=stream.rows_read,
        malformed_rows=stream.malformed_rows,
        duplicate_rows=stream.duplicate_rows,
        **asdict(counts),
    )
    return books, report


def load_databento_mbp10(
    path_or_paths,
    *,
    interval_minutes: float = 1.0,
    session: tuple[str, str] = ("09:30", "16:00"),
    tz: str = _TZ,
    levels: int | None = None,
    symbol: str | None = None,
    on_invalid: str = "repair",
    cross_times: tuple[str, str] | None = ("09:30", "16:00"),
    cross_window_s: float = 10.0,
    resilience: bool = True,
    return_report: bool = False,
):
    """Load Databento MBP-10 files (CSV or DBN) into per-interval book snapshots.

    The snapshot of each interval is the book in force at its start (the last event at or
    before it); its volume is the sum of continuous-trading trade sizes (action ``T``)
    inside it, in shares.  The opening and closing cross prints are kept apart per day in
    ``auction_volume`` (rule: the first trade at or after each cross time, if its side is
    ``N`` and it lies within ``cross_window_s``; see :mod:`simulator.loaders.auctions`), so
    ADV (the mean daily sum of ``volume``) is continuous volume only.  Faults are handled
    and counted (see :class:`DataQualityReport`); when any is found one one-line
    :class:`DataQualityWarning` summarises them.

    Parameters
    ----------
    path_or_paths : str, Path, glob or list of them
        A ``.csv``, ``.csv.gz``, ``.dbn`` or ``.dbn.zst`` file (DBN chosen by the suffix;
        it needs the optional ``databento`` package), a directory (every ``*.csv*``,
        ``*.dbn`` and ``*.dbn.zst`` file in it), a glob or a list of files; each local
        date becomes one day, days sorted by date.
    interval_minutes : float, default 1
        Interval length in minutes; must divide the session (390 intervals by default).
    session : tuple of str, default ('09:30', '16:00')
        Session start and (exclusive) end, local time.
    tz : str, default 'America/New_York'
        Exchange time zone the UTC timestamps are converted to.
    levels : int, optional
        Book levels to keep per side (default all levels in the file).
    symbol : str, optional
        Keep only rows of this symbol; required when a file holds several.
    on_invalid : {'repair', 'raise'}, default 'repair'
        Crossed, locked or one-sided snapshots are repaired (last valid book of the day
        carried forward, flagged in ``repaired``) and counted, or rejected.
    cross_times : tuple of str or None, default ('09:30', '16:00')
        Opening and closing cross times, local time; None keeps every trade in volume.
    cross_window_s : float, default 10
        Seconds after a cross time within which a side-``N`` print can be the cross.
    resilience : bool, default True
        Estimate each day's recovery half-life (``resilience_half_life``, intervals);
        False leaves it NaN and saves a few milliseconds per day.
    return_report : bool, default False
        Also return the :class:`DataQualityReport`.

    Returns
    -------
    BookSnapshots or (BookSnapshots, DataQualityReport)
        Arrays of shape (days, intervals, levels); prices in dollars, sizes in shares.

    Raises
    ------
    DataError
        If a file is missing, is not a Databento MBP-10 file (missing columns), has no
        valid rows, has no rows in the session, has prices that are not dollars, needs
        the missing ``databento`` package (DBN), or two files give the same date.
    InvalidParameterError
        If a parameter is out of range.
    """
    check_loader_options(on_invalid, levels)
    grid = SessionGrid(interval_minutes=interval_minutes, session=tuple(session), tz=tz)
    crosses = CrossRule.from_option(cross_times, cross_window_s)
    paths = resolve_paths(path_or_paths, pattern=DATABENTO_PATTERNS)
    loaded = [
        (p, _load_one(p, grid, levels, symbol, on_invalid, crosses, bool(resilience)))
        for p in paths
    ]
    books, report = combine_days([(p, b) for p, (b, _) in loaded], [r for _, (_, r) in loaded])
    emit_quality_warning(report)
    return (books, report) if return_report else books
