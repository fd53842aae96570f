"""Almgren & Chriss (2000) risk-averse execution: the closed form and a bounded strategy.

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
from .exact import waterfill_linear
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "AlmgrenChrissTrajectory",
    "almgren_chriss_trajectory",
    "AlmgrenChrissStrategy",
    "solve_box_qp",
    "solve_risk_qp",
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


def solve_risk_qp(eta, h, risk_weight, total, lower, upper, max_iter=None):
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
    start = waterfill_linear(eta, h, total, lo, up)[0]
    fixed_eq = lo >= up
    tol_x = 1e-12 * total
    at_lo = (start <= lo) | fixed_eq
    at_up = (start >= up) & ~at_lo
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


def _as_interval_array(name: str, value, n: int) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise InvalidParameterError(f"{name} must be a scalar or have shape ({n},); got {a.shape}")
    return a


@register("almgren-chriss")
@dataclass(frozen=True)
class AlmgrenChrissStrategy(OptimizingStrategy):
    """Risk-averse schedule: minimise expected impact + risk_aversion * price variance.

    The problem's model is linearised at the TWAP size q = S/N: cost_t(n) ≈ h_t n + eta_t n^2
    with h_t = marginal_cost_t(0) and eta_t = (marginal_cost_t(q) - h_t) / (2 q) (exact for the
    linear model; floored at 1e-6 of the largest eta, so the problem stays strictly convex).
    Holdings after the trade of interval t are x_t = S - sum_{j<=t} n_j and are exposed to the
    price move of interval t, so the variance is sum_t sigma_t^2 x_t^2 (Almgren & Chriss with
    tau = one interval). The convex QP min sum h n + eta n^2 + lambda sum sigma^2 x^2 subject to
    sum n = S and the bounds is solved exactly by :func:`solve_risk_qp` (active sets with O(N)
    tridiagonal solves in holdings space).

    Parameters
    ----------
    risk_aversion : float, default 0.0
        lambda in 1/dollars (>= 0); 0 gives the model optimum of the linearised costs.
    sigma : None, float or tuple of float, default None
        Price volatility per interval, dollars per share per sqrt(interval) (>= 0), scalar or
        one value per interval.  None takes ``problem.price_volatility`` (the evaluator
        estimates it from the training days); a problem without one is then solved
        risk-neutrally and the result's message says so.
    """

    description: ClassVar[str] = "Almgren-Chriss: impact vs risk_aversion * variance (sigma)"
    optimizes_model: ClassVar[bool] = False
    invalid_params: ClassVar[tuple[dict, ...]] = ({"risk_aversion": -1.0}, {"sigma": -0.5})

    risk_aversion: float = 0.0
    sigma: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        lam = self.risk_aversion
        if not isinstance(lam, int | float | np.floating) or not np.isfinite(lam) or lam < 0:
            raise InvalidParameterError(f"risk_aversion must be finite and >= 0; got {lam!r}")
        if self.sigma is None:
            return
        sig = np.asarray(self.sigma, dtype=float)
        if sig.ndim > 1 or not np.all(np.isfinite(sig)) or np.any(sig < 0):
            raise InvalidParameterError(
                f"sigma must be finite and >= 0 (scalar or per interval); got {self.sigma!r}"
            )
        if sig.ndim == 1:
            object.__setattr__(self, "sigma", tuple(float(v) for v in sig))

    def linearization(self, problem: AllocationProblem) -> tuple[np.ndarray, np.ndarray]:
        """(h, eta): the model as h_t n + eta_t n^2, dollars per share and per share squared."""
        n = problem.n_intervals
        q = problem.total_shares / n
        model = problem.model
        h = np.asarray(model.marginal_cost(np.zeros(n)), dtype=float)
        eta = (np.asarray(model.marginal_cost(np.full(n, q)), dtype=float) - h) / (2 * q)
        floor = 1e-6 * max(float(eta.max()), float(np.abs(h).mean()) / q, np.finfo(float).tiny)
        return h, np.maximum(eta, floor)

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve the risk-adjusted QP exactly; ``objective`` is the model's impact cost."""
        problem = self._check(problem)
        t0 = time.perf_counter()
        n = problem.n_intervals
        s = problem.total_shares
        note = ""
        if self.sigma is not None:
            sigma = _as_interval_array("sigma", self.sigma, n)
        elif problem.price_volatility is not None:
            sigma = np.asarray(problem.price_volatility, dtype=float)
        else:
            sigma = np.zeros(n)
            note = "; no sigma and no problem.price_volatility: risk-neutral schedule"
        h, eta = self.linearization(problem)
        weight = float(self.risk_aversion) * sigma**2
        x, n_iter, ok = solve_risk_qp(eta, h, weight, s, problem.lower, problem.upper)
        msg = ("active-set QP converged" if ok else "active-set QP hit its iteration cap") + note
        return self._remember(
            SolveResult(
                x=x,
                success=ok,
                message=msg,
                objective=problem.objective(x),
                n_iter=n_iter,
                solve_ms=1e3 * (time.perf_counter() - t0),
            )
        )
