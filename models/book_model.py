"""Exact book-walking impact model: the piecewise-linear cost of a representative book."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from .book_walk import DEFAULT_BEYOND_DEPTH_BPS, beyond_depth_tail, side_sign, walk_levels
from .errors import DataError, InvalidParameterError, InvalidTypeError
from .frozen import frozen_array
from .impact_base import (
    BaseImpact,
    check_diagnostics,
    check_fit_info,
    check_price_levels,
    check_shares,
    check_side,
    interval_array,
)

if TYPE_CHECKING:
    from .snapshots import BookSnapshots

__all__ = ["BookImpact"]

_STATISTICS = ("median", "mean")


def _level_array(name: str, value: Any) -> np.ndarray:
    arr = np.array(value, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidParameterError(
            f"{name} must have shape (intervals, levels) with both > 0; got shape {arr.shape}"
        )
    return arr


@dataclass(frozen=True, eq=False)
class BookImpact(BaseImpact):
    """Exact impact of walking one representative book per interval.

    The cost c_t(x) is what :func:`models.book_walk.walk_levels` charges a market order of
    x shares against the levels of interval t: piecewise linear and convex in x, with
    slope equal to each level's offset from the mid.  Beyond the visible depth V_t the
    cost continues on the tail of :mod:`models.book_walk` (the rule the market uses too):
    the marginal cost rises linearly from the deepest offset with slope
    ``max(L/(L-1) (o_L - o_1), beyond_depth_bps * 1e-4 * reference_mid) / V`` dollars per
    share per share, so the cost is quadratic there and finite everywhere.

    Parameters
    ----------
    offsets : array_like, shape (N, L)
        Distance of each level of the walked side from the mid, dollars per share
        (positive, strictly increasing along a row); NaN marks an empty level, and empty
        levels trail.  Every interval needs at least one level.
    sizes : array_like, shape (N, L)
        Displayed shares per level: > 0 at a level, 0 where it is empty.
    reference_mid : array_like, shape (N,)
        Mid price in dollars used for the floor of the beyond-depth slope; > 0.
    side : {'buy', 'sell'}, default 'buy'
        Direction of the orders (offsets are already measured in that direction).
    beyond_depth_bps : float, default 25
        Floor of the beyond-depth tail's price slope: basis points of ``reference_mid`` per
        visible depth's worth of shares past the deepest level; finite and >= 0.
    diagnostics : DataFrame, optional
        Per-interval diagnostics (one row per interval).
    fit_info : dict, optional (keyword only)
        Model-level fit report (see :func:`models.fitting.fit_impact_model`).

    Raises
    ------
    InvalidParameterError
        If shapes disagree, an offset is not positive or not increasing, a size is
        negative or does not match the empty/filled pattern, or an interval has no level.
    """

    kind: ClassVar[str] = "book"

    offsets: Any
    sizes: Any
    reference_mid: Any
    side: str = "buy"
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS
    diagnostics: pd.DataFrame | None = None
    fit_info: dict[str, Any] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        offsets = _level_array("offsets", self.offsets)
        sizes = _level_array("sizes", self.sizes)
        if sizes.shape != offsets.shape:
            raise InvalidParameterError(
                f"sizes must have the shape of offsets {offsets.shape}; got {sizes.shape}"
            )
        n = offsets.shape[0]
        present = np.isfinite(offsets)
        if np.any(np.isinf(offsets)):
            raise InvalidParameterError("offsets must be finite or NaN (empty); got inf")
        bad = present & ~(offsets > 0)
        if np.any(bad):
            raise InvalidParameterError(
                f"offsets must be > 0 dollars per share; got {float(offsets[bad][0])!r}"
            )
        if not np.all(np.isfinite(sizes)) or np.any(sizes < 0):
            wrong = ~(np.isfinite(sizes) & (sizes >= 0))
            raise InvalidParameterError(
                f"sizes must be finite and >= 0 shares; got {float(sizes[wrong][0])!r}"
            )
        mismatch = present != (sizes > 0)
        if np.any(mismatch):
            t, lvl = np.argwhere(mismatch)[0]
            raise InvalidParameterError(
                "sizes must be > 0 exactly where offsets are given; got size "
                f"{float(sizes[t, lvl])!r} with offset {float(offsets[t, lvl])!r} at "
                f"interval {t}, level {lvl}"
            )
        if not np.all(present[:, 0]):
            t = int(np.argmin(present[:, 0]))
            raise InvalidParameterError(
                f"offsets must have at least one level per interval; interval {t} has none"
            )
        gap = ~present[:, :-1] & present[:, 1:]
        if np.any(gap):
            t, lvl = np.argwhere(gap)[0]
            raise InvalidParameterError(
                f"offsets empty levels must trail; level {lvl} is empty but level {lvl + 1} "
                f"is not at interval {t}"
            )
        with np.errstate(invalid="ignore"):
            step = np.diff(offsets, axis=1)
            wrong = np.isfinite(step) & (step <= 0)
        if np.any(wrong):
            t, lvl = np.argwhere(wrong)[0]
            raise InvalidParameterError(
                f"offsets must be strictly increasing; got {float(offsets[t, lvl])!r} then "
                f"{float(offsets[t, lvl + 1])!r} at interval {t}"
            )
        mid = interval_array("reference_mid", self.reference_mid, n, lower=0, strict=True)
        bps = self.beyond_depth_bps
        if isinstance(bps, bool) or not isinstance(bps, int | float | np.integer | np.floating):
            raise InvalidTypeError(f"beyond_depth_bps must be a number; got {bps!r}")
        if not np.isfinite(bps) or bps < 0:
            raise InvalidParameterError(f"beyond_depth_bps must be finite and >= 0; got {bps!r}")
        # Shared with every strategy of a day: nobody may write to them (models.frozen).
        object.__setattr__(self, "offsets", frozen_array(offsets))
        object.__setattr__(self, "sizes", frozen_array(sizes))
        object.__setattr__(self, "reference_mid", mid)
        object.__setattr__(self, "beyond_depth_bps", float(bps))
        object.__setattr__(self, "side", check_side(self.side))
        object.__setattr__(self, "diagnostics", check_diagnostics(self.diagnostics, n))
        object.__setattr__(self, "fit_info", check_fit_info(self.fit_info))

    # ------------------------------------------------------------------ derived values
    @property
    def n_intervals(self) -> int:
        """Number of intervals N."""
        return self.offsets.shape[0]

    @property
    def n_levels(self) -> int:
        """Number of level columns L (some may be empty)."""
        return self.offsets.shape[1]

    @property
    def visible_depth(self) -> np.ndarray:
        """Visible shares per interval, shape (N,)."""
        return self.sizes.sum(axis=1)

    @property
    def deepest_offset(self) -> np.ndarray:
        """Offset of the deepest displayed level, dollars per share, shape (N,).

        The marginal cost of the first share beyond the visible depth.
        """
        return self._tail()[1]

    @property
    def tail_slope(self) -> np.ndarray:
        """Slope of the beyond-depth tail, dollars per share per share, shape (N,).

        The marginal cost of the (V + e)-th share is ``deepest_offset + tail_slope * e``
        (see :mod:`models.book_walk`).
        """
        return self._tail()[2]

    def _tail(self):
        return beyond_depth_tail(
            self.offsets, self.sizes, self.reference_mid, self.beyond_depth_bps
        )

    def _walk(self, x: np.ndarray):
        # Offsets are already measured in the order's direction, so the book is walked as
        # a buy against prices mid + offset whatever the side.
        price = self.reference_mid[:, None] + self.offsets
        return walk_levels(
            price, self.sizes, self.reference_mid, x[..., None], "buy", self.beyond_depth_bps
        )

    # ------------------------------------------------------------------ evaluation
    def cost(self, x: Any) -> np.ndarray:
        """Cost in dollars of walking each interval's book with x_t shares, shape (..., N).

        Beyond the visible depth the tail of :mod:`models.book_walk` applies.
        """
        x = check_shares(x, self.n_intervals)
        return self._walk(x).cost[..., 0]

    def slippage(self, x: Any) -> np.ndarray:
        """VWAP distance from the mid in dollars per share (the touch offset at x = 0)."""
        x = check_shares(x, self.n_intervals)
        return self._walk(x).slippage[..., 0]

    def beyond_shares(self, x: Any) -> np.ndarray:
        """Shares of x_t filled beyond interval t's visible depth, shape (..., N)."""
        x = check_shares(x, self.n_intervals)
        return np.maximum(x - self.visible_depth, 0.0)

    def marginal_cost(self, x: Any) -> np.ndarray:
        """Offset of the level that fills the x-th share, dollars per share, shape (..., N).

        This is the left derivative of the piecewise-linear cost (the touch offset at
        x = 0); beyond the visible depth V it is ``deepest_offset + tail_slope * (x - V)``.
        """
        x = check_shares(x, self.n_intervals)
        cum = np.cumsum(self.sizes, axis=1)
        # Level holding share x: the first whose cumulative depth reaches x.
        idx = (cum < x[..., None]).sum(axis=-1)
        _, deepest, slope = self._tail()
        offsets = np.where(np.isfinite(self.offsets), self.offsets, deepest[:, None])
        ext = np.broadcast_to(
            np.concatenate([offsets, deepest[:, None]], axis=1), idx.shape + (self.n_levels + 1,)
        )
        level = np.take_along_axis(ext, idx[..., None], axis=-1)[..., 0]
        excess = x - self.visible_depth
        return np.where(excess > 0, deepest + slope * np.maximum(excess, 0.0), level)

    def inverse_marginal(self, lam: Any) -> np.ndarray:
        """Largest x whose marginal cost is <= lam, shares, shape (..., N).

        The cumulative depth of the levels whose offset is <= lam, plus, where lam reaches
        the deepest offset, the tail's ``(lam - deepest_offset) / tail_slope`` shares
        (infinite only for a flat tail, ``tail_slope = 0``).
        """
        lam = check_price_levels(lam, self.n_intervals)
        with np.errstate(invalid="ignore"):
            take = self.offsets <= lam[..., None]
        depth = np.where(take, self.sizes, 0.0).sum(axis=-1)
        _, deepest, slope = self._tail()
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(slope > 0, (lam - deepest) / np.where(slope > 0, slope, 1.0), np.inf)
        return np.where(lam >= deepest, depth + tail, depth)

    def parameter_frame(self) -> pd.DataFrame:
        """Columns ``half_spread`` (touch offset), ``visible_depth`` (shares), ``levels``,
        ``deepest_offset`` (dollars per share), ``tail_slope`` (dollars per share per share),
        ``reference_mid`` (dollars)."""
        n_lvl = np.isfinite(self.offsets).sum(axis=1)
        _, deepest, slope = self._tail()
        return pd.DataFrame(
            {
                "half_spread": self.offsets[:, 0],
                "visible_depth": self.visible_depth,
                "levels": n_lvl,
                "deepest_offset": deepest,
                "tail_slope": slope,
                "reference_mid": self.reference_mid,
            }
        )

    def _params_dict(self) -> dict[str, Any]:
        return {
            "offsets": self.offsets,
            "sizes": self.sizes,
            "reference_mid": self.reference_mid,
            "beyond_depth_bps": self.beyond_depth_bps,
        }

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_snapshots(
        cls,
        books: BookSnapshots,
        side: str = "buy",
        statistic: str = "median",
        beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS,
    ) -> BookImpact:
        """Representative book per interval: per level, the typical offset and size over days.

        For each interval and level, the offset from the mid (dollars per share) is the
        ``statistic`` over the days on which the level is displayed, and the size (shares)
        the ``statistic`` over all days counting an absent level as 0 shares.  A level
        whose typical size is 0 (shown on too few days) is dropped.  A level whose typical
        offset does not exceed the previous level's is merged into it (sizes added), so
        offsets stay strictly increasing.  ``reference_mid`` is the statistic of the mids.

        Parameters
        ----------
        books : BookSnapshots
            Training snapshots (days, N, L).
        side : {'buy', 'sell'}, default 'buy'
            ``buy`` uses the asks, ``sell`` the bids.
        statistic : {'median', 'mean'}, default 'median'
            How days are combined.
        beyond_depth_bps : float, default 25
            Floor of the model's beyond-depth slope, basis points of the mid per visible
            depth (see :mod:`models.book_walk`).

        Returns
        -------
        BookImpact
            With diagnostics ``n_obs`` (days), ``levels``, ``filled`` and ``failed``.

        Raises
        ------
        InvalidParameterError
            If ``side`` or ``statistic`` is unknown.
        DataError
            If an interval has no displayed level on any day.
        """
        sign = side_sign(side)
        if statistic not in _STATISTICS:
            raise InvalidParameterError(
                f"statistic must be one of {', '.join(_STATISTICS)}; got {statistic!r}"
            )
        px, sz = books.side_levels(side)
        present = np.isfinite(px) & (sz > 0)
        mid = books.mid
        offsets = np.where(present, sign * (px - mid[..., None]), np.nan)
        sizes = np.where(present, sz, 0.0)
        stat_nan = np.nanmedian if statistic == "median" else np.nanmean
        stat = np.median if statistic == "median" else np.mean
        with warnings.catch_warnings():
            # Levels never displayed give an all-NaN slice: they are dropped below.
            warnings.simplefilter("ignore", RuntimeWarning)
            off = stat_nan(offsets, axis=0)
        size = stat(sizes, axis=0)
        ref_mid = stat(mid, axis=0)
        keep = np.isfinite(off) & (size > 0)
        # Keep only usable levels, in order, then merge levels that do not move away from
        # the touch (possible when different days show different levels).
        off = np.where(keep, off, np.inf)
        run_max = np.maximum.accumulate(np.where(keep, off, -np.inf), axis=1)
        prev_max = np.concatenate([np.full((off.shape[0], 1), -np.inf), run_max[:, :-1]], axis=1)
        new_level = keep & (off > prev_max)
        group = np.cumsum(new_level, axis=1) - 1
        has_group = keep & (group >= 0)
        n, n_lvl = off.shape
        merged_size = np.zeros((n, n_lvl))
        rows = np.broadcast_to(np.arange(n)[:, None], (n, n_lvl))
        np.add.at(merged_size, (rows[has_group], group[has_group]), size[has_group])
        merged_off = np.full((n, n_lvl), np.nan)
        merged_off[rows[new_level], group[new_level]] = off[new_level]
        n_levels = new_level.sum(axis=1)
        if np.any(n_levels == 0):
            t = int(np.argmin(n_levels))
            raise DataError(f"interval {t} has no displayed {side} level on a typical day")
        width = int(n_levels.max())
        diagnostics = pd.DataFrame(
            {
                "n_obs": np.full(n, books.n_days),
                "levels": n_levels,
                "filled": np.zeros(n, dtype=bool),
                "failed": np.zeros(n, dtype=bool),
            }
        )
        return cls(
            offsets=merged_off[:, :width],
            sizes=merged_size[:, :width],
            reference_mid=ref_mid,
            side=side,
            beyond_depth_bps=beyond_depth_bps,
            diagnostics=diagnostics,
        )
