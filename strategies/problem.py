"""The allocation problem: split a parent order over the intervals of one day."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.errors import InfeasibleProblemError, InvalidParameterError, InvalidTypeError
from models.frozen import frozen_array

from .evidence import TrainingEvidence

__all__ = ["AllocationProblem", "as_bounds"]

_SIDES = ("buy", "sell")


def _readonly(a: np.ndarray) -> np.ndarray:
    # Shared with every strategy of a day: nobody may write to it (models.frozen).
    return frozen_array(a)


def as_bounds(value: Any, n_intervals: int, name: str, default: float) -> np.ndarray:
    """Return a float array of shape (N,) for a bound given as None, a scalar or an array.

    Parameters
    ----------
    value : None, float or array_like of shape (N,)
        Bound in shares per interval; None means ``default``.
    n_intervals : int
        N, the number of intervals.
    name : str
        Field name used in error messages.
    default : float
        Value used where ``value`` is None (0 for lower, +inf for upper).

    Returns
    -------
    ndarray of shape (N,)
        The bound in shares.

    Raises
    ------
    InvalidParameterError
        If the shape is not (N,) or () or a value is NaN.
    """
    if value is None:
        return np.full(n_intervals, default, dtype=float)
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"{name} must be an array of numbers; got {value!r}") from exc
    if a.ndim == 0:
        a = np.full(n_intervals, float(a))
    if a.shape != (n_intervals,):
        raise InvalidParameterError(f"{name} must have shape ({n_intervals},); got {a.shape}")
    if np.any(np.isnan(a)):
        raise InvalidParameterError(
            f"{name} must not contain NaN; got NaN at {int(np.argmax(np.isnan(a)))}"
        )
    return a


def _profile(value: Any, n: int, name: str) -> np.ndarray | None:
    """A read-only (N,) array of finite values >= 0, or None."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"{name} must be an array of numbers; got {value!r}") from exc
    if arr.shape != (n,):
        raise InvalidParameterError(f"{name} must have shape ({n},); got {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise InvalidParameterError(f"{name} must be finite and >= 0; got {name}[{i}] = {arr[i]!r}")
    return _readonly(arr)


@dataclass(frozen=True, eq=False, kw_only=False)
class AllocationProblem:
    """Buy or sell ``total_shares`` over the N intervals of an impact model.

    minimise  sum_t c_t(x_t)  subject to  sum_t x_t = S  and  lower_t <= x_t <= upper_t,

    where c_t is the model's impact cost in dollars of trading x_t shares in interval t.

    Parameters
    ----------
    model : models.BaseImpact
        Impact model; N is ``model.n_intervals``.
    total_shares : float
        S, the parent order size in shares (finite, > 0).
    lower : None, float or array_like of shape (N,), default None
        Minimum shares per interval (finite, >= 0); None means 0.
    upper : None, float or array_like of shape (N,), default None
        Maximum shares per interval (>= lower, may be +inf), for example
        ``max_participation * volume_profile``; None means +inf.
    side : {'buy', 'sell'} or None, default None
        Direction of the parent order; None takes the model's side. It must match the model.
    volume_profile : None or array_like of shape (N,), default None
        Expected market volume per interval in shares (finite, >= 0), used by ``vwap``.
    price_volatility : None or array_like of shape (N,), default None
        Expected standard deviation of the mid-price change over each interval, dollars per
        share (finite, >= 0), used by risk-averse strategies such as ``almgren-chriss``.
    evidence : None or TrainingEvidence, default None
        What the training window says about the uncertainty of ``model`` (each training
        day's own parameters, the pooled fit's standard errors), used by ``robust``; the
        evaluator fills it in (:func:`simulator.plan.prepare_inputs`).  Strategies that do
        not use it ignore it.

    Raises
    ------
    InvalidParameterError
        If a field is out of range (message names the field, the constraint and the value).
    InfeasibleProblemError
        If ``sum(lower) > S`` or ``sum(upper) < S``; the message states the shortfall in shares.
    InvalidTypeError
        If ``model`` does not provide the impact-model interface.
    """

    model: Any
    total_shares: float
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    side: str | None = None
    volume_profile: np.ndarray | None = field(default=None)
    price_volatility: np.ndarray | None = field(default=None)
    evidence: TrainingEvidence | None = field(default=None)

    def __post_init__(self) -> None:
        model = self.model
        for attr in ("n_intervals", "total_cost", "marginal_cost", "kind"):
            if not hasattr(model, attr):
                raise InvalidTypeError(
                    f"model must be an impact model (models.BaseImpact) with {attr!r}; "
                    f"got {type(model).__name__}"
                )
        n = int(model.n_intervals)
        try:
            s = float(self.total_shares)
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(
                f"total_shares must be a number; got {self.total_shares!r}"
            ) from exc
        if not np.isfinite(s) or s <= 0:
            raise InvalidParameterError(f"total_shares must be finite and > 0; got {s!r}")
        lower = as_bounds(self.lower, n, "lower", 0.0)
        upper = as_bounds(self.upper, n, "upper", np.inf)
        if not np.all(np.isfinite(lower)):
            i = int(np.argmax(~np.isfinite(lower)))
            raise InvalidParameterError(f"lower must be finite; got lower[{i}] = {lower[i]!r}")
        if np.any(lower < 0):
            i = int(np.argmax(lower < 0))
            raise InvalidParameterError(f"lower must be >= 0; got lower[{i}] = {lower[i]!r}")
        if np.any(upper < lower):
            i = int(np.argmax(upper < lower))
            raise InvalidParameterError(
                f"upper must be >= lower; got upper[{i}] = {upper[i]!r} < lower[{i}] = {lower[i]!r}"
            )
        model_side = getattr(model, "side", None)
        side = model_side if self.side is None else self.side
        if side is None:
            side = "buy"
        if side not in _SIDES:
            raise InvalidParameterError(f"side must be 'buy' or 'sell'; got {side!r}")
        if model_side is not None and side != model_side:
            raise InvalidParameterError(
                f"side must match the model's side {model_side!r}; got {side!r}"
            )
        if self.evidence is not None:
            if not isinstance(self.evidence, TrainingEvidence):
                raise InvalidTypeError(
                    f"evidence must be a TrainingEvidence or None; got "
                    f"{type(self.evidence).__name__}"
                )
            if self.evidence.n_intervals != n:
                raise InvalidParameterError(
                    f"evidence must have the model's {n} intervals; got {self.evidence.n_intervals}"
                )
            if self.evidence.kind != model.kind:
                raise InvalidParameterError(
                    f"evidence must belong to the model's kind {model.kind!r}; got "
                    f"{self.evidence.kind!r}"
                )
        profile = _profile(self.volume_profile, n, "volume_profile")
        volatility = _profile(self.price_volatility, n, "price_volatility")
        lo_sum = float(lower.sum())
        up_sum = float(upper.sum())
        if lo_sum > s * (1 + 1e-12):
            raise InfeasibleProblemError(
                f"sum(lower) must be <= total_shares; got sum(lower) = {lo_sum:.6g} > "
                f"{s:.6g} (excess {lo_sum - s:.6g} shares)"
            )
        if up_sum < s * (1 - 1e-12):
            raise InfeasibleProblemError(
                f"sum(upper) must be >= total_shares; got sum(upper) = {up_sum:.6g} < "
                f"{s:.6g} (shortfall {s - up_sum:.6g} shares)"
            )
        object.__setattr__(self, "total_shares", s)
        object.__setattr__(self, "lower", _readonly(lower))
        object.__setattr__(self, "upper", _readonly(upper))
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "volume_profile", profile)
        object.__setattr__(self, "price_volatility", volatility)

    @property
    def n_intervals(self) -> int:
        """N, the number of intervals of the model."""
        return int(self.model.n_intervals)

    @property
    def kind(self) -> str:
        """The model's kind: 'linear', 'power' or 'book'."""
        return str(self.model.kind)

    @property
    def has_bounds(self) -> bool:
        """True when some lower bound is positive or some upper bound finite."""
        return bool(np.any(self.lower > 0) or np.any(np.isfinite(self.upper)))

    def objective(self, x: np.ndarray) -> float:
        """Total impact cost of schedule ``x`` under the problem's model, in dollars."""
        return float(np.sum(self.model.total_cost(np.asarray(x, dtype=float))))

    def __repr__(self) -> str:
        return (
            f"AllocationProblem(kind={self.kind!r}, n_intervals={self.n_intervals}, "
            f"total_shares={self.total_shares:.6g}, side={self.side!r}, "
            f"bounded={self.has_bounds})"
        )
