"""Checks for market data that parses but is wrong: duplicates, price scale, misalignment.

* **Exact duplicates** (Databento): a record that repeats an earlier one field for field
  (same ``ts_recv``/``ts_event``, same ``sequence``, same content and book) is a copy,
  not a second event: it is dropped and counted.  Distinct records of one venue message
  share ``ts_event`` and ``sequence`` but differ in action or book, so they are kept.
* **Price scale**: book prices must lie in a plausible range for a US equity
  ($0.0001 to $2,000,000 per share) and on the tick grid (Reg NMS rule 612: multiples of
  $0.01 at or above $1, of $0.0001 below); a file whose book prices are all whole numbers
  is refused as cents (Databento prices are decimal dollars).  Each failure is one
  :class:`~models.errors.DataError` line naming the file.
* **LOBSTER alignment**: row k of the order-book file is the book after message k, so each
  visible message (types 1-4) must change the displayed size at its price and side by
  exactly its size (+ for a submission, - for a cancellation, deletion or execution).
  A file pair whose checkable messages mostly disagree (a shift by one row does) is
  refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.errors import DataError

__all__ = [
    "MIN_PLAUSIBLE_PRICE",
    "MAX_PLAUSIBLE_PRICE",
    "duplicate_rows",
    "check_price_scale",
    "check_lobster_alignment",
]

MIN_PLAUSIBLE_PRICE = 1e-4
"""Lowest plausible US-equity price in dollars (one sub-penny tick)."""
MAX_PLAUSIBLE_PRICE = 2e6
"""Highest plausible US-equity price in dollars (above any listed share)."""

_GRID_TOLERANCE = 1e-6  # in ticks: decimal text parsed to binary floats is not exact
_MIN_OFF_GRID_SHARE = 0.01  # a share of off-grid prices above this is a scale error
_MIN_WHOLE_PRICES = 20  # distinct prices needed before "all whole dollars" means cents
_MIN_CHECKABLE = 50  # LOBSTER messages needed before alignment is judged
_MIN_AGREEMENT = 0.99


def duplicate_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows that repeat an earlier row in every column (the first occurrence is kept).

    Returns
    -------
    ndarray of bool, shape (rows,)
    """
    if len(frame) == 0:
        return np.zeros(0, dtype=bool)
    return frame.duplicated(keep="first").to_numpy()


def _fmt(price: float) -> str:
    return f"{price:,.6g}"


def check_price_scale(source: str, prices, *, hint: str) -> None:
    """Refuse book prices that are off by a power of ten.

    Parameters
    ----------
    source : str
        File name for the message.
    prices : ndarray
        Book level prices in dollars as the loader read them (NaN = empty level); any
        shape.
    hint : str
        What the file's prices should be, e.g. ``"Databento CSV prices are decimal
        dollars"``, appended to the message.

    Raises
    ------
    DataError
        If the median price is outside [$0.0001, $2,000,000], more than 1% of prices are
        off the tick grid, or at least 20 distinct prices are all whole numbers (cents).
    """
    px = np.asarray(prices, dtype=float).ravel()
    px = px[np.isfinite(px)]
    if px.size == 0:
        return
    distinct = np.unique(px)
    median = float(np.median(px))
    if not (MIN_PLAUSIBLE_PRICE <= median <= MAX_PLAUSIBLE_PRICE):
        raise DataError(
            f"{source}: median book price {_fmt(median)} is outside the plausible range "
            f"$0.0001-$2,000,000 per share; {hint}"
        )
    tick = np.where(distinct >= 1.0, 0.01, 0.0001)
    ticks = distinct / tick
    off = np.abs(ticks - np.round(ticks)) > _GRID_TOLERANCE
    if off.mean() > _MIN_OFF_GRID_SHARE:
        example = float(distinct[off][len(distinct[off]) // 2])
        raise DataError(
            f"{source}: {off.mean():.0%} of {distinct.size} distinct book prices are off the "
            f"tick grid ($0.01 at or above $1, $0.0001 below; e.g. {_fmt(example)}); {hint}"
        )
    if distinct.size >= _MIN_WHOLE_PRICES and np.all(distinct == np.round(distinct)):
        raise DataError(
            f"{source}: all {distinct.size} distinct book prices are whole numbers (median "
            f"{_fmt(median)}): prices look like cents, not dollars; {hint}"
        )


def _agreement(msg_type, size, price, direction, bid_px, bid_sz, ask_px, ask_sz):
    """(checkable messages, share agreeing) for messages paired with book rows."""
    bid = (direction > 0)[1:, None]
    price = price[1:, None]
    after_px = np.where(bid, bid_px[1:], ask_px[1:])
    after_sz = np.where(bid, bid_sz[1:], ask_sz[1:])
    before_px = np.where(bid, bid_px[:-1], ask_px[:-1])
    before_sz = np.where(bid, bid_sz[:-1], ask_sz[:-1])
    at_after = after_px == price
    at_before = before_px == price
    change = (after_sz * at_after).sum(axis=1) - (before_sz * at_before).sum(axis=1)
    kind = msg_type[1:]
    expected = np.where(kind == 1, size[1:], -size[1:])
    checkable = np.isin(kind, (1, 2, 3, 4)) & (at_after.any(axis=1) | at_before.any(axis=1))
    n = int(np.count_nonzero(checkable))
    agree = float(np.mean(change[checkable] == expected[checkable])) if n else 1.0
    return n, agree


def check_lobster_alignment(
    orderbook: str, message: str, msg_type, size, price, direction, bid_px, bid_sz, ask_px, ask_sz
) -> None:
    """Refuse a LOBSTER file pair whose messages do not match the book changes row by row.

    Parameters
    ----------
    orderbook, message : str
        File names for the message.
    msg_type, size, price, direction : ndarray, shape (rows,)
        Message columns in file order (price in LOBSTER units, dollars x 10,000).
    bid_px, bid_sz, ask_px, ask_sz : ndarray, shape (rows, levels)
        Order-book rows in file order (prices in the same units as ``price``).

    Raises
    ------
    DataError
        If at least 50 messages are checkable (types 1-4 at a price shown in the book
        before or after them) and fewer than 99% of them agree.  The message says how
        many agree when the book is shifted by one row either way.
    """
    args = [np.asarray(a, dtype=float) for a in (msg_type, size, price, direction)]
    book = [np.asarray(a, dtype=float) for a in (bid_px, bid_sz, ask_px, ask_sz)]
    n, agree = _agreement(*args, *book)
    if n < _MIN_CHECKABLE or agree >= _MIN_AGREEMENT:
        return
    shifted = []
    for label, m, b in (
        ("one row later", slice(None, -1), slice(1, None)),
        ("one row earlier", slice(1, None), slice(None, -1)),
    ):
        _, share = _agreement(*(a[m] for a in args), *(x[b] for x in book))
        shifted.append((share, label))
    best, label = max(shifted)
    hint = (
        f"the order-book rows look shifted by one row ({best:.1%} agree when paired {label})"
        if best >= _MIN_AGREEMENT
        else "the files may not belong together"
    )
    raise DataError(
        f"{orderbook} does not match {message} row by row: only {agree:.1%} of {n:,} "
        f"checkable messages agree with the change in the book on their row (expected "
        f">= {_MIN_AGREEMENT:.0%}); {hint}"
    )
