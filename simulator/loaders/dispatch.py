"""One entry point over every order-book source: :func:`load_books`."""

from __future__ import annotations

import numpy as np

from models.errors import DataError, InvalidParameterError
from models.snapshots import BookSnapshots

from .databento import DATABENTO_PATTERNS, load_databento_mbp10, read_databento_events
from .events import EventStream
from .files import resolve_paths
from .lobster import load_lobster, pair_lobster_files, read_lobster_events
from .quality import DataQualityReport
from .session import NS_PER_DAY, SessionGrid

__all__ = ["load_books", "read_event_streams", "BOOK_FORMATS"]

BOOK_FORMATS = ("databento", "lobster", "parquet")
"""Formats :func:`load_books` reads."""


def load_books(source, format: str = "databento", *, return_report: bool = False, **options):
    """Load order-book snapshots from any supported source.

    Parameters
    ----------
    source : str, Path, glob or list of them
        Files as accepted by the format's loader: Databento MBP-10 CSV or DBN files
        (``.dbn``/``.dbn.zst``, chosen by the suffix), LOBSTER
        order-book files (their message files found by name, or ``message_path=``), or
        Parquet files written by :meth:`BookSnapshots.to_parquet` (several are concatenated
        by date).
    format : {'databento', 'lobster', 'parquet'}, default 'databento'
        Source format.
    return_report : bool, default False
        Also return the :class:`DataQualityReport` (for Parquet, one with only ``days``,
        ``trade_shares`` and the auction prints kept in the file filled in: the data was
        checked when it was written).
    **options
        Passed to :func:`load_databento_mbp10` or :func:`load_lobster` (for example
        ``interval_minutes``, ``levels``, ``symbol``); Parquet takes none.

    Returns
    -------
    BookSnapshots or (BookSnapshots, DataQualityReport)

    Raises
    ------
    InvalidParameterError
        If ``format`` is unknown or options are given for Parquet.
    DataError
        As raised by the loaders.
    """
    if format == "databento":
        return load_databento_mbp10(source, return_report=return_report, **options)
    if format == "lobster":
        return load_lobster(source, return_report=return_report, **options)
    if format != "parquet":
        raise InvalidParameterError(f"format must be one of {list(BOOK_FORMATS)}; got {format!r}")
    if options:
        raise InvalidParameterError(
            f"parquet sources take no loader options; got {sorted(options)}"
        )
    paths = resolve_paths(source, pattern="*.parquet")
    parts = [BookSnapshots.from_parquet(p) for p in paths]
    books = parts[0] if len(parts) == 1 else BookSnapshots.concat(parts)
    if not return_report:
        return books
    auction = books.auction_volume
    report = DataQualityReport(
        source=", ".join(p.name for p in paths),
        days=books.n_days,
        trade_shares=float(books.volume.sum()),
        opening_crosses=int(np.count_nonzero(auction[:, 0])),
        closing_crosses=int(np.count_nonzero(auction[:, 1])),
        opening_cross_shares=float(auction[:, 0].sum()),
        closing_cross_shares=float(auction[:, 1].sum()),
    )
    return books, report


def read_event_streams(
    source, format: str = "databento", *, grid: SessionGrid | None = None, **options
) -> list[EventStream]:
    """Parse files into their valid events, one :class:`EventStream` per file (day).

    The same reading, cleaning, de-duplication and sanity checks as :func:`load_books`,
    without binning; used by :func:`~simulator.loaders.estimate_resilience`.

    Parameters
    ----------
    source : str, Path, glob or list of them
        Databento MBP-10 files or LOBSTER order-book files.
    format : {'databento', 'lobster'}, default 'databento'
        Source format.
    grid : SessionGrid, optional
        Only its time zone is used (Databento timestamps are UTC).
    **options
        ``levels`` and ``symbol``; ``message_path`` and ``date`` for LOBSTER.

    Returns
    -------
    list of EventStream

    Raises
    ------
    InvalidParameterError
        If ``format`` or an option is unknown.
    DataError
        As raised by the readers, or if two files give the same date.
    """
    tz = (grid or SessionGrid()).tz
    levels = options.pop("levels", None)
    symbol = options.pop("symbol", None)
    if format == "databento":
        if options:
            raise InvalidParameterError(f"unknown options for databento: {sorted(options)}")
        paths = resolve_paths(source, pattern=DATABENTO_PATTERNS)
        streams = [read_databento_events(p, levels=levels, symbol=symbol, tz=tz) for p in paths]
    elif format == "lobster":
        message_path = options.pop("message_path", None)
        date = options.pop("date", None)
        if options:
            raise InvalidParameterError(f"unknown options for lobster: {sorted(options)}")
        streams = [
            read_lobster_events(ob, msg, date=date, symbol=symbol, levels=levels)[0]
            for ob, msg in pair_lobster_files(source, message_path, symbol)
        ]
    else:
        raise InvalidParameterError(
            f"format must be 'databento' or 'lobster' for event streams; got {format!r}"
        )
    seen: dict = {}
    for stream in streams:
        for day in np.unique(stream.local_ns // NS_PER_DAY):
            if day in seen:
                raise DataError(
                    f"date {np.datetime64(int(day), 'D')} appears in both {seen[day]} and "
                    f"{stream.source}; use one symbol at a time, one file per day"
                )
            seen[day] = stream.source
    return streams
