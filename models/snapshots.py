"""Per-interval limit-order-book snapshots over many days: :class:`BookSnapshots`.

A snapshot is the book in force at the start of an interval (the last event at or before
it).  Arrays are shaped ``(days, intervals, levels)``; prices are in dollars (NaN marks an
empty level, whose size is 0), sizes and volumes in shares.

Volume is continuous-trading volume only.  Opening and closing auction (cross) prints are
kept apart per day in ``auction_volume`` and never enter ``volume``, so the average daily
volume (ADV = mean over days of ``volume.sum(axis=1)``), participation caps and intraday
volume profiles built from ``volume`` describe continuous trading alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic_io import atomic_path
from .book_walk import DEFAULT_BEYOND_DEPTH_BPS, WalkResult, side_sign, walk_levels
from .errors import DataError, InvalidParameterError

__all__ = ["BookSnapshots", "regular_session_starts"]

_BOOK_FIELDS = ("bid_px", "bid_sz", "ask_px", "ask_sz")
_PARQUET_FORMAT = "tradealloc.BookSnapshots/2"
_PARQUET_FORMATS = ("tradealloc.BookSnapshots/1", _PARQUET_FORMAT)


def regular_session_starts(interval_minutes: float = 1.0) -> np.ndarray:
    """Interval start times of the 09:30-16:00 regular session.

    Parameters
    ----------
    interval_minutes : float, default 1
        Interval length in minutes; must divide the 390-minute session.

    Returns
    -------
    ndarray of timedelta64[ns], shape (390 / interval_minutes,)
        Offsets from local midnight (exchange time, America/New_York).

    Raises
    ------
    InvalidParameterError
        If the interval does not divide the session evenly.
    """
    n = 390.0 / interval_minutes
    if interval_minutes <= 0 or abs(n - round(n)) > 1e-9:
        raise InvalidParameterError(
            f"interval_minutes must divide the 390-minute session; got {interval_minutes!r}"
        )
    step = np.timedelta64(int(round(interval_minutes * 60e9)), "ns")
    return np.timedelta64(9 * 3600 + 30 * 60, "s").astype("timedelta64[ns]") + step * np.arange(
        int(round(n))
    )


def _invalid_mask(bid_px, ask_px):
    """(days, intervals) True where a snapshot is crossed, locked, or has an empty side."""
    best_bid = bid_px[..., 0]
    best_ask = ask_px[..., 0]
    empty = ~np.isfinite(best_bid) | ~np.isfinite(best_ask)
    with np.errstate(invalid="ignore"):
        crossed = best_ask <= best_bid
    return empty | crossed


@dataclass(frozen=True, eq=False)
class BookSnapshots:
    """Order-book snapshots at the start of every interval of every day.

    Parameters
    ----------
    bid_px, ask_px : ndarray, shape (days, intervals, levels)
        Level prices in dollars, moving away from the touch level by level (bids strictly
        falling, asks strictly rising); NaN marks an empty level, and empty levels trail.
    bid_sz, ask_sz : ndarray, shape (days, intervals, levels)
        Displayed shares per level, finite and >= 0; 0 where the level is empty.
    volume : ndarray, shape (days, intervals)
        Shares traded in continuous trading inside each interval (auction prints excluded).
        ADV, the average daily volume, is ``volume.sum(axis=1).mean()``: continuous
        trading only.
    dates : ndarray of datetime64[D], shape (days,)
        Trading dates, strictly increasing.
    interval_starts : ndarray of timedelta64[ns], shape (intervals,)
        Start of each interval as an offset from local midnight (exchange time).
    symbol : str, default ''
        Instrument symbol.
    repaired : ndarray of bool, shape (days, intervals), optional
        Snapshots that were repaired (crossed, locked or one-sided books replaced by the
        nearest valid snapshot of the same day); see :meth:`from_arrays`.
    tick_size : float, default 0.01
        Minimum price increment in dollars.
    auction_volume : ndarray, shape (days, 2), optional
        Shares printed per day by the opening cross (column 0) and the closing cross
        (column 1), kept apart from ``volume``; zeros by default (for example synthetic
        days, or files without auction prints).
    resilience_half_life : ndarray, shape (days,), optional
        Per-day estimate of the book's recovery half-life in intervals (how fast depth at
        the touch refills after trades consume it; see
        :func:`simulator.loaders.estimate_resilience`): 0 means refilled at once, inf no
        recovery seen; NaN where unknown (the default, for example synthetic days).

    Raises
    ------
    InvalidParameterError
        If shapes disagree, sizes are negative or not finite, or prices do not move away
        from the touch.
    DataError
        If a snapshot is crossed or locked (ask <= bid) or has an empty side.  Use
        :meth:`from_arrays` with ``on_invalid='repair'`` to repair such snapshots.
    """

    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    volume: np.ndarray
    dates: np.ndarray
    interval_starts: np.ndarray
    symbol: str = ""
    repaired: np.ndarray | None = field(default=None)
    tick_size: float = 0.01
    auction_volume: np.ndarray | None = field(default=None)
    resilience_half_life: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        arrays = {name: np.array(getattr(self, name), dtype=float) for name in _BOOK_FIELDS}
        shape = arrays["bid_px"].shape
        if len(shape) != 3:
            raise InvalidParameterError(
                f"bid_px must have shape (days, intervals, levels); got shape {shape}"
            )
        for name, arr in arrays.items():
            if arr.shape != shape:
                raise InvalidParameterError(
                    f"{name} must have the shape of bid_px {shape}; got {arr.shape}"
                )
        days, intervals, levels = shape
        if days == 0 or intervals == 0 or levels == 0:
            raise InvalidParameterError(f"snapshots must not be empty; got shape {shape}")
        volume = np.array(self.volume, dtype=float)
        if volume.shape != (days, intervals):
            raise InvalidParameterError(
                f"volume must have shape {(days, intervals)}; got {volume.shape}"
            )
        dates = np.array(self.dates, dtype="datetime64[D]").reshape(-1)
        if dates.shape != (days,):
            raise InvalidParameterError(f"dates must have shape {(days,)}; got {dates.shape}")
        if days > 1 and np.any(np.diff(dates) <= np.timedelta64(0, "D")):
            raise InvalidParameterError(f"dates must be strictly increasing; got {dates}")
        starts = np.array(self.interval_starts, dtype="timedelta64[ns]").reshape(-1)
        if starts.shape != (intervals,):
            raise InvalidParameterError(
                f"interval_starts must have shape {(intervals,)}; got {starts.shape}"
            )
        repaired = (
            np.zeros((days, intervals), dtype=bool)
            if self.repaired is None
            else np.array(self.repaired, dtype=bool)
        )
        if repaired.shape != (days, intervals):
            raise InvalidParameterError(
                f"repaired must have shape {(days, intervals)}; got {repaired.shape}"
            )
        if not (np.isfinite(self.tick_size) and self.tick_size > 0):
            raise InvalidParameterError(f"tick_size must be finite and > 0; got {self.tick_size!r}")
        auction = (
            np.zeros((days, 2))
            if self.auction_volume is None
            else np.array(self.auction_volume, dtype=float)
        )
        if auction.shape != (days, 2):
            raise InvalidParameterError(
                f"auction_volume must have shape {(days, 2)} (opening, closing cross shares "
                f"per day); got {auction.shape}"
            )
        if not np.all(np.isfinite(auction)) or np.any(auction < 0):
            bad = float(auction[~(np.isfinite(auction) & (auction >= 0))][0])
            raise InvalidParameterError(f"auction_volume must be finite and >= 0; got {bad!r}")
        half_life = (
            np.full(days, np.nan)
            if self.resilience_half_life is None
            else np.array(self.resilience_half_life, dtype=float).reshape(-1)
        )
        if half_life.shape != (days,):
            raise InvalidParameterError(
                f"resilience_half_life must have shape {(days,)}; got {half_life.shape}"
            )
        if np.any(~np.isnan(half_life) & ~(half_life >= 0)):
            bad = float(half_life[~np.isnan(half_life) & ~(half_life >= 0)][0])
            raise InvalidParameterError(
                f"resilience_half_life must be >= 0 intervals or NaN (unknown); got {bad!r}"
            )

        for side in ("bid", "ask"):
            px, sz = arrays[f"{side}_px"], arrays[f"{side}_sz"]
            if not np.all(np.isfinite(sz)) or np.any(sz < 0):
                bad = float(sz[~(np.isfinite(sz) & (sz >= 0))][0])
                raise InvalidParameterError(f"{side}_sz must be finite and >= 0; got {bad!r}")
            if np.any(np.isinf(px)) or np.any(np.isfinite(px) & (px <= 0)):
                bad = float(px[np.isinf(px) | (np.isfinite(px) & (px <= 0))][0])
                raise InvalidParameterError(f"{side}_px must be > 0 or NaN (empty); got {bad!r}")
            empty = ~np.isfinite(px)
            if np.any(empty & (sz > 0)):
                d, t, lvl = np.argwhere(empty & (sz > 0))[0]
                raise InvalidParameterError(
                    f"{side}_sz must be 0 at an empty level; got {float(sz[d, t, lvl])!r} "
                    f"at day {d}, interval {t}, level {lvl}"
                )
            if levels > 1:
                gap = empty[..., :-1] & ~empty[..., 1:]
                if np.any(gap):
                    d, t, lvl = np.argwhere(gap)[0]
                    raise InvalidParameterError(
                        f"{side}_px empty levels must trail; level {lvl} is empty but level "
                        f"{lvl + 1} is not at day {d}, interval {t}"
                    )
                step = np.diff(px, axis=-1) * (1.0 if side == "ask" else -1.0)
                with np.errstate(invalid="ignore"):
                    wrong = np.isfinite(step) & (step <= 0)
                if np.any(wrong):
                    d, t, lvl = np.argwhere(wrong)[0]
                    raise InvalidParameterError(
                        f"{side}_px must move away from the touch level by level; got "
                        f"{float(px[d, t, lvl])!r} then {float(px[d, t, lvl + 1])!r} "
                        f"at day {d}, interval {t}"
                    )
        if not np.all(np.isfinite(volume)) or np.any(volume < 0):
            bad = float(volume[~(np.isfinite(volume) & (volume >= 0))][0])
            raise InvalidParameterError(f"volume must be finite and >= 0; got {bad!r}")
        invalid = _invalid_mask(arrays["bid_px"], arrays["ask_px"])
        if np.any(invalid):
            d, t = np.argwhere(invalid)[0]
            raise DataError(
                f"snapshot at day {d} ({dates[d]}), interval {t} is crossed, locked or "
                f"one-sided (bid {float(arrays['bid_px'][d, t, 0])!r}, ask "
                f"{float(arrays['ask_px'][d, t, 0])!r}); use BookSnapshots.from_arrays("
                "on_invalid='repair') to carry the last valid book forward"
            )

        for name, arr in [
            *arrays.items(),
            ("volume", volume),
            ("dates", dates),
            ("interval_starts", starts),
            ("repaired", repaired),
            ("auction_volume", auction),
            ("resilience_half_life", half_life),
        ]:
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "symbol", str(self.symbol))
        object.__setattr__(self, "tick_size", float(self.tick_size))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        bid_px,
        bid_sz,
        ask_px,
        ask_sz,
        volume,
        dates,
        interval_starts,
        *,
        symbol: str = "",
        tick_size: float = 0.01,
        on_invalid: str = "repair",
        repaired=None,
        auction_volume=None,
        resilience_half_life=None,
    ) -> BookSnapshots:
        """Build snapshots, repairing or rejecting crossed, locked and one-sided books.

        Levels with size 0 are treated as empty (price set to NaN) and empty levels are
        moved behind the filled ones, so raw feed arrays can be passed directly.

        Repair rule (``on_invalid='repair'``): an invalid snapshot (ask <= bid, or a side
        with no level) is replaced by the last valid snapshot earlier on the same day; if
        there is none, by the first valid one later that day.  Repaired snapshots are
        counted in :attr:`repaired`.  A day with no valid snapshot at all is an error.

        Parameters
        ----------
        bid_px, bid_sz, ask_px, ask_sz, volume, dates, interval_starts, symbol, tick_size
            As for :class:`BookSnapshots`.
        auction_volume, resilience_half_life
            As for :class:`BookSnapshots` (zeros and NaN by default).
        on_invalid : {'repair', 'raise'}, default 'repair'
            What to do with invalid snapshots.
        repaired : ndarray of bool, shape (days, intervals), optional
            Snapshots already repaired upstream (for example carried forward by a loader);
            combined with those repaired here.

        Returns
        -------
        BookSnapshots

        Raises
        ------
        InvalidParameterError
            If ``on_invalid`` is unknown or the arrays are malformed.
        DataError
            If ``on_invalid='raise'`` and a snapshot is invalid, or a day has no valid
            snapshot.
        """
        if on_invalid not in ("repair", "raise"):
            raise InvalidParameterError(
                f"on_invalid must be 'repair' or 'raise'; got {on_invalid!r}"
            )
        book = {}
        for side, px, sz in (("bid", bid_px, bid_sz), ("ask", ask_px, ask_sz)):
            px = np.array(px, dtype=float)
            sz = np.array(sz, dtype=float)
            if px.ndim != 3 or px.shape != sz.shape:
                raise InvalidParameterError(
                    f"{side}_px and {side}_sz must share a (days, intervals, levels) shape; "
                    f"got {px.shape} and {sz.shape}"
                )
            empty = ~np.isfinite(px) | (np.nan_to_num(sz, nan=0.0) <= 0)
            # Stable sort puts filled levels first, keeping their order.
            order = np.argsort(empty, axis=-1, kind="stable")
            px = np.take_along_axis(np.where(empty, np.nan, px), order, axis=-1)
            sz = np.take_along_axis(np.where(empty, 0.0, sz), order, axis=-1)
            book[f"{side}_px"], book[f"{side}_sz"] = px, sz
        invalid = _invalid_mask(book["bid_px"], book["ask_px"])
        rep = (
            np.zeros(invalid.shape, dtype=bool)
            if repaired is None
            else np.array(repaired, dtype=bool)
        )
        if np.any(invalid):
            if on_invalid == "raise":
                d, t = np.argwhere(invalid)[0]
                raise DataError(
                    f"snapshot at day {d}, interval {t} is crossed, locked or one-sided "
                    f"(bid {float(book['bid_px'][d, t, 0])!r}, "
                    f"ask {float(book['ask_px'][d, t, 0])!r})"
                )
            no_valid = np.all(invalid, axis=1)
            if np.any(no_valid):
                d = int(np.argmax(no_valid))
                raise DataError(
                    f"day {d} ({np.array(dates, dtype='datetime64[D]').reshape(-1)[d]}) has no "
                    "valid snapshot (every interval is crossed, locked or one-sided)"
                )
            n_int = invalid.shape[1]
            idx = np.where(~invalid, np.arange(n_int), -1)
            last_valid = np.maximum.accumulate(idx, axis=1)
            idx_b = np.where(~invalid, np.arange(n_int), n_int)
            next_valid = np.minimum.accumulate(idx_b[:, ::-1], axis=1)[:, ::-1]
            source = np.where(last_valid >= 0, last_valid, next_valid)
            for name in _BOOK_FIELDS:
                book[name] = np.take_along_axis(book[name], source[..., None], axis=1)
            rep = rep | invalid
        return cls(
            volume=volume,
            dates=dates,
            interval_starts=interval_starts,
            symbol=symbol,
            tick_size=tick_size,
            repaired=rep,
            auction_volume=auction_volume,
            resilience_half_life=resilience_half_life,
            **book,
        )

    @classmethod
    def concat(cls, parts: Sequence[BookSnapshots]) -> BookSnapshots:
        """Concatenate snapshots along the day axis, sorted by date.

        Level counts may differ: shallower books are padded with empty levels.

        Raises
        ------
        InvalidParameterError
            If ``parts`` is empty, intervals differ, or a date appears twice.
        """
        parts = list(parts)
        if not parts:
            raise InvalidParameterError("concat needs at least one BookSnapshots; got none")
        starts = parts[0].interval_starts
        for p in parts[1:]:
            if p.interval_starts.shape != starts.shape or np.any(p.interval_starts != starts):
                raise InvalidParameterError(
                    "interval_starts must agree across days to concatenate; "
                    f"got {len(starts)} and {len(p.interval_starts)} intervals"
                )
        levels = max(p.n_levels for p in parts)

        def pad(arr, fill):
            extra = levels - arr.shape[-1]
            return np.pad(arr, ((0, 0), (0, 0), (0, extra)), constant_values=fill)

        dates = np.concatenate([p.dates for p in parts])
        order = np.argsort(dates, kind="stable")
        cat = {
            name: np.concatenate(
                [pad(getattr(p, name), np.nan if name.endswith("px") else 0.0) for p in parts]
            )[order]
            for name in _BOOK_FIELDS
        }
        symbols = sorted({p.symbol for p in parts})
        return cls(
            volume=np.concatenate([p.volume for p in parts])[order],
            dates=dates[order],
            interval_starts=starts,
            symbol=",".join(symbols),
            repaired=np.concatenate([p.repaired for p in parts])[order],
            tick_size=min(p.tick_size for p in parts),
            auction_volume=np.concatenate([p.auction_volume for p in parts])[order],
            resilience_half_life=np.concatenate([p.resilience_half_life for p in parts])[order],
            **cat,
        )

    def select_days(self, days) -> BookSnapshots:
        """Return the snapshots of a subset of days.

        Parameters
        ----------
        days : slice, int, or array of int or bool
            Day positions to keep (order is preserved; must stay date-sorted).
        """
        if isinstance(days, int | np.integer):
            days = [int(days)]
        idx = np.arange(self.n_days)[days]
        if idx.size == 0:
            raise InvalidParameterError(f"days must select at least one day; got {days!r}")
        if idx.size > 1 and np.any(np.diff(idx) <= 0):
            raise InvalidParameterError(f"days must be increasing positions; got {idx.tolist()}")
        # A subset of validated days is valid: skip the O(size) checks of __post_init__ (this
        # runs once per evaluation task on the driver).
        subset = object.__new__(BookSnapshots)
        fields = {
            name: getattr(self, name)[idx]
            for name in (
                *_BOOK_FIELDS,
                "volume",
                "dates",
                "repaired",
                "auction_volume",
                "resilience_half_life",
            )
        }
        fields.update(
            interval_starts=self.interval_starts, symbol=self.symbol, tick_size=self.tick_size
        )
        for name, value in fields.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(subset, name, value)
        return subset

    # ------------------------------------------------------------------ derived values
    @property
    def n_days(self) -> int:
        """Number of days."""
        return self.bid_px.shape[0]

    @property
    def n_intervals(self) -> int:
        """Number of intervals per day."""
        return self.bid_px.shape[1]

    @property
    def n_levels(self) -> int:
        """Number of book levels per side."""
        return self.bid_px.shape[2]

    @property
    def mid(self) -> np.ndarray:
        """Mid price (best bid + best ask) / 2, dollars, shape (days, intervals)."""
        return 0.5 * (self.bid_px[..., 0] + self.ask_px[..., 0])

    @property
    def spread(self) -> np.ndarray:
        """Quoted spread best ask - best bid, dollars, shape (days, intervals)."""
        return self.ask_px[..., 0] - self.bid_px[..., 0]

    @property
    def bid_depth(self) -> np.ndarray:
        """Visible shares on the bid side, shape (days, intervals)."""
        return self.bid_sz.sum(axis=-1)

    @property
    def ask_depth(self) -> np.ndarray:
        """Visible shares on the ask side, shape (days, intervals)."""
        return self.ask_sz.sum(axis=-1)

    def median_half_life(self) -> float:
        """Median of the finite per-day ``resilience_half_life`` values, in intervals.

        This is how a scenario's ``half_life: fit`` pools training days: each day's own
        estimate, then the median across days (robust to one day whose fit failed or hit
        a bound).  Returns NaN when no day has an estimate (for example synthetic days).
        """
        finite = self.resilience_half_life[np.isfinite(self.resilience_half_life)]
        return float(np.median(finite)) if finite.size else float("nan")

    def depth(self, side: str) -> np.ndarray:
        """Visible shares a ``side`` market order can take, shape (days, intervals)."""
        return self.ask_depth if side_sign(side) > 0 else self.bid_depth

    def side_levels(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(price, size) arrays of the side a ``side`` market order walks (asks for a buy)."""
        if side_sign(side) > 0:
            return self.ask_px, self.ask_sz
        return self.bid_px, self.bid_sz

    def walk(
        self, shares, side: str = "buy", beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS
    ) -> WalkResult:
        """Walk every snapshot with market orders.

        Parameters
        ----------
        shares : array_like
            Order sizes in shares, broadcast to ``(days, intervals, K)``.  A scalar or a 1-D
            array of K sizes is a grid applied at every snapshot; pass a schedule of shape
            ``(days, intervals)`` as ``schedule[..., None]`` (K = 1).
        side : {'buy', 'sell'}, default 'buy'
            ``buy`` walks the asks, ``sell`` the bids.
        beyond_depth_bps : float, default 25
            Beyond-depth penalty in basis points of the mid (see :mod:`models.book_walk`).

        Returns
        -------
        WalkResult
            Arrays of shape (days, intervals, K): VWAP and slippage in dollars per share,
            cost in dollars, and the exhausted-depth flag.
        """
        x = np.asarray(shares, dtype=float)
        if x.ndim <= 1:
            x = np.reshape(x, (1, 1, -1))
        px, sz = self.side_levels(side)
        return walk_levels(px, sz, self.mid, x, side, beyond_depth_bps)

    def summary(self) -> pd.DataFrame:
        """One row per day: spread, depth, volume and repaired snapshots.

        Returns
        -------
        DataFrame
            Columns ``date, symbol, intervals, levels, mean_mid_usd, median_spread_usd,
            median_bid_depth_shares, median_ask_depth_shares, volume_shares,
            opening_cross_shares, closing_cross_shares, resilience_half_life_intervals,
            repaired_snapshots``; ``volume_shares`` is continuous volume only.
        """
        return pd.DataFrame(
            {
                "date": pd.to_datetime(self.dates),
                "symbol": self.symbol,
                "intervals": self.n_intervals,
                "levels": self.n_levels,
                "mean_mid_usd": self.mid.mean(axis=1),
                "median_spread_usd": np.median(self.spread, axis=1),
                "median_bid_depth_shares": np.median(self.bid_depth, axis=1),
                "median_ask_depth_shares": np.median(self.ask_depth, axis=1),
                "volume_shares": self.volume.sum(axis=1),
                "opening_cross_shares": self.auction_volume[:, 0],
                "closing_cross_shares": self.auction_volume[:, 1],
                "resilience_half_life_intervals": self.resilience_half_life,
                "repaired_snapshots": self.repaired.sum(axis=1),
            }
        )

    def __repr__(self) -> str:
        first = str(self.dates[0])
        last = str(self.dates[-1])
        return (
            f"BookSnapshots(symbol={self.symbol!r}, days={self.n_days} [{first}..{last}], "
            f"intervals={self.n_intervals}, levels={self.n_levels}, "
            f"repaired={int(self.repaired.sum())})"
        )

    # ------------------------------------------------------------------ Parquet
    def to_parquet(self, path) -> Path:
        """Save losslessly to a Parquet file (one row per day and interval).

        Written to a temporary file first and renamed, so an interrupted save never leaves
        a truncated file behind.

        Returns
        -------
        Path
            The written file.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        d, t, n_lvl = self.bid_px.shape
        cols = {
            "day": np.repeat(np.arange(d), t),
            "interval": np.tile(np.arange(t), d),
            "volume": self.volume.reshape(-1),
            "repaired": self.repaired.reshape(-1),
        }
        for name in _BOOK_FIELDS:
            flat = getattr(self, name).reshape(d * t, n_lvl)
            for lvl in range(n_lvl):
                cols[f"{name}_{lvl:02d}"] = flat[:, lvl]
        meta = {
            "symbol": self.symbol,
            "tick_size": repr(self.tick_size),
            "dates": [str(x) for x in self.dates],
            "interval_starts_ns": [int(x) for x in self.interval_starts.astype("int64")],
            "levels": n_lvl,
            "format": _PARQUET_FORMAT,
            # Per-day values; repr keeps floats exact and NaN (unknown) representable.
            "auction_volume": [[repr(float(v)) for v in row] for row in self.auction_volume],
            "resilience_half_life": [repr(float(v)) for v in self.resilience_half_life],
        }
        table = pa.table(cols).replace_schema_metadata({"tradealloc": json.dumps(meta)})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @classmethod
    def from_parquet(cls, path) -> BookSnapshots:
        """Load snapshots written by :meth:`to_parquet`.

        Files written before ``auction_volume`` and ``resilience_half_life`` existed load
        with zeros and NaN for them.

        Raises
        ------
        DataError
            If the file is missing or was not written by :meth:`to_parquet`.
        """
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise DataError(f"parquet file not found: {str(path)!r}")
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(b"tradealloc")
        if raw is None:
            raise DataError(f"{str(path)!r} is not a tradealloc BookSnapshots Parquet file")
        meta = json.loads(raw)
        if meta.get("format", _PARQUET_FORMATS[0]) not in _PARQUET_FORMATS:
            raise DataError(
                f"{str(path)!r} has an unknown BookSnapshots format {meta.get('format')!r}; "
                f"this version reads {list(_PARQUET_FORMATS)}"
            )
        d, n_lvl = len(meta["dates"]), int(meta["levels"])
        t = len(meta["interval_starts_ns"])

        def col(name):
            return table.column(name).to_numpy(zero_copy_only=False)

        book = {
            name: np.stack([col(f"{name}_{lvl:02d}") for lvl in range(n_lvl)], axis=-1).reshape(
                d, t, n_lvl
            )
            for name in _BOOK_FIELDS
        }
        return cls(
            volume=col("volume").reshape(d, t),
            dates=np.array(meta["dates"], dtype="datetime64[D]"),
            interval_starts=np.array(meta["interval_starts_ns"], dtype="int64").astype(
                "timedelta64[ns]"
            ),
            symbol=meta["symbol"],
            repaired=col("repaired").astype(bool).reshape(d, t),
            tick_size=float(meta["tick_size"]),
            auction_volume=_float_list(meta.get("auction_volume"), (d, 2), 0.0),
            resilience_half_life=_float_list(meta.get("resilience_half_life"), (d,), np.nan),
            **book,
        )


def _float_list(values, shape: tuple, fill: float) -> np.ndarray:
    """Parquet metadata list of ``repr`` floats -> array; ``fill`` when the key is absent."""
    if values is None:
        return np.full(shape, fill)
    return np.array(values, dtype=str).astype(float).reshape(shape)
