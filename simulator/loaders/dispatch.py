"""One entry point over every order-book source: :func:`load_books`."""

from __future__ import annotations

from models.errors import InvalidParameterError
from models.snapshots import BookSnapshots

from .databento import load_databento_mbp10
from .files import resolve_paths
from .lobster import load_lobster
from .quality import DataQualityReport

__all__ = ["load_books", "BOOK_FORMATS"]

BOOK_FORMATS = ("databento", "lobster", "parquet")
"""Formats :func:`load_books` reads."""


def load_books(source, format: str = "databento", *, return_report: bool = False, **options):
    """Load order-book snapshots from any supported source.

    Parameters
    ----------
    source : str, Path, glob or list of them
        Files as accepted by the format's loader: Databento MBP-10 CSV files, LOBSTER
        order-book files (their message files found by name, or ``message_path=``), or
        Parquet files written by :meth:`BookSnapshots.to_parquet` (several are concatenated
        by date).
    format : {'databento', 'lobster', 'parquet'}, default 'databento'
        Source format.
    return_report : bool, default False
        Also return the :class:`DataQualityReport` (for Parquet, one with only ``days`` and
        ``trade_shares`` filled in: the file was checked when it was written).
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
    report = DataQualityReport(
        source=", ".join(p.name for p in paths),
        days=books.n_days,
        trade_shares=float(books.volume.sum()),
    )
    return books, report
