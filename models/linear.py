"""Linear impact model: slippage h_t + beta_t * x, cost h_t * x + beta_t * x**2."""

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

__all__ = ["LinearImpact"]


@dataclass(frozen=True, eq=False)
class LinearImpact(BaseImpact):
    """Linear slippage per interval: s_t(x) = h_t + beta_t * x.

    Impact cost c_t(x) = h_t * x + beta_t * x**2 dollars, marginal cost
    h_t + 2 * beta_t * x dollars per share.  With h = 0 this is the seed's linear model,
    whose optimal schedule is x_t proportional to 1 / beta_t.

    Parameters
    ----------
    beta : float or array_like of shape (N,)
        Slope of the slippage in dollars per share per share; finite and > 0.
    h : float or array_like of shape (N,), default 0
        Slippage of the first share (a half-spread-like intercept), dollars per share;
        finite and >= 0.
    side : {'buy', 'sell'}, default 'buy'
        Direction of the orders the model prices.
    diagnostics : DataFrame, optional
        Per-interval fit diagnostics (one row per interval), as produced by
        :func:`models.fitting.fit_impact_model`.
    fit_info : dict, optional (keyword only)
        Model-level fit report (see :func:`models.fitting.fit_impact_model`).
    n_intervals : int, optional (keyword only)
        Number of intervals N; required when ``beta`` and ``h`` are both scalars.

    Raises
    ------
    InvalidParameterError
        If a parameter is not finite, ``beta <= 0``, ``h < 0``, or lengths disagree.
    """

    kind: ClassVar[str] = "linear"

    beta: Any
    h: Any = 0.0
    side: str = "buy"
    diagnostics: pd.DataFrame | None = None
    n_intervals: int | None = field(default=None, kw_only=True)
    fit_info: dict[str, Any] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        n = resolve_n_intervals(self.n_intervals, beta=self.beta, h=self.h)
        object.__setattr__(self, "beta", interval_array("beta", self.beta, n, lower=0, strict=True))
        object.__setattr__(self, "h", interval_array("h", self.h, n, lower=0))
        object.__setattr__(self, "side", check_side(self.side))
        object.__setattr__(self, "diagnostics", check_diagnostics(self.diagnostics, n))
        object.__setattr__(self, "fit_info", check_fit_info(self.fit_info))
        object.__setattr__(self, "n_intervals", n)

    def cost(self, x: Any) -> np.ndarray:
        """Impact cost h_t x + beta_t x**2 in dollars, shape (..., N); x in shares."""
        x = check_shares(x, self.n_intervals)
        return x * (self.h + self.beta * x)

    def marginal_cost(self, x: Any) -> np.ndarray:
        """Marginal cost h_t + 2 beta_t x in dollars per share, shape (..., N)."""
        x = check_shares(x, self.n_intervals)
        return self.h + 2.0 * self.beta * x

    def slippage(self, x: Any) -> np.ndarray:
        """Slippage h_t + beta_t x in dollars per share, shape (..., N)."""
        x = check_shares(x, self.n_intervals)
        return self.h + self.beta * x

    def inverse_marginal(self, lam: Any) -> np.ndarray:
        """Shares max(0, (lam - h_t) / (2 beta_t)), shape (..., N); lam in dollars per share."""
        lam = check_price_levels(lam, self.n_intervals)
        with np.errstate(over="ignore"):
            return np.maximum((lam - self.h) / (2.0 * self.beta), 0.0)

    def parameter_frame(self) -> pd.DataFrame:
        """Columns ``beta`` (dollars per share per share) and ``h`` (dollars per share)."""
        return pd.DataFrame({"beta": self.beta, "h": self.h})

    def _params_dict(self) -> dict[str, Any]:
        return {"beta": self.beta, "h": self.h, "n_intervals": self.n_intervals}
