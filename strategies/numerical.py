"""Numerical reference solvers (scipy SLSQP and CVXPY) and the strategies built on them.

They are what researchers compare against; each reports its status honestly: a result whose
constraints are violated beyond tolerance has ``success=False`` and says which one.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.errors import InvalidParameterError

from .base import OptimizingStrategy, SolveResult
from .exact import book_pieces, project_capped_simplex, solve_exact
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "solve_slsqp",
    "solve_cvxpy",
    "LinearOptimalStrategy",
    "NonlinearOptimalStrategy",
    "FEASIBILITY_RTOL",
]

FEASIBILITY_RTOL = 1e-7
"""Largest violation of the total or a bound, relative to S, accepted from a numerical solver."""


def _repair(x: np.ndarray, problem: AllocationProblem) -> np.ndarray:
    """Clip to the bounds and spread the (tolerance-sized) residual over intervals with room."""
    lo, up, s = problem.lower, problem.upper, problem.total_shares
    x = np.clip(x, lo, up)
    r = s - x.sum()
    room = np.where(r > 0, up - x, x - lo)
    room = np.where(np.isfinite(room), room, s)
    if r != 0 and room.sum() > 0:
        x = np.clip(x + r * room / room.sum(), lo, up)
    return x


def _finish(problem, x_raw, ok, message, n_iter, t0) -> SolveResult:
    s = problem.total_shares
    x_raw = np.asarray(x_raw, dtype=float)
    if not np.all(np.isfinite(x_raw)):
        ok, message = False, f"{message}; solution has non-finite entries"
        x = np.where(np.isfinite(x_raw), x_raw, 0.0)
    else:
        sum_gap = abs(float(x_raw.sum()) - s) / s
        bound_gap = (
            float(
                np.max(np.maximum(problem.lower - x_raw, 0) + np.maximum(x_raw - problem.upper, 0))
            )
            / s
        )
        if sum_gap > FEASIBILITY_RTOL:
            ok = False
            message = f"{message}; sum constraint violated by {sum_gap:.3g} of total_shares"
        if bound_gap > FEASIBILITY_RTOL:
            ok = False
            message = f"{message}; bounds violated by up to {bound_gap:.3g} of total_shares"
        x = _repair(x_raw, problem) if ok else x_raw
    return SolveResult(
        x=x,
        success=bool(ok),
        message=message,
        objective=problem.objective(np.clip(x, 0.0, None)),
        n_iter=int(n_iter),
        solve_ms=1e3 * (time.perf_counter() - t0),
    )


def solve_slsqp(
    problem: AllocationProblem, ftol: float = 1e-10, maxiter: int = 1000
) -> SolveResult:
    """Minimise the model cost with scipy SLSQP, analytic gradient, variables scaled by S/N.

    Variables are y = x / (S/N) and the objective is divided by the cost of the equal split,
    so both are O(1) whatever the order size. The start is the bounded equal split.

    Parameters
    ----------
    problem : AllocationProblem
    ftol : float, default 1e-10
        SLSQP's objective tolerance (scipy's default 1e-6 stops early on capped problems).
    maxiter : int, default 1000
        Iteration cap.

    Returns
    -------
    SolveResult
        ``success`` is False when SLSQP fails or its answer violates the total or a bound by
        more than ``FEASIBILITY_RTOL`` of S.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    model = problem.model
    n = problem.n_intervals
    s = problem.total_shares
    scale = s / n
    lo = problem.lower / scale
    up = problem.upper / scale
    y0 = project_capped_simplex(np.full(n, s / n), s, problem.lower, problem.upper)[0] / scale
    f0 = max(problem.objective(y0 * scale), np.finfo(float).tiny)

    def fun(y):
        x = np.clip(y, lo, up) * scale
        return float(model.total_cost(x)) / f0

    def jac(y):
        x = np.clip(y, lo, up) * scale
        return np.asarray(model.marginal_cost(x), dtype=float) * (scale / f0)

    bounds = [(a, b if np.isfinite(b) else None) for a, b in zip(lo, up, strict=True)]
    constraint = {
        "type": "eq",
        "fun": lambda y: np.array([y.sum() - n]),
        "jac": lambda y: np.ones((1, n)),
    }
    # SLSQP's least-squares subproblems are small (N x N): threaded BLAS gains nothing
    # there and, when another process holds a core, its spinning threads made a 390-minute
    # solve 40x slower (116 s instead of 2.9 s, measured).
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(
            fun,
            y0,
            jac=jac,
            method="SLSQP",
            bounds=bounds,
            constraints=[constraint],
            options={"ftol": ftol, "maxiter": maxiter},
        )
    msg = f"SLSQP: {res.message}"
    return _finish(problem, res.x * scale, bool(res.success), msg, res.get("nit", 0), t0)


def _check_cvxpy_solver(solver: str) -> str:
    import cvxpy as cp

    name = str(solver).upper()
    installed = cp.installed_solvers()
    if name not in installed:
        raise InvalidParameterError(
            f"cvxpy_solver must be an installed CVXPY solver {installed}; got {solver!r}"
        )
    return name


def _cvxpy_objective(problem: AllocationProblem, y, scale: float, f0: float):
    import cvxpy as cp

    model = problem.model
    n = problem.n_intervals
    if problem.kind == "linear":
        h = np.asarray(model.h, dtype=float) * scale / f0
        q = np.asarray(model.beta, dtype=float) * scale**2 / f0
        return h @ y + cp.sum(cp.multiply(q, cp.square(y))), []
    if problem.kind == "power":
        h = np.asarray(model.h, dtype=float) * scale / f0
        alpha = np.asarray(model.alpha, dtype=float)
        delta = np.broadcast_to(np.asarray(model.delta, dtype=float), (n,))
        terms = [h @ y]
        # One cp.power atom per distinct exponent keeps the problem small.
        for d in np.unique(delta):
            idx = np.flatnonzero(delta == d)
            w = alpha[idx] * scale ** (1.0 + d) / f0
            terms.append(w @ cp.power(y[idx], 1.0 + float(d), approx=False))
        return cp.sum(cp.hstack(terms)), []
    prices, depth = book_pieces(
        model.offsets, model.sizes, model.reference_mid, model.beyond_depth_bps
    )
    start = np.concatenate([np.zeros((n, 1)), np.cumsum(depth, axis=-1)[:, :-1]], axis=-1)
    filled = np.where(np.isfinite(depth), depth, 0.0) * np.where(np.isfinite(prices), prices, 0)
    cost_at_start = np.concatenate([np.zeros((n, 1)), np.cumsum(filled, axis=-1)[:, :-1]], -1)
    usable = np.isfinite(prices) & np.isfinite(start)
    # Empty levels repeat the beyond-depth piece so every row has the same number of pieces.
    slope = np.where(usable, prices, prices[:, -1:])
    icpt = np.where(
        usable, cost_at_start - prices * start, (cost_at_start - prices * start)[:, -1:]
    )
    n_pieces = slope.shape[1]
    t = cp.Variable(n)
    ones = np.ones((1, n_pieces))
    y_col = cp.reshape(y, (n, 1), order="C") @ ones
    t_col = cp.reshape(t, (n, 1), order="C") @ ones
    cons = [t_col >= icpt / f0 + cp.multiply(slope * scale / f0, y_col)]
    # Past the visible depth the marginal price keeps rising (models.book_walk): the pieces
    # above price the tail at its start, the quadratic term adds its slope.
    k = np.asarray(model.tail_slope, dtype=float) * scale**2 / f0
    beyond = cp.pos(y - np.asarray(model.visible_depth, dtype=float) / scale)
    return cp.sum(t) + 0.5 * cp.sum(cp.multiply(k, cp.square(beyond))), cons


class _ParametrisedQP:
    """The linear model's scaled QP built once per (N, capped) with CVXPY parameters.

    Re-solving with new parameter values skips CVXPY's canonicalisation: measured at N = 390
    with CLARABEL, 8-13 ms per solve against 22 ms for a fresh build (without warm start,
    which would make results depend on what the process solved before).  Power cones are not
    cached: parametrised, they compile slowly and exhaust memory beyond a few thousand
    intervals.
    """

    def __init__(self, n: int, capped: bool) -> None:
        import cvxpy as cp

        self.y = cp.Variable(n)
        self.q = cp.Parameter(n, nonneg=True)
        self.h = cp.Parameter(n, nonneg=True)
        self.lower = cp.Parameter(n)
        cons = [cp.sum(self.y) == n, self.y >= self.lower]
        self.upper = cp.Parameter(n) if capped else None
        if capped:
            cons.append(self.y <= self.upper)
        objective = self.h @ self.y + cp.sum(cp.multiply(self.q, cp.square(self.y)))
        self.problem = cp.Problem(cp.Minimize(objective), cons)


# Beyond this size CVXPY's canonicalisation of the parametrised QP needs tens of GiB
# (measured: 32.6 GiB requested at N = 23,400), so large problems are built afresh.
_MAX_CACHED_N = 2000

# One cache per thread: a CVXPY problem must not be solved by two threads at once.
_QP_CACHE = threading.local()


def _linear_qp(n: int, capped: bool) -> _ParametrisedQP:
    cache = getattr(_QP_CACHE, "problems", None)
    if cache is None:
        cache = _QP_CACHE.problems = {}
    key = (n, capped)
    if key not in cache:
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[key] = _ParametrisedQP(n, capped)
    return cache[key]


def _solve_linear_cached(problem: AllocationProblem, solver: str, scale: float, f0: float):
    model = problem.model
    n = problem.n_intervals
    finite = np.isfinite(problem.upper)
    # Infinite caps of a partly capped problem become a cap no schedule can reach.
    capped = bool(np.any(finite))
    qp = _linear_qp(n, capped)
    qp.q.value = np.asarray(model.beta, dtype=float) * scale**2 / f0
    qp.h.value = np.broadcast_to(np.asarray(model.h, dtype=float), (n,)) * scale / f0
    qp.lower.value = problem.lower / scale
    if capped:
        qp.upper.value = np.where(finite, problem.upper, 2.0 * problem.total_shares) / scale
    # No warm start: a re-solve must not depend on what this process solved before, or
    # results would change with n_jobs and the order tasks reach a worker.
    qp.problem.solve(solver=solver, warm_start=False)
    return qp.problem, qp.y


def solve_cvxpy(
    problem: AllocationProblem, solver: str = "CLARABEL", reuse: bool = True
) -> SolveResult:
    """Minimise the model cost with CVXPY (linear: QP; power law: power cones; book: LP).

    Variables are scaled by S/N and the objective by the equal split's cost.

    Parameters
    ----------
    problem : AllocationProblem
    solver : str, default 'CLARABEL'
        Any installed CVXPY solver able to handle the problem class.
    reuse : bool, default True
        For linear models with N <= 2000, re-solve a parametrised QP cached per
        (N, capped) and thread instead of building the problem afresh (about 2x faster at
        N = 390, same result to the bit); larger problems are always built afresh.

    Returns
    -------
    SolveResult
        ``success`` only for status 'optimal' with the constraints met to ``FEASIBILITY_RTOL``.
    """
    import cvxpy as cp

    solver = _check_cvxpy_solver(solver)
    t0 = time.perf_counter()
    n = problem.n_intervals
    s = problem.total_shares
    scale = s / n
    x_eq = project_capped_simplex(np.full(n, s / n), s, problem.lower, problem.upper)[0]
    f0 = max(problem.objective(x_eq), np.finfo(float).tiny)
    try:
        # The status carries what CVXPY's "solution may be inaccurate" warning says; keeping
        # the warning out of stderr lets parallel runs report it once, in the result row.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if problem.kind == "linear" and reuse and n <= _MAX_CACHED_N:
                prob, y = _solve_linear_cached(problem, solver, scale, f0)
            else:
                y = cp.Variable(n)
                objective, cons = _cvxpy_objective(problem, y, scale, f0)
                cons = cons + [cp.sum(y) == n, y >= problem.lower / scale]
                finite = np.isfinite(problem.upper)
                if np.any(finite):
                    cons.append(y[np.flatnonzero(finite)] <= problem.upper[finite] / scale)
                prob = cp.Problem(cp.Minimize(objective), cons)
                prob.solve(solver=solver)
    except cp.error.SolverError as exc:
        return _finish(problem, np.full(n, np.nan), False, f"CVXPY {solver}: {exc}", 0, t0)
    status = str(prob.status)
    x = np.full(n, np.nan) if y.value is None else np.asarray(y.value, dtype=float) * scale
    n_iter = getattr(prob.solver_stats, "num_iters", None) or 0
    return _finish(problem, x, status == "optimal", f"CVXPY {solver}: {status}", n_iter, t0)


def _check_common(strategy, solvers: tuple[str, ...]) -> None:
    if strategy.solver not in solvers:
        raise InvalidParameterError(
            f"solver must be one of {list(solvers)}; got {strategy.solver!r}"
        )
    if strategy.solver == "cvxpy":
        _check_cvxpy_solver(strategy.cvxpy_solver)
    if not (np.isfinite(strategy.ftol) and strategy.ftol > 0):
        raise InvalidParameterError(f"ftol must be finite and > 0; got {strategy.ftol!r}")
    if not (isinstance(strategy.maxiter, int | np.integer) and strategy.maxiter >= 1):
        raise InvalidParameterError(f"maxiter must be an integer >= 1; got {strategy.maxiter!r}")


@register("linear-optimal")
@dataclass(frozen=True)
class LinearOptimalStrategy(OptimizingStrategy):
    """Numerical optimum of a linear impact model (the seed's scipy and CVXPY paths).

    Parameters
    ----------
    solver : {'cvxpy', 'slsqp'}, default 'cvxpy'
        'slsqp': scipy SLSQP with analytic gradient, variables scaled by S/N;
        'cvxpy': a QP through CVXPY.
    cvxpy_solver : str, default 'CLARABEL'
        Installed CVXPY solver used when ``solver='cvxpy'``.
    ftol : float, default 1e-10
        SLSQP objective tolerance.
    maxiter : int, default 1000
        SLSQP iteration cap.
    """

    description: ClassVar[str] = "Linear model optimum by scipy SLSQP or CVXPY (CLARABEL)"
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear",)
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"solver": "newton"},
        {"cvxpy_solver": "NOT_A_SOLVER"},
        {"ftol": -1.0},
    )

    solver: str = "cvxpy"
    cvxpy_solver: str = "CLARABEL"
    ftol: float = 1e-10
    maxiter: int = 1000

    def __post_init__(self) -> None:
        _check_common(self, ("slsqp", "cvxpy"))

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve numerically; see :func:`solve_slsqp` and :func:`solve_cvxpy`."""
        problem = self._check(problem)
        if self.solver == "slsqp":
            return self._remember(solve_slsqp(problem, self.ftol, self.maxiter))
        return self._remember(solve_cvxpy(problem, self.cvxpy_solver))


@register("nonlinear-optimal")
@dataclass(frozen=True)
class NonlinearOptimalStrategy(OptimizingStrategy):
    """Optimum of any separable convex model (power law, book, and linear as the special case
    delta = 1) by SLSQP, CVXPY or the exact water-filling.

    Parameters
    ----------
    solver : {'cvxpy', 'slsqp', 'exact'}, default 'cvxpy'
        'cvxpy': power cones (one ``cp.power`` per distinct delta) or, for the book, an LP
        with the piecewise-linear cost as the max of its affine pieces; 'slsqp': scipy SLSQP
        (the book's cost is not smooth, so SLSQP may fail there and then says so);
        'exact': :func:`strategies.exact.solve_exact`.
    cvxpy_solver : str, default 'CLARABEL'
        Installed CVXPY solver used when ``solver='cvxpy'``.
    ftol : float, default 1e-10
        SLSQP objective tolerance.
    maxiter : int, default 1000
        SLSQP iteration cap.
    """

    description: ClassVar[str] = "Power-law, book or linear model optimum by SLSQP, CVXPY or exact"
    supported_kinds: ClassVar[tuple[str, ...]] = ("power", "book", "linear")
    invalid_params: ClassVar[tuple[dict, ...]] = (
        {"solver": "newton"},
        {"maxiter": 0},
    )

    solver: str = "cvxpy"
    cvxpy_solver: str = "CLARABEL"
    ftol: float = 1e-10
    maxiter: int = 1000

    def __post_init__(self) -> None:
        _check_common(self, ("slsqp", "cvxpy", "exact"))

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve with the configured solver; see :class:`NonlinearOptimalStrategy`."""
        problem = self._check(problem)
        if self.solver == "slsqp":
            return self._remember(solve_slsqp(problem, self.ftol, self.maxiter))
        if self.solver == "cvxpy":
            return self._remember(solve_cvxpy(problem, self.cvxpy_solver))
        t0 = time.perf_counter()
        x = solve_exact(problem.model, problem.total_shares, problem.lower, problem.upper)
        return self._remember(
            SolveResult(
                x=x,
                success=True,
                message="exact water-filling",
                objective=problem.objective(x),
                n_iter=0,
                solve_ms=1e3 * (time.perf_counter() - t0),
            )
        )
