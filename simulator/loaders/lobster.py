"""LOBSTER message and order-book files -> per-interval :class:`models.BookSnapshots`.

LOBSTER files have no header.  The message file's columns are time (seconds after
midnight, exchange local time), event type (1 submit, 2 partial cancel, 3 delete,
4 visible execution, 5 hidden execution, 7 halt), order id, size, price (dollars x 10,000)
and direction.  Row k of the order-book file is the book after message k, with columns
``ask_px, ask_sz, bid_px, bid_sz`` per level (prices x 10,000); an empty level has the
dummy price +-9,999,999,999 and size 0.  Any level count is read.  Volume is the sum of
sizes of continuous executions (types 4 and 5); cross trades (type 6, pseudo order id -1
opening, -2 closing) are auction prints kept apart (:mod:`simulator.loaders.auctions`).
File names follow LOBSTER's convention
``{SYMBOL}_{YYYY-MM-DD}_{start}_{end}_{message|orderbook}_{levels}.csv[.gz]``.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models.errors import DataError, InvalidParameterError

from .auctions import (
    CONTINUOUS,
    CROSS_CLOSE,
    CROSS_OPEN,
    CROSS_OTHER,
    CROSS_PART,
    NO_TRADE,
)
from .events import EventStream
from .files import numeric_columns, read_csv_counted, resolve_paths
from .quality import DataQualityReport, emit_quality_warning
from .sanity import check_lobster_alignment, check_price_scale
from .session import (
    NS_PER_DAY,
    SessionGrid,
    check_loader_options,
    clean_book_rows,
    combine_days,
    snapshots_from_events,
)

__all__ = ["load_lobster", "pair_lobster_files", "parse_lobster_name", "read_lobster_events"]

PRICE_SCALE = 10_000.0
"""LOBSTER prices are dollars times this factor."""
_DUMMY_PRICE = 9_999_999_999
_EXECUTIONS = (4, 5)
_VISIBLE_EXECUTION = 4
_CROSS = 6
_OPENING_CROSS_ID = -1
_CLOSING_CROSS_ID = -2
_MESSAGE_COLUMNS = 6
_NAME = re.compile(
    r"^(?P<symbol>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv(?:\.gz|\.bz2|\.zip|\.xz)?$"
)


def parse_lobster_name(path) -> dict | None:
    """Symbol, date, file kind and level count from a LOBSTER file name.

    Returns
    -------
    dict or None
        ``{'symbol': str, 'date': numpy.datetime64[D], 'kind': 'message' | 'orderbook',
        'levels': int}``, or None if the name does not follow the convention.
    """
    match = _NAME.match(Path(path).name)
    if match is None:
        return None
    return {
        "symbol": match["symbol"],
        "date": np.datetime64(match["date"], "D"),
        "kind": match["kind"],
        "levels": int(match["levels"]),
    }


def _read_rows(path: Path, n_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(values, row garbage flag, 1-based line number of each row, lines read)."""
    frame, skipped = read_csv_counted(
        path,
        header=None,
        names=list(range(n_columns)),
        index_col=False,
        skip_blank_lines=False,
        low_memory=False,
    )
    values, garbage = numeric_columns(frame, range(n_columns))
    total = len(frame) + skipped.size
    lines = np.setdiff1d(np.arange(1, total + 1), skipped, assume_unique=True)
    return values, garbage | np.isnan(values).any(axis=1), lines, total


def _orderbook_columns(path: Path) -> int:
    """Field count of the order-book file's first row (4 per level)."""
    first, _ = read_csv_counted(path, header=None, nrows=1)
    n_columns = first.shape[1]
    if n_columns < 4 or n_columns % 4:
        raise DataError(
            f"{path.name} is not a LOBSTER order-book file: rows must have 4 fields per level "
            f"(ask_px, ask_sz, bid_px, bid_sz); got {n_columns}"
        )
    return n_columns


def read_lobster_events(
    orderbook: Path, message: Path, *, date=None, symbol=None, levels=None
) -> tuple[EventStream, np.datetime64]:
    """Parse one LOBSTER file pair into its valid events (and the trading date).

    Book prices are checked for their scale (dollars x 10,000) and each message against
    the change in the book on its row (see :mod:`simulator.loaders.sanity`).  Cross
    trades (type 6) are classified by their pseudo order id (-1 opening, -2 closing,
    other: halt/IPO/intraday); executions stamped with a cross's time are its
    participations.

    Returns
    -------
    stream : EventStream
    day : numpy.datetime64[D]

    Raises
    ------
    DataError
        If a file is missing or malformed, the files do not pair line by line or row by
        row, prices are not dollars x 10,000, or no row is valid.
    InvalidParameterError
        If ``levels`` exceeds the file's, or the date is neither given nor in the name.
    """
    meta = parse_lobster_name(orderbook) or parse_lobster_name(message) or {}
    if date is None:
        if "date" not in meta:
            raise InvalidParameterError(
                f"date must be given: it cannot be parsed from the file name {orderbook.name!r} "
                "(expected SYMBOL_YYYY-MM-DD_start_end_orderbook_L.csv[.gz])"
            )
        date = meta["date"]
    try:
        day = np.datetime64(date, "D")
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"date must be a date like '2012-06-21'; got {date!r}") from exc
    symbol = meta.get("symbol", "") if symbol is None else str(symbol)

    n_columns = _orderbook_columns(orderbook)
    n_file = n_columns // 4
    if levels is not None and levels > n_file:
        raise InvalidParameterError(
            f"levels must be <= the {n_file} levels of {orderbook.name}; got {levels}"
        )
    n_levels = n_file if levels is None else int(levels)
    msg, msg_bad, msg_lines, msg_total = _read_rows(message, _MESSAGE_COLUMNS)
    ob, ob_bad, ob_lines, ob_total = _read_rows(orderbook, n_columns)
    if msg_total != ob_total:
        raise DataError(
            f"{message.name} has {msg_total} rows but {orderbook.name} has {ob_total}; "
            "LOBSTER message and order-book files must pair line by line"
        )
    # Pair rows by their line in the file, so a dropped line in one file drops its partner.
    lines, mi, oi = np.intersect1d(msg_lines, ob_lines, assume_unique=True, return_indices=True)
    msg, ob = msg[mi], ob[oi]
    bad = msg_bad[mi] | ob_bad[oi]

    raw = {}
    for k, name in enumerate(("ask_px", "ask_sz", "bid_px", "bid_sz")):
        block = ob[:, k : 4 * n_levels : 4]
        if name.endswith("px"):
            block = np.where(np.abs(block) >= _DUMMY_PRICE, np.nan, block / PRICE_SCALE)
        raw[name] = block
    book, malformed = clean_book_rows(**raw)
    seconds, event_type, order_id = msg[:, 0], msg[:, 1], msg[:, 2]
    size, price, direction = msg[:, 3], msg[:, 4], msg[:, 5]
    with np.errstate(invalid="ignore"):
        bad |= malformed | ~(seconds >= 0) | (size < 0)
    keep = ~bad
    rows_read = ob_total
    if not np.any(keep):
        raise DataError(f"{orderbook.name} has no valid rows ({rows_read} read)")
    check_price_scale(
        orderbook.name,
        np.concatenate([book["bid_px"][keep, 0], book["ask_px"][keep, 0]]),
        hint="LOBSTER prices must be dollars x 10,000 (integers)",
    )
    kept = ob[keep]
    check_lobster_alignment(
        orderbook.name,
        message.name,
        event_type[keep],
        size[keep],
        price[keep],
        direction[keep],
        *(kept[:, k : 4 * n_file : 4] for k in (2, 3, 0, 1)),
    )
    local_ns = day.astype("datetime64[ns]").astype(np.int64) + np.round(seconds * 1e9).astype(
        np.int64
    )
    cross = event_type == _CROSS
    execution = np.isin(event_type, _EXECUTIONS)
    # Executions at the very time of a cross print are the cross, already in its size.
    part = execution & np.isin(local_ns, local_ns[cross & keep])
    kind = np.select(
        [
            cross & (order_id == _OPENING_CROSS_ID),
            cross & (order_id == _CLOSING_CROSS_ID),
            cross,
            part,
            execution,
        ],
        [CROSS_OPEN, CROSS_CLOSE, CROSS_OTHER, CROSS_PART, CONTINUOUS],
        NO_TRADE,
    ).astype(np.int8)
    # A visible execution of a sell (buy) limit order is a buyer- (seller-) initiated trade.
    visible = (event_type == _VISIBLE_EXECUTION) & ~part
    aggressor = np.where(visible, -np.sign(direction), 0).astype(np.int8)
    stream = EventStream(
        source=orderbook.name,
        symbol=symbol,
        local_ns=local_ns[keep],
        trade_shares=np.where(kind != NO_TRADE, size, 0.0)[keep],
        trade_kind=kind[keep],
        aggressor=aggressor[keep],
        book={k: v[keep] for k, v in book.items()},
        rows_read=rows_read,
        malformed_rows=rows_read - int(np.count_nonzero(keep)),
    )
    return stream, day


def _load_day(orderbook: Path, message: Path, grid, date, symbol, levels, on_invalid, resilience):
    stream, day = read_lobster_events(orderbook, message, date=date, symbol=symbol, levels=levels)
    books, counts = snapshots_from_events(
        stream.local_ns,
        stream.trade_shares,
        stream.book,
        grid,
        source=orderbook.name,
        symbol=stream.symbol,
        on_invalid=on_invalid,
        trade_kind=stream.trade_kind,
        aggressor=stream.aggressor,
        resilience=resilience,
    )
    if books.n_days != 1 or books.dates[0] != day:
        raise DataError(
            f"{orderbook.name}: times must lie within one day (seconds after midnight < "
            f"{NS_PER_DAY // 10**9}); got session rows on {books.n_days} days"
        )
    report = DataQualityReport(
        source=orderbook.name,
        rows_read=stream.rows_read,
        malformed_rows=stream.malformed_rows,
        **asdict(counts),
    )
    return books, report


def pair_lobster_files(orderbook_path, message_path=None, symbol=None) -> list[tuple[Path, Path]]:
    """(order-book file, message file) pairs, as :func:`load_lobster` finds them."""
    orderbooks = resolve_paths(orderbook_path, pattern="*_orderbook_*.csv*")
    if symbol is not None:
        # Files whose LOBSTER name gives another symbol are left out (unnamed ones stay).
        orderbooks = [
            p for p in orderbooks if (parse_lobster_name(p) or {}).get("symbol", symbol) == symbol
        ]
        if not orderbooks:
            raise DataError(f"no LOBSTER order-book file for symbol {symbol!r} in {orderbook_path}")
    if message_path is None:
        pairs = []
        for ob in orderbooks:
            if "_orderbook_" not in ob.name:
                raise InvalidParameterError(
                    f"message_path must be given: {ob.name!r} does not follow LOBSTER's "
                    "'..._orderbook_L.csv' naming, so its message file cannot be found"
                )
            pairs.append((ob, ob.with_name(ob.name.replace("_orderbook_", "_message_"))))
        return pairs
    messages = resolve_paths(message_path, pattern="*_message_*.csv*")
    if len(messages) != len(orderbooks):
        raise InvalidParameterError(
            f"message_path must give one message file per order-book file; got "
            f"{len(messages)} message and {len(orderbooks)} order-book files"
        )
    return list(zip(orderbooks, messages, strict=True))


def load_lobster(
    orderbook_path,
    message_path=None,
    *,
    date=None,
    symbol: str | None = None,
    interval_minutes: float = 1.0,
    session: tuple[str, str] = ("09:30", "16:00"),
    levels: int | None = None,
    on_invalid: str = "repair",
    resilience: bool = True,
    return_report: bool = False,
):
    """Load LOBSTER files into per-interval book snapshots.

    The snapshot of each interval is the book in force at its start (the last event at or
    before it); its volume is the sum of continuous execution sizes (event types 4 and 5)
    inside it, in shares.  Cross trades (type 6) are auction prints: the opening (order id
    -1) and closing (-2) crosses go to ``auction_volume``, other crosses are left out, and
    executions stamped with a cross's time are its participations, left out of volume too
    (the same rule as for Databento: ADV is continuous volume only).  LOBSTER times are
    already exchange local time (America/New_York).  Prices must be dollars x 10,000 and
    each message must agree with the change in the book on its row, else a
    :class:`DataError` names the files.  Faults are handled and counted (see
    :class:`DataQualityReport`); when any is found one one-line
    :class:`DataQualityWarning` summarises them.

    Parameters
    ----------
    orderbook_path : str, Path, glob or list of them
        An order-book file, or for several days a directory (its ``*_orderbook_*.csv*``
        files), a glob or a list of order-book files.
    message_path : str, Path, glob or list, optional
        The matching message file(s), in the same order.  By default each is found by
        replacing ``_orderbook_`` with ``_message_`` in the order-book file name.
    date : str or datetime64, optional
        Trading date of a single day; parsed from the file name by default.
    symbol : str, optional
        Symbol stored on the result (default from the file name); with a directory or glob
        only files of this symbol are loaded.
    interval_minutes : float, default 1
        Interval length in minutes; must divide the session (390 intervals by default).
    session : tuple of str, default ('09:30', '16:00')
        Session start and (exclusive) end, local time.
    levels : int, optional
        Book levels to keep per side (default all levels in the file).
    on_invalid : {'repair', 'raise'}, default 'repair'
        Crossed, locked or one-sided snapshots are repaired (last valid book of the day
        carried forward, flagged in ``repaired``) and counted, or rejected.
    resilience : bool, default True
        Estimate each day's recovery half-life (``resilience_half_life``, intervals).
    return_report : bool, default False
        Also return the :class:`DataQualityReport`.

    Returns
    -------
    BookSnapshots or (BookSnapshots, DataQualityReport)
        Arrays of shape (days, intervals, levels), days sorted by date; prices in dollars,
        sizes in shares.  Days with differing level counts are padded with empty levels.

    Raises
    ------
    DataError
        If a file is missing or malformed, the two files of a day do not pair line by line
        or row by row (a shift), prices are not dollars x 10,000, no row falls in the
        session, or two files give the same date.
    InvalidParameterError
        If a parameter is out of range, or the date is neither given nor in the file name.
    """
    check_loader_options(on_invalid, levels)
    grid = SessionGrid(interval_minutes=interval_minutes, session=tuple(session))
    pairs = pair_lobster_files(orderbook_path, message_path, symbol)
    if date is not None and len(pairs) > 1:
        raise InvalidParameterError(
            f"date must be None when loading several days; got {date!r} for {len(pairs)} files"
        )
    loaded = [
        (ob, _load_day(ob, msg, grid, date, symbol, levels, on_invalid, bool(resilience)))
        for ob, msg in pairs
    ]
    books, report = combine_days([(p, b) for p, (b, _) in loaded], [r for _, (_, r) in loaded])
    emit_quality_warning(report)
    return (books, report) if return_report else books
