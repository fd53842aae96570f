"""Transient-impact-aware planning: Obizhaeva-Wang resilience in the planner.

The market (``simulator.market.Market``) charges an order's own depletion of the book: the
shares it consumed recover with a half-life of ``half_life`` intervals, so with the recovery
factor r = 2^(-1/half_life) (r = 0 for a half-life of 0, r = 1 for an infinite one) the
depletion state is

    D_1 = 0,   D_t = r (D_{t-1} + x_{t-1}),

and interval t costs walking the book from D_t to D_t + x_t shares deep:
``C_t(D_t + x_t) - C_t(D_t)`` dollars, C_t the cost of walking interval t's book from the
touch.  For a linear model c_t(q) = h_t q + beta_t q^2 (a block-shaped book with depth density
1 / (2 beta_t) shares per dollar beyond a half spread h_t) this is

    h_t x_t + beta_t (x_t^2 + 2 D_t x_t)   dollars,

the discrete Obizhaeva-Wang (2013) transient cost; with constant beta and h it totals
h S + beta x' M x, M_ts = r^|t-s| (kappa / 2 = beta with kappa = 1 / q the price impact of a
share on a book of density q).

Structure used by the exact solver: with y_t = D_t + x_t the depth reached after interval t
(so x_t = y_t - r y_{t-1}, D_{t+1} = r y_t), the quadratic part telescopes into a sum of
squares, ``sum_t beta_t (y_t^2 - r^2 y_{t-1}^2) = sum_t c_t y_t^2`` with
c_t = beta_t - r^2 beta_{t+1} (beta_{N+1} = 0).  The Hessian in x is 2 K' diag(c) K with K the
lower-triangular kernel K_ts = r^(t-s) (t >= s), whose inverse (I - r Z, Z the shift) is
bidiagonal; so the cost is convex exactly when every c_t > 0, i.e. when depth never thins by
more than a factor r^2 from one interval to the next (beta_{t+1} < beta_t / r^2), and every
equality-constrained subproblem is a separable problem in a few block variables: O(N).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from models import LinearImpact
from models.errors import InvalidParameterError, InvalidTypeError

from .base import OptimizingStrategy, SolveResult
from .exact import project_capped_simplex, solve_exact
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "HALF_LIFE_PLACEHOLDERS",
    "TransientOptimalStrategy",
    "depletion",
    "ow_schedule",
    "recovery_factor",
    "solve_transient_qp",
    "transient_cost",
    "transient_hessian_weights",
]

HALF_LIFE_PLACEHOLDERS = ("market", "fit")
"""Strings a ``half_life`` may hold until the evaluator substitutes a number:
``'market'`` -- the scenario market's ``simulation.transient_half_life`` (the known-model case);
``'fit'`` -- an estimate from the training window."""

_CONVEX_RTOL = 1e-9
_DCA_MAX_ITER = 2000


def _check_half_life(half_life: Any, name: str = "half_life") -> float:
    numeric = isinstance(half_life, int | float | np.integer | np.floating)
    if isinstance(half_life, bool) or not numeric:
        raise InvalidTypeError(
            f"{name} must be a number of intervals >= 0 (inf allowed); got {half_life!r}"
        )
    value = float(half_life)
    if math.isnan(value) or value < 0:
        raise InvalidParameterError(
            f"{name} must be a number of intervals >= 0 (inf allowed); got {half_life!r}"
        )
    return value


def recovery_factor(half_life: float) -> float:
    """Fraction of the consumed depth still missing one interval later, r = 2^(-1/half_life).

    Parameters
    ----------
    half_life : float
        Half-life of the book's recovery, in intervals (>= 0; ``inf`` = no recovery).

    Returns
    -------
    float
        r in [0, 1]: 0 for a half-life of 0 (full recovery every interval), 1 for ``inf``.

    Raises
    ------
    InvalidParameterError
        If ``half_life`` is negative or NaN.
    """
    h = _check_half_life(half_life)
    if h == 0.0:
        return 0.0
    return float(2.0 ** (-1.0 / h))


def _ar1(x: np.ndarray, r: float) -> np.ndarray:
    """y_t = x_t + r y_{t-1} along the last axis (y = 0 before the first interval)."""
    if r == 0.0:
        return np.array(x, dtype=float)
    # scipy.signal is imported lazily: it takes about a second to import.
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -r], x, axis=-1)


def depletion(x: Any, half_life: float) -> np.ndarray:
    """Depletion state D_t of schedules x under resilience with ``half_life``, in shares.

    D_1 = 0 and D_t = r (D_{t-1} + x_{t-1}) = sum_{s<t} r^(t-s) x_s with r = 2^(-1/half_life),
    exactly as ``simulator.market.Market`` defines it.

    Parameters
    ----------
    x : array_like, shape (..., N)
        Schedules in shares per interval.
    half_life : float
        Recovery half-life in intervals (>= 0; ``inf`` = no recovery).

    Returns
    -------
    ndarray, shape (..., N)
        Shares of the book still consumed by earlier child orders when interval t opens.
    """
    r = recovery_factor(half_life)
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    if r > 0.0 and x.shape[-1] > 1:
        out[..., 1:] = r * _ar1(x, r)[..., :-1]
    return out


def transient_cost(model: Any, x: Any, half_life: float) -> np.ndarray:
    """Total cost of schedules under ``model`` with the book's own depletion, in dollars.

    Interval t costs ``c_t(D_t + x_t) - c_t(D_t)`` with D the :func:`depletion` state: the
    market's definition (``simulator.market.Market``) with the model's cost c_t in place of
    the test day's book.  For a linear model this is
    ``sum_t h_t x_t + beta_t (x_t^2 + 2 D_t x_t)``; for a ``book`` model it is what the market
    charges on that book.  A half-life of 0 gives the model's static cost.

    Parameters
    ----------
    model : models.BaseImpact
        Impact model (anything with ``cost(x)`` of shape (..., N) in dollars).
    x : array_like, shape (..., N)
        Schedules in shares per interval (finite, >= 0).
    half_life : float
        Recovery half-life in intervals (>= 0; ``inf`` = no recovery).

    Returns
    -------
    ndarray, shape (...)
        Cost in dollars of each schedule.

    Raises
    ------
    InvalidParameterError
        If ``half_life`` is negative or NaN, or ``x`` is not a valid schedule for the model.
    """
    x = np.asarray(x, dtype=float)
    d = depletion(x, half_life)
    if not np.any(d):
        return np.asarray(model.cost(x)).sum(axis=-1)
    return (np.asarray(model.cost(d + x)) - np.asarray(model.cost(d))).sum(axis=-1)


def transient_hessian_weights(beta: Any, half_life: float) -> np.ndarray:
    """The weights c_t = beta_t - r^2 beta_{t+1} (beta_{N+1} = 0) of the telescoped cost.

    The quadratic part of the linear model's transient cost equals sum_t c_t y_t^2 with
    y_t = D_t + x_t; the cost is convex in x exactly when every c_t > 0.

    Parameters
    ----------
    beta : array_like, shape (N,)
        Slippage slopes, dollars per share per share (> 0).
    half_life : float
        Recovery half-life in intervals.

    Returns
    -------
    ndarray, shape (N,)
        c_t in dollars per share per share.
    """
    beta = np.asarray(beta, dtype=float)
    r = recovery_factor(half_life)
    c = beta.copy()
    c[:-1] -= r * r * beta[1:]
    return c


def ow_schedule(total_shares: float, n_intervals: int, half_life: float) -> np.ndarray:
    """Obizhaeva-Wang optimal schedule on a constant-depth block book, closed form.

    Minimises the transient cost ``beta x' M x`` (M_ts = r^|t-s|, r = 2^(-1/half_life)) subject
    to sum x = S, the discrete-time form of Obizhaeva & Wang (2013) in which interval t pays
    ``beta (x_t^2 + 2 D_t x_t)`` for the depletion D_t left by earlier intervals (the
    market's definition).  The optimum (``M^-1 1`` normalised) is two equal end blocks and a
    constant interior rate:

        x_1 = x_N = S / (2 + (N - 2) (1 - r)),   x_t = (1 - r) x_1 for 1 < t < N.

    A half-life of 0 (r = 0) gives the equal split; an infinite one (r = 1) the limit S/2 at
    each end (every schedule then costs beta S^2).  This is the discrete solution of Alfonsi,
    Fruth & Schied (2010) for a block-shaped book with exponential resilience.

    References
    ----------
    A. A. Obizhaeva and J. Wang, "Optimal trading strategy and supply/demand dynamics",
    Journal of Financial Markets 16(1), 1-32, 2013.
    A. Alfonsi, A. Fruth and A. Schied, "Optimal execution strategies in limit order books
    with general shape functions", Quantitative Finance 10(2), 143-157, 2010.

    Parameters
    ----------
    total_shares : float
        S, shares to trade (finite, > 0).
    n_intervals : int
        N >= 1.
    half_life : float
        Recovery half-life in intervals (>= 0; ``inf`` = no recovery).

    Returns
    -------
    ndarray of shape (N,)
        Schedule in shares per interval.

    Raises
    ------
    InvalidParameterError
        For a non-positive S, N < 1, or a negative or NaN half-life.
    """
    s = float(total_shares)
    if not (math.isfinite(s) and s > 0):
        raise InvalidParameterError(f"total_shares must be finite and > 0; got {total_shares!r}")
    if isinstance(n_intervals, bool) or not isinstance(n_intervals, int | np.integer):
        raise InvalidTypeError(f"n_intervals must be an int >= 1; got {n_intervals!r}")
    if n_intervals < 1:
        raise InvalidParameterError(f"n_intervals must be an int >= 1; got {n_intervals!r}")
    n = int(n_intervals)
    r = recovery_factor(half_life)
    if n == 1:
        return np.array([s])
    end = s / (2.0 + (n - 2) * (1.0 - r))
    x = np.full(n, (1.0 - r) * end)
    x[0] = x[-1] = end
    return x


# --------------------------------------------------------------------------- exact solver
class _Chain:
    """Fixed data of one problem: weights c, g, r and the constraint coefficients e."""

    def __init__(self, c, g, r, total):
        from scipy.signal import lfilter  # lazily: scipy.signal takes ~1 s to import

        self.c, self.g, self.r, self.total = c, g, r, total
        n = c.shape[0]
        self.idx = np.arange(n)
        # sum x = sum_t e_t y_t with e_t = 1 - r (t < N) and e_N = 1.
        self.e = np.full(n, 1.0 - r)
        self.e[-1] = 1.0
        with np.errstate(under="ignore"):
            self.powers = r**self.idx
        self._filter = lfilter
        self._ab = (np.array([1.0]), np.array([1.0, -r]))

    def ar1(self, x):
        """y_t = x_t + r y_{t-1} (y = K x)."""
        if self.r == 0.0:
            return np.array(x, dtype=float)
        return self._filter(*self._ab, x)

    def gradient(self, y):
        """Gradient in x of sum c y^2 + g y at y = K x: K' (2 c y + g), dollars per share."""
        v = 2.0 * self.c * y + self.g
        if self.r == 0.0:
            return v
        return self._filter(*self._ab, v[::-1])[::-1]

    def objective(self, y):
        return float(np.dot(self.c * y + self.g, y))

    def reduced_solve(self, free, b):
        """Minimise sum c y^2 + g y with x_t = b_t off ``free`` and sum x = total.

        Every interval from the first free one on belongs to the block of the last free
        interval f at or before it, on which y_t = r^(t - f) y_f + a_t (a_t the depth left by
        the block's fixed trades); before it y = K b.  The problem is then separable in the
        block variables y_f with one linear constraint: closed form.  Returns (x, y) with x
        exactly ``b`` off the free set.
        """
        r = self.r
        f = np.flatnonzero(free)
        bfix = np.where(free, 0.0, b)
        z = self.ar1(bfix)
        if f.size == 0:
            return bfix, z
        f0 = f[0]
        block = np.cumsum(free[f0:]) - 1
        start = f[block]
        pi = self.powers[self.idx[f0:] - start]
        a = z[f0:] - pi * z[start]
        cp = self.c[f0:] * pi
        terms = np.empty((3, pi.shape[0]))
        np.multiply(cp, pi, out=terms[0])
        np.multiply(self.e[f0:], pi, out=terms[2])
        np.multiply(pi, self.g[f0:], out=terms[1])
        terms[1] += 2.0 * cp * a
        big_a, big_g, big_e = np.add.reduceat(terms, f - f0, axis=1)
        rest = self.total - float(np.dot(self.e[:f0], z[:f0])) - float(np.dot(self.e[f0:], a))
        w = big_e / big_a
        nu = (2.0 * rest + float(np.dot(w, big_g))) / float(np.dot(w, big_e))
        yf = 0.5 * (nu * big_e - big_g) / big_a
        y = z
        y[f0:] = a + pi * yf[block]
        before = np.empty_like(y)
        before[0] = 0.0
        before[1:] = y[:-1]
        return np.where(free, y - r * before, bfix), y


def _multipliers(grad, free, at_lo, at_up):
    if free.any():
        gf = grad[free]
        nu = float(np.add.reduce(gf)) / gf.size
    else:
        nu_lo = float(grad[at_lo].min()) if at_lo.any() else np.inf
        nu_hi = float(grad[at_up].max()) if at_up.any() else -np.inf
        nu = nu_hi if np.isfinite(nu_hi) else nu_lo
    return grad - nu


def _kkt_tolerance(grad):
    return 1e-10 * max(float(np.abs(grad).max()), np.finfo(float).tiny)


def _active_set(chain, lo, up, at_lo, at_up, max_iter):
    """Primal-dual active sets from the given sets; the primal method finishes if they cycle.

    Returns (x, y, n_iter, converged).
    """
    n = lo.shape[0]
    fixed_eq = lo >= up
    tol_x = 1e-12 * chain.total
    at_lo = at_lo | fixed_eq
    at_up = at_up & ~at_lo
    seen = set()
    n_iter = 0
    while n_iter <= 4 * n + 20:
        key = at_lo.tobytes() + at_up.tobytes()
        if key in seen:
            break
        seen.add(key)
        free = ~(at_lo | at_up)
        x, y = chain.reduced_solve(free, np.where(at_lo, lo, np.where(at_up, up, 0.0)))
        n_iter += 1
        if not free.any():
            # Every interval at a bound: release those that can move toward the total.
            short = chain.total - float(np.add.reduce(x))
            if abs(short) > tol_x:
                if short > 0:
                    at_lo = fixed_eq.copy()
                else:
                    at_up = np.zeros_like(at_up)
                continue
        grad = chain.gradient(y)
        zz = _multipliers(grad, free, at_lo, at_up)
        tol_z = _kkt_tolerance(grad)
        new_lo = (free & (x < lo - tol_x)) | (at_lo & (zz >= -tol_z)) | fixed_eq
        new_up = ((free & (x > up + tol_x)) | (at_up & (zz <= tol_z))) & ~new_lo
        if (new_lo == at_lo).all() and (new_up == at_up).all():
            x = np.clip(x, lo, up)
            return x, chain.ar1(x), n_iter, True
        at_lo, at_up = new_lo, new_up
    x0 = project_capped_simplex(np.full(n, chain.total / n), chain.total, lo, up)[0]
    x, more, ok = _primal_active_set(chain, x0, lo, up, max_iter)
    return x, chain.ar1(x), n_iter + more, ok


def _primal_active_set(chain, x0, lo, up, max_iter):
    """Primal active-set method from the feasible x0: finite, one constraint per step."""
    x = x0.copy()
    at_lo = (x <= lo) | (lo >= up)
    at_up = (x >= up) & ~at_lo
    for it in range(1, max_iter + 1):
        free = ~(at_lo | at_up)
        target, y = chain.reduced_solve(free, x)
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
        grad = chain.gradient(y)
        zz = _multipliers(grad, free, at_lo, at_up)
        viol = np.where(at_lo & (lo < up), -zz, 0.0) + np.where(at_up, zz, 0.0)
        k = int(np.argmax(viol))
        if viol[k] <= _kkt_tolerance(grad):
            return np.clip(x, lo, up), it, True
        at_lo[k] = at_up[k] = False
    return np.clip(x, lo, up), max_iter, False


def _solve_from(chain, x, lo, up, max_iter):
    """Active-set solve with the active sets of the schedule ``x`` as a start."""
    return _active_set(chain, lo, up, x <= lo, x >= up, max_iter)


@dataclass(frozen=True, eq=False)
class TransientSolve:
    """Outcome of :func:`solve_transient_qp`.

    Attributes
    ----------
    x : ndarray of shape (N,)
        Schedule in shares.
    objective : float
        Transient cost of ``x`` in dollars (``transient_cost`` of the linear model).
    n_iter : int
        Subproblem solves used (each O(N)).
    converged : bool
        False only if an iteration cap was hit.
    convex : bool
        True when every c_t > 0, so ``x`` is the certified global optimum.
    message : str
        What was done, in words.
    """

    x: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    convex: bool
    message: str


def _dca(chain, chain_plus, extra, x, lo, up, max_iter):
    """DC algorithm from the feasible x for sum c y^2 + g y = convex part - sum extra y^2.

    Each step minimises the convex part (weights c + extra) minus the linearised concave part
    exactly; the true cost never increases.  Returns (x, cost, n_iter, stationary).
    """
    y = chain.ar1(x)
    f = chain.objective(y)
    n_iter = 0
    base_g = chain_plus.g
    for _ in range(_DCA_MAX_ITER):
        chain_plus.g = base_g - 2.0 * extra * y
        x_new, y_new, more, ok = _solve_from(chain_plus, x, lo, up, max_iter)
        n_iter += more
        f_new = chain.objective(y_new)
        if not ok or not f_new <= f:
            chain_plus.g = base_g
            return x, f, n_iter, ok
        step = float(np.abs(x_new - x).max())
        x, y, f_old, f = x_new, y_new, f, f_new
        if f_old - f <= 1e-14 * abs(f) or step <= 1e-12 * chain.total:
            chain_plus.g = base_g
            return x, f, n_iter, True
    chain_plus.g = base_g
    return x, f, n_iter, False


def solve_transient_qp(
    beta, h, half_life, total_shares, lower=None, upper=None, *, max_iter=None
) -> TransientSolve:
    """Minimise the linear model's transient cost subject to sum x = S and the bounds.

    minimise  sum_t h_t x_t + beta_t (x_t^2 + 2 D_t x_t),   D_t = r (D_{t-1} + x_{t-1}),

    subject to ``sum x = S`` and ``lower <= x <= upper``.  With y = D + x the objective is
    ``sum c_t y_t^2 + g_t y_t`` (c_t = beta_t - r^2 beta_{t+1}, g_t = h_t - r h_{t+1}); each
    active-set subproblem is solved in closed form over the blocks of fixed intervals (O(N),
    see the module docstring), the active sets by the primal-dual active-set method
    (Hintermueller, Ito & Kunisch 2003) from the unconstrained optimum, with a finite primal
    active-set method as fallback should the sets cycle.

    Convexity: the cost is convex exactly when every c_t > 0 (depth never thins by more than
    a factor r^2 between consecutive intervals); the result is then the global optimum,
    certified by the KKT conditions.  Otherwise (some c_t <= 1e-9 beta_t: e.g. constant depth
    with an infinite half-life, or a minute whose fitted depth is much thinner than the
    minute's before) the cost is not convex and the problem is solved locally by the DC
    algorithm (the convex part has weights c_t^+ = max(c_t, floor_t), floor_t =
    max(1 - r^2, 1e-3) beta_t / 4, the rest is a concave quadratic; each step is one exact
    convex solve), run from four starts: the convex part's minimiser, the static optimum,
    the equal split and :func:`ow_schedule`, each projected onto the bounds.  The best
    stationary point is returned with ``convex=False`` and a message saying so.  It costs no
    more than equal; global optimality is not certified (on 550 random non-convex problems
    with N <= 8 and depth varying by a factor up to 10 between minutes it matched the
    brute-force global optimum every time).

    Parameters
    ----------
    beta : array_like, shape (N,)
        Slippage slopes, dollars per share per share (> 0).
    h : float or array_like, shape (N,)
        Slippage of the first share, dollars per share.
    half_life : float
        Recovery half-life in intervals (>= 0; ``inf`` = no recovery).
    total_shares : float
        S in shares (> 0).
    lower, upper : None or array_like of shape (N,)
        Bounds in shares (feasible for S; upper may be +inf).
    max_iter : int, optional
        Cap on the primal fallback's iterations (default 10 N + 10).

    Returns
    -------
    TransientSolve
    """
    beta = np.asarray(beta, dtype=float)
    n = beta.shape[0]
    h = np.broadcast_to(np.asarray(h, dtype=float), (n,))
    s = float(total_shares)
    lo = np.zeros(n) if lower is None else np.asarray(lower, dtype=float)
    up = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float)
    max_iter = 10 * n + 10 if max_iter is None else int(max_iter)
    r = recovery_factor(half_life)
    c = transient_hessian_weights(beta, half_life)
    g = h.copy()
    g[:-1] -= r * h[1:]
    chain = _Chain(c, g, r, s)
    if r == 0.0:
        x = _static_optimum(beta, h, s, lo, up)
        obj = chain.objective(x)
        return TransientSolve(x, obj, 1, True, True, "half-life 0: static water-filling")
    convex = bool(np.all(c > _CONVEX_RTOL * beta))
    none = np.zeros(n, dtype=bool)
    if convex:
        x, y, n_iter, ok = _active_set(chain, lo, up, none, none, max_iter)
        msg = "exact (convex; active set)" if ok else "active set hit its iteration cap"
        return TransientSolve(x, chain.objective(y), n_iter, ok, True, msg)
    floor = max(1.0 - r * r, 1e-3) * 0.25 * beta
    c_plus = np.maximum(c, floor)
    chain_plus = _Chain(c_plus, g, r, s)
    x_cvx, _, n_iter, _ = _active_set(chain_plus, lo, up, none, none, max_iter)
    starts = [
        x_cvx,
        _static_optimum(beta, h, s, lo, up),
        project_capped_simplex(np.full(n, s / n), s, lo, up)[0],
        project_capped_simplex(ow_schedule(s, n, half_life), s, lo, up)[0],
    ]
    x, f, stationary = None, np.inf, False
    for x0 in starts:
        xi, fi, more, ok = _dca(chain, chain_plus, c_plus - c, x0, lo, up, max_iter)
        n_iter += more
        if fi < f:
            x, f, stationary = xi, fi, ok
    first = int(np.argmax(c <= _CONVEX_RTOL * beta))
    msg = (
        f"not convex (c_t = beta_t - r^2 beta_t+1 = {c[first]:.3g} <= 0 at interval {first}): "
        "local solution by the DC algorithm, no worse than equal; global optimality not "
        "certified"
    )
    if not stationary:
        msg += "; DC iterations stopped before stationarity"
    return TransientSolve(x, f, n_iter, True, False, msg)


def _static_optimum(beta, h, s, lo, up):
    """Static (half-life 0) exact optimum of the linear model: water-filling."""
    return solve_exact(LinearImpact(beta=beta, h=h), s, lo, up, validate=False)


# --------------------------------------------------------------------------- strategy
def _check_strategy_half_life(value: Any) -> float | str:
    if isinstance(value, str):
        if value in HALF_LIFE_PLACEHOLDERS:
            return value
        raise InvalidParameterError(
            "half_life must be a number of intervals >= 0 (inf allowed) or one of "
            f"{list(HALF_LIFE_PLACEHOLDERS)}; got {value!r}"
        )
    try:
        return _check_half_life(value)
    except InvalidTypeError as exc:
        raise InvalidParameterError(
            "half_life must be a number of intervals >= 0 (inf allowed) or one of "
            f"{list(HALF_LIFE_PLACEHOLDERS)}; got {value!r}"
        ) from exc


_NONCONVEX = ("local", "raise")


@register("transient-optimal")
@dataclass(frozen=True)
class TransientOptimalStrategy(OptimizingStrategy):
    """Optimal schedule under the linear model plus the book's own depletion (resilience).

    Minimises ``transient_cost(model, x, half_life)`` = sum_t h_t x_t + beta_t (x_t^2 +
    2 D_t x_t) with D_t = r (D_{t-1} + x_{t-1}), r = 2^(-1/half_life): the linear model's cost
    with the depletion cross-terms exactly as ``simulator.market.Market`` charges them on a
    block-shaped book of depth density 1 / (2 beta_t) shares per dollar.  Solved exactly by
    :func:`solve_transient_qp` (O(N) active-set subproblems).  With constant beta, h = 0 and
    no binding bounds the result is :func:`ow_schedule`; with a half-life of 0 it is the
    static exact optimum.  ``SolveResult.objective`` is the transient cost in dollars.

    When time-varying depth makes the cost non-convex (some beta_{t+1} >= beta_t / r^2, see
    :func:`solve_transient_qp`), ``nonconvex='local'`` returns the DC algorithm's stationary
    point (no worse than equal under the transient cost; message says "not convex") and
    ``nonconvex='raise'`` fails the solve, so ``schedule`` raises SolverError.

    Parameters
    ----------
    half_life : float or {'market', 'fit'}, default 0
        Recovery half-life the planner assumes, in intervals (>= 0; ``inf`` = no recovery).
        The default 0 matches the market's default (no transient impact).  ``'market'`` asks
        the evaluator to substitute the scenario market's ``transient_half_life`` (the
        known-model case), ``'fit'`` an estimate from the training window; the evaluator
        does so with ``dataclasses.replace(strategy, half_life=value)``.  ``schedule`` raises
        InvalidParameterError while it is still a string.
    nonconvex : {'local', 'raise'}, default 'local'
        What to do when the cost is not convex (above).
    """

    description: ClassVar[str] = "Linear model + Obizhaeva-Wang depletion (half_life), exact QP"
    optimizes_model: ClassVar[bool] = False
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear",)
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"half_life": -1.0},
        {"half_life": float("nan")},
        {"half_life": "median"},
        {"half_life": True},
        {"nonconvex": "ignore"},
    )

    half_life: float | str = 0.0
    nonconvex: str = "local"

    def __post_init__(self) -> None:
        object.__setattr__(self, "half_life", _check_strategy_half_life(self.half_life))
        if self.nonconvex not in _NONCONVEX:
            raise InvalidParameterError(
                f"nonconvex must be one of {list(_NONCONVEX)}; got {self.nonconvex!r}"
            )

    def _numeric_half_life(self) -> float:
        if isinstance(self.half_life, str):
            raise InvalidParameterError(
                f"half_life of strategy {self.name!r} must be a number at schedule time; got "
                f"{self.half_life!r} (the evaluator substitutes "
                f"{'the market' if self.half_life == 'market' else 'a fitted'} half-life "
                "with dataclasses.replace(strategy, half_life=...))"
            )
        return float(self.half_life)

    def predicted_cost(self, problem: AllocationProblem, schedule: np.ndarray) -> float:
        """The transient cost the planner believes: ``transient_cost(model, x, half_life)``."""
        return float(transient_cost(problem.model, schedule, self._numeric_half_life()))

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve exactly; ``objective`` is the transient cost in dollars."""
        problem = self._check(problem)
        half_life = self._numeric_half_life()
        t0 = time.perf_counter()
        model = problem.model
        out = solve_transient_qp(
            model.beta, model.h, half_life, problem.total_shares, problem.lower, problem.upper
        )
        success = out.converged and (out.convex or self.nonconvex == "local")
        msg = out.message
        if not out.convex and self.nonconvex == "raise":
            msg = f"{msg}; nonconvex='raise'"
        return self._remember(
            SolveResult(
                x=out.x,
                success=success,
                message=msg,
                objective=out.objective,
                n_iter=out.n_iter,
                solve_ms=1e3 * (time.perf_counter() - t0),
            )
        )
