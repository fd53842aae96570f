"""Power-law impact model: slippage h_t + alpha_t * x**delta_t (delta = 0.5: square root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .impact_base import (
    BaseImpact,
    check_diagnostics,
    check_fit_info,
    check_price_levels,
    check_shares,
    check_side,
    interval_array,
    resolve_n_intervals,
)

__all__ = ["PowerLawImpact"]


@dataclass(frozen=True, eq=False)
class PowerLawImpact(BaseImpact):
    """Power-law slippage per interval: s_t(x) = h_t + alpha_t * x**delta_t.

    Impact cost c_t(x) = h_t * x + alpha_t * x**(1 + delta_t) dollars, convex for every
    delta > 0; marginal cost h_t + (1 + delta_t) * alpha_t * x**delta_t dollars per share.
    This is the seed's nonlinear model (with h = 0); delta = 0.5 is the square-root law.

    Parameters
    ----------
    alpha : float or array_like of shape (N,)
        Scale in dollars per share per share**delta; finite and > 0.
    delta : float or array_like of shape (N,)
        Exponent (dimensionless); finite and > 0.  A scalar applies to every interval.
    h : float or array_like of shape (N,), default 0
        Slippage of the first share, dollars per share; finite and >= 0.
    side : {'buy', 'sell'}, default 'buy'
        Direction of the orders the model prices.
    diagnostics : DataFrame, optional
        Per-interval fit diagnostics (one row per interval).
    fit_info : dict, optional (keyword only)
        Model-level fit report (see :func:`models.fitting.fit_impact_model`).
    n_intervals : int, optional (keyword only)
        Number of intervals N; required when every parameter is a scalar.

    Raises
    ------
    InvalidParameterError
        If a parameter is not finite, ``alpha <= 0``, ``delta <= 0``, ``h < 0``, or
        lengths disagree.
    """

    kind: ClassVar[str] = "power"

    alpha: Any
    delta: Any
    h: Any = 0.0
    side: str = "buy"
    diagnostics: pd.DataFrame | None = None
    n_intervals: int | None = field(default=None, kw_only=True)
    fit_info: dict[str, Any] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        n = resolve_n_intervals(self.n_intervals, alpha=self.alpha, delta=self.delta, h=self.h)
        object.__setattr__(
            self, "alpha", interval_array("alpha", self.alpha, n, lower=0, strict=True)
        )
        object.__setattr__(
            self, "delta", interval_array("delta", self.delta, n, lower=0, strict=True)
        )
        object.__setattr__(self, "h", interval_array("h", self.h, n, lower=0))
        object.__setattr__(self, "side", check_side(self.side))
        object.__setattr__(self, "diagnostics", check_diagnostics(self.diagnostics, n))
        object.__setattr__(self, "fit_info", check_fit_info(self.fit_info))
        object.__setattr__(self, "n_intervals", n)

    def cost(self, x: Any) -> np.ndarray:
        """Impact cost h_t x + alpha_t x**(1 + delta_t) in dollars, shape (..., N)."""
        x = check_shares(x, self.n_intervals)
        return x * (self.h + self.alpha * x**self.delta)

    def marginal_cost(self, x: Any) -> np.ndarray:
        """Marginal cost h_t + (1 + delta_t) alpha_t x**delta_t, dollars per share."""
        x = check_shares(x, self.n_intervals)
        return self.h + (1.0 + self.delta) * self.alpha * x**self.delta

    def slippage(self, x: Any) -> np.ndarray:
        """Slippage h_t + alpha_t x**delta_t in dollars per share, shape (..., N)."""
        x = check_shares(x, self.n_intervals)
        return self.h + self.alpha * x**self.delta

    def inverse_marginal(self, lam: Any) -> np.ndarray:
        """Shares ((lam - h_t) / ((1 + delta_t) alpha_t))**(1 / delta_t), 0 below h_t."""
        lam = check_price_levels(lam, self.n_intervals)
        excess = np.maximum(lam - self.h, 0.0) / ((1.0 + self.delta) * self.alpha)
        with np.errstate(over="ignore"):
            return excess ** (1.0 / self.delta)

    def parameter_frame(self) -> pd.DataFrame:
        """Columns ``alpha``, ``delta`` and ``h`` (dollars per share)."""
        return pd.DataFrame({"alpha": self.alpha, "delta": self.delta, "h": self.h})

    def _params_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "delta": self.delta,
            "h": self.h,
            "n_intervals": self.n_intervals,
        }
