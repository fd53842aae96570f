"""Databento MBP-10 CSV files -> per-interval :class:`models.BookSnapshots`.

Both header variants are read: Databento's own (``ts_recv`` first) and the one whose first
column is a second ``ts_event`` (pandas renames the duplicate ``ts_event.1``).  The first
column is the event time: rows are ordered by it, and it is ``ts_recv`` when present.
Timestamps are ISO-8601 strings in UTC with nanoseconds (``2025-04-03 13:30:00.125395235+00:00``
or ``...T...Z``) or integer nanoseconds since the epoch.  Prices are decimal dollars; a
blank price is an empty level.  Volume is the sum of ``size`` over trades (action ``T``).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from models.errors import DataError, InvalidParameterError

from .files import numeric_columns, read_csv_counted, resolve_paths
from .quality import DataQualityReport, emit_quality_warning
from .session import (
    SessionGrid,
    check_loader_options,
    clean_book_rows,
    combine_days,
    snapshots_from_events,
)

__all__ = ["load_databento_mbp10"]

_TIME_COLUMNS = ("ts_recv", "ts_event")
_REQUIRED = ("action", "size", "symbol")
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
            f"{path.name} is not a Databento MBP-10 CSV: missing columns {missing}; "
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


def _load_one(path: Path, grid: SessionGrid, levels, symbol, on_invalid):
    header, _ = read_csv_counted(path, nrows=0)
    columns = [str(c) for c in header.columns]
    n_levels = _file_levels(path, columns, levels)
    frame, skipped = read_csv_counted(path, low_memory=False)
    n_rows = len(frame)

    local_ns, bad = _local_ns(frame[columns[0]], grid.tz)
    # A row with too few fields is padded with NaN; the last column is never blank.
    bad |= frame[columns[-1]].isna().to_numpy()
    action = frame["action"].astype(str).to_numpy()
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
        raise DataError(f"{path.name} has no valid rows ({n_rows + skipped.size} read)")
    name = str(symbols[keep][0]) if symbol is None else str(symbol)
    books, counts = snapshots_from_events(
        local_ns[keep],
        np.where(is_trade, size, 0.0)[keep],
        {k: v[keep] for k, v in book.items()},
        grid,
        source=path.name,
        symbol=name,
        on_invalid=on_invalid,
    )
    report = DataQualityReport(
        source=path.name,
        rows_read=n_rows + skipped.size,
        malformed_rows=int(np.count_nonzero(bad)) + skipped.size,
        **asdict(counts),
    )
    return books, report


def load_databento_mbp10(
    path_or_paths,
    *,
    interval_minutes: float = 1.0,
    session: tuple[str, str] = ("09:30", "16:00"),
    tz: str = "America/New_York",
    levels: int | None = None,
    symbol: str | None = None,
    on_invalid: str = "repair",
    return_report: bool = False,
):
    """Load Databento MBP-10 CSV files into per-interval book snapshots.

    The snapshot of each interval is the book in force at its start (the last event at or
    before it); its volume is the sum of trade sizes (action ``T``) inside it, in shares.
    Faults are handled and counted (see :class:`DataQualityReport`); when any is found one
    one-line :class:`DataQualityWarning` summarises them.

    Parameters
    ----------
    path_or_paths : str, Path, glob or list of them
        A ``.csv`` or ``.csv.gz`` file, a directory (every ``*.csv*`` file in it), a glob or
        a list of files; each local date becomes one day, days sorted by date.
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
    return_report : bool, default False
        Also return the :class:`DataQualityReport`.

    Returns
    -------
    BookSnapshots or (BookSnapshots, DataQualityReport)
        Arrays of shape (days, intervals, levels); prices in dollars, sizes in shares.

    Raises
    ------
    DataError
        If a file is missing, is not a Databento MBP-10 CSV (missing columns), has no valid
        rows, has no rows in the session, or two files give the same date.
    InvalidParameterError
        If a parameter is out of range.
    """
    check_loader_options(on_invalid, levels)
    grid = SessionGrid(interval_minutes=interval_minutes, session=tuple(session), tz=tz)
    paths = resolve_paths(path_or_paths)
    loaded = [(p, _load_one(p, grid, levels, symbol, on_invalid)) for p in paths]
    books, report = combine_days([(p, b) for p, (b, _) in loaded], [r for _, (_, r) in loaded])
    emit_quality_warning(report)
    return (books, report) if return_report else books
