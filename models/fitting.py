"""Fitting impact models per interval from order-book snapshots: :func:`fit_impact_model`.

Method (DESIGN.md units):

1. For every (day, interval) snapshot the slippage curve s(x) (dollars per share) is
   measured on a size grid spanning the visible depth of the walked side, by walking the
   book with :func:`models.book_walk.walk_levels` (one vectorised call over
   (days, intervals, K)).  The default grid is the cumulative depth at each displayed level
   (``grid='levels'``): the book's cost is linear between those points, so they carry all
   of its information.  ``grid='uniform'`` uses ``grid_points`` equally spaced sizes.
2. Each interval is fitted on the observations of all days pooled, optionally together
   with neighbouring intervals weighted by a Gaussian kernel of ``smoothing`` intervals
   (kernel-weighted sufficient statistics, i.e. a local regression across minutes):

   * ``linear``: s = h + beta x by closed-form least squares;
   * ``power``: s = h + alpha x**delta; for a given delta, (h, alpha) is linear least
     squares, and delta in [0.05, 3] minimises the profiled residual sum of squares (a
     coarse log grid, then a golden-section search, vectorised over intervals);
   * ``book``: :meth:`BookImpact.from_snapshots` (median book shape).

   The intercept h is fitted (``h='fit'``, constrained to h >= 0), fixed to each
   snapshot's half spread (``'half_spread'``) or fixed to 0 (``'zero'``).
3. Intervals with too few observations or a non-increasing fit (beta or alpha <= 0) are
   filled by linear interpolation of the parameters of the nearest fitted intervals and
   flagged ``filled`` in the diagnostics; no NaN parameter is ever returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .book_model import BookImpact
from .book_walk import DEFAULT_BEYOND_DEPTH_BPS, side_sign, walk_levels
from .errors import DataError, InvalidParameterError, InvalidTypeError
from .impact_base import BaseImpact, interval_array
from .linear import LinearImpact
from .power import PowerLawImpact

if TYPE_CHECKING:
    from .snapshots import BookSnapshots

__all__ = ["fit_impact_model", "DELTA_BOUNDS", "KINDS", "H_MODES"]

KINDS = ("linear", "power", "book")
"""Model kinds :func:`fit_impact_model` can fit."""

H_MODES = ("fit", "half_spread", "zero")
"""How the slippage intercept h is obtained."""

DELTA_BOUNDS = (0.05, 3.0)
"""Admissible range of the fitted power-law exponent delta."""

_GRIDS = ("levels", "uniform")
_DELTA_GRID_POINTS = 25
_GOLDEN_ITERATIONS = 32
_INV_PHI = (np.sqrt(5.0) - 1.0) / 2.0


# ---------------------------------------------------------------------- observations
def _observations(books, side, grid, grid_points, beyond_depth_bps, exclude_repaired):
    """Slippage observations: x (D, N, K) shares, y (D, N, K) $/share, weight mask w."""
    px, sz = books.side_levels(side)
    present = np.isfinite(px) & (sz > 0)
    sz0 = np.where(present, sz, 0.0)
    if grid == "levels":
        x = np.cumsum(sz0, axis=-1)
        valid = present
    else:
        visible = sz0.sum(axis=-1)
        x = visible[..., None] * (np.arange(1, grid_points + 1) / grid_points)
        valid = np.broadcast_to((visible > 0)[..., None], x.shape)
    x = np.where(valid, x, 0.0)
    walk = walk_levels(px, sz, books.mid, x, side, beyond_depth_bps)
    y = walk.slippage
    valid = valid & np.isfinite(y)
    if exclude_repaired:
        valid = valid & ~books.repaired[..., None]
    half_spread = np.broadcast_to((0.5 * books.spread)[..., None], x.shape)
    return x, np.where(valid, y, 0.0), valid.astype(float), half_spread


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


def _solve_two(s0, s1, s11, sy, s1y, syy, h_free):
    """Weighted least squares of y on (1, z) with intercept a >= 0, or a = 0 if not free.

    All inputs are kernel-smoothed sums; returns (a, b, rss), broadcast shapes.
    """
    det = s0 * s11 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        b_free = (s0 * s1y - s1 * sy) / det
        a_free = (sy - b_free * s1) / s0
        b_zero = s1y / s11
    use_free = h_free & np.isfinite(a_free) & (a_free >= 0)
    a = np.where(use_free, a_free, 0.0)
    b = np.where(use_free, b_free, b_zero)
    rss = syy - 2 * a * sy - 2 * b * s1y + a * a * s0 + 2 * a * b * s1 + b * b * s11
    return a, b, np.maximum(rss, 0.0), use_free


def _param_cov(jac, w, kernel, free):
    """Unscaled covariance (J'WJ)^-1 per interval over the free parameters.

    ``jac`` (D, N, K, P), ``w`` (D, N, K), ``free`` (N, P) bool.  Rows and columns of
    parameters that are not free are replaced by the identity before inverting, so the
    inverse of the free block is exact.
    """
    m = np.einsum("dnkp,dnkq,dnk->npq", jac, jac, w)
    m = _smooth(kernel, m)
    outer = free[:, :, None] & free[:, None, :]
    eye = np.eye(free.shape[1], dtype=bool)[None]
    m = np.where(outer, m, np.where(eye, 1.0, 0.0))
    cond = np.linalg.cond(m)
    singular = ~np.isfinite(cond) | (cond > 1e14)
    m[singular] = np.eye(free.shape[1])
    cov = np.linalg.inv(m)
    cov[singular] = np.nan
    return np.where(outer, cov, np.nan)


def _fill(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Replace entries of intervals that are not ``ok`` by interpolation over intervals."""
    idx = np.arange(values.shape[0])
    return np.interp(idx, idx[ok], values[ok])


def _r2(y, w, pred):
    """Per-interval R^2 of predictions on the interval's own observations, (N,)."""
    n = w.sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * y).sum(axis=(0, 2)) / n
        tss = (w * (y - mean[None, :, None]) ** 2).sum(axis=(0, 2))
        rss = (w * (y - pred) ** 2).sum(axis=(0, 2))
        return np.where((n > 0) & (tss > 0), 1.0 - rss / tss, np.nan)


# ---------------------------------------------------------------------- per-kind fits
def _fit_linear(u, y_adj, w, kernel, h_free):
    s = {
        "s0": w.sum(axis=(0, 2)),
        "s1": (w * u).sum(axis=(0, 2)),
        "s11": (w * u * u).sum(axis=(0, 2)),
        "sy": (w * y_adj).sum(axis=(0, 2)),
        "s1y": (w * u * y_adj).sum(axis=(0, 2)),
        "syy": (w * y_adj * y_adj).sum(axis=(0, 2)),
    }
    s = {k: _smooth(kernel, v) for k, v in s.items()}
    a, b, rss, used_free = _solve_two(**s, h_free=h_free)
    jac = np.stack([np.ones_like(u), u], axis=-1)
    free = np.stack([used_free, np.ones_like(used_free)], axis=-1)
    cov = _param_cov(jac, w, kernel, free)
    return a, b, rss, s["s0"], cov, used_free


def _power_stats(u, y_adj, w, kernel, delta, base):
    """Profile (a, b, rss) for candidate exponents ``delta`` of shape (N, G)."""
    z = u[..., None] ** delta[None, :, None, :]
    wz = w[..., None] * z
    s1 = _smooth(kernel, wz.sum(axis=(0, 2)))
    s11 = _smooth(kernel, (wz * z).sum(axis=(0, 2)))
    s1y = _smooth(kernel, (wz * y_adj[..., None]).sum(axis=(0, 2)))
    a, b, rss, used_free = _solve_two(
        base["s0"][:, None],
        s1,
        s11,
        base["sy"][:, None],
        s1y,
        base["syy"][:, None],
        h_free=base["h_free"][:, None],
    )
    return a, b, rss, used_free


def _fit_power(u, y_adj, w, kernel, h_free, delta_fixed):
    base = {
        "s0": _smooth(kernel, w.sum(axis=(0, 2))),
        "sy": _smooth(kernel, (w * y_adj).sum(axis=(0, 2))),
        "syy": _smooth(kernel, (w * y_adj * y_adj).sum(axis=(0, 2))),
        "h_free": np.broadcast_to(h_free, u.shape[1]),
    }
    n = u.shape[1]
    if delta_fixed is not None:
        delta = delta_fixed
    else:
        lo_b, hi_b = np.log(DELTA_BOUNDS[0]), np.log(DELTA_BOUNDS[1])
        grid = np.linspace(lo_b, hi_b, _DELTA_GRID_POINTS)
        _, _, rss, _ = _power_stats(
            u, y_adj, w, kernel, np.broadcast_to(np.exp(grid), (n, grid.size)), base
        )
        best = np.argmin(np.where(np.isfinite(rss), rss, np.inf), axis=1)
        lo = grid[np.clip(best - 1, 0, grid.size - 1)]
        hi = grid[np.clip(best + 1, 0, grid.size - 1)]
        # Golden-section search on log(delta), all intervals at once.
        for _ in range(_GOLDEN_ITERATIONS):
            c = hi - _INV_PHI * (hi - lo)
            d = lo + _INV_PHI * (hi - lo)
            _, _, r, _ = _power_stats(u, y_adj, w, kernel, np.exp(np.stack([c, d], 1)), base)
            left = ~(r[:, 1] < r[:, 0])
            hi = np.where(left, d, hi)
            lo = np.where(left, lo, c)
        delta = np.exp(0.5 * (lo + hi))
    a, b, rss, used_free = _power_stats(u, y_adj, w, kernel, delta[:, None], base)
    a, b, rss, used_free = a[:, 0], b[:, 0], rss[:, 0], used_free[:, 0]
    z = u ** delta[None, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dz = np.where(w > 0, b[None, :, None] * z * np.log(u), 0.0)
    jac = np.stack([np.ones_like(u), z, dz], axis=-1)
    free = np.stack([used_free, np.ones(n, dtype=bool), np.full(n, delta_fixed is None)], axis=-1)
    cov = _param_cov(jac, w, kernel, free)
    return a, b, delta, rss, base["s0"], cov, used_free


# ---------------------------------------------------------------------- public API
def _check_options(kind, side, h, smoothing, grid, grid_points, delta, min_obs, n):
    if kind not in KINDS:
        raise InvalidParameterError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    side_sign(side)
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float | np.number):
        raise InvalidTypeError(f"smoothing must be a number of intervals; got {smoothing!r}")
    if not np.isfinite(smoothing) or smoothing < 0:
        raise InvalidParameterError(
            f"smoothing must be finite and >= 0 intervals; got {smoothing!r}"
        )
    if kind == "book":
        for name, value in (("h", h), ("delta", delta), ("min_obs", min_obs)):
            if value is not None:
                raise InvalidParameterError(f"{name} does not apply to kind='book'; got {value!r}")
        if smoothing != 0:
            raise InvalidParameterError(
                f"smoothing does not apply to kind='book'; got {smoothing!r}"
            )
        return None
    h = "fit" if h is None else h
    if h not in H_MODES:
        raise InvalidParameterError(f"h must be one of {', '.join(H_MODES)}; got {h!r}")
    if grid not in _GRIDS:
        raise InvalidParameterError(f"grid must be one of {', '.join(_GRIDS)}; got {grid!r}")
    if isinstance(grid_points, bool) or not isinstance(grid_points, int | np.integer):
        raise InvalidTypeError(f"grid_points must be an int; got {grid_points!r}")
    if grid_points < 2:
        raise InvalidParameterError(f"grid_points must be >= 2; got {grid_points!r}")
    if delta is not None:
        if kind != "power":
            raise InvalidParameterError(f"delta applies only to kind='power'; got {delta!r}")
        delta = interval_array("delta", delta, n, lower=0, strict=True)
    n_params = (2 if kind == "linear" else 3 - (delta is not None)) - (h != "fit")
    if min_obs is None:
        min_obs = n_params + 2
    if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer):
        raise InvalidTypeError(f"min_obs must be an int; got {min_obs!r}")
    if min_obs < n_params + 1:
        raise InvalidParameterError(
            f"min_obs must be >= {n_params + 1} (parameters + 1); got {min_obs!r}"
        )
    return h, delta, int(min_obs), n_params


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
) -> BaseImpact:
    """Fit an impact model per interval, pooling the observations of all days of ``books``.

    Parameters
    ----------
    books : BookSnapshots
        Training snapshots, shape (days, N, levels).
    kind : {'linear', 'power', 'book'}
        Model to fit (see the module docstring for the method of each).
    side : {'buy', 'sell'}, default 'buy'
        ``buy`` walks the asks, ``sell`` the bids.
    h : {'fit', 'half_spread', 'zero'}, optional
        Intercept of the slippage, dollars per share (linear and power only).  Default
        ``'fit'``: least squares with h >= 0.  A displayed book fills its whole first level
        at the touch, so the line that best describes the slippage over the visible depth
        crosses x = 0 below the half spread (for equal levels one tick apart, at half
        spread - tick / 2); forcing the half spread biases beta upward.  ``'half_spread'``
        subtracts each snapshot's own half spread and fits the slope through the origin
        (the model's h_t is then the mean half spread); ``'zero'`` is the seed's model.
    smoothing : float, default 0
        Gaussian kernel bandwidth in intervals for pooling neighbouring intervals (0: each
        interval on its own); not for ``kind='book'``.
    grid : {'levels', 'uniform'}, default 'levels'
        Sizes at which the slippage is measured: the cumulative depth at each displayed
        level, or ``grid_points`` equally spaced sizes up to the visible depth.
    grid_points : int, default 20
        Number of sizes of the uniform grid (>= 2).
    delta : float or array_like (N,), optional
        Fixed power-law exponent (> 0); fitted in [0.05, 3] when omitted.
    min_obs : int, optional
        Observations (days x grid sizes) an interval needs to be fitted; default: number
        of free parameters + 2.  Intervals with fewer are filled from neighbours.
    exclude_repaired : bool, default True
        Ignore snapshots flagged as repaired (copies of a neighbouring book).
    beyond_depth_bps : float, default 25
        Beyond-depth penalty for walking (and of a ``book`` model), basis points of mid.
    statistic : {'median', 'mean'}, default 'median'
        How days are combined for ``kind='book'``.

    Returns
    -------
    LinearImpact, PowerLawImpact or BookImpact
        With per-interval ``diagnostics``: ``r2`` (of the model's slippage on the
        interval's own observations), ``stderr_<parameter>`` (NaN when the parameter is not
        estimated), ``n_obs``, ``filled``, ``failed`` and ``status`` (``ok``,
        ``too_few_obs``, ``not_increasing``).

    Raises
    ------
    InvalidParameterError
        If an option is unknown or out of range.
    DataError
        If no interval can be fitted.
    """
    from .snapshots import BookSnapshots

    if not isinstance(books, BookSnapshots):
        raise InvalidTypeError(f"books must be a BookSnapshots; got {type(books).__name__}")
    n = books.n_intervals
    checked = _check_options(kind, side, h, smoothing, grid, grid_points, delta, min_obs, n)
    if kind == "book":
        return BookImpact.from_snapshots(
            books, side=side, statistic=statistic, beyond_depth_bps=beyond_depth_bps
        )
    h_mode, delta_fixed, min_obs, n_params = checked

    x, y, w, half_spread = _observations(
        books, side, grid, grid_points, beyond_depth_bps, exclude_repaired
    )
    n_obs = w.sum(axis=(0, 2)).astype(int)
    # Sizes are scaled for conditioning: u = x / scale is O(1).  One scale for all
    # intervals, because smoothing pools the statistics of neighbouring intervals.
    depth = np.max(np.where(w > 0, x, 0.0), axis=(0, 2))
    scale = np.full(n, np.median(depth[depth > 0]) if np.any(depth > 0) else 1.0)
    u = np.where(w > 0, x / scale[None, :, None], 1.0)
    offset = half_spread if h_mode == "half_spread" else np.zeros_like(y)
    y_adj = np.where(w > 0, y - offset, 0.0)
    kernel = _kernel_matrix(n, float(smoothing))
    h_free = np.full(n, h_mode == "fit")
    with np.errstate(invalid="ignore", divide="ignore"):
        h_fixed = np.where(n_obs > 0, (w * offset).sum(axis=(0, 2)) / n_obs, 0.0)
    if h_mode == "half_spread" and np.any(n_obs == 0):
        h_fixed = _fill(h_fixed, n_obs > 0) if np.any(n_obs > 0) else h_fixed

    if kind == "linear":
        a, b, rss, n_eff, cov, used_free = _fit_linear(u, y_adj, w, kernel, h_free)
        delta_fit = None
    else:
        a, b, delta_fit, rss, n_eff, cov, used_free = _fit_power(
            u, y_adj, w, kernel, h_free, delta_fixed
        )

    enough = n_obs >= min_obs
    increasing = np.isfinite(b) & (b > 0) & np.isfinite(a)
    ok = enough & increasing
    if not np.any(ok):
        raise DataError(
            f"no interval of {n} could be fitted (intervals with >= {min_obs} observations: "
            f"{int(enough.sum())}, with an increasing fit: {int(ok.sum())})"
        )
    status = np.where(~enough, "too_few_obs", np.where(~increasing, "not_increasing", "ok"))
    h_est = np.where(h_mode == "fit", a, h_fixed)
    p_free = n_params - (h_free & ~used_free)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = np.where(n_eff > p_free, rss / (n_eff - p_free), np.nan)
    se = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0) * sigma2[:, None])
    se = np.where(np.isnan(np.diagonal(cov, axis1=1, axis2=2)), np.nan, se)
    se[~ok] = np.nan

    h_out = _fill(np.where(ok, h_est, 0.0), ok)
    diag = {}
    if kind == "linear":
        beta = _fill(np.where(ok, b / scale, 0.0), ok)
        model_pred = h_out[None, :, None] + beta[None, :, None] * x
        diag["stderr_beta"] = se[:, 1] / scale
        params = {"beta": beta}
    else:
        d_out = _fill(np.where(ok, delta_fit, 1.0), ok)
        alpha_raw = np.where(ok, b, 1.0) * scale ** -np.where(ok, delta_fit, 0.0)
        alpha = np.exp(_fill(np.log(alpha_raw), ok))
        model_pred = h_out[None, :, None] + alpha[None, :, None] * x ** d_out[None, :, None]
        # Delta method for alpha = b * scale**-delta.
        var_b = se[:, 1] ** 2 * scale ** (-2 * d_out)
        cov_bd = np.where(ok, np.nan_to_num(cov[:, 1, 2] * sigma2), 0.0)
        var_alpha = (
            var_b
            - 2 * alpha * np.log(scale) * cov_bd * scale**-d_out
            + (alpha * np.log(scale)) ** 2 * np.nan_to_num(se[:, 2] ** 2)
        )
        diag["stderr_alpha"] = np.sqrt(np.maximum(var_alpha, 0.0))
        diag["stderr_alpha"][~ok] = np.nan
        diag["stderr_delta"] = se[:, 2]
        params = {"alpha": alpha, "delta": d_out}
    diag = {
        "r2": _r2(y, w, model_pred),
        "stderr_h": se[:, 0],
        **diag,
        "n_obs": n_obs,
        "filled": ~ok,
        "failed": enough & ~increasing,
        "status": status,
    }
    diagnostics = pd.DataFrame(diag)
    if kind == "linear":
        return LinearImpact(**params, h=h_out, side=side, diagnostics=diagnostics)
    return PowerLawImpact(**params, h=h_out, side=side, diagnostics=diagnostics)
