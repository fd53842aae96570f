"""Seed-compatible ``TradeAllocator``: the seed notebook's API on top of the strategies."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.errors import InvalidParameterError, InvalidTypeError

from .base import SolveResult
from .builtin import EqualStrategy, closed_form_linear
from .numerical import solve_cvxpy, solve_slsqp
from .problem import AllocationProblem

__all__ = ["TradeAllocator", "solve_analytical_linear"]


def solve_analytical_linear(beta, total_shares: float) -> np.ndarray:
    """Closed-form optimum of the linear model with h = 0: x_t = S (1/beta_t) / sum(1/beta).

    Parameters
    ----------
    beta : array_like of shape (N,)
        Slippage slopes, dollars per share per share (> 0, finite).
    total_shares : float
        S in shares (> 0).

    Returns
    -------
    ndarray of shape (N,)
        Schedule in shares.

    Raises
    ------
    InvalidParameterError
        If a beta is not finite and > 0 or total_shares is not finite and > 0.
    """
    beta = np.asarray(beta, dtype=float)
    bad = ~np.isfinite(beta) | (beta <= 0)
    if beta.ndim != 1 or np.any(bad):
        raise InvalidParameterError(
            f"beta must be a 1-D array of finite values > 0; got {np.ravel(beta)[:5]!r}"
        )
    s = float(total_shares)
    if not np.isfinite(s) or s <= 0:
        raise InvalidParameterError(f"total_shares must be finite and > 0; got {total_shares!r}")
    return closed_form_linear(beta, s)


def _as_model(impact_model: Any):
    if hasattr(impact_model, "kind") and hasattr(impact_model, "total_cost"):
        return impact_model
    inner = getattr(impact_model, "model", None)
    if inner is not None and hasattr(inner, "kind"):
        return inner
    raise InvalidTypeError(
        "impact_model must be a models.BaseImpact or a fitted models.ImpactModel; "
        f"got {type(impact_model).__name__}"
    )


def _as_dict(result: SolveResult) -> dict[str, Any]:
    return {
        "success": bool(result.success),
        "allocation": np.array(result.x, dtype=float),
        "total_impact": float(result.objective),
        "message": result.message,
        "status": result.message,
        "n_iter": result.n_iter,
        "solve_ms": result.solve_ms,
    }


class TradeAllocator:
    """The seed's allocator: optimise S shares over N intervals against an impact model.

    Parameters
    ----------
    impact_model : models.BaseImpact or models.ImpactModel
        The model (a fitted seed-style wrapper is unwrapped through ``.model``).
    total_shares : float
        S in shares (> 0).
    n_intervals : int
        N; must equal the model's number of intervals.
    lower, upper : None or array_like of shape (N,), optional
        Bounds in shares per interval (extension of the seed API).

    Attributes
    ----------
    optimal_allocation : ndarray of shape (N,) or None
        Set by a successful ``optimize_*`` call (or by the user) and plotted by
        :meth:`plot_allocation_strategy`.
    problem : AllocationProblem
        The validated problem.
    """

    def __init__(self, impact_model, total_shares, n_intervals, lower=None, upper=None):
        model = _as_model(impact_model)
        if int(n_intervals) != int(model.n_intervals):
            raise InvalidParameterError(
                f"n_intervals must equal the model's {model.n_intervals}; got {n_intervals!r}"
            )
        self.impact_model = impact_model
        self.problem = AllocationProblem(model, total_shares, lower=lower, upper=upper)
        self.total_shares = self.problem.total_shares
        self.n_intervals = int(n_intervals)
        self.optimal_allocation: np.ndarray | None = None

    def objective_function(self, allocation) -> float:
        """Total impact cost of ``allocation`` (shares per interval), in dollars."""
        return self.problem.objective(np.asarray(allocation, dtype=float))

    def optimize_scipy(self, method: str = "SLSQP", ftol: float = 1e-10, maxiter: int = 1000):
        """Optimise with scipy SLSQP (the seed's method); returns the seed's result dict.

        Returns
        -------
        dict
            ``success``, ``allocation`` (shares), ``total_impact`` (dollars), ``message``,
            ``status``, ``n_iter``, ``solve_ms``. ``success`` is False when SLSQP stopped
            with a constraint violated.

        Raises
        ------
        InvalidParameterError
            If ``method`` is not 'SLSQP'.
        """
        if str(method).upper() != "SLSQP":
            raise InvalidParameterError(f"method must be 'SLSQP'; got {method!r}")
        return self._keep(solve_slsqp(self.problem, ftol=ftol, maxiter=maxiter))

    def optimize_cvxpy(self, solver: str = "CLARABEL"):
        """Optimise with CVXPY (default CLARABEL); returns the seed's result dict."""
        return self._keep(solve_cvxpy(self.problem, solver=solver))

    def _keep(self, result: SolveResult) -> dict[str, Any]:
        out = _as_dict(result)
        if result.success:
            self.optimal_allocation = out["allocation"].copy()
        return out

    def plot_allocation_strategy(self, figsize=(16, 12)):
        """Plot the optimal allocation against the equal split; returns the Figure.

        Panels: shares per interval, cumulative shares, impact cost per interval (dollars),
        and marginal cost per interval (dollars per share). Works with the Agg backend.

        Raises
        ------
        InvalidParameterError
            If ``optimal_allocation`` is not set.
        """
        import matplotlib.pyplot as plt

        if self.optimal_allocation is None:
            raise InvalidParameterError(
                "optimal_allocation must be set (run optimize_scipy or optimize_cvxpy); got None"
            )
        x = np.asarray(self.optimal_allocation, dtype=float)
        eq = EqualStrategy().schedule(self.problem)
        model = self.problem.model
        t = np.arange(self.n_intervals)
        fig, axes = plt.subplots(2, 2, figsize=figsize)
        panels = [
            (axes[0, 0], x, eq, "Shares per interval", "shares"),
            (axes[0, 1], np.cumsum(x), np.cumsum(eq), "Cumulative shares", "shares"),
            (axes[1, 0], model.cost(x), model.cost(eq), "Impact cost per interval", "dollars"),
            (
                axes[1, 1],
                model.marginal_cost(x),
                model.marginal_cost(eq),
                "Marginal cost per interval",
                "dollars per share",
            ),
        ]
        for ax, ours, base, title, unit in panels:
            ax.plot(t, ours, label="optimal")
            ax.plot(t, base, label="equal", linestyle="--")
            ax.set_title(title)
            ax.set_xlabel("interval")
            ax.set_ylabel(unit)
            ax.legend()
            ax.grid(True, alpha=0.3)
        fig.suptitle(
            f"Optimal {self.objective_function(x):,.2f} $ vs equal "
            f"{self.objective_function(eq):,.2f} $"
        )
        fig.tight_layout()
        return fig
