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

from models.errors import InvalidParameterError

from .base import OptimizingStrategy, SolveResult
from .exact import project_capped_simplex
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "AlmgrenChrissTrajectory",
    "almgren_chriss_trajectory",
    "AlmgrenChrissStrategy",
    "solve_box_qp",
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
    sum n = S and the bounds is solved exactly by a primal active-set method.

    Parameters
    ----------
    risk_aversion : float, default 0.0
        lambda in 1/dollars (>= 0); 0 gives the model optimum of the linearised costs.
    sigma : float or tuple of float, default 0.0
        Price volatility per interval, dollars per share per sqrt(interval) (>= 0), scalar or
        one value per interval.
    """

    description: ClassVar[str] = "Almgren-Chriss: impact vs risk_aversion * variance (sigma)"
    optimizes_model: ClassVar[bool] = False
    invalid_params: ClassVar[tuple[dict, ...]] = ({"risk_aversion": -1.0}, {"sigma": -0.5})

    risk_aversion: float = 0.0
    sigma: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        lam = self.risk_aversion
        if not isinstance(lam, int | float | np.floating) or not np.isfinite(lam) or lam < 0:
            raise InvalidParameterError(f"risk_aversion must be finite and >= 0; got {lam!r}")
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
        sigma = _as_interval_array("sigma", self.sigma, n)
        h, eta = self.linearization(problem)
        tail = np.cumsum((sigma**2)[::-1])[::-1]  # sum_{u >= t} sigma_u^2
        idx = np.arange(n)
        lam = float(self.risk_aversion)
        hess = 2.0 * np.diag(eta) + 2.0 * lam * tail[np.maximum(idx[:, None], idx[None, :])]
        grad = h - 2.0 * lam * s * tail
        x0 = project_capped_simplex(np.full(n, s / n), s, problem.lower, problem.upper)[0]
        x, n_iter, ok = solve_box_qp(hess, grad, s, problem.lower, problem.upper, x0)
        x = np.clip(x, problem.lower, problem.upper)
        msg = "active-set QP converged" if ok else "active-set QP hit its iteration cap"
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
