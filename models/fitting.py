"""Fitting impact models per interval from order-book snapshots.

:func:`fit_impact_model` fits one model over the training days; :func:`fit_per_day` also
returns each day's own parameters, to measure their day-to-day dispersion.

Method (DESIGN.md units):

1. **Observations.**  For every (day, interval) snapshot the slippage curve s(x) (dollars
   per share) is measured on a size grid spanning the visible depth of the walked side, by
   walking the book with :func:`models.book_walk.walk_levels` (one vectorised call).  The
   default grid is the cumulative depth at each displayed level (``grid='levels'``): the
   book's cost is linear between those points, so they carry all of its information.
   ``grid='uniform'`` uses ``grid_points`` equally spaced sizes.
2. **Screening of training days** (``drop_days='auto'``).  A day whose typical book is out
   of line with the others is dropped from the fit and reported: its median (over
   intervals) half spread or visible depth differs from the median day's by more than a
   factor ``outlier_factor`` (default 5; needs at least 3 days), or it has no usable
   snapshot.  A day with a 10x thinner book and a 10x wider spread otherwise dominates a
   pooled least-squares fit (its few observations sit far from everyone else's) and can
   leave almost every interval with a decreasing fit.
3. **Fit per interval**, pooling the observations of the kept days, optionally together
   with neighbouring intervals weighted by a Gaussian kernel of ``smoothing`` intervals
   (kernel-weighted sufficient statistics, i.e. a local regression across intervals):

   * ``linear``: s = h + beta x by closed-form least squares;
   * ``power``: s = h + alpha x**delta; for a given delta, (h, alpha) is linear least
     squares.  ``delta='pooled'`` (default): one exponent for all intervals, maximising the
     profile likelihood sum_t n_t log RSS_t(delta) (each interval has its own noise
     variance) by a grid scan over [0.05, 3] and Brent's method on the bracket of the best
     grid point; alpha and h per interval.  ``delta='per_interval'``: each interval's own
     exponent minimising its RSS, by the same grid scan and Brent's method vectorised over
     intervals (parabolic steps safeguarded by golden sections: the bracket always holds a
     minimum and shrinks geometrically, so convergence is guaranteed).
     A per-interval exponent is poorly identified on a few days of books (on FROG it hits
     the bounds, with alpha near 0, in many minutes), hence the pooled default;
   * ``book``: :meth:`BookImpact.from_snapshots` (median book shape).

   The intercept h (``h=``): ``'half_spread'`` (default, :data:`DEFAULT_H`) subtracts
   each snapshot's own half spread and fits the slope through the origin; the model's h_t
   is the mean half spread of the kept days.  ``'per_day'`` gives every training day its
   own intercept at each interval and fits one common slope on the within-day variation
   (a fixed-effects regression); the model's h_t is the mean day intercept (clipped at 0).
   ``'fit'``: one pooled intercept, least squares with h >= 0.  ``'zero'``: the seed's
   model.  Why the default: :data:`DEFAULT_H`.
4. **Unfittable intervals** (too few observations, or a non-increasing fit: beta or alpha
   <= 0) are filled by linear interpolation of the parameters of the nearest fitted
   intervals, flagged ``filled`` in the diagnostics, counted in ``fit_info`` and announced
   by one :class:`~models.errors.FitWarning` naming how many and why; no NaN parameter is
   ever returned.

Standard errors (diagnostics ``stderr_<parameter>``) are the least-squares ones, sigma_t^2
(J'J)^-1 with sigma_t^2 = RSS_t / (n_t - parameters), on the kernel-weighted statistics.
With a pooled delta the intervals share a parameter: its variance and its covariances with
each interval's parameters come from the Schur complement of the block-arrow information
matrix.  Standard errors of alpha = b scale**-delta (b fitted on sizes divided by a common
scale) follow by the delta method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .book_model import BookImpact
from .book_walk import DEFAULT_BEYOND_DEPTH_BPS, side_sign, walk_levels
from .errors import DataError, FitWarning, InvalidParameterError, InvalidTypeError
from .impact_base import BaseImpact, interval_array
from .linear import LinearImpact
from .power import PowerLawImpact

if TYPE_CHECKING:
    from .snapshots import BookSnapshots

__all__ = [
    "fit_impact_model",
    "fit_per_day",
    "PerDayFit",
    "DELTA_BOUNDS",
    "DELTA_MODES",
    "DEFAULT_H",
    "KINDS",
    "H_MODES",
]

KINDS = ("linear", "power", "book")
"""Model kinds :func:`fit_impact_model` can fit."""

H_MODES = ("half_spread", "per_day", "fit", "zero")
"""How the slippage intercept h is obtained."""

DEFAULT_H = "half_spread"
"""Default intercept mode of linear and power fits: each snapshot's own half spread.

A pooled intercept (``'fit'``, the default until commit 8e91906) is biased when training
days differ: deep days contribute low slippage at large sizes and thin days high slippage
at small ones, so the pooled line is too flat and its intercept too high (1.33x the half
spread on synthetic u_shape days), and small orders are over-predicted.  Both candidate
fixes were measured (bias = realised - predicted, mean over the walk-forward test days;
relative = bias / realised):

* ``scenarios/quickstart.yaml`` (u_shape, linear), 2% / 10% of ADV, equal realised 9.95 /
  10.11 bps: ``'fit'`` equal -3.11 / -3.30 bps (-31% / -33%), exact -1.37 / -2.56;
  ``'half_spread'`` equal -0.08 / -0.36, vwap -0.01 / -0.27, exact +0.66 / -0.07 (largest
  |relative| 7.8%); ``'per_day'`` equal -0.49 / -0.83, vwap -0.50 / -0.81, exact +0.51 /
  -0.44 (largest 8.2%).  Both meet the 10% target of issue 12.
* ``scenarios/regimes.yaml`` (calm, stressed, event, markov; 50k / 100k shares; equal,
  vwap, analytical, exact): mean |relative bias| ``'fit'`` 20.3% (max 66%),
  ``'half_spread'`` 7.3% (max 27%), ``'per_day'`` 6.2% (max 20%); exact's improvement over
  equal within 0.35 bps of each other.
* quickstart with the power model (pooled delta): largest |relative bias| ``'half_spread'``
  20% (-6% at 2% of ADV), ``'per_day'`` 43% (+43% at 2% of ADV: predictions too low).  A free
  intercept and a small exponent are confounded: per-day intercepts drift to 0 while
  delta falls to 0.31 and alpha x**delta imitates the half spread, so the small child orders
  of a spread-out schedule are under-predicted; on GOOG a per-day intercept clipped at 0
  drives the 10th-percentile R^2 to -0.34.

The half spread is observed in every snapshot, not estimated: it adds no estimation noise
(which an optimiser would exploit, issue 14), is what a small order pays, and is unaffected
by the depth of other days.  Its cost: the line through it fits the slippage over the whole
visible depth less closely (median in-sample R^2 on FROG 0.92 against 0.98 for ``'fit'``).
"""

DELTA_MODES = ("pooled", "per_interval")
"""How the power-law exponent is fitted when it is not fixed."""

DELTA_BOUNDS = (0.05, 3.0)
"""Admissible range of the fitted power-law exponent delta."""

_GRIDS = ("levels", "uniform")
_DROP_MODES = ("auto", "none")
_DELTA_GRID_POINTS = 13
_BRENT_ITERATIONS = 60
_LOG_DELTA_XTOL = 1e-7  # absolute, on log(delta): delta to about 1e-7 relative
_MIN_SCREEN_DAYS = 3


# ---------------------------------------------------------------------- observations
@dataclass(frozen=True, eq=False)
class _Obs:
    """Observations laid out (N, D, K): intervals, days, grid sizes (contiguous per interval)."""

    x: np.ndarray  # shares
    y: np.ndarray  # slippage, $/share (0 where w = 0)
    w: np.ndarray  # 1.0 where observed
    half_spread: np.ndarray  # (N, D) $/share
    depth: np.ndarray  # (N, D) visible shares of the walked side


def _observations(books, side, grid, grid_points, beyond_depth_bps, exclude_repaired) -> _Obs:
    px, sz = books.side_levels(side)
    present = np.isfinite(px) & (sz > 0)
    sz0 = np.where(present, sz, 0.0)
    visible = sz0.sum(axis=-1)
    if grid == "levels":
        x = np.cumsum(sz0, axis=-1)
        valid = present
    else:
        x = visible[..., None] * (np.arange(1, grid_points + 1) / grid_points)
        valid = np.broadcast_to((visible > 0)[..., None], x.shape)
    x = np.where(valid, x, 0.0)
    if grid == "levels":
        # At each level's cumulative depth the walk's cost is the running sum of size times
        # offset: no need to walk the book once per grid size.
        sign = side_sign(side)
        off = np.where(present, sign * (px - books.mid[..., None]), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.cumsum(sz0 * off, axis=-1) / np.where(valid, x, 1.0)
    else:
        y = walk_levels(px, sz, books.mid, x, side, beyond_depth_bps).slippage
    valid = valid & np.isfinite(y)
    if exclude_repaired:
        valid = valid & ~books.repaired[..., None]

    def layout(a):
        return np.ascontiguousarray(np.moveaxis(a, 1, 0))

    return _Obs(
        x=layout(x),
        y=layout(np.where(valid, y, 0.0)),
        w=layout(valid.astype(float)),
        half_spread=np.ascontiguousarray((0.5 * books.spread).T),
        depth=np.ascontiguousarray(visible.T),
    )


def _select_days(obs: _Obs, keep: np.ndarray) -> _Obs:
    return _Obs(
        x=obs.x[:, keep],
        y=obs.y[:, keep],
        w=obs.w[:, keep],
        half_spread=obs.half_spread[:, keep],
        depth=obs.depth[:, keep],
    )


# ---------------------------------------------------------------------- day screening
def _screen_days(obs: _Obs, dates, drop_days, outlier_factor):
    """Boolean mask of days kept and the list of dropped days with their reasons."""
    n_days = obs.w.shape[1]
    keep = np.ones(n_days, dtype=bool)
    reasons: dict[int, str] = {}
    if isinstance(drop_days, str):
        if drop_days == "none":
            return keep, []
        usable = obs.w.sum(axis=(0, 2)) > 0
        for d in np.flatnonzero(~usable):
            reasons[int(d)] = "no usable snapshot"
        if usable.sum() >= _MIN_SCREEN_DAYS:
            with np.errstate(invalid="ignore", divide="ignore"):
                hs = np.log(np.nanmedian(np.where(obs.half_spread > 0, obs.half_spread, np.nan), 0))
                dp = np.log(np.nanmedian(np.where(obs.depth > 0, obs.depth, np.nan), axis=0))
            limit = np.log(outlier_factor)
            flagged = {}
            for name, stat in (("half spread", hs), ("visible depth", dp)):
                typical = np.nanmedian(stat[usable])
                ratio = np.exp(stat - typical)
                far = usable & np.isfinite(stat) & (np.abs(stat - typical) > limit)
                for d in np.flatnonzero(far):
                    flagged.setdefault(int(d), []).append(
                        f"median {name} {ratio[d]:.3g}x the typical day's"
                    )
            # Outliers are the exception: if half the days are flagged, the sample is
            # heterogeneous rather than one day being broken, and nothing is dropped.
            if len(flagged) < 0.5 * usable.sum():
                reasons.update({d: "; ".join(v) for d, v in flagged.items()})
    else:
        for d in drop_days:
            reasons[int(d)] = "dropped by the caller"
    for d in reasons:
        keep[d] = False
    dropped = [
        {"day": d, "date": str(np.datetime64(dates[d], "D")), "reason": r}
        for d, r in sorted(reasons.items())
    ]
    return keep, dropped


# ---------------------------------------------------------------------- kernel
def _kernel_matrix(n: int, bandwidth: float) -> np.ndarray | None:
    """Gaussian weights exp(-d**2 / (2 bw**2)) between intervals, truncated at 4 bw."""
    if bandwidth == 0:
        return None
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    k = np.exp(-0.5 * (d / bandwidth) ** 2)
    k[np.abs(d) > 4.0 * bandwidth] = 0.0
    return k


def _smooth(kernel, stat: np.ndarray) -> np.ndarray:
    """Kernel-weighted sum over neighbouring intervals of a statistic with leading axis N."""
    if kernel is None:
        return stat
    flat = stat.reshape(stat.shape[0], -1)
    return (kernel @ flat).reshape(stat.shape)


# ---------------------------------------------------------------------- profiled least squares
@dataclass(frozen=True, eq=False)
class _Problem:
    """Scaled observations and the delta-free statistics of one fit.

    Observation arrays are (N, M) with M = D * K (days times grid sizes, day-major), so
    every reduction runs along the last, contiguous axis.
    """

    u: np.ndarray  # (N, M) sizes / scale (1 where w = 0)
    logu: np.ndarray  # (N, M)
    y: np.ndarray  # (N, M) slippage net of a fixed intercept (0 where w = 0)
    w: np.ndarray  # (N, M)
    days: int
    h_mode: str
    kernel: np.ndarray | None
    s0: np.ndarray  # (N,) smoothed observation count
    sy: np.ndarray  # (N,)
    syy: np.ndarray  # (N,) (within-day for per_day)
    nd: np.ndarray  # (N, D) per-day counts
    inv_nd: np.ndarray  # (N, D) 1 / counts (0 for a day without observations)
    syd: np.ndarray  # (N, D) per-day sums of y
    days_t: np.ndarray  # (N,) smoothed number of days with observations

    def per_day(self, a: np.ndarray) -> np.ndarray:
        """Sums over each day's grid sizes: (N, ..., M) -> (N, ..., D)."""
        return a.reshape(a.shape[:-1] + (self.days, -1)).sum(axis=-1)


def _problem(obs: _Obs, scale: float, h_mode: str, kernel) -> _Problem:
    n, days, k = obs.w.shape
    w = obs.w.reshape(n, days * k)
    u = np.where(w > 0, obs.x.reshape(n, -1) / scale, 1.0)
    y = obs.y - (obs.half_spread[..., None] if h_mode == "half_spread" else 0.0)
    y = np.where(w > 0, y.reshape(n, -1), 0.0)
    nd = obs.w.sum(axis=2)
    syd = y.reshape(n, days, k).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_nd = np.where(nd > 0, 1.0 / np.where(nd > 0, nd, 1.0), 0.0)
    s0 = _smooth(kernel, nd.sum(axis=1))
    sy = _smooth(kernel, syd.sum(axis=1))
    syy_raw = np.einsum("nm,nm->n", y, y)
    if h_mode == "per_day":
        syy = _smooth(kernel, syy_raw - (syd * syd * inv_nd).sum(axis=1))
    else:
        syy = _smooth(kernel, syy_raw)
    days_t = _smooth(kernel, (nd > 0).sum(axis=1).astype(float))
    return _Problem(
        u=u,
        logu=np.log(u),
        y=y,
        w=w,
        days=days,
        h_mode=h_mode,
        kernel=kernel,
        s0=s0,
        sy=sy,
        syy=syy,
        nd=nd,
        inv_nd=inv_nd,
        syd=syd,
        days_t=days_t,
    )


def _powers(p: _Problem, delta: np.ndarray) -> np.ndarray:
    """z = u**delta for exponents (N, G): shape (N, G, M)."""
    if np.all(delta == 1.0):
        return np.broadcast_to(p.u[:, None, :], (p.u.shape[0], delta.shape[1], p.u.shape[1]))
    return np.exp(delta[:, :, None] * p.logu[:, None, :])


def _profile(p: _Problem, delta: np.ndarray):
    """Least squares of y on z = u**delta for candidate exponents ``delta`` (N, G).

    Returns (a, b, rss, a_free) of shape (N, G): the intercept (pooled mean of the day
    intercepts for per_day, 0 when fixed), the slope, the residual sum of squares and
    whether the intercept is estimated (False where h = 'fit' hits its bound h >= 0).
    """
    if delta.shape[1] > 1:
        # One candidate at a time: (N, M) temporaries stay in cache, where (N, G, M) ones
        # cost ten times more in page faults than in arithmetic.
        parts = [_profile_one(p, delta[:, g : g + 1]) for g in range(delta.shape[1])]
        return tuple(np.concatenate(q, axis=1) for q in zip(*parts, strict=True))
    return _profile_one(p, delta)


def _profile_one(p: _Problem, delta: np.ndarray):
    z = _powers(p, delta)
    wz = z * p.w[:, None, :]
    szy_raw = np.einsum("ngm,nm->ng", z, p.y)
    szz_raw = np.einsum("ngm,ngm->ng", wz, z)
    if p.h_mode == "per_day":
        szd = p.per_day(wz)  # (N, G, D)
        sz = _smooth(p.kernel, szd.sum(axis=-1))
        szz = _smooth(p.kernel, szz_raw - np.einsum("ngd,ngd,nd->ng", szd, szd, p.inv_nd))
        szy = _smooth(p.kernel, szy_raw - np.einsum("ngd,nd,nd->ng", szd, p.syd, p.inv_nd))
        with np.errstate(invalid="ignore", divide="ignore"):
            b = szy / szz
            a = (p.sy[:, None] - b * sz) / p.s0[:, None]
        rss = p.syy[:, None] - b * szy
        return a, b, np.maximum(rss, 0.0), np.isfinite(a)
    szz = _smooth(p.kernel, szz_raw)
    szy = _smooth(p.kernel, szy_raw)
    if p.h_mode == "fit":
        sz = _smooth(p.kernel, wz.sum(axis=-1))
        return _solve_two(p.s0[:, None], sz, szz, p.sy[:, None], szy, p.syy[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        b = szy / szz
    rss = p.syy[:, None] - b * szy
    zero = np.zeros_like(b)
    return zero, b, np.maximum(rss, 0.0), zero.astype(bool)


def _solve_two(s0, s1, s11, sy, s1y, syy):
    """Weighted least squares of y on (1, z) with intercept a >= 0 (refit with a = 0)."""
    det = s0 * s11 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        b_free = (s0 * s1y - s1 * sy) / det
        a_free = (sy - b_free * s1) / s0
        b_zero = s1y / s11
    use_free = np.isfinite(a_free) & (a_free >= 0)
    a = np.where(use_free, a_free, 0.0)
    b = np.where(use_free, b_free, b_zero)
    rss = syy - 2 * a * sy - 2 * b * s1y + a * a * s0 + 2 * a * b * s1 + b * b * s11
    return a, b, np.maximum(rss, 0.0), use_free


def _log_delta_grid() -> np.ndarray:
    return np.linspace(np.log(DELTA_BOUNDS[0]), np.log(DELTA_BOUNDS[1]), _DELTA_GRID_POINTS)


def _bracket(grid, best):
    return grid[np.clip(best - 1, 0, grid.size - 1)], grid[np.clip(best + 1, 0, grid.size - 1)]


def _rss_finite(rss):
    return np.where(np.isfinite(rss), rss, np.inf)


_CGOLD = 0.5 * (3.0 - np.sqrt(5.0))


def _brent(f, a, b, x, fx, xtol: float = _LOG_DELTA_XTOL, max_iter: int = _BRENT_ITERATIONS):
    """Brent's minimisation (1973), vectorised over rows: x in [a, b] minimising f.

    ``f`` maps an (R,) array of abscissae to (R,) values; ``x`` (R,) is a starting point
    inside [a, b] with value ``fx``.  Each iteration takes a parabolic step through the
    three best points when it falls inside the bracket and shrinks it fast enough, and a
    golden-section step otherwise, so the bracket always holds a local minimum and
    shrinks at least geometrically: convergence is guaranteed, superlinear near a smooth
    minimum.  One evaluation of ``f`` per iteration for all rows.
    """
    w, v, fw, fv = x.copy(), x.copy(), fx.copy(), fx.copy()
    d = np.zeros_like(x)
    e = np.zeros_like(x)
    for _ in range(max_iter):
        xm = 0.5 * (a + b)
        tol1 = xtol + 1e-9 * np.abs(x)
        tol2 = 2.0 * tol1
        done = np.abs(x - xm) <= tol2 - 0.5 * (b - a)
        if np.all(done):
            break
        # Parabola through (v, fv), (w, fw), (x, fx).
        r = (x - w) * (fx - fv)
        q = (x - v) * (fx - fw)
        pnum = (x - v) * q - (x - w) * r
        q = 2.0 * (q - r)
        pnum = np.where(q > 0, -pnum, pnum)
        q = np.abs(q)
        with np.errstate(invalid="ignore", divide="ignore"):
            para = (
                (np.abs(e) > tol1)
                & (np.abs(pnum) < np.abs(0.5 * q * e))
                & (pnum > q * (a - x))
                & (pnum < q * (b - x))
            )
            step = np.where(para, pnum / np.where(q != 0, q, 1.0), 0.0)
        u_try = x + step
        near_edge = para & (((u_try - a) < tol2) | ((b - u_try) < tol2))
        step = np.where(near_edge, np.where(xm >= x, tol1, -tol1), step)
        e_gold = np.where(x >= xm, a - x, b - x)
        e = np.where(para, d, e_gold)
        d = np.where(para, step, _CGOLD * e_gold)
        u = x + np.where(np.abs(d) >= tol1, d, np.where(d >= 0, tol1, -tol1))
        u = np.where(done, x, u)
        fu = f(u)
        better = (fu <= fx) & ~done
        worse = ~better & ~done
        a = np.where(better & (u >= x), x, np.where(worse & (u < x), u, a))
        b = np.where(better & (u < x), x, np.where(worse & (u >= x), u, b))
        upd_w = worse & ((fu <= fw) | (w == x))
        upd_v = worse & ~upd_w & ((fu <= fv) | (v == x) | (v == w))
        v, fv = (
            np.where(better | upd_w, w, np.where(upd_v, u, v)),
            np.where(better | upd_w, fw, np.where(upd_v, fu, fv)),
        )
        w, fw = (
            np.where(better, x, np.where(upd_w, u, w)),
            np.where(better, fx, np.where(upd_w, fu, fw)),
        )
        x, fx = np.where(better, u, x), np.where(better, fu, fx)
    return x


def _grid_start(grid, values):
    """Bracket [a, b] around the best grid point of each row, the point and its value."""
    best = np.argmin(values, axis=-1)
    a, b = _bracket(grid, best)
    return a, b, grid[best], np.take_along_axis(values, best[..., None], axis=-1)[..., 0]


def _delta_per_interval(p: _Problem) -> np.ndarray:
    """Each interval's exponent: grid scan, then Brent's method on log(delta), vectorised."""
    n = p.u.shape[0]
    grid = _log_delta_grid()
    rss = _rss_finite(_profile(p, np.broadcast_to(np.exp(grid), (n, grid.size)))[2])
    a, b, x, fx = _grid_start(grid, rss)

    def f(log_delta):
        return _rss_finite(_profile(p, np.exp(log_delta)[:, None])[2][:, 0])

    return np.exp(_brent(f, a, b, x, fx))


def _delta_pooled(p: _Problem, use: np.ndarray) -> float:
    """One exponent for all intervals: argmin sum_t n_t log RSS_t(delta) over ``use``."""
    grid = _log_delta_grid()
    n_t = p.s0[use]
    # A perfect fit (RSS = 0) must not dominate the sum with -inf: floor each interval's
    # RSS at 1e-12 of its total sum of squares.
    floor = 1e-12 * np.maximum(p.syy[use], 1e-300)

    def objective(rss):
        return np.sum(n_t[:, None] * np.log(np.maximum(_rss_finite(rss), floor[:, None])), 0)

    n = p.u.shape[0]
    scan = objective(_profile(p, np.broadcast_to(np.exp(grid), (n, grid.size)))[2][use])
    a, b, x, fx = _grid_start(grid, np.where(np.isfinite(scan), scan, np.inf)[None])

    def f(log_delta):
        rss = _profile(p, np.full((n, 1), np.exp(log_delta[0])))[2][use]
        return objective(rss)

    return float(np.exp(_brent(f, a, b, x, fx)[0]))


# ---------------------------------------------------------------------- uncertainty
def _cross_products(p: _Problem, delta: np.ndarray, b: np.ndarray, with_a: bool):
    """Per-interval J'J over columns [a?, b, delta] (within-day for per_day), (N, P, P).

    Columns: 1 (the intercept), z = u**delta (the slope b) and b z log(u) (delta), from
    their weighted sums per day.
    """
    z = _powers(p, delta[:, None])[:, 0]
    wz = p.w * z
    wzl = wz * p.logu
    s_zz = np.einsum("nm,nm->n", wz, z)
    s_zzl = np.einsum("nm,nm->n", wzl, z)
    s_zzll = np.einsum("nm,nm->n", wzl, z * p.logu)
    m_bd = np.stack([np.stack([s_zz, b * s_zzl], -1), np.stack([b * s_zzl, b * b * s_zzll], -1)], 1)
    col_d = np.stack([p.per_day(wz), b[:, None] * p.per_day(wzl)], axis=1)  # (N, 2, D)
    if p.h_mode == "per_day":
        m_bd = m_bd - np.einsum("npd,nqd,nd->npq", col_d, col_d, p.inv_nd)
    if with_a:
        sums = col_d.sum(axis=-1)  # (N, 2)
        count = p.nd.sum(axis=1)[:, None, None]
        top = np.concatenate([count, sums[:, None, :]], axis=2)
        m = np.concatenate([top, np.concatenate([sums[:, :, None], m_bd], axis=2)], axis=1)
    else:
        m = m_bd
    return _smooth(p.kernel, m)


def _safe_inv(m: np.ndarray) -> np.ndarray:
    """Inverse of a stack of symmetric matrices; NaN for singular ones."""
    finite = np.all(np.isfinite(m), axis=(1, 2))
    m = np.where(finite[:, None, None], m, np.eye(m.shape[-1]))
    cond = np.linalg.cond(m)
    singular = ~finite | ~np.isfinite(cond) | (cond > 1e14)
    m = np.where(singular[:, None, None], np.eye(m.shape[-1]), m)
    inv = np.linalg.inv(m)
    inv[singular] = np.nan
    return inv


def _uncertainty(p, a, b, delta, a_free, sigma2, delta_mode, use):
    """Variances and covariances of (a, b, delta) per interval, in the scaled parameters.

    Returns var_a, var_b, var_d, cov_bd, cov_ad, each (N,) (NaN where not estimated).
    ``delta_mode``: 'fixed', 'per_interval' or 'pooled'; ``use`` the intervals that enter
    the pooled exponent.
    """
    n = b.shape[0]
    with_a = p.h_mode == "fit"
    m = _cross_products(p, delta, b, with_a)
    nan = np.full(n, np.nan)
    if with_a:
        # Intercepts at their bound h = 0 are not estimated: replace their row and column.
        fixed = ~a_free
        m[fixed, 0, :] = 0.0
        m[fixed, :, 0] = 0.0
        m[fixed, 0, 0] = 1.0
    ia = 0 if with_a else None
    ib = 1 if with_a else 0
    idd = ib + 1
    if delta_mode == "fixed":
        inv = _safe_inv(m[:, :idd, :idd]) * sigma2[:, None, None]
        var_d = cov_bd = cov_ad = nan
        var_b = inv[:, ib, ib]
        var_a = inv[:, 0, 0] if with_a else nan
    elif delta_mode == "per_interval":
        inv = _safe_inv(m) * sigma2[:, None, None]
        var_b, var_d, cov_bd = inv[:, ib, ib], inv[:, idd, idd], inv[:, ib, idd]
        var_a = inv[:, 0, 0] if with_a else nan
        cov_ad = inv[:, 0, idd] if with_a else nan
    else:
        # Block-arrow information: per interval A_t (its own parameters), c_t (their cross
        # term with the shared delta), and the shared d = sum_t M_dd / sigma_t^2.
        with np.errstate(invalid="ignore", divide="ignore"):
            inv_s2 = np.where(use & (sigma2 > 0), 1.0 / sigma2, 0.0)
        a_mat = m[:, :idd, :idd] * inv_s2[:, None, None]
        c_vec = m[:, :idd, idd] * inv_s2[:, None]
        a_inv = _safe_inv(np.where(use[:, None, None], a_mat, np.eye(idd)))
        a_inv_c = np.einsum("npq,nq->np", a_inv, c_vec)
        ok = use & np.all(np.isfinite(a_inv_c), axis=1)
        schur = np.sum((m[:, idd, idd] * inv_s2)[ok]) - np.sum(
            np.einsum("np,np->n", c_vec, a_inv_c)[ok]
        )
        v_d = 1.0 / schur if schur > 0 else np.nan
        cov_theta_d = -a_inv_c * v_d  # (N, P)
        cov_theta = a_inv + np.einsum("np,nq->npq", a_inv_c, a_inv_c) * v_d
        var_b, cov_bd = cov_theta[:, ib, ib], cov_theta_d[:, ib]
        var_d = np.full(n, v_d)
        var_a = cov_theta[:, 0, 0] if with_a else nan
        cov_ad = cov_theta_d[:, 0] if with_a else nan
        # Intervals outside the pooled fit carry their own conditional uncertainty.
        cond = _safe_inv(m[:, :idd, :idd]) * sigma2[:, None, None]
        var_b = np.where(use, var_b, cond[:, ib, ib])
        cov_bd = np.where(use, cov_bd, np.nan)
        if with_a:
            var_a = np.where(use, var_a, cond[:, 0, 0])
            cov_ad = np.where(use, cov_ad, np.nan)
    if with_a:
        var_a = np.where(a_free, var_a, np.nan)
        cov_ad = np.where(a_free, cov_ad, np.nan)
    del ia
    return var_a, var_b, var_d, cov_bd, cov_ad


def _r2(obs: _Obs, pred: np.ndarray) -> np.ndarray:
    """Per-interval R^2 of predictions on the interval's own observations, (N,)."""
    y, w = obs.y, obs.w
    n = w.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * y).sum(axis=(1, 2)) / n
        tss = (w * (y - mean[:, None, None]) ** 2).sum(axis=(1, 2))
        rss = (w * (y - pred) ** 2).sum(axis=(1, 2))
        return np.where((n > 0) & (tss > 0), 1.0 - rss / tss, np.nan)


def _fill(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Replace entries of intervals that are not ``ok`` by interpolation over intervals."""
    idx = np.arange(values.shape[0])
    return np.interp(idx, idx[ok], values[ok])


# ---------------------------------------------------------------------- options
@dataclass(frozen=True)
class _Options:
    kind: str
    side: str
    h_mode: str
    delta_mode: str  # 'fixed', 'pooled', 'per_interval' (linear: 'fixed' at 1)
    delta_fixed: np.ndarray | None
    smoothing: float
    grid: str
    grid_points: int
    min_obs: int | None
    exclude_repaired: bool
    beyond_depth_bps: float
    drop_days: Any
    outlier_factor: float


def _check_drop_days(drop_days, outlier_factor, n_days):
    if isinstance(drop_days, str):
        if drop_days not in _DROP_MODES:
            raise InvalidParameterError(
                f"drop_days must be 'auto', 'none' or a list of day positions; got {drop_days!r}"
            )
    else:
        try:
            days = [int(d) for d in drop_days]
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(
                f"drop_days must be 'auto', 'none' or a list of day positions; got {drop_days!r}"
            ) from exc
        bad = [d for d in days if not 0 <= d < n_days]
        if bad:
            raise InvalidParameterError(
                f"drop_days must hold day positions in [0, {n_days - 1}]; got {bad[0]}"
            )
        if len(set(days)) >= n_days:
            raise InvalidParameterError(
                f"drop_days must leave at least one training day; got {sorted(set(days))}"
            )
        drop_days = tuple(sorted(set(days)))
    if isinstance(outlier_factor, bool) or not isinstance(outlier_factor, int | float | np.number):
        raise InvalidTypeError(f"outlier_factor must be a number; got {outlier_factor!r}")
    if not np.isfinite(outlier_factor) or outlier_factor <= 1:
        raise InvalidParameterError(
            f"outlier_factor must be finite and > 1; got {outlier_factor!r}"
        )
    return drop_days, float(outlier_factor)


def _check_options(
    kind, side, h, smoothing, grid, grid_points, delta, min_obs, n, n_days, drop_days, factor, bps
) -> _Options:
    if kind not in KINDS:
        raise InvalidParameterError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    side_sign(side)
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float | np.number):
        raise InvalidTypeError(f"smoothing must be a number of intervals; got {smoothing!r}")
    if not np.isfinite(smoothing) or smoothing < 0:
        raise InvalidParameterError(
            f"smoothing must be finite and >= 0 intervals; got {smoothing!r}"
        )
    drop_days, factor = _check_drop_days(drop_days, factor, n_days)
    common = dict(
        kind=kind,
        side=side,
        smoothing=float(smoothing),
        grid=grid,
        grid_points=grid_points,
        exclude_repaired=True,
        beyond_depth_bps=bps,
        drop_days=drop_days,
        outlier_factor=factor,
    )
    if kind == "book":
        for name, value in (("h", h), ("delta", delta), ("min_obs", min_obs)):
            if value is not None:
                raise InvalidParameterError(f"{name} does not apply to kind='book'; got {value!r}")
        if smoothing != 0:
            raise InvalidParameterError(
                f"smoothing does not apply to kind='book'; got {smoothing!r}"
            )
        return _Options(h_mode="zero", delta_mode="fixed", delta_fixed=None, min_obs=None, **common)
    h = DEFAULT_H if h is None else h
    if h not in H_MODES:
        raise InvalidParameterError(f"h must be one of {', '.join(H_MODES)}; got {h!r}")
    if grid not in _GRIDS:
        raise InvalidParameterError(f"grid must be one of {', '.join(_GRIDS)}; got {grid!r}")
    if isinstance(grid_points, bool) or not isinstance(grid_points, int | np.integer):
        raise InvalidTypeError(f"grid_points must be an int; got {grid_points!r}")
    if grid_points < 2:
        raise InvalidParameterError(f"grid_points must be >= 2; got {grid_points!r}")
    delta_fixed = None
    if kind == "linear":
        if delta is not None:
            raise InvalidParameterError(f"delta applies only to kind='power'; got {delta!r}")
        delta_mode = "fixed"
        delta_fixed = np.ones(n)
    elif delta is None or isinstance(delta, str):
        delta_mode = "pooled" if delta is None else delta
        if delta_mode not in DELTA_MODES:
            raise InvalidParameterError(
                f"delta must be a number, an array, or one of {', '.join(DELTA_MODES)}; "
                f"got {delta!r}"
            )
    else:
        delta_mode = "fixed"
        delta_fixed = interval_array("delta", delta, n, lower=0, strict=True)
    # Parameters per interval besides the day intercepts of per_day (one counted here).
    n_params = 1 + (h in ("fit", "per_day")) + (delta_mode == "per_interval")
    if min_obs is not None:
        if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer):
            raise InvalidTypeError(f"min_obs must be an int; got {min_obs!r}")
        if min_obs < n_params + 1:
            raise InvalidParameterError(
                f"min_obs must be >= {n_params + 1} (parameters + 1); got {min_obs!r}"
            )
        min_obs = int(min_obs)
    return _Options(
        h_mode=h,
        delta_mode=delta_mode,
        delta_fixed=delta_fixed,
        min_obs=min_obs,
        **common,
    )


# ---------------------------------------------------------------------- the fit
@dataclass(frozen=True, eq=False)
class _Fit:
    a: np.ndarray  # scaled intercept (N,)
    b: np.ndarray  # scaled slope (N,)
    delta: np.ndarray  # (N,)
    ok: np.ndarray  # (N,)
    status: np.ndarray
    se: dict[str, np.ndarray]
    h: np.ndarray  # model intercept, filled
    scale: float
    n_obs: np.ndarray
    enough: np.ndarray
    increasing: np.ndarray


def _fit_scaled(obs: _Obs, opts: _Options, scale: float) -> _Fit:
    n = obs.x.shape[0]
    kernel = _kernel_matrix(n, opts.smoothing)
    p = _problem(obs, scale, opts.h_mode, kernel)
    n_obs = obs.w.sum(axis=(1, 2)).astype(int)
    days_t = (obs.w.sum(axis=2) > 0).sum(axis=1)
    n_params = (
        1
        + (opts.h_mode == "fit")
        + (days_t if opts.h_mode == "per_day" else 0)
        + (opts.delta_mode == "per_interval")
    )
    min_obs = n_params + 2 if opts.min_obs is None else np.maximum(opts.min_obs, n_params + 1)
    enough = n_obs >= min_obs
    if opts.delta_mode == "fixed":
        delta = opts.delta_fixed
    elif opts.delta_mode == "per_interval":
        delta = _delta_per_interval(p)
    else:
        if not np.any(enough):
            delta = np.ones(n)
        else:
            delta = np.full(n, _delta_pooled(p, enough))
    a, b, rss, a_free = (v[:, 0] for v in _profile(p, delta[:, None]))
    increasing = np.isfinite(b) & (b > 0) & np.isfinite(a)
    ok = enough & increasing
    status = np.where(~enough, "too_few_obs", np.where(~increasing, "not_increasing", "ok"))
    # Effective parameters of the smoothed fit: with kernel pooling, the day intercepts of
    # per_day count once per (smoothed) day.
    p_eff = (
        1
        + (opts.h_mode == "fit") * a_free
        + (p.days_t if opts.h_mode == "per_day" else 0)
        + (opts.delta_mode == "per_interval")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = np.where(p.s0 > p_eff, rss / (p.s0 - p_eff), np.nan)
    use = ok if opts.delta_mode == "pooled" else np.ones(n, dtype=bool)
    var_a, var_b, var_d, cov_bd, cov_ad = _uncertainty(
        p, a, b, delta, a_free, sigma2, opts.delta_mode, use
    )
    if opts.h_mode == "per_day":
        # h = mean(y) - b mean(z): the grand mean is orthogonal to the within-day fit.
        wz = p.w * _powers(p, delta[:, None])[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            zbar = _smooth(kernel, wz.sum(axis=-1)) / p.s0
            zl = _smooth(kernel, np.einsum("nm,nm->n", wz, p.logu)) / p.s0
        g_d = b * zl
        var_h = (
            sigma2 / p.s0
            + zbar**2 * var_b
            + np.nan_to_num(g_d**2 * var_d)
            + np.nan_to_num(2 * zbar * g_d * cov_bd)
        )
    elif opts.h_mode == "fit":
        var_h = var_a
    else:
        var_h = np.full(n, np.nan)
    if opts.h_mode == "half_spread":
        with np.errstate(invalid="ignore", divide="ignore"):
            h_est = (obs.w * obs.half_spread[..., None]).sum(axis=(1, 2)) / n_obs
    else:
        h_est = np.maximum(a, 0.0)
    if not np.any(ok):
        raise DataError(
            f"no interval of {n} could be fitted (intervals with enough observations: "
            f"{int(enough.sum())}, with an increasing fit: {int(ok.sum())})"
        )
    se = {
        "h": np.sqrt(np.maximum(var_h, 0.0)),
        "b": np.sqrt(np.maximum(var_b, 0.0)),
        "delta": np.sqrt(np.maximum(var_d, 0.0)),
        "var_b": var_b,
        "cov_bd": cov_bd,
        "var_d": var_d,
    }
    for key in ("h", "b", "delta"):
        se[key] = np.where(ok & np.isfinite(se[key]), se[key], np.nan)
    if opts.delta_mode == "fixed":
        se["delta"] = np.full(n, np.nan)
    del cov_ad
    return _Fit(
        a=a,
        b=b,
        delta=delta,
        ok=ok,
        status=status,
        se=se,
        h=_fill(np.where(ok, h_est, 0.0), ok),
        scale=scale,
        n_obs=n_obs,
        enough=enough,
        increasing=increasing,
    )


def _scale_of(obs: _Obs) -> float:
    # Sizes are scaled for conditioning: u = x / scale is O(1).  One scale for all
    # intervals, because smoothing pools the statistics of neighbouring intervals.
    depth = np.max(np.where(obs.w > 0, obs.x, 0.0), axis=(1, 2))
    return float(np.median(depth[depth > 0])) if np.any(depth > 0) else 1.0


def _fit_info(opts, books, keep, dropped, fit: _Fit, r2, delta_out) -> dict[str, Any]:
    ok = fit.ok
    r2_ok = r2[np.isfinite(r2)]
    info: dict[str, Any] = {
        "kind": opts.kind,
        "side": opts.side,
        "h": opts.h_mode,
        "delta_mode": opts.delta_mode if opts.kind == "power" else None,
        "days": int(books.n_days),
        "days_used": int(keep.sum()),
        "dropped_days": dropped,
        "intervals": int(ok.size),
        "intervals_filled": int((~ok).sum()),
        "intervals_too_few_obs": int((~fit.enough).sum()),
        "intervals_not_increasing": int((fit.enough & ~fit.increasing).sum()),
        "r2_median": float(np.median(r2_ok)) if r2_ok.size else None,
        "r2_p10": float(np.quantile(r2_ok, 0.1)) if r2_ok.size else None,
        "r2_min": float(np.min(r2_ok)) if r2_ok.size else None,
    }
    if opts.kind == "power":
        d = delta_out[ok]
        info.update(
            {
                "delta_median": float(np.median(d)),
                "delta_p10": float(np.quantile(d, 0.1)),
                "delta_p90": float(np.quantile(d, 0.9)),
                "delta_at_bounds": int(
                    np.sum((d <= DELTA_BOUNDS[0] * 1.001) | (d >= DELTA_BOUNDS[1] * 0.999))
                )
                if opts.delta_mode != "fixed"
                else 0,
                "delta_stderr": float(np.nanmedian(fit.se["delta"]))
                if np.any(np.isfinite(fit.se["delta"]))
                else None,
            }
        )
    return info


def _warn(dropped, info) -> None:
    if dropped:
        days = ", ".join(f"{d['date']} ({d['reason']})" for d in dropped)
        warnings.warn(
            f"fit_impact_model: dropped {len(dropped)} of {info['days']} training days: {days}",
            FitWarning,
            stacklevel=4,
        )
    filled = info["intervals_filled"]
    if filled:
        warnings.warn(
            f"fit_impact_model: {filled} of {info['intervals']} intervals could not be fitted "
            f"(too few observations: {info['intervals_too_few_obs']}, non-increasing fit: "
            f"{info['intervals_not_increasing']}); their parameters are interpolated from the "
            "nearest fitted intervals (diagnostics 'filled')",
            FitWarning,
            stacklevel=4,
        )


def _pooled_model(books, opts: _Options, obs_all: _Obs):
    """Screen days, fit the kept ones; returns (model, keep mask, _Fit, scale, obs_used)."""
    keep, dropped = _screen_days(obs_all, books.dates, opts.drop_days, opts.outlier_factor)
    if not keep.any():
        raise DataError(f"no training day of {books.n_days} has a usable snapshot")
    obs = _select_days(obs_all, keep) if not keep.all() else obs_all
    scale = _scale_of(obs)
    fit = _fit_scaled(obs, opts, scale)
    ok = fit.ok
    diag: dict[str, Any] = {}
    if opts.kind == "linear":
        beta = _fill(np.where(ok, fit.b / scale, 0.0), ok)
        pred = fit.h[:, None, None] + beta[:, None, None] * obs.x
        params = {"beta": beta}
        diag["stderr_beta"] = fit.se["b"] / scale
        delta_out = None
    else:
        d_raw = fit.delta
        delta_out = _fill(np.where(ok, d_raw, 1.0), ok)
        alpha_raw = np.where(ok, fit.b, 1.0) * scale ** -np.where(ok, d_raw, 0.0)
        alpha = np.exp(_fill(np.log(alpha_raw), ok))
        pred = fit.h[:, None, None] + alpha[:, None, None] * obs.x ** delta_out[:, None, None]
        # Delta method for alpha = b * scale**-delta: d alpha / d b = scale**-delta,
        # d alpha / d delta = -alpha log(scale).
        ls = np.log(scale)
        var_alpha = (
            fit.se["var_b"] * scale ** (-2 * delta_out)
            - 2 * alpha * ls * np.nan_to_num(fit.se["cov_bd"]) * scale**-delta_out
            + (alpha * ls) ** 2 * np.nan_to_num(fit.se["var_d"])
        )
        se_alpha = np.sqrt(np.maximum(var_alpha, 0.0))
        diag["stderr_alpha"] = np.where(ok & np.isfinite(se_alpha), se_alpha, np.nan)
        diag["stderr_delta"] = fit.se["delta"]
        params = {"alpha": alpha, "delta": delta_out}
    r2 = _r2(obs, pred)
    diagnostics = pd.DataFrame(
        {
            "r2": r2,
            "stderr_h": fit.se["h"],
            **diag,
            "n_obs": fit.n_obs,
            "filled": ~ok,
            "failed": fit.enough & ~fit.increasing,
            "status": fit.status,
        }
    )
    info = _fit_info(opts, books, keep, dropped, fit, r2, delta_out)
    _warn(dropped, info)
    cls = LinearImpact if opts.kind == "linear" else PowerLawImpact
    model = cls(**params, h=fit.h, side=opts.side, diagnostics=diagnostics, fit_info=info)
    return model, keep, fit, scale, obs


def _prepare(books, kind, side, options):
    from .snapshots import BookSnapshots

    if not isinstance(books, BookSnapshots):
        raise InvalidTypeError(f"books must be a BookSnapshots; got {type(books).__name__}")
    known = {
        "h",
        "smoothing",
        "grid",
        "grid_points",
        "delta",
        "min_obs",
        "exclude_repaired",
        "beyond_depth_bps",
        "statistic",
        "drop_days",
        "outlier_factor",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParameterError(
            f"option must be one of {', '.join(sorted(known))}; got {unknown[0]!r}"
        )
    o = {
        "h": None,
        "smoothing": 0.0,
        "grid": "levels",
        "grid_points": 20,
        "delta": None,
        "min_obs": None,
        "exclude_repaired": True,
        "beyond_depth_bps": DEFAULT_BEYOND_DEPTH_BPS,
        "statistic": "median",
        "drop_days": "auto",
        "outlier_factor": 5.0,
        **options,
    }
    opts = _check_options(
        kind,
        side,
        o["h"],
        o["smoothing"],
        o["grid"],
        o["grid_points"],
        o["delta"],
        o["min_obs"],
        books.n_intervals,
        books.n_days,
        o["drop_days"],
        o["outlier_factor"],
        o["beyond_depth_bps"],
    )
    from dataclasses import replace

    return replace(opts, exclude_repaired=bool(o["exclude_repaired"])), o["statistic"]


def fit_impact_model(
    books: BookSnapshots,
    kind: str,
    side: str = "buy",
    *,
    h: str | None = None,
    smoothing: float = 0.0,
    grid: str = "levels",
    grid_points: int = 20,
    delta: Any = None,
    min_obs: int | None = None,
    exclude_repaired: bool = True,
    beyond_depth_bps: float = DEFAULT_BEYOND_DEPTH_BPS,
    statistic: str = "median",
    drop_days: Any = "auto",
    outlier_factor: float = 5.0,
) -> BaseImpact:
    """Fit an impact model per interval, pooling the observations of the training days.

    Parameters
    ----------
    books : BookSnapshots
        Training snapshots, shape (days, N, levels).
    kind : {'linear', 'power', 'book'}
        Model to fit (see the module docstring for the method of each).
    side : {'buy', 'sell'}, default 'buy'
        ``buy`` walks the asks, ``sell`` the bids.
    h : {'half_spread', 'per_day', 'fit', 'zero'}, optional
        Intercept of the slippage, dollars per share (linear and power only).  Default
        ``'half_spread'`` (:data:`DEFAULT_H`, which gives the measurements behind it):
        each snapshot's own half spread is subtracted and the slope fitted through the
        origin; the model's h_t is the mean half spread.  ``'per_day'``: a day intercept per
        (day, interval) and one slope per interval fitted on the within-day variation; the
        model's h_t is the mean day intercept (clipped at 0).  ``'fit'``: one pooled
        least-squares intercept with h >= 0 (best in-sample fit over the visible depth:
        a displayed book fills its whole first level at the touch, so the best line
        crosses x = 0 below the half spread, at half spread - tick / 2 for equal levels one
        tick apart; but biased when training days differ).  ``'zero'``: the seed's model.
    smoothing : float, default 0
        Gaussian kernel bandwidth in intervals for pooling neighbouring intervals (0: each
        interval on its own); not for ``kind='book'``.
    grid : {'levels', 'uniform'}, default 'levels'
        Sizes at which the slippage is measured: the cumulative depth at each displayed
        level, or ``grid_points`` equally spaced sizes up to the visible depth.
    grid_points : int, default 20
        Number of sizes of the uniform grid (>= 2).
    delta : {'pooled', 'per_interval'}, float or array_like (N,), optional
        Power-law exponent: ``'pooled'`` (default) one exponent for all intervals fitted in
        [0.05, 3]; ``'per_interval'`` each interval's own in [0.05, 3]; a number or array
        (> 0) fixes it.
    min_obs : int, optional
        Observations (days x grid sizes) an interval needs to be fitted; default: number
        of free parameters (day intercepts of ``per_day`` included) + 2.  Intervals with
        fewer are filled from neighbours.
    exclude_repaired : bool, default True
        Ignore snapshots flagged as repaired (copies of a neighbouring book).
    beyond_depth_bps : float, default 25
        Floor of the beyond-depth tail's slope for walking (and of a ``book`` model), basis
        points of the mid per visible depth (:mod:`models.book_walk`).
    statistic : {'median', 'mean'}, default 'median'
        How days are combined for ``kind='book'``.
    drop_days : 'auto', 'none' or sequence of int, default 'auto'
        Training days left out of the fit: ``'auto'`` screens them (module docstring),
        ``'none'`` keeps all, a sequence gives day positions to drop.
    outlier_factor : float, default 5
        Ratio of a day's median half spread or visible depth to the median day's beyond
        which ``drop_days='auto'`` drops it (> 1).

    Returns
    -------
    LinearImpact, PowerLawImpact or BookImpact
        With per-interval ``diagnostics``: ``r2`` (of the model's slippage on the
        interval's own observations), ``stderr_<parameter>`` (NaN when the parameter is not
        estimated), ``n_obs``, ``filled``, ``failed`` and ``status`` (``ok``,
        ``too_few_obs``, ``not_increasing``); and ``fit_info``: ``days``, ``days_used``,
        ``dropped_days`` (day, date, reason), ``intervals_filled`` and its reasons,
        ``r2_median`` / ``r2_p10`` / ``r2_min``, and for power laws ``delta_median``,
        ``delta_p10``, ``delta_p90``, ``delta_at_bounds``, ``delta_stderr``.

    Raises
    ------
    InvalidParameterError
        If an option is unknown or out of range.
    DataError
        If no interval can be fitted.

    Warns
    -----
    FitWarning
        When training days are dropped or intervals are filled (one line each, with counts).
    """
    opts, statistic = _prepare(
        books,
        kind,
        side,
        dict(
            h=h,
            smoothing=smoothing,
            grid=grid,
            grid_points=grid_points,
            delta=delta,
            min_obs=min_obs,
            exclude_repaired=exclude_repaired,
            beyond_depth_bps=beyond_depth_bps,
            statistic=statistic,
            drop_days=drop_days,
            outlier_factor=outlier_factor,
        ),
    )
    if kind == "book":
        model = BookImpact.from_snapshots(
            books, side=side, statistic=statistic, beyond_depth_bps=beyond_depth_bps
        )
        info = {"kind": "book", "side": side, "days": int(books.n_days), "statistic": statistic}
        from dataclasses import replace

        return replace(model, fit_info=info)
    obs = _observations(
        books, side, opts.grid, opts.grid_points, opts.beyond_depth_bps, opts.exclude_repaired
    )
    return _pooled_model(books, opts, obs)[0]


# ---------------------------------------------------------------------- per-day fits
@dataclass(frozen=True, eq=False)
class PerDayFit:
    """Each training day's own parameters beside the pooled model, for dispersion.

    Attributes
    ----------
    pooled : LinearImpact or PowerLawImpact
        The model :func:`fit_impact_model` fits on the same books and options.
    dates : ndarray of datetime64[D], shape (D,)
        The days.
    params : dict of str to ndarray (D, N)
        ``beta`` (linear, dollars per share per share) or ``alpha`` (power, dollars per share
        per share**delta, with the pooled model's delta), and ``h`` (dollars per share):
        each day's least-squares fit at each interval on that day's observations alone.
    valid : ndarray of bool, shape (D, N)
        Where the day's fit exists (enough observations, increasing).
    used_in_pooled : ndarray of bool, shape (D,)
        Days kept by the pooled fit (False for days it dropped).
    """

    pooled: BaseImpact
    dates: np.ndarray
    params: dict[str, np.ndarray]
    valid: np.ndarray
    used_in_pooled: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of days D."""
        return int(self.dates.shape[0])

    def dispersion(self) -> pd.DataFrame:
        """Per interval, mean and standard deviation over valid days of each parameter.

        Returns
        -------
        DataFrame
            Index ``interval``; columns ``<param>_mean``, ``<param>_std`` (units of the
            parameter, std with ddof=1, NaN with fewer than 2 valid days) and ``days``.
        """
        out = {}
        v = self.valid & self.used_in_pooled[:, None]
        count = v.sum(axis=0)
        for name, arr in self.params.items():
            masked = np.where(v, arr, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[f"{name}_mean"] = np.nanmean(masked, axis=0)
                out[f"{name}_std"] = np.where(count > 1, np.nanstd(masked, axis=0, ddof=1), np.nan)
        out["days"] = count
        frame = pd.DataFrame(out)
        frame.index.name = "interval"
        return frame


def fit_per_day(books: BookSnapshots, kind: str, side: str = "buy", **options: Any) -> PerDayFit:
    """Fit the pooled model and every day's own parameters in one vectorised pass.

    Each day d and interval t gets the least-squares fit of its own observations (the
    slippage at each displayed level): ``linear`` s = h + beta x; ``power`` s = h + alpha
    x**delta with delta fixed to the pooled model's (a day's ten points do not identify an
    exponent).  The intercept follows ``h``: ``'per_day'`` and ``'fit'`` estimate it
    (>= 0), ``'half_spread'`` fixes it to the day's half spread, ``'zero'`` to 0.  The
    dispersion of these parameters across days measures how far the pooled model can be
    trusted out of sample (issue 14).

    Parameters
    ----------
    books : BookSnapshots
        Training snapshots (days, N, levels).
    kind : {'linear', 'power'}
        Model kind.
    side : {'buy', 'sell'}, default 'buy'
        ``buy`` walks the asks, ``sell`` the bids.
    **options
        Keyword options of :func:`fit_impact_model` (``h``, ``smoothing`` -- applied within
        each day across intervals --, ``grid``, ``delta``, ``drop_days``, ...).

    Returns
    -------
    PerDayFit

    Raises
    ------
    InvalidParameterError
        If ``kind`` is ``'book'`` or an option is invalid.
    DataError
        If the pooled model cannot be fitted.
    """
    if kind == "book":
        raise InvalidParameterError("kind must be 'linear' or 'power' for fit_per_day; got 'book'")
    opts, _ = _prepare(books, kind, side, options)
    obs = _observations(
        books, side, opts.grid, opts.grid_points, opts.beyond_depth_bps, opts.exclude_repaired
    )
    pooled, keep, fit, scale, _ = _pooled_model(books, opts, obs)
    n = books.n_intervals
    delta = np.ones(n) if kind == "linear" else np.asarray(pooled.delta)
    kernel = _kernel_matrix(n, opts.smoothing)
    w = obs.w
    u = np.where(w > 0, obs.x / scale, 1.0)
    z = np.exp(np.log(u) * delta[:, None, None])
    y = obs.y - (obs.half_spread[..., None] if opts.h_mode == "half_spread" else 0.0)
    y = np.where(w > 0, y, 0.0)
    wz = w * z

    def sums(a):  # (N, D, K) -> (D, N), smoothed across intervals within each day
        return _smooth(kernel, a.sum(axis=2)).T

    s0, s1, s11 = sums(w), sums(wz), sums(wz * z)
    sy, s1y, syy = sums(w * y), sums(wz * y), sums(w * y * y)
    if opts.h_mode in ("fit", "per_day"):
        a, b, _, _ = _solve_two(s0, s1, s11, sy, s1y, syy)
        n_par = 2
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            b = s1y / s11
        a = np.zeros_like(b)
        n_par = 1
    if opts.h_mode == "half_spread":
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(s0 > 0, sums(w * obs.half_spread[..., None]) / s0, np.nan)
    raw_n = w.sum(axis=2).T
    valid = (raw_n > n_par) & np.isfinite(b) & (b > 0) & np.isfinite(a)
    slope = np.where(valid, b, np.nan) * scale ** -delta[None, :]
    name = "beta" if kind == "linear" else "alpha"
    return PerDayFit(
        pooled=pooled,
        dates=np.asarray(books.dates),
        params={name: slope, "h": np.where(valid, a, np.nan)},
        valid=valid,
        used_in_pooled=keep,
    )
