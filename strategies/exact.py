"""Exact water-filling (Lagrange-multiplier) solvers for separable convex allocation.

Problem, for each row b of a batch::

    minimise  sum_t c_t(x_t)   subject to   sum_t x_t = S_b,   lower_t <= x_t <= upper_t.

KKT: there is a multiplier lambda (dollars per share) with x_t = clip(inverse_marginal_t(lambda),
lower_t, upper_t); the total is nondecreasing in lambda, so lambda is found by a 1-D search:

* linear (c = h x + beta x^2): x_t = clip((lambda - h_t) / (2 beta_t), lower, upper) is piecewise
  linear in lambda; the breakpoints are sorted and lambda is solved exactly on its segment;
* power law with h = 0 and one delta: x_t = clip(k_t * mu, lower, upper) with
  mu = lambda^(1/delta), k_t = (alpha_t (1 + delta))^(-1/delta): the same exact piecewise-linear
  solve in mu;
* power law in general (h > 0 or per-interval delta): bracketing and safeguarded Newton on lambda
  from the closed form of the one-exponent, one-intercept problem, vectorised over the batch
  (a lean 1-D loop for a single problem), to machine precision;
* book (piecewise-linear cost with a quadratic beyond-depth tail): take the cheapest shares
  across all intervals, levels and tails after pre-filling the lower bounds and capping each
  interval at its upper bound; the tails' marginal prices rise linearly, so the multiplier is
  found exactly on the sorted events (level prices, tail starts and ends) of the total supply.

All solvers finish with a first-order correction that puts the last ulp-level residual of the
total on the free intervals, so every row sums to S to machine precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.book_walk import beyond_depth_tail
from models.errors import InfeasibleProblemError, InvalidParameterError

__all__ = [
    "solve_exact",
    "solve_exact_batch",
    "waterfill_piecewise_linear",
    "waterfill_linear",
    "waterfill_power",
    "waterfill_book",
    "book_pieces",
    "book_tail_slope",
    "project_capped_simplex",
]

_BOOK_CHUNK_ELEMENTS = 2_000_000


def _broadcast_problem(total_shares, lower, upper, n: int, batch: int | None):
    s = np.atleast_1d(np.asarray(total_shares, dtype=float))
    lo = np.zeros(n) if lower is None else np.asarray(lower, dtype=float)
    up = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float)
    b = max(s.shape[0], lo.shape[0] if lo.ndim == 2 else 1, up.shape[0] if up.ndim == 2 else 1)
    if batch is not None:
        b = max(b, batch)
    if s.ndim != 1 or s.shape[0] not in (1, b):
        raise InvalidParameterError(f"total_shares must have shape ({b},) or (); got {s.shape}")
    for name, a in (("lower", lo), ("upper", up)):
        if a.shape[-1] != n or a.ndim > 2 or (a.ndim == 2 and a.shape[0] not in (1, b)):
            raise InvalidParameterError(
                f"{name} must have shape ({n},) or ({b}, {n}); got {a.shape}"
            )
    s = np.broadcast_to(s, (b,))
    lo = np.broadcast_to(lo, (b, n))
    up = np.broadcast_to(up, (b, n))
    bad = ~np.isfinite(s) | (s <= 0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise InvalidParameterError(f"total_shares must be finite and > 0; got {s[i]!r} in row {i}")
    if np.any(~np.isfinite(lo) | (lo < 0)) or np.any(up < lo) or np.any(np.isnan(up)):
        raise InvalidParameterError("bounds must satisfy 0 <= lower <= upper with finite lower")
    lo_sum = lo.sum(axis=-1)
    up_sum = up.sum(axis=-1)
    short = up_sum < s * (1 - 1e-12)
    if np.any(short):
        i = int(np.argmax(short))
        raise InfeasibleProblemError(
            f"sum(upper) must be >= total_shares; got {up_sum[i]:.6g} < {s[i]:.6g} in row {i} "
            f"(shortfall {s[i] - up_sum[i]:.6g} shares)"
        )
    excess = lo_sum > s * (1 + 1e-12)
    if np.any(excess):
        i = int(np.argmax(excess))
        raise InfeasibleProblemError(
            f"sum(lower) must be <= total_shares; got {lo_sum[i]:.6g} > {s[i]:.6g} in row {i} "
            f"(excess {lo_sum[i] - s[i]:.6g} shares)"
        )
    return s, lo, up


def _fix_total(x, s, lo, up, weight):
    """Spread the rounding residual of the total over free intervals, proportional to weight."""
    r = s - x.sum(axis=-1)
    free = (x > lo) & (x < up)
    w = np.where(free, weight, 0.0)
    wsum = w.sum(axis=-1)
    ok = wsum > 0
    x = x + np.where(ok, r / np.where(ok, wsum, 1.0), 0.0)[:, None] * w
    return np.clip(x, lo, up)


_MAX_FIXING_PASSES = 40


def _fixing_1d(k, c, s, lo, up):
    """Variable fixing (Bitran-Hax, Kiwiel 2008) for one row of x = clip(k mu + c, lo, up).

    ``k`` and ``c`` are owned and overwritten: a fixed variable gets k = 0 and c = its bound, so
    x = k mu + c keeps its value and the multiplier of the free set is
    mu = (S - sum c) / sum k in closed form. If the clipped total exceeds S, every variable below
    its lower bound is below it at the optimum too (mu can only fall), and symmetrically for the
    upper bound; the larger violation is fixed and the pass repeated. Each pass fixes at least one
    variable, so it ends exactly after at most N passes (typically 1-5). Returns None after
    ``_MAX_FIXING_PASSES`` passes, for the caller to fall back to the breakpoint method.
    """
    add = np.add.reduce
    for _ in range(_MAX_FIXING_PASSES):
        sk = add(k)
        if not sk > 0:
            return np.minimum(np.maximum(c, lo), up)
        x = k * ((s - add(c)) / sk)
        x += c
        xc = np.minimum(np.maximum(x, lo), up)
        d = xc - x
        excess = add(d)
        if excess == 0:
            r = s - add(xc)
            if r != 0:
                # ulp-level residual of the total onto the free intervals (k = 0 where fixed)
                xc += (r / sk) * k
                np.minimum(np.maximum(xc, lo, out=xc), up, out=xc)
            return xc
        newly = d > 0 if excess > 0 else d < 0
        np.putmask(k, newly, 0.0)
        np.putmask(c, newly, xc)
    return None


def _fixing_rows(k, c, s, lo, up):
    """Row-wise :func:`_fixing_1d` on (B, N) arrays, dropping finished rows as it goes.

    Returns x of shape (B, N) and a boolean mask of rows that did not finish within
    ``_MAX_FIXING_PASSES`` passes (their x is left unset).
    """
    b = s.shape[0]
    out = np.empty(k.shape)
    rows = np.arange(b)
    lo = np.array(lo, dtype=float)
    up = np.array(up, dtype=float)
    for _ in range(_MAX_FIXING_PASSES):
        sk = k.sum(axis=-1)
        live = sk > 0
        safe_sk = np.where(live, sk, 1.0)
        x = k * np.where(live, (s - c.sum(axis=-1)) / safe_sk, 0.0)[:, None]
        x += c
        xc = np.minimum(np.maximum(x, lo), up)
        d = xc - x
        excess = d.sum(axis=-1)
        done = (excess == 0) | ~live
        if done.any():
            r = np.where(done & live, s - xc.sum(axis=-1), 0.0)
            fin = xc[done] + (r / safe_sk)[done, None] * k[done]
            out[rows[done]] = np.minimum(np.maximum(fin, lo[done]), up[done])
            keep = ~done
            if not keep.any():
                return out, np.zeros(b, dtype=bool)
            rows, k, c, s, lo, up = rows[keep], k[keep], c[keep], s[keep], lo[keep], up[keep]
            xc, d, excess = xc[keep], d[keep], excess[keep]
        newly = d * excess[:, None] > 0
        np.putmask(k, newly, 0.0)
        np.putmask(c, newly, xc)
    unfinished = np.zeros(b, dtype=bool)
    unfinished[rows] = True
    return out, unfinished


def _breakpoints(k, m, s, lo, up):
    """Sorted-breakpoint solve of sum_t clip(k_t (mu - m_t), lo_t, up_t) = S_b on (B, N) rows."""
    b, n = k.shape
    a_pt = m + lo / k
    b_pt = m + up / k
    pos = np.concatenate([a_pt, b_pt], axis=-1)
    w = np.concatenate([k, np.where(np.isfinite(b_pt), -k, 0.0)], axis=-1)
    order = np.argsort(pos, axis=-1, kind="stable")
    pos_s = np.take_along_axis(pos, order, axis=-1)
    slope = np.cumsum(np.take_along_axis(w, order, axis=-1), axis=-1)
    with np.errstate(invalid="ignore"):
        dp = np.where(np.isinf(pos_s[:, 1:]), np.inf, np.diff(pos_s, axis=-1))
        inc = np.where(slope[:, :-1] > 0, slope[:, :-1] * dp, 0.0)
    g = np.concatenate([np.zeros((b, 1)), np.cumsum(inc, axis=-1)], axis=-1)
    g += lo.sum(axis=-1, keepdims=True)
    j = np.clip((g < s[:, None]).sum(axis=-1) - 1, 0, 2 * n - 1)
    rows = np.arange(b)
    sl = slope[rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = pos_s[rows, j] + np.where(sl > 0, (s - g[rows, j]) / np.where(sl > 0, sl, 1.0), 0.0)
        x = np.clip(k * (mu[:, None] - m), lo, up)
    return _fix_total(x, s, lo, up, k)


def _solve_pl(k, m, s, lo, up, method):
    """Dispatch for (B, N) broadcast inputs; ``k``, ``m`` read-only."""
    if method == "breakpoints":
        return _breakpoints(k, m, s, lo, up)
    if s.shape[0] == 1:
        x = _fixing_1d(k[0].copy(), -(k[0] * m[0]), float(s[0]), lo[0], up[0])
        if x is not None:
            return x[None]
        return _breakpoints(k, m, s, lo, up)
    x, unfinished = _fixing_rows(np.array(k, dtype=float), -(k * m), s, lo, up)
    if unfinished.any():
        u = unfinished
        x[u] = _breakpoints(k[u], m[u], s[u], lo[u], up[u])
    return x


def waterfill_piecewise_linear(
    k, m, total_shares, lower=None, upper=None, method: str = "fixing"
) -> np.ndarray:
    """Solve sum_t clip(k_t (mu - m_t), lower_t, upper_t) = S exactly for mu and return x.

    Parameters
    ----------
    k : ndarray, shape (B, N) or (N,)
        Positive slopes (shares per unit of mu).
    m : ndarray, shape (B, N) or (N,)
        Offsets, in units of mu.
    total_shares : float or ndarray of shape (B,)
        S per row, in shares.
    lower, upper : None or ndarray of shape (N,) or (B, N)
        Bounds in shares (defaults 0 and +inf).
    method : {'fixing', 'breakpoints'}, default 'fixing'
        'fixing': variable fixing (Bitran-Hax / Kiwiel 2008), a few closed-form passes, fastest
        for one problem and for batches (rows that need more than 40 passes fall back to
        'breakpoints'); 'breakpoints': sort the 2N breakpoints of the piecewise-linear total and
        solve on the segment holding S (O(N log N), kept as a reference).

    Returns
    -------
    ndarray of shape (B, N)
        x in shares; each row sums to S to machine precision and lies within its bounds.

    Raises
    ------
    InvalidParameterError
        If ``method`` is unknown or an argument has the wrong shape or range.
    InfeasibleProblemError
        If a row has sum(upper) < S or sum(lower) > S.
    """
    if method not in ("fixing", "breakpoints"):
        raise InvalidParameterError(f"method must be 'fixing' or 'breakpoints'; got {method!r}")
    k = np.atleast_2d(np.asarray(k, dtype=float))
    m = np.atleast_2d(np.asarray(m, dtype=float))
    n = k.shape[-1]
    s, lo, up = _broadcast_problem(total_shares, lower, upper, n, max(k.shape[0], m.shape[0]))
    b = s.shape[0]
    k = np.broadcast_to(k, (b, n))
    m = np.broadcast_to(m, (b, n))
    return _solve_pl(k, m, s, lo, up, method)


def project_capped_simplex(target, total_shares, lower=None, upper=None) -> np.ndarray:
    """Euclidean projection of ``target`` onto {sum x = S, lower <= x <= upper}.

    The solution is x_t = clip(target_t + mu, lower_t, upper_t): water-filling with a quadratic.

    Parameters
    ----------
    target : ndarray, shape (N,) or (B, N)
        Desired schedule in shares.
    total_shares, lower, upper
        As in :func:`waterfill_piecewise_linear`.

    Returns
    -------
    ndarray of shape (B, N)
        The closest feasible schedule in shares.
    """
    target = np.atleast_2d(np.asarray(target, dtype=float))
    return waterfill_piecewise_linear(np.ones_like(target), -target, total_shares, lower, upper)


def waterfill_linear(
    beta, h, total_shares, lower=None, upper=None, method: str = "fixing"
) -> np.ndarray:
    """Exact optimum for linear impact c_t(x) = h_t x + beta_t x^2 (dollars).

    Parameters
    ----------
    beta : ndarray, shape (N,) or (B, N)
        Slippage slope, dollars per share per share (> 0).
    h : float or ndarray, shape (N,) or (B, N)
        Slippage at zero size, dollars per share (>= 0).
    total_shares, lower, upper, method
        As in :func:`waterfill_piecewise_linear`.

    Returns
    -------
    ndarray of shape (B, N)
        Optimal schedule in shares.
    """
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    h = np.broadcast_to(np.asarray(h, dtype=float), beta.shape[:-1] + (beta.shape[-1],))
    # marginal cost h + 2 beta x = lambda  =>  x = (lambda - h) / (2 beta)
    return waterfill_piecewise_linear(0.5 / beta, h, total_shares, lower, upper, method)


def _power_inverse(lam, h, a, inv_d, lo, up):
    z = np.maximum(lam[:, None] - h, 0.0) / a
    x = np.clip(z**inv_d, lo, up)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where((x > lo) & (x < up) & (z > 0), inv_d * x / (lam[:, None] - h), 0.0)
    return x, np.nan_to_num(dx, nan=0.0, posinf=0.0)


def _power_start(a, d, h, s):
    """Closed-form multiplier of the problem with one exponent and one intercept (the row
    means) and no bounds: a starting point a few Newton steps from the root.  Shapes (B, N)
    or (N,); returns (B,) or a float (NaN where it is not finite)."""
    n = a.shape[-1]
    d_bar = np.add.reduce(d, axis=-1) / n
    h_bar = np.add.reduce(h, axis=-1) / n
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        inv = np.add.reduce(a ** (-1.0 / np.expand_dims(d_bar, -1)), axis=-1)
        lam = h_bar + (s / inv) ** d_bar
    return np.where(np.isfinite(lam), lam, np.nan)


def _power_1d(alpha, delta, h, s: float, lo, up, max_iter: int = 500):
    """Exact optimum of one power-law problem with h > 0 or per-interval exponents.

    Safeguarded Newton on the multiplier lambda, in log-log coordinates (exact in one step
    for a pure power law), from the closed form of :func:`_power_start`; the bracket
    [lambda_lo, lambda_hi] holds the root at every step (lambda_lo = min h_t, where the total
    is at most S; lambda_hi from the first lambda whose total exceeds S, doubled while
    unknown) and a bisection replaces any step that leaves it or fails to halve the
    residual within two steps: convergence is guaranteed, typically in 3-5 evaluations of
    N powers.  1-D arrays and in-place ufuncs: a few microseconds per evaluation.

    Returns
    -------
    x : ndarray (N,)
        Optimal schedule in shares, summing to S to machine precision.
    n_eval : int
        Evaluations of the total (for tests).
    """
    n = alpha.shape[0]
    add = np.add.reduce
    a = alpha * (1.0 + delta)
    inv_a = 1.0 / a
    p = 1.0 / delta
    if np.ptp(p) == 0:
        p = float(p[0])  # a scalar exponent takes numpy's faster power loop
    # At lambda = min h every interval is at its lower bound: the total is at most S.
    lam_lo = float(np.minimum.reduce(h))
    lam_hi = math.inf
    eps = np.finfo(float).eps
    sum_tol = 8 * n * eps * s
    # Skip the clipping that cannot bind (x >= 0 always; no caps): fewer passes over N.
    has_lo = bool(np.maximum.reduce(lo) > 0)
    has_up = bool(np.minimum.reduce(up) < math.inf)
    r = np.empty(n)
    x = np.empty(n)
    dx = np.zeros(n)
    resid_before = (math.inf, math.inf)
    n_eval = 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # Start: the closed form with one exponent and one intercept (the means), no bounds.
        d_bar = float(add(delta)) / n
        lam = float(add(h)) / n + (s / float(add(a ** (-1.0 / d_bar)))) ** d_bar
        if not lam_lo < lam < math.inf:
            lam = lam_lo + 1.0 if lam_lo > 0 else 1.0
        while n_eval < max_iter:
            n_eval += 1
            np.subtract(lam, h, out=r)
            np.maximum(r, 0.0, out=r)
            np.multiply(r, inv_a, out=x)
            np.power(x, p, out=x)
            if has_lo:
                np.maximum(x, lo, out=x)
            if has_up:
                np.minimum(x, up, out=x)
            g = float(add(x)) - s
            # d x_t / d lambda = x_t / (delta_t (lambda - h_t)) where x_t is inside its bounds
            # (also the weights of the final correction).
            free = r > 0
            if has_lo:
                free &= x > lo
            if has_up:
                free &= x < up
            dx.fill(0.0)
            np.divide(x, r, out=dx, where=free)
            dx *= p
            if abs(g) <= sum_tol or (lam_hi < math.inf and lam_hi - lam_lo <= 4 * eps * lam_hi):
                break
            if g > 0:
                lam_hi = lam
            else:
                lam_lo = lam
            gp = float(add(dx))
            total = g + s
            resid = abs(g)
            slow = resid > 0.5 * resid_before[0]
            resid_before = (resid_before[1], resid)
            step = math.nan
            if 0 < gp < math.inf and 0 < total < math.inf and not slow:
                # Newton on log(total) against log(lambda); a huge step is left to bisection.
                log_step = -math.log(total / s) * total / (lam * gp)
                step = lam * math.exp(log_step) if log_step < 700.0 else math.inf
            if not lam_lo < step < lam_hi:
                if lam_hi == math.inf:
                    step = 2.0 * lam
                elif lam_lo > 0 and lam_hi > 4 * lam_lo:
                    step = math.sqrt(lam_lo * lam_hi)
                else:
                    step = 0.5 * (lam_lo + lam_hi)
            lam = step
    # The last ulp-level residual of the total goes to the free intervals.
    resid = s - float(add(x))
    weight = float(add(dx))
    if resid != 0 and 0 < weight < math.inf:
        x += (resid / weight) * dx
        if has_lo:
            np.maximum(x, lo, out=x)
        if has_up:
            np.minimum(x, up, out=x)
    return x, n_eval


def waterfill_power(
    alpha, delta, h, total_shares, lower=None, upper=None, max_iter: int = 200
) -> np.ndarray:
    """Exact optimum for power-law impact c_t(x) = h_t x + alpha_t x^(1 + delta_t) (dollars).

    Parameters
    ----------
    alpha : ndarray, shape (N,) or (B, N)
        Slippage scale, dollars per share per share^delta (> 0).
    delta : float or ndarray, shape (N,) or (B, N)
        Exponent (> 0).
    h : float or ndarray, shape (N,) or (B, N)
        Slippage at zero size, dollars per share (>= 0).
    total_shares, lower, upper
        As in :func:`waterfill_piecewise_linear`.
    max_iter : int, default 200
        Cap on safeguarded-Newton iterations (bisection alone needs < 1100 for doubles).

    Returns
    -------
    ndarray of shape (B, N)
        Optimal schedule in shares.
    """
    alpha = np.atleast_2d(np.asarray(alpha, dtype=float))
    n = alpha.shape[-1]
    delta_a = np.asarray(delta, dtype=float)
    h_a = np.asarray(h, dtype=float)
    if np.all(h_a == 0) and np.ptp(delta_a) == 0:
        d = float(delta_a.ravel()[0])
        # Scaled per row by min(alpha)^(1/delta), a constant absorbed by mu.
        with np.errstate(over="ignore", under="ignore"):
            k = (alpha / alpha.min(axis=-1, keepdims=True)) ** (-1.0 / d)
        # With tiny exponents the scaled slopes can still leave the floating-point range
        # (alpha over many decades, delta near 0.05): the Newton path below handles those.
        if np.all(np.isfinite(k) & (k > 0)):
            x = waterfill_piecewise_linear(k, np.zeros_like(k), total_shares, lower, upper)
            s_rows = np.broadcast_to(np.atleast_1d(np.asarray(total_shares, float)), x.shape[:1])
            if np.all(np.abs(x.sum(axis=-1) - s_rows) <= 1e-9 * s_rows):
                return x
    s, lo, up = _broadcast_problem(total_shares, lower, upper, n, alpha.shape[0])
    b = s.shape[0]
    alpha = np.broadcast_to(alpha, (b, n))
    d = np.broadcast_to(delta_a, (b, n)) if delta_a.ndim else np.full((b, n), float(delta_a))
    h_b = np.broadcast_to(h_a, (b, n)) if h_a.ndim else np.full((b, n), float(h_a))
    a = alpha * (1.0 + d)
    inv_d = 1.0 / d

    def mc(x):
        return h_b + a * x**d

    lam_lo = mc(lo).min(axis=-1)
    lam_hi = mc(np.minimum(s[:, None], up)).max(axis=-1)
    lam = np.clip(_power_start(a, d, h_b, s), lam_lo, lam_hi)
    done = np.zeros(b, dtype=bool)
    eps = np.finfo(float).eps
    tol = 4 * eps
    # Summing N rounded terms leaves an error of order N * eps * S: asking for less makes
    # Newton circle at the root until max_iter; _fix_total removes the last residual.
    sum_tol = 8 * n * eps
    moved = np.ones(b, dtype=bool)
    resid_before = np.full((2, b), np.inf)
    for _ in range(max_iter):
        x, dx = _power_inverse(lam, h_b, a, inv_d, lo, up)
        g = x.sum(axis=-1) - s
        gp = dx.sum(axis=-1)
        done |= (np.abs(g) <= sum_tol * s) | (lam_hi - lam_lo <= tol * np.abs(lam_hi)) | ~moved
        if np.all(done):
            break
        lam_hi = np.where(g > 0, lam, lam_hi)
        lam_lo = np.where(g <= 0, lam, lam_lo)
        total = g + s
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Newton on log(total) against log(lambda): exact in one step for a pure power
            # law, and quadratic near the root, where a plain Newton step on a total that
            # grows like lambda^(1/delta) with small delta only shrinks lambda by a few %.
            newton = lam * np.exp(-np.log(total / s) * total / (lam * gp))
        # Safeguard: bisect (geometrically across a wide bracket) when the step leaves the
        # bracket or two steps failed to halve the residual of the total.
        resid = np.abs(g)
        slow = resid > 0.5 * resid_before[0]
        resid_before = np.stack([resid_before[1], resid])
        ok = np.isfinite(newton) & (newton > lam_lo) & (newton < lam_hi) & ~slow
        with np.errstate(invalid="ignore"):
            geometric = np.sqrt(lam_lo * lam_hi)
        middle = np.where((lam_lo > 0) & (lam_hi > 4 * lam_lo), geometric, 0.5 * (lam_lo + lam_hi))
        step = np.where(ok, newton, middle)
        moved = step != lam
        lam = np.where(done, lam, step)
    x, dx = _power_inverse(lam, h_b, a, inv_d, lo, up)
    return _fix_total(x, s, lo, up, dx)


def book_pieces(offsets, sizes, reference_mid, beyond_depth_bps):
    """Marginal price pieces of walking books: the levels, then the start of the tail.

    The visible levels are flat pieces (price = the level's offset, depth = its size).  The
    last piece is the beyond-depth tail of :mod:`models.book_walk`: it starts at the deepest
    offset with unlimited depth, and its marginal price rises with the slope given by
    :func:`book_tail_slope` (pass it as ``tail_slope`` to :func:`waterfill_book`; without
    it the tail would be flat at the deepest offset).

    Parameters
    ----------
    offsets : ndarray, shape (..., N, L)
        Price offsets from the mid of each level of the walked side, dollars per share; NaN for
        empty trailing levels.
    sizes : ndarray, shape (..., N, L)
        Displayed shares per level.
    reference_mid : ndarray, shape (..., N)
        Mid in dollars, for the floor of the tail's slope.
    beyond_depth_bps : float
        Floor of the tail's slope in basis points of the mid per visible depth (as in
        models.book_walk).

    Returns
    -------
    prices : ndarray, shape (..., N, L + 1)
        Marginal price of each piece in dollars per share (+inf for empty levels); the last
        is the marginal price where the tail starts (the deepest offset).
    depth : ndarray, shape (..., N, L + 1)
        Shares available in each piece (+inf for the tail).
    """
    offsets = np.asarray(offsets, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    finite = np.isfinite(offsets) & (sizes > 0)
    sz = np.where(finite, sizes, 0.0)
    _, deepest, _ = beyond_depth_tail(offsets, sizes, reference_mid, beyond_depth_bps)
    prices = np.concatenate([np.where(finite, offsets, np.inf), deepest[..., None]], axis=-1)
    depth = np.concatenate([sz, np.full(deepest.shape + (1,), np.inf)], axis=-1)
    return prices, depth


def book_tail_slope(offsets, sizes, reference_mid, beyond_depth_bps) -> np.ndarray:
    """Slope of the beyond-depth tail of books, dollars per share per share, shape (..., N).

    Same arguments as :func:`book_pieces`; see :func:`models.book_walk.beyond_depth_tail`.
    """
    return beyond_depth_tail(offsets, sizes, reference_mid, beyond_depth_bps)[2]


def _book_chunk(prices, depth, slope, s, lo, up):
    """Cheapest shares over flat pieces and linear-price tails, for (b, n, p) rows.

    The total supply at a marginal price lambda, G(lambda), is piecewise linear: flat
    pieces add a jump at their price, a tail with slope k > 0 adds a ramp of 1/k shares per
    dollar between the prices at which it reaches the lower and the upper bound.  The
    events (jumps, ramp starts and ends) are sorted and G is accumulated over them, so
    lambda is found exactly on the segment where G reaches S; pieces priced exactly lambda
    are then filled in order of interval until the total is S.
    """
    b, n, p = prices.shape
    start = np.concatenate([np.zeros((b, n, 1)), np.cumsum(depth, axis=-1)[..., :-1]], axis=-1)
    hi = np.minimum(start + depth, up[..., None])
    cap = np.clip(hi - np.maximum(start, lo[..., None]), 0.0, None)
    ramp = slope > 0  # (b, n): the last piece is a rising tail, not a flat piece
    cap[..., -1] = np.where(ramp, 0.0, cap[..., -1])
    tail_p, tail_v = prices[..., -1], start[..., -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(ramp & np.isfinite(slope), 1.0 / np.where(ramp, slope, 1.0), 0.0)
        e_lo = np.maximum(lo - tail_v, 0.0)
        e_hi = up - tail_v
        live = ramp & (rate > 0) & (e_hi > e_lo)
        a = np.where(live, tail_p + slope * e_lo, np.inf)
        b_end = np.where(live, tail_p + slope * e_hi, np.inf)
    rate = np.where(live, rate, 0.0)

    flat_p = prices.reshape(b, n * p)
    flat_c = cap.reshape(b, n * p)
    pos = np.concatenate([flat_p, a, b_end], axis=-1)
    jump = np.concatenate([flat_c, np.zeros((b, 2 * n))], axis=-1)
    d_rate = np.concatenate(
        [np.zeros((b, n * p)), rate, -np.where(np.isfinite(b_end), rate, 0)], -1
    )
    order = np.argsort(pos, axis=-1, kind="stable")
    pos_s = np.take_along_axis(pos, order, axis=-1)
    jump_s = np.take_along_axis(jump, order, axis=-1)
    rate_after = np.cumsum(np.take_along_axis(d_rate, order, axis=-1), axis=-1)
    with np.errstate(invalid="ignore"):
        gap = np.diff(pos_s, axis=-1)
        inc = np.where(rate_after[:, :-1] > 0, rate_after[:, :-1] * gap, 0.0)
    inc = np.where(np.isnan(inc), np.inf, inc)
    need = s - lo.sum(axis=-1)
    g_after = np.cumsum(jump_s, axis=-1)
    g_after[:, 1:] += np.cumsum(inc, axis=-1)
    j = np.minimum((g_after < need[:, None]).sum(axis=-1), 2 * n + n * p - 1)
    rows = np.arange(b)
    jm = np.maximum(j - 1, 0)
    # Supply just below the events at j (exclusive sums: a flat tail may hold +inf shares).
    g_before = np.where(j > 0, g_after[rows, jm] + inc[rows, np.minimum(jm, inc.shape[1] - 1)], 0)
    r_prev = np.where(j > 0, rate_after[rows, jm], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = (j > 0) & (g_before >= need) & (r_prev > 0)
        lam = np.where(
            inside,
            pos_s[rows, jm] + (need - g_after[rows, jm]) / np.where(r_prev > 0, r_prev, 1.0),
            pos_s[rows, j],
        )
    lam_ = lam[:, None]
    with np.errstate(invalid="ignore"):
        base = np.where(prices < lam_[..., None], cap, 0.0).sum(axis=-1)
        base += np.where(live, rate * np.clip(lam_ - a, 0.0, b_end - a), 0.0)
    rest = need - base.sum(axis=-1)
    at = np.where(prices == lam_[..., None], cap, 0.0).reshape(b, n * p)
    before = np.concatenate([np.zeros((b, 1)), np.cumsum(at, axis=-1)[:, :-1]], axis=-1)
    take = np.clip(rest[:, None] - before, 0.0, at).reshape(b, n, p).sum(axis=-1)
    x = np.clip(lo + base + take, lo, up)
    # Rounding of lambda inside a ramp: the residual goes to the tails on their ramp.
    on_ramp = live & (lam_ > a) & (lam_ < b_end)
    return _fix_total(x, s, lo, up, np.where(on_ramp, rate, 0.0))


def waterfill_book(
    prices, depth, total_shares, lower=None, upper=None, tail_slope=None
) -> np.ndarray:
    """Exact optimum for book costs: the cheapest S shares overall, tails included.

    Parameters
    ----------
    prices : ndarray, shape (N, P) or (B, N, P)
        Marginal price of each piece (level) in dollars per share, nondecreasing along P.
    depth : ndarray, shape (N, P) or (B, N, P)
        Shares available in each piece (+inf allowed for the last).
    total_shares, lower, upper
        As in :func:`waterfill_piecewise_linear`.
    tail_slope : None or ndarray, shape (N,) or (B, N)
        Slope in dollars per share per share of the last piece of each interval: its marginal
        price is ``prices[..., -1] + tail_slope * e`` for its e-th share, without a depth limit
        (the beyond-depth tail of :func:`book_pieces`).  0 or None: the last piece is flat
        with its ``depth``.

    Returns
    -------
    ndarray of shape (B, N)
        Optimal schedule in shares: lower bounds pre-filled from each interval's cheapest
        levels, then the remaining shares from the globally cheapest pieces and tails within
        the caps (exact: the tails make the cost quadratic past the visible depth, and the
        multiplier is solved in closed form on its segment).
    """
    prices = np.asarray(prices, dtype=float)
    depth = np.asarray(depth, dtype=float)
    if prices.ndim == 2:
        prices = prices[None]
        depth = depth[None]
    n = prices.shape[1]
    s, lo, up = _broadcast_problem(total_shares, lower, upper, n, prices.shape[0])
    b = s.shape[0]
    prices = np.broadcast_to(prices, (b,) + prices.shape[1:])
    depth = np.broadcast_to(depth, (b,) + depth.shape[1:])
    slope = np.zeros((b, n)) if tail_slope is None else np.asarray(tail_slope, dtype=float)
    if slope.shape[-1] != n or slope.ndim > 2 or np.any(np.isnan(slope)) or np.any(slope < 0):
        raise InvalidParameterError(
            f"tail_slope must be >= 0 with shape ({n},) or ({b}, {n}); got shape {slope.shape}"
        )
    slope = np.broadcast_to(slope, (b, n))
    rows = max(1, _BOOK_CHUNK_ELEMENTS // max(1, prices.shape[1] * (prices.shape[2] + 2)))
    parts = [
        _book_chunk(
            prices[i : i + rows],
            depth[i : i + rows],
            slope[i : i + rows],
            s[i : i + rows],
            lo[i : i + rows],
            up[i : i + rows],
        )
        for i in range(0, b, rows)
    ]
    return np.concatenate(parts, axis=0)


def _stack(models: Sequence[Any], attr: str, n: int) -> np.ndarray:
    return np.stack(
        [np.broadcast_to(np.asarray(getattr(mdl, attr), dtype=float), (n,)) for mdl in models]
    )


def solve_exact_batch(model, total_shares, lower=None, upper=None) -> np.ndarray:
    """Exact optimal schedules for a batch of problems in one vectorised call.

    Parameters
    ----------
    model : models.BaseImpact or sequence of B models of the same kind and N
        One model for every row (many sizes) or one model per row (many days).
    total_shares : float or array_like of shape (B,)
        S per row, in shares (> 0).
    lower, upper : None or array_like of shape (N,) or (B, N)
        Bounds in shares per interval (defaults 0 and +inf).

    Returns
    -------
    ndarray of shape (B, N)
        Optimal schedules in shares; each row sums to its S and lies within its bounds.

    Raises
    ------
    InvalidParameterError
        If the models differ in kind or N, or an argument has the wrong shape or range.
    InfeasibleProblemError
        If a row's bounds cannot hold its S (the message states the shortfall).
    """
    models = list(model) if isinstance(model, list | tuple) else [model]
    if not models:
        raise InvalidParameterError("model must be a model or a non-empty sequence; got []")
    kind = models[0].kind
    n = int(models[0].n_intervals)
    for i, mdl in enumerate(models):
        if mdl.kind != kind or int(mdl.n_intervals) != n:
            raise InvalidParameterError(
                f"model[{i}] must have kind {kind!r} and {n} intervals; got {mdl.kind!r} "
                f"with {mdl.n_intervals}"
            )
    if kind == "linear":
        return waterfill_linear(
            _stack(models, "beta", n), _stack(models, "h", n), total_shares, lower, upper
        )
    if kind == "power":
        return waterfill_power(
            _stack(models, "alpha", n),
            _stack(models, "delta", n),
            _stack(models, "h", n),
            total_shares,
            lower,
            upper,
        )
    if kind == "book":
        pieces = [
            book_pieces(m.offsets, m.sizes, m.reference_mid, m.beyond_depth_bps) for m in models
        ]
        width = max(p[0].shape[-1] for p in pieces)
        padded = [_pad_pieces(p, q, width) for p, q in pieces]
        prices = np.stack([p for p, _ in padded])
        depth = np.stack([q for _, q in padded])
        slope = np.stack([m.tail_slope for m in models])
        return waterfill_book(prices, depth, total_shares, lower, upper, tail_slope=slope)
    raise InvalidParameterError(f"model kind must be 'linear', 'power' or 'book'; got {kind!r}")


def _pad_pieces(prices, depth, width):
    extra = width - prices.shape[-1]
    if extra == 0:
        return prices, depth
    # Empty pieces (infinite price, zero depth) go before the tail so the tail stays last.
    n = prices.shape[0]
    p = np.concatenate([prices[:, :-1], np.full((n, extra), np.inf), prices[:, -1:]], axis=-1)
    d = np.concatenate([depth[:, :-1], np.zeros((n, extra)), depth[:, -1:]], axis=-1)
    return p, d


def _check_single(total_shares, lower, upper, n: int):
    """Validate one problem's S and (N,) bounds with a few reductions; same errors as a batch."""
    try:
        s = float(total_shares)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"total_shares must be finite and > 0; got {total_shares!r}"
        ) from exc
    if not (math.isfinite(s) and s > 0):
        raise InvalidParameterError(f"total_shares must be finite and > 0; got {s!r}")
    if lower is None:
        lo, lo_sum = np.zeros(n), 0.0
    else:
        lo = np.asarray(lower, dtype=float)
        if lo.shape != (n,):
            raise InvalidParameterError(f"lower must have shape ({n},); got {lo.shape}")
        lo_sum = float(np.add.reduce(lo))
        # NaN fails the comparisons, so these also reject NaN bounds.
        if not (math.isfinite(lo_sum) and np.minimum.reduce(lo) >= 0):
            raise InvalidParameterError("bounds must satisfy 0 <= lower <= upper with finite lower")
    if upper is None:
        up, up_sum = np.full(n, np.inf), np.inf
    else:
        up = np.asarray(upper, dtype=float)
        if up.shape != (n,):
            raise InvalidParameterError(f"upper must have shape ({n},); got {up.shape}")
        if not (up >= lo).all():
            raise InvalidParameterError("bounds must satisfy 0 <= lower <= upper with finite lower")
        up_sum = float(np.add.reduce(up))
    if up_sum < s * (1 - 1e-12):
        raise InfeasibleProblemError(
            f"sum(upper) must be >= total_shares; got {up_sum:.6g} < {s:.6g} "
            f"(shortfall {s - up_sum:.6g} shares)"
        )
    if lo_sum > s * (1 + 1e-12):
        raise InfeasibleProblemError(
            f"sum(lower) must be <= total_shares; got {lo_sum:.6g} > {s:.6g} "
            f"(excess {lo_sum - s:.6g} shares)"
        )
    return s, lo, up


def _single_slopes(model):
    """(k, c) with x = k mu + c for one linear or one-delta, h = 0 power model, else None."""
    if model.kind == "linear":
        k = 0.5 / model.beta
        return k, -(k * model.h)
    if model.kind == "power":
        delta = model.delta
        if np.any(model.h) or np.ptp(delta) != 0:
            return None
        d = float(delta[0])
        # x = (lambda / (alpha (1 + delta)))^(1/delta): k is scaled by min(alpha)^(1/delta), a
        # constant absorbed by mu, so that small alphas and deltas cannot overflow.
        alpha = model.alpha
        with np.errstate(over="ignore", under="ignore"):
            k = (alpha / np.minimum.reduce(alpha)) ** (-1.0 / d)
        if not np.all(np.isfinite(k) & (k > 0)):
            return None  # out of floating-point range: the Newton path handles it
        return k, np.zeros(k.shape)
    return None


def solve_exact(model, total_shares, lower=None, upper=None, *, validate: bool = True):
    """Exact optimal schedule of one problem; see :func:`solve_exact_batch`.

    Linear models and power laws with h = 0 and one delta take a single-problem fast path
    (variable fixing on 1-D arrays, a few closed-form passes); other power laws a 1-D
    safeguarded Newton (:func:`_power_1d`); book models solve as a batch of one.

    Parameters
    ----------
    model : models.BaseImpact
        The impact model.
    total_shares : float
        S in shares (> 0).
    lower, upper : None or array_like of shape (N,)
        Bounds in shares per interval (defaults 0 and +inf).
    validate : bool, default True
        Check S and the bounds (finite S > 0, 0 <= lower <= upper, feasibility). Strategies pass
        False for an AllocationProblem, which has already checked them.

    Returns
    -------
    ndarray of shape (N,)
        Optimal schedule in shares.

    Raises
    ------
    InvalidParameterError
        If an argument has the wrong shape or range (only with ``validate``).
    InfeasibleProblemError
        If the bounds cannot hold S; the message states the shortfall (only with ``validate``).
    """
    slopes = None
    single = (lower is None or np.ndim(lower) == 1) and (upper is None or np.ndim(upper) == 1)
    if not isinstance(model, list | tuple) and model.kind in ("linear", "power"):
        slopes = _single_slopes(model)
    general_power = (
        slopes is None and single and not isinstance(model, list | tuple) and model.kind == "power"
    )
    if (slopes is None and not general_power) or not single:
        return solve_exact_batch(model, float(total_shares), lower, upper)[0]
    n = int(model.n_intervals)
    if validate:
        s, lo, up = _check_single(total_shares, lower, upper, n)
    else:
        s = float(total_shares)
        lo = np.zeros(n) if lower is None else np.asarray(lower, dtype=float)
        up = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float)
    if general_power:
        return _power_1d(model.alpha, model.delta, model.h, s, lo, up)[0]
    x = _fixing_1d(*slopes, s, lo, up)
    if x is None:
        k, c = _single_slopes(model)  # fresh: the fixing passes overwrote them
        x = _breakpoints(k[None], (-c / k)[None], np.array([s]), lo[None], up[None])[0]
    if model.kind == "power" and not abs(float(np.add.reduce(x)) - s) <= 1e-9 * s:
        # Slopes spanning hundreds of decades (tiny delta, alpha over many decades) lose the
        # total in the closed form: the Newton path has no such limit.
        return _power_1d(model.alpha, model.delta, model.h, s, lo, up)[0]
    return x
