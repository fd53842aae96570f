"""Almgren & Chriss (2000) risk-averse execution: the closed form and a strategy on any model.

The strategy minimises expected impact under the problem's own model plus risk aversion times
the variance of the position still held; linear models by an exact active-set QP, book models
by exact dynamic programming over piecewise-linear price-level paths, other convex models (the
power law) by Newton-SQP, all through the models' ``cost`` / ``marginal_cost`` interface.

Notation of the paper (section 4): X shares to liquidate over horizon T in N periods of length
tau = T/N; sigma the price volatility in dollars per share per sqrt(unit time); temporary impact
h(v) = epsilon sgn(v) + eta v (v = n/tau the trading rate); permanent impact gamma per share;
lambda the risk aversion (1/dollars). Holdings x_k at t_k = k tau after the k-th trade n_k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.linalg import lapack

from models.errors import InvalidParameterError

from .base import OptimizingStrategy, SolveResult
from .builtin import EqualStrategy
from .exact import solve_exact, waterfill_linear
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "DEFAULT_URGENCY",
    "AlmgrenChrissTrajectory",
    "almgren_chriss_trajectory",
    "AlmgrenChrissStrategy",
    "risk_objective",
    "solve_box_qp",
    "solve_risk",
    "solve_risk_book",
    "solve_risk_qp",
    "solve_risk_smooth",
]


@dataclass(frozen=True, eq=False)
class AlmgrenChrissTrajectory:
    """Optimal trajectory of Almgren & Chriss (2000), discrete time.

    Attributes
    ----------
    times : ndarray of shape (N + 1,)
        t_k = k tau, in the unit of ``horizon``.
    holdings : ndarray of shape (N + 1,)
        x_k, shares still held at t_k (x_0 = X, x_N = 0).
    trades : ndarray of shape (N,)
        n_k = x_{k-1} - x_k, shares traded in period k.
    kappa : float
        Urgency kappa, in 1/(unit of horizon); 0 for lambda = 0 (straight line).
    expected_cost : float
        E = gamma X^2 / 2 + epsilon sum |n_k| + (eta_tilde / tau) sum n_k^2, in dollars.
    variance : float
        V = sigma^2 tau sum_k x_k^2, in dollars squared.
    eta_tilde : float
        eta - gamma tau / 2, dollars per share per (share per unit time).
    """

    times: np.ndarray
    holdings: np.ndarray
    trades: np.ndarray
    kappa: float
    expected_cost: float
    variance: float
    eta_tilde: float


def _positive(name: str, value: float, strict: bool = True) -> float:
    v = float(value)
    if not np.isfinite(v) or (v <= 0 if strict else v < 0):
        rng = "> 0" if strict else ">= 0"
        raise InvalidParameterError(f"{name} must be finite and {rng}; got {value!r}")
    return v


def almgren_chriss_trajectory(
    total_shares: float,
    horizon: float,
    n_periods: int,
    sigma: float,
    eta: float,
    epsilon: float,
    gamma: float,
    risk_aversion: float,
) -> AlmgrenChrissTrajectory:
    """Discrete-time optimal execution trajectory of Almgren & Chriss (2000).

    eta_tilde = eta - gamma tau / 2; kappa_tilde^2 = lambda sigma^2 / eta_tilde; kappa solves
    cosh(kappa tau) = 1 + kappa_tilde^2 tau^2 / 2 and x_k = sinh(kappa (T - t_k)) / sinh(kappa T) X.
    lambda = 0 gives the straight line (TWAP). lambda < 0 (risk seeking) gives
    cos(kappa tau) = 1 + kappa_tilde^2 tau^2 / 2 and x_k = sin(kappa (T - t_k)) / sin(kappa T) X,
    which is the minimiser of E + lambda V only while kappa T < pi (E + lambda V convex).

    Parameters
    ----------
    total_shares : float
        X, shares to trade (> 0).
    horizon : float
        T, in any time unit (sigma, eta and tau use the same unit).
    n_periods : int
        N >= 1.
    sigma : float
        Volatility, dollars per share per sqrt(time unit) (>= 0).
    eta : float
        Temporary impact, dollars per share per (share per time unit) (> 0).
    epsilon : float
        Fixed cost per share (half spread plus fees), dollars per share (>= 0).
    gamma : float
        Permanent impact, dollars per share per share (>= 0).
    risk_aversion : float
        lambda, 1/dollars; negative means risk seeking.

    Returns
    -------
    AlmgrenChrissTrajectory

    Raises
    ------
    InvalidParameterError
        For out-of-range inputs, eta_tilde <= 0, or a risk-seeking lambda so negative that
        E + lambda V is not convex (kappa T >= pi): no optimal trajectory exists.
    """
    x_total = _positive("total_shares", total_shares)
    t_total = _positive("horizon", horizon)
    if not isinstance(n_periods, int | np.integer) or n_periods < 1:
        raise InvalidParameterError(f"n_periods must be an integer >= 1; got {n_periods!r}")
    sigma = _positive("sigma", sigma, strict=False)
    eta = _positive("eta", eta)
    epsilon = _positive("epsilon", epsilon, strict=False)
    gamma = _positive("gamma", gamma, strict=False)
    lam = float(risk_aversion)
    if not np.isfinite(lam):
        raise InvalidParameterError(f"risk_aversion must be finite; got {risk_aversion!r}")
    n = int(n_periods)
    tau = t_total / n
    eta_tilde = eta - 0.5 * gamma * tau
    if eta_tilde <= 0:
        raise InvalidParameterError(
            f"eta - gamma*tau/2 must be > 0; got {eta_tilde!r} (eta={eta}, gamma={gamma})"
        )
    times = tau * np.arange(n + 1)
    remaining = t_total - times
    kt2 = lam * sigma**2 / eta_tilde
    c = 1.0 + 0.5 * kt2 * tau**2
    if lam == 0 or sigma == 0:
        kappa = 0.0
        holdings = x_total * remaining / t_total
    elif lam > 0:
        kappa = float(np.arccosh(c)) / tau
        holdings = x_total * np.sinh(kappa * remaining) / np.sinh(kappa * t_total)
    else:
        kappa = float(np.arccos(c)) / tau if c >= -1 else np.inf
        if not kappa * t_total < np.pi:
            raise InvalidParameterError(
                f"risk_aversion must keep E + lambda*V convex (kappa*T < pi); got {lam!r} "
                f"(kappa*T = {kappa * t_total:.4g})"
            )
        holdings = x_total * np.sin(kappa * remaining) / np.sin(kappa * t_total)
    holdings[0], holdings[-1] = x_total, 0.0
    trades = -np.diff(holdings)
    expected = (
        0.5 * gamma * x_total**2
        + epsilon * np.abs(trades).sum()
        + eta_tilde / tau * np.sum(trades**2)
    )
    variance = sigma**2 * tau * np.sum(holdings[1:] ** 2)
    return AlmgrenChrissTrajectory(
        times=times,
        holdings=holdings,
        trades=trades,
        kappa=kappa,
        expected_cost=float(expected),
        variance=float(variance),
        eta_tilde=eta_tilde,
    )


def solve_box_qp(hess, grad, total, lower, upper, x0, max_iter=None):
    """Exact primal active-set solve of min 1/2 x'Hx + g'x s.t. sum x = total, lower <= x <= upper.

    Parameters
    ----------
    hess : ndarray of shape (N, N)
        Symmetric positive definite Hessian.
    grad : ndarray of shape (N,)
        Linear term.
    total : float
        Required sum of x.
    lower, upper : ndarray of shape (N,)
        Bounds (upper may be +inf).
    x0 : ndarray of shape (N,)
        Feasible start.
    max_iter : int, optional
        Iteration cap (default 10 N + 10).

    Returns
    -------
    x : ndarray of shape (N,)
        The minimiser.
    n_iter : int
        Iterations used.
    converged : bool
        False only if the iteration cap was hit.
    """
    n = x0.shape[0]
    x = x0.astype(float).copy()
    at_lo = x <= lower
    at_up = (x >= upper) & ~at_lo
    max_iter = 10 * n + 10 if max_iter is None else max_iter
    scale = max(1.0, float(np.abs(hess).max()) * max(1.0, abs(total)), float(np.abs(grad).max()))
    tol = 1e-12 * scale
    for it in range(1, max_iter + 1):
        free = ~(at_lo | at_up)
        fi = np.flatnonzero(free)
        if fi.size:
            hff = hess[np.ix_(fi, fi)]
            rhs = -(grad[fi] + hess[fi][:, ~free] @ x[~free])
            sol = np.linalg.solve(hff, np.column_stack([rhs, np.ones(fi.size)]))
            u, v = sol[:, 0], sol[:, 1]
            mu = (total - x[~free].sum() - u.sum()) / v.sum()
            target = u + mu * v
            p = target - x[fi]
            with np.errstate(divide="ignore", invalid="ignore"):
                to_lo = np.where(p < 0, (lower[fi] - x[fi]) / p, np.inf)
                to_up = np.where(p > 0, (upper[fi] - x[fi]) / p, np.inf)
            steps = np.minimum(to_lo, to_up)
            j = int(np.argmin(steps))
            if steps[j] < 1.0:
                x[fi] += max(steps[j], 0.0) * p
                i = fi[j]
                if to_lo[j] <= to_up[j]:
                    x[i], at_lo[i] = lower[i], True
                else:
                    x[i], at_up[i] = upper[i], True
                continue
            x[fi] = target
        g = hess @ x + grad
        if fi.size:
            mu_lo = mu_hi = mu
        else:
            mu_lo = g[at_up].max() if at_up.any() else -np.inf
            mu_hi = g[at_lo].min() if at_lo.any() else np.inf
        viol = np.where(at_lo, mu_lo - g, 0.0) + np.where(at_up, g - mu_hi, 0.0)
        k = int(np.argmax(viol))
        if viol[k] <= tol:
            return x, it, True
        at_lo[k] = at_up[k] = False
    return x, max_iter, False


def _reduced_solve(free, xfix, eta, h, weight, total):
    """Minimise the risk QP over the free intervals with the others fixed at ``xfix``.

    With Z_i the cumulative free trades through the i-th free interval, holdings are
    X_k = R_k - Z_i on the block of intervals from that free interval to the next (R the
    holdings of the fixed trades alone), so the objective is tridiagonal in Z with
    Z_last = S - sum(xfix): one O(N) LAPACK ``dptsv`` solve.
    """
    x = xfix.copy()
    f = np.flatnonzero(free)
    m = f.size
    holdings = total - xfix.cumsum()
    rest = holdings[-1]
    if m <= 1:
        x[f] = rest
        return x
    e = eta[f]
    a = np.add.reduceat(weight, f)[:-1]
    b = np.add.reduceat(weight * holdings, f)[:-1]
    hf = h[f]
    rhs = b + 0.5 * (hf[1:] - hf[:-1])
    rhs[-1] += e[-1] * rest
    diag = e[:-1] + e[1:] + a
    if m == 2:
        z = rhs / diag
    else:
        _, _, z, info = lapack.dptsv(diag, -e[1:-1], rhs[:, None], 1, 1, 1)
        if info != 0:
            raise np.linalg.LinAlgError(f"dptsv failed with info {info}")
        z = z[:, 0]
    cum = np.empty(m + 1)
    cum[0], cum[1:m], cum[m] = 0.0, z, rest
    x[f] = cum[1:] - cum[:-1]
    return x


def _risk_gradient(x, eta, h, weight, total):
    """Gradient of sum eta x^2 + h x + sum weight X^2 (X = total - cumsum x), $ per share."""
    wx = weight * (total - x.cumsum())
    return 2.0 * eta * x + h - 2.0 * wx[::-1].cumsum()[::-1]


def _multipliers(g, free, at_lo, at_up):
    """z = g + nu with nu the multiplier of sum x = S (z = 0 on the free set)."""
    if free.any():
        gf = g[free]
        nu = -float(np.add.reduce(gf)) / gf.size
    else:
        # Every interval fixed: any nu in [-min g_lo, -max g_up] certifies optimality.
        nu_lo = -float(g[at_lo].min()) if at_lo.any() else -np.inf
        nu_hi = -float(g[at_up].max()) if at_up.any() else np.inf
        nu = nu_lo if np.isfinite(nu_lo) else nu_hi
    return g + nu


def solve_risk_qp(eta, h, risk_weight, total, lower, upper, max_iter=None, active=None):
    """Exact min sum eta x^2 + h x + sum_k w_k X_k^2 s.t. sum x = S, lower <= x <= upper.

    X_k = S - sum_{j <= k} x_j are the holdings after interval k. In holdings the Hessian is
    tridiagonal, so every equality-constrained subproblem is one O(N) tridiagonal solve. The
    active sets are found by the primal-dual active-set method (Hintermueller, Ito & Kunisch
    2003): starting from the water-filling optimum without risk, fix the free intervals that
    leave their bounds and release the fixed ones whose multiplier has the wrong sign, all at
    once, until the sets repeat; the result then satisfies the KKT conditions exactly. If the
    sets cycle, a primal active-set method (one constraint per step, finite) finishes from the
    feasible water-filling point.

    Parameters
    ----------
    eta : ndarray of shape (N,)
        Quadratic impact coefficient, dollars per share squared (> 0).
    h : ndarray of shape (N,)
        Linear impact coefficient, dollars per share.
    risk_weight : ndarray of shape (N,)
        w_k = risk_aversion * sigma_k^2, dollars per share squared (>= 0).
    total : float
        S in shares (> 0).
    lower, upper : ndarray of shape (N,)
        Bounds in shares (upper may be +inf), feasible for S.
    max_iter : int, optional
        Iteration cap of the primal fallback (default 10 N + 10).
    active : tuple of two bool ndarrays of shape (N,), optional
        A guess of the intervals at their lower and upper bounds (a warm start, for example
        the previous solve of a sequence); by default those of the water-filling optimum
        without risk.  It changes the path, not the minimiser.

    Returns
    -------
    x : ndarray of shape (N,)
        The minimiser, in shares.
    n_iter : int
        Subproblem solves used.
    converged : bool
        False only if the primal fallback hit its iteration cap.
    """
    eta = np.asarray(eta, dtype=float)
    h = np.asarray(h, dtype=float)
    w = np.asarray(risk_weight, dtype=float)
    lo = np.asarray(lower, dtype=float)
    up = np.asarray(upper, dtype=float)
    n = eta.shape[0]
    fixed_eq = lo >= up
    tol_x = 1e-12 * total
    if active is None:
        start = waterfill_linear(eta, h, total, lo, up)[0]
        at_lo = (start <= lo) | fixed_eq
        at_up = (start >= up) & ~at_lo
    else:
        at_lo = np.asarray(active[0], dtype=bool) | fixed_eq
        at_up = np.asarray(active[1], dtype=bool) & ~at_lo
    seen = set()
    n_iter = 0
    while True:
        key = at_lo.tobytes() + at_up.tobytes()
        if key in seen or n_iter > 4 * n + 20:
            break
        seen.add(key)
        free = ~(at_lo | at_up)
        x = _reduced_solve(free, np.where(at_lo, lo, np.where(at_up, up, 0.0)), eta, h, w, total)
        n_iter += 1
        g = _risk_gradient(x, eta, h, w, total)
        z = _multipliers(g, free, at_lo, at_up)
        tol_z = 1e-11 * max(float(np.abs(g).max()), np.finfo(float).tiny)
        new_lo = (free & (x < lo - tol_x)) | (at_lo & (z >= -tol_z)) | fixed_eq
        new_up = ((free & (x > up + tol_x)) | (at_up & (z <= tol_z))) & ~new_lo
        if (new_lo == at_lo).all() and (new_up == at_up).all():
            return np.clip(x, lo, up), n_iter, True
        at_lo, at_up = new_lo, new_up
    start = waterfill_linear(eta, h, total, lo, up)[0]
    x, more, ok = _primal_active_set(start, eta, h, w, total, lo, up, max_iter)
    return x, n_iter + more, ok


def _primal_active_set(x0, eta, h, w, total, lo, up, max_iter=None):
    """Primal active-set method from the feasible x0: finite, one constraint per step."""
    n = x0.shape[0]
    x = x0.copy()
    at_lo = x <= lo
    at_up = (x >= up) & ~at_lo
    max_iter = 10 * n + 10 if max_iter is None else max_iter
    for it in range(1, max_iter + 1):
        free = ~(at_lo | at_up)
        target = _reduced_solve(free, np.where(free, 0.0, x), eta, h, w, total)
        p = np.where(free, target - x, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            to_lo = np.where(free & (p < 0), (lo - x) / p, np.inf)
            to_up = np.where(free & (p > 0), (up - x) / p, np.inf)
        steps = np.minimum(to_lo, to_up)
        j = int(np.argmin(steps))
        if steps[j] < 1.0:
            x = x + max(float(steps[j]), 0.0) * p
            if to_lo[j] <= to_up[j]:
                x[j], at_lo[j] = lo[j], True
            else:
                x[j], at_up[j] = up[j], True
            continue
        x = target
        g = _risk_gradient(x, eta, h, w, total)
        z = _multipliers(g, free, at_lo, at_up)
        tol_z = 1e-11 * max(float(np.abs(g).max()), np.finfo(float).tiny)
        viol = np.where(at_lo & (lo < up), -z, 0.0) + np.where(at_up, z, 0.0)
        k = int(np.argmax(viol))
        if viol[k] <= tol_z:
            return np.clip(x, lo, up), it, True
        at_lo[k] = at_up[k] = False
    return np.clip(x, lo, up), max_iter, False


# --------------------------------------------------------------------------- any convex model
def risk_objective(model, x, total, risk_weight) -> np.ndarray:
    """Almgren-Chriss objective sum_t c_t(x_t) + sum_t w_t X_t^2 of schedules, in dollars.

    Parameters
    ----------
    model : models.BaseImpact
        Impact model; c_t is its ``cost``.
    x : array_like, shape (..., N)
        Schedules in shares.
    total : float
        S in shares; X_t = S - sum_{j <= t} x_j are the holdings after interval t.
    risk_weight : array_like, shape (N,)
        w_t = risk_aversion * sigma_t^2, dollars per share squared.

    Returns
    -------
    ndarray, shape (...)
        Expected impact cost plus the variance penalty, dollars.
    """
    x = np.asarray(x, dtype=float)
    held = total - np.cumsum(x, axis=-1)
    return np.asarray(model.total_cost(x)) + np.sum(np.asarray(risk_weight) * held**2, axis=-1)


def _path_range(px, xs, p):
    """[lo, hi] of the monotone path (px, xs) at prices p: the X range of its points at p.

    The path is the polyline through (px_i, xs_i), both nondecreasing, extended by
    horizontal rays at both ends; at a vertical segment the range is that segment.
    """
    value = np.interp(p, px, xs)
    il = np.searchsorted(px, p, "left")
    ir = np.searchsorted(px, p, "right")
    hit = ir > il
    last = px.shape[0] - 1
    lo = np.where(hit, xs[np.minimum(il, last)], value)
    hi = np.where(hit, xs[np.maximum(ir - 1, 0)], value)
    return lo, hi


def _path_sum(a, b):
    """The path of X_a(p) + X_b(p): monotone relations added along the price axis."""
    p = np.union1d(a[0], b[0])
    alo, ahi = _path_range(*a, p)
    blo, bhi = _path_range(*b, p)
    px = np.repeat(p, 2)
    xs = np.column_stack([alo + blo, ahi + bhi]).ravel()
    keep = np.ones(px.shape[0], dtype=bool)
    keep[1::2] = xs[1::2] > xs[0::2]
    return px[keep], xs[keep]


def _path_clip(px, xs, low, high):
    """The path of clip(X(p), low, high), with its flat ends trimmed to the implicit rays."""
    for level in (low, high):
        d = xs - level
        cross = np.flatnonzero((d[:-1] < 0) & (d[1:] > 0) & (px[1:] > px[:-1]))
        if cross.size:
            t = (level - xs[cross]) / (xs[cross + 1] - xs[cross])
            pc = px[cross] + t * (px[cross + 1] - px[cross])
            px = np.insert(px, cross + 1, pc)
            xs = np.insert(xs, cross + 1, level)
    xs = np.clip(xs, low, high)
    first = int(np.argmax(xs >= xs[-1]))
    last = xs.shape[0] - 1 - int(np.argmax(xs[::-1] <= xs[0]))
    last = min(last, first)
    return px[last : first + 1], xs[last : first + 1]


def _path_cap(px, xs, top):
    """The path of min(X(p), top), ending where it first reaches ``top``."""
    above = np.flatnonzero(xs > top)
    if above.size == 0:
        return px, xs
    j = int(above[0])
    if j == 0:
        return px[:1], np.minimum(xs[:1], top)
    pc = px[j]
    if px[j] > px[j - 1]:
        pc = px[j - 1] + (top - xs[j - 1]) / (xs[j] - xs[j - 1]) * (px[j] - px[j - 1])
    return np.append(px[:j], pc), np.append(xs[:j], top)


def _book_tail(model, total):
    """(start price, slope) of each interval's beyond-depth tail, read off marginal_cost.

    Past the visible depth V the marginal cost must be affine in the shares beyond it,
    p0 + k e (k = 0 for a flat tail); checked at three depths.  Returns None if it is not.
    """
    depth = model.sizes.sum(axis=1)
    step = np.maximum(depth, total)
    e = np.stack([0.25 * step, 0.5 * step, step])
    m = np.asarray(model.marginal_cost(depth + e), dtype=float)
    k = (m[2] - m[1]) / (e[2] - e[1])
    p0 = m[1] - k * e[1]
    scale = np.maximum(np.abs(m).max(axis=0), np.finfo(float).tiny)
    if np.any(np.abs(m[0] - (p0 + k * e[0])) > 1e-9 * scale) or np.any(k < 0):
        return None
    deepest = np.nanmax(model.offsets, axis=1)
    return np.maximum(p0, deepest), np.maximum(k, 0.0)


def _book_demand(model, total, lower, upper):
    """Per interval, the path of the shares demanded at marginal price p, within the bounds."""
    tail = _book_tail(model, total)
    if tail is None:
        return None
    p0, k = tail
    offsets, sizes = model.offsets, model.sizes
    present = np.isfinite(offsets)
    cum = np.cumsum(np.where(present, sizes, 0.0), axis=1)
    before = cum - np.where(present, sizes, 0.0)
    cap = np.minimum(upper, total)
    # Points: (o_l, D_{l-1}), (o_l, D_l) per level, then the tail from (p0, V) to the cap.
    n, levels = offsets.shape
    px = np.full((n, 2 * levels + 2), np.nan)
    xs = np.full((n, 2 * levels + 2), np.nan)
    px[:, 0 : 2 * levels : 2] = offsets
    px[:, 1 : 2 * levels : 2] = offsets
    xs[:, 0 : 2 * levels : 2] = np.where(present, before, np.nan)
    xs[:, 1 : 2 * levels : 2] = np.where(present, cum, np.nan)
    visible = cum[:, -1]
    reach = np.maximum(cap, visible)
    px[:, -2], xs[:, -2] = p0, visible
    px[:, -1], xs[:, -1] = p0 + k * (reach - visible), reach
    paths = []
    for t in range(n):
        ok = ~np.isnan(px[t])
        paths.append(_path_clip(px[t, ok], xs[t, ok], lower[t], cap[t]))
    return paths


def solve_risk_book(model, risk_weight, total, lower, upper):
    """Exact minimiser of sum_t c_t(x_t) + w_t X_t^2 for a book model, by dynamic programming.

    KKT: the marginal cost of interval t equals the price level p_t = mu + 2 sum_{k >= t} w_k
    X_k, so p_t = p_{t+1} + 2 w_t X_t and X_{t-1} = X_t + x_t with x_t in the demand d_t(p_t)
    (the shares whose marginal cost is at most p_t, within the bounds).  Going backwards from
    the last interval, the pairs (p_t, X_{t-1}) that satisfy these equations form a monotone
    piecewise-linear path: the previous path sheared by p -> p + 2 w_t X, plus d_t added along
    the price axis.  Book costs are piecewise linear (quadratic in the beyond-depth tail), so
    every demand d_t is a piecewise-linear monotone relation and the paths are exact; the
    point of the first path with X_0 = S and a forward pass give the optimum.  Each step is
    vectorised over the path's breakpoints (O(N L) of them), the steps are sequential.

    Parameters
    ----------
    model : models.BookImpact
        Book model (``offsets``, ``sizes``; the tail read off ``marginal_cost``).
    risk_weight : ndarray, shape (N,)
        w_t >= 0, dollars per share squared.
    total : float
        S in shares.
    lower, upper : ndarray, shape (N,)
        Bounds in shares, feasible for S.

    Returns
    -------
    ndarray of shape (N,) or None
        The optimal schedule; None if the model's beyond-depth tail is not affine in shares
        (the caller then uses the generic method).
    """
    demand = _book_demand(model, total, lower, upper)
    if demand is None:
        return None
    n = len(demand)
    w = np.asarray(risk_weight, dtype=float)
    sheared = [None] * n
    path = demand[-1]
    for t in range(n - 2, -1, -1):
        sheared[t] = (path[0] + 2.0 * w[t] * path[1], path[1])
        px, xs = _path_sum(sheared[t], demand[t])
        path = _path_cap(px, xs, total)
    px, xs = path
    reach = np.flatnonzero(xs >= total * (1 - 1e-12))
    p = px[reach[0]] if reach.size else px[-1]
    held = total
    x = np.empty(n)
    for t in range(n - 1):
        alo, ahi = _path_range(*sheared[t], p)
        dlo, dhi = _path_range(*demand[t], p)
        after = float(np.clip(held - dlo, alo, ahi))
        x[t] = held - after
        held = after
        p = p - 2.0 * w[t] * held
    x[-1] = held
    return _repair(x, total, lower, upper)


def _repair(x, total, lower, upper):
    """Clip rounding-level bound violations and put the residual of the total on free ones."""
    x = np.clip(x, lower, upper)
    for _ in range(3):
        r = total - x.sum()
        if r == 0:
            break
        room = (upper - x) if r > 0 else (x - lower)
        room = np.where(np.isfinite(room), room, abs(r))
        if room.sum() <= 0:
            break
        x = np.clip(x + np.sign(r) * room * min(1.0, abs(r) / room.sum()), lower, upper)
    return x


def _risk_kkt(mc, x, w, total, lower, upper):
    """Largest violation of the KKT conditions, relative to the scale of the gradient's terms
    (marginal cost ``mc`` at ``x`` and risk subsidy 2 sum_{k >= t} w_k X_k), both in dollars
    per share."""
    held = total - np.cumsum(x)
    subsidy = 2.0 * np.cumsum((w * held)[::-1])[::-1]
    g = mc - subsidy
    tol = 1e-9 * total
    at_lo = x <= lower + tol
    at_up = (x >= upper - tol) & ~at_lo
    free = ~(at_lo | at_up)
    if free.any():
        nu = float(np.median(g[free]))
    else:
        nu = float(np.min(g[at_lo])) if at_lo.any() else float(np.max(g[at_up]))
    viol = np.where(free, np.abs(g - nu), 0.0)
    viol = np.maximum(viol, np.where(at_lo, nu - g, 0.0))
    viol = np.maximum(viol, np.where(at_up, g - nu, 0.0))
    scale = max(float(np.abs(mc).max()), float(subsidy.max()), np.finfo(float).tiny)
    return float(viol.max()) / scale


def _marginal_function(model):
    """``model.marginal_cost`` for the solver's inner loops: the power law's formula without
    the argument checks (the same numbers, from checked arrays), any other model as is."""
    if getattr(model, "kind", None) == "power":
        h = np.asarray(model.h, dtype=float)
        delta = np.asarray(model.delta, dtype=float)
        scale = (1.0 + delta) * np.asarray(model.alpha, dtype=float)
        return lambda x: h + scale * x**delta
    return lambda x: np.asarray(model.marginal_cost(x), dtype=float)


def _line_search(slope, max_iter=60):
    """Step in [0, 1] where the convex objective's directional derivative ``slope`` changes
    sign: 1 if it is still <= 0 there, 0 if it is not < 0 at 0, else a root bracketed by
    safeguarded regula falsi (Illinois), to 1e-9 of the initial slope or 1e-12 in step."""
    f1 = slope(1.0)
    if f1 <= 0:
        return 1.0
    f0 = slope(0.0)
    if not f0 < 0:
        return 0.0
    a, fa, b, fb = 0.0, f0, 1.0, f1
    side = 0
    for _ in range(max_iter):
        step = (a * fb - b * fa) / (fb - fa)
        if not a < step < b:
            step = 0.5 * (a + b)
        f = slope(step)
        if abs(f) <= 1e-9 * abs(f0):
            return step
        if b - a <= 1e-12:
            return a
        if f < 0:
            a, fa = step, f
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = step, f
            if side == 1:
                fa *= 0.5
            side = 1
    return a


def solve_risk_smooth(model, risk_weight, total, lower, upper, x0, max_iter=100):
    """Minimise sum c_t(x_t) + w_t X_t^2 for any smooth convex model by Newton-SQP.

    Each iteration replaces c_t by its second-order expansion at x (curvature by central
    differences of ``marginal_cost``), solves that risk QP exactly (:func:`solve_risk_qp`,
    warm-started from the previous iteration's active bounds) and takes the exact line-search
    step toward it on the true objective (safeguarded regula falsi on the directional
    derivative from ``marginal_cost``).  A descent method on a convex objective: it stops when
    the KKT conditions hold to 1e-10 relative (or the step stalls).

    Returns
    -------
    x : ndarray of shape (N,)
        The minimiser.
    n_iter : int
        Newton iterations.
    kkt : float
        Relative KKT violation at ``x``.
    """
    w = np.asarray(risk_weight, dtype=float)
    x = np.asarray(x0, dtype=float).copy()
    n = x.shape[0]
    base = max(total / n, np.finfo(float).tiny)
    marginal = _marginal_function(model)
    active = (x <= lower, x >= upper)

    it = 0
    mc = marginal(x)
    for it in range(1, max_iter + 1):
        kkt = _risk_kkt(mc, x, w, total, lower, upper)
        if kkt <= 1e-10:
            return x, it - 1, kkt
        eps = 1e-6 * np.maximum(x, 1e-3 * base)
        below = np.maximum(x - eps, 0.0)
        curv = (marginal(x + eps) - marginal(below)) / (x + eps - below)
        curv = np.maximum(curv, 1e-12 * max(float(curv.max()), np.finfo(float).tiny))
        target, _, ok = solve_risk_qp(
            0.5 * curv, mc - curv * x, w, total, lower, upper, active=active
        )
        d = target - x
        if not ok or float(np.abs(d).max()) <= 1e-13 * total:
            break
        active = (target <= lower, target >= upper)
        inner = (x > lower) & (x < upper)
        grad = mc - 2.0 * np.cumsum((w * (total - np.cumsum(x)))[::-1])[::-1]
        nu = float(np.mean(grad[inner])) if inner.any() else 0.0
        cum_d = np.cumsum(d)

        def slope(step, x=x, d=d, cum_d=cum_d, nu=nu):
            # Directional derivative of the Lagrangian f - nu sum(x): d sums to 0 only up to
            # rounding, and nu * sum(d) would swamp the derivative near the optimum.
            y = x + step * d
            held = total - np.cumsum(y)
            return float(np.dot(marginal(y) - nu, d) - 2.0 * np.dot(w * held, cum_d))

        step = _line_search(slope)
        if step == 0.0:
            break
        x = np.clip(x + step * d, lower, upper)
        mc = marginal(x)
    return _repair(x, total, lower, upper), it, _risk_kkt(marginal(x), x, w, total, lower, upper)


def solve_risk(model, risk_weight, total, lower, upper):
    """Exact Almgren-Chriss schedule under any convex model; see :class:`AlmgrenChrissStrategy`.

    Linear models: :func:`solve_risk_qp` (active sets, O(N) tridiagonal solves).  Book models:
    :func:`solve_risk_book` (dynamic programming over piecewise-linear paths, exact).  Other
    models (power law, or a book whose beyond-depth tail is not affine): Newton-SQP
    (:func:`solve_risk_smooth`) from the exact risk-neutral optimum.

    Returns
    -------
    x : ndarray of shape (N,)
        Schedule in shares.
    method : str
        Which solver ran, with its status.
    ok : bool
        False if a solver hit its iteration cap or stopped short of the KKT tolerance.
    """
    w = np.asarray(risk_weight, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if model.kind == "linear":
        beta, h = np.asarray(model.beta), np.asarray(model.h)
        x, n_iter, ok = solve_risk_qp(beta, h, w, total, lower, upper)
        return x, f"active-set QP ({n_iter} solves)", ok
    if model.kind == "book":
        x = solve_risk_book(model, w, total, lower, upper)
        if x is not None:
            return x, "dynamic programming on the book's piecewise-linear demand", True
    start = solve_exact(model, total, lower, upper, validate=False)
    if not np.any(w > 0):
        return start, "exact water-filling (no risk weight)", True
    x, n_iter, kkt = solve_risk_smooth(model, w, total, lower, upper, start)
    ok = kkt <= 1e-8
    return x, f"Newton-SQP ({n_iter} iterations, KKT residual {kkt:.1e})", ok


def _as_interval_array(name: str, value, n: int) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise InvalidParameterError(f"{name} must be a scalar or have shape ({n},); got {a.shape}")
    return a


DEFAULT_URGENCY = 2.0
"""Urgency of ``almgren-chriss`` when neither ``risk_aversion`` nor ``urgency`` is given."""


@register("almgren-chriss")
@dataclass(frozen=True)
class AlmgrenChrissStrategy(OptimizingStrategy):
    """Risk-averse schedule: expected impact under the model + risk_aversion * price variance.

    Minimises the Almgren & Chriss (2000) objective with the problem's own cost function,

        sum_t c_t(x_t) + lambda sum_t sigma_t^2 X_t^2,   X_t = S - sum_{j <= t} x_j,

    subject to sum x = S and the bounds: c_t is the model's impact cost (linear, power law or
    the book's piecewise-linear walk, dollars), X_t the shares still to trade after interval
    t, exposed to the price move of that interval (standard deviation sigma_t dollars per
    share, AC with tau = one interval).  The problem is convex and solved exactly by
    :func:`solve_risk` (active-set QP for linear models, dynamic programming for books,
    Newton-SQP for power laws).  ``objective`` in the result is the model's impact cost.

    lambda is ``risk_aversion`` (1/dollars) when given; by default it is set from the
    dimensionless ``urgency``: lambda = urgency * E_equal / V_equal, with E_equal the model cost
    and V_equal = sum sigma_t^2 X_t^2 of the equal (TWAP) schedule, so that the TWAP's variance
    penalty is ``urgency`` times its expected impact.  This choice does not depend on the price
    level or the share unit.  For a linear model with constant beta, h = 0 and constant sigma it
    is Almgren & Chriss's urgency kappa T ~ sqrt(3 urgency) (about 2.4 for the default 2:
    the first interval trades about 2.5 times TWAP's rate).

    Parameters
    ----------
    risk_aversion : float or None, default None
        lambda in 1/dollars (>= 0); 0 gives the model optimum (the ``exact`` schedule).
        None uses ``urgency``.
    urgency : float or None, default None
        Dimensionless risk aversion (>= 0, see above); None means 2 when ``risk_aversion`` is
        None.  0 gives the model optimum.  Give ``risk_aversion`` or ``urgency``, not both.
    sigma : None, float or tuple of float, default None
        Price volatility per interval, dollars per share per sqrt(interval) (>= 0), scalar or
        one value per interval.  None takes ``problem.price_volatility`` (the evaluator
        estimates it from the training days); a problem without one is then solved
        risk-neutrally and the result's message says so.

    Raises
    ------
    InvalidParameterError
        For a negative or non-finite parameter, or both ``risk_aversion`` and ``urgency``.
    """

    description: ClassVar[str] = "Almgren-Chriss: model's impact + risk aversion * variance"
    optimizes_model: ClassVar[bool] = False
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"risk_aversion": -1.0},
        {"urgency": -0.5},
        {"sigma": -0.5},
    )

    risk_aversion: float | None = None
    urgency: float | None = None
    sigma: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        lam = self.risk_aversion
        if lam is not None and (
            isinstance(lam, bool)
            or not isinstance(lam, int | float | np.integer | np.floating)
            or not np.isfinite(lam)
            or lam < 0
        ):
            raise InvalidParameterError(f"risk_aversion must be finite and >= 0; got {lam!r}")
        u = self.urgency
        if u is not None and (
            isinstance(u, bool)
            or not isinstance(u, int | float | np.integer | np.floating)
            or not np.isfinite(u)
            or u < 0
        ):
            raise InvalidParameterError(f"urgency must be finite and >= 0; got {u!r}")
        if lam is not None and u is not None:
            raise InvalidParameterError(
                f"urgency must be None when risk_aversion is given; got urgency={u!r} "
                f"with risk_aversion={lam!r}"
            )
        if u is not None:
            object.__setattr__(self, "urgency", float(u))
        if lam is not None:
            object.__setattr__(self, "risk_aversion", float(lam))
        if self.sigma is None:
            return
        sig = np.asarray(self.sigma, dtype=float)
        if sig.ndim > 1 or not np.all(np.isfinite(sig)) or np.any(sig < 0):
            raise InvalidParameterError(
                f"sigma must be finite and >= 0 (scalar or per interval); got {self.sigma!r}"
            )
        if sig.ndim == 1:
            object.__setattr__(self, "sigma", tuple(float(v) for v in sig))

    def _sigma(self, problem: AllocationProblem) -> np.ndarray | None:
        n = problem.n_intervals
        if self.sigma is not None:
            return _as_interval_array("sigma", self.sigma, n)
        if problem.price_volatility is not None:
            return np.asarray(problem.price_volatility, dtype=float)
        return None

    def lambda_(self, problem: AllocationProblem) -> float:
        """lambda in 1/dollars for ``problem``: ``risk_aversion``, or set from ``urgency``."""
        if self.risk_aversion is not None:
            return float(self.risk_aversion)
        sigma = self._sigma(problem)
        urgency = DEFAULT_URGENCY if self.urgency is None else self.urgency
        if sigma is None or urgency == 0.0:
            return 0.0
        twap = EqualStrategy().schedule(problem)
        held = problem.total_shares - np.cumsum(twap)
        variance = float(np.sum(sigma**2 * held**2))
        if variance <= 0.0:
            return 0.0
        return urgency * problem.objective(twap) / variance

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve the risk-adjusted problem exactly; ``objective`` is the model's impact cost."""
        problem = self._check(problem)
        t0 = time.perf_counter()
        n = problem.n_intervals
        sigma = self._sigma(problem)
        note = ""
        if sigma is None:
            sigma = np.zeros(n)
            note = "; no sigma and no problem.price_volatility: risk-neutral schedule"
        lam = self.lambda_(problem)
        weight = lam * sigma**2
        x, method, ok = solve_risk(
            problem.model, weight, problem.total_shares, problem.lower, problem.upper
        )
        msg = f"{method}; lambda = {lam:.4g} /$" + note
        if not ok:
            msg = "did not converge: " + msg
        return self._remember(
            SolveResult(
                x=x,
                success=ok,
                message=msg,
                objective=problem.objective(x),
                n_iter=0,
                solve_ms=1e3 * (time.perf_counter() - t0),
            )
        )
