"""Built-in closed-form and exact strategies: equal (TWAP), vwap, analytical, exact."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.errors import InvalidParameterError

from .base import OptimizingStrategy, SolveResult, Strategy
from .exact import project_capped_simplex, solve_exact
from .problem import AllocationProblem
from .registry import register

__all__ = [
    "EqualStrategy",
    "VwapStrategy",
    "AnalyticalStrategy",
    "ExactStrategy",
    "closed_form_linear",
    "closed_form_power",
]


def closed_form_linear(beta: np.ndarray, total_shares: float) -> np.ndarray:
    """Unconstrained optimum of sum beta_t x_t^2 with sum x = S: x_t = S (1/beta_t) / sum(1/beta).

    Parameters
    ----------
    beta : ndarray, shape (..., N)
        Slippage slopes in dollars per share per share (> 0).
    total_shares : float or ndarray of shape (...,)
        S in shares.

    Returns
    -------
    ndarray, shape (..., N)
        Schedule in shares.
    """
    w = 1.0 / np.asarray(beta, dtype=float)
    s = np.asarray(total_shares, dtype=float)[..., None]
    return s * w / w.sum(axis=-1, keepdims=True)


def closed_form_power(alpha: np.ndarray, delta: float, total_shares: float) -> np.ndarray:
    """Unconstrained optimum of sum alpha_t x^(1+delta) with one delta: x_t ∝ alpha_t^(-1/delta).

    Parameters
    ----------
    alpha : ndarray, shape (..., N)
        Slippage scale in dollars per share per share^delta (> 0).
    delta : float
        Common exponent (> 0).
    total_shares : float or ndarray of shape (...,)
        S in shares.

    Returns
    -------
    ndarray, shape (..., N)
        Schedule in shares.
    """
    alpha = np.asarray(alpha, dtype=float)
    # Normalise before the power so tiny alphas and small deltas do not overflow.
    w = (alpha / alpha.min(axis=-1, keepdims=True)) ** (-1.0 / float(delta))
    s = np.asarray(total_shares, dtype=float)[..., None]
    return s * w / w.sum(axis=-1, keepdims=True)


def _result(problem: AllocationProblem, x: np.ndarray, t0: float, msg: str) -> SolveResult:
    x = np.asarray(x, dtype=float)
    return SolveResult(
        x=x,
        success=True,
        message=msg,
        objective=problem.objective(x),
        n_iter=0,
        solve_ms=1e3 * (time.perf_counter() - t0),
    )


@register("equal")
@dataclass(frozen=True)
class EqualStrategy(Strategy):
    """TWAP: S/N shares per interval; with bounds, the feasible schedule closest to S/N.

    The bounded case is the Euclidean projection of the constant S/N onto
    {sum x = S, lower <= x <= upper}: x_t = clip(S/N + mu, lower_t, upper_t).
    """

    description: ClassVar[str] = "TWAP: S/N shares per interval, projected onto the bounds"

    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """Return the equal split in shares per interval, shape (N,)."""
        problem = self._check(problem)
        n = problem.n_intervals
        target = np.full(n, problem.total_shares / n)
        if not problem.has_bounds:
            return target
        return project_capped_simplex(target, problem.total_shares, problem.lower, problem.upper)[0]


@register("vwap")
@dataclass(frozen=True)
class VwapStrategy(Strategy):
    """VWAP: x_t = S v_t / sum(v), v the problem's expected volume per interval (shares).

    With bounds, the feasible schedule closest (Euclidean) to the proportional one.
    """

    description: ClassVar[str] = "Proportional to the expected volume profile, projected to bounds"

    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """Return the volume-proportional schedule in shares, shape (N,).

        Raises
        ------
        InvalidParameterError
            If the problem has no ``volume_profile`` or it sums to zero.
        """
        problem = self._check(problem)
        v = problem.volume_profile
        if v is None:
            raise InvalidParameterError(
                "volume_profile of the problem is required by strategy 'vwap'; got None"
            )
        total = float(v.sum())
        if total <= 0:
            raise InvalidParameterError(
                f"volume_profile must have a positive sum for strategy 'vwap'; got {total!r}"
            )
        target = problem.total_shares * v / total
        return project_capped_simplex(target, problem.total_shares, problem.lower, problem.upper)[0]


@register("analytical")
@dataclass(frozen=True)
class AnalyticalStrategy(OptimizingStrategy):
    """Closed-form optimum for linear and power-law models.

    * linear, h = 0: x_t = S (1/beta_t) / sum_s (1/beta_s);
    * power law, h = 0, one delta: x_t = S alpha_t^(-1/delta) / sum_s alpha_s^(-1/delta);
    * power law, h = 0, per-interval delta: the KKT form x_t = (lambda / (alpha_t (1 + delta_t)))
      ^(1/delta_t) with lambda solved so that sum x = S;
    * h > 0 or a bound that binds: the exact KKT form
      x_t = clip(inverse_marginal_t(lambda), lower_t, upper_t) (water-filling).
    """

    description: ClassVar[str] = "Closed forms (x ∝ 1/beta, x ∝ alpha^(-1/delta)) and KKT forms"
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear", "power")

    def closed_form(self, problem: AllocationProblem) -> np.ndarray | None:
        """Unconstrained closed form in shares, or None where none applies (h > 0 somewhere)."""
        model = problem.model
        if np.any(np.asarray(model.h) != 0):
            return None
        if problem.kind == "linear":
            return closed_form_linear(model.beta, problem.total_shares)
        delta = np.asarray(model.delta, dtype=float)
        if np.ptp(delta) == 0:
            return closed_form_power(model.alpha, float(delta.ravel()[0]), problem.total_shares)
        return None

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Closed form when it applies and respects the bounds, else the exact KKT form."""
        problem = self._check(problem)
        t0 = time.perf_counter()
        x = self.closed_form(problem)
        if x is not None and np.all(x >= problem.lower) and np.all(x <= problem.upper):
            return self._remember(_result(problem, x, t0, "closed form"))
        # The problem is validated already: water-filling is this KKT form, solved exactly.
        x = solve_exact(
            problem.model, problem.total_shares, problem.lower, problem.upper, validate=False
        )
        return self._remember(_result(problem, x, t0, "KKT form (h > 0 or binding bounds)"))


@register("exact")
@dataclass(frozen=True)
class ExactStrategy(OptimizingStrategy):
    """Exact water-filling optimum for linear, power-law and book models (machine precision)."""

    description: ClassVar[str] = "Exact Lagrange-multiplier (water-filling) optimum, any model"

    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve by water-filling; always succeeds on a valid problem."""
        problem = self._check(problem)
        t0 = time.perf_counter()
        x = solve_exact(
            problem.model, problem.total_shares, problem.lower, problem.upper, validate=False
        )
        return self._remember(_result(problem, x, t0, "exact water-filling"))
