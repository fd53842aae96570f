"""One file's order-book events as parsed by a loader: :class:`EventStream`.

The Databento (CSV or DBN) and LOBSTER readers produce an :class:`EventStream`; binning
into per-interval snapshots (:func:`~simulator.loaders.session.snapshots_from_events`) and
the resilience estimator (:mod:`~simulator.loaders.resilience`) consume it, so both see
the same events, cleaned and de-duplicated the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EventStream"]


@dataclass(frozen=True, eq=False)
class EventStream:
    """Valid events of one file, in file order (not necessarily sorted by time).

    Parameters
    ----------
    source : str
        File name, for messages.
    symbol : str
        Instrument symbol.
    local_ns : ndarray of int64, shape (rows,)
        Event times, wall-clock nanoseconds in the exchange time zone counted from the
        Unix epoch as if that clock were UTC (``ns // 86400e9`` is the local date).
    trade_shares : ndarray of float, shape (rows,)
        Shares of each trade record; 0 for events that are not trades.
    trade_kind : ndarray of int8, shape (rows,)
        Trade kind per row (see :mod:`simulator.loaders.auctions`).
    aggressor : ndarray of int8, shape (rows,)
        +1 for a buyer-initiated trade that consumed displayed asks, -1 for a
        seller-initiated trade that consumed displayed bids, 0 otherwise (no trade, hidden
        or cross executions, unknown side).
    book : dict of str -> ndarray, shape (rows, levels)
        ``bid_px, bid_sz, ask_px, ask_sz`` after each event (dollars, shares; empty
        levels NaN / 0 and trailing).
    rows_read : int
        Data rows read from the file, bad ones included.
    malformed_rows : int
        Rows dropped as malformed.
    duplicate_rows : int
        Exact duplicate rows dropped.
    """

    source: str
    symbol: str
    local_ns: np.ndarray
    trade_shares: np.ndarray
    trade_kind: np.ndarray
    aggressor: np.ndarray
    book: dict
    rows_read: int = 0
    malformed_rows: int = 0
    duplicate_rows: int = 0

    @property
    def n_rows(self) -> int:
        """Number of valid events."""
        return int(self.local_ns.size)

    def sorted(self) -> tuple[EventStream, int]:
        """(this stream sorted stably by time, number of rows that were out of order)."""
        unsorted = int(np.count_nonzero(np.diff(self.local_ns) < 0))
        if not unsorted:
            return self, 0
        order = np.argsort(self.local_ns, kind="stable")
        stream = EventStream(
            source=self.source,
            symbol=self.symbol,
            local_ns=self.local_ns[order],
            trade_shares=self.trade_shares[order],
            trade_kind=self.trade_kind[order],
            aggressor=self.aggressor[order],
            book={name: arr[order] for name, arr in self.book.items()},
            rows_read=self.rows_read,
            malformed_rows=self.malformed_rows,
            duplicate_rows=self.duplicate_rows,
        )
        return stream, unsorted
