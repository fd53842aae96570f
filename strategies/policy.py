"""Adaptive policies: plan at the open, then decide every child order from what was observed.

A static strategy fixes its whole schedule before the open.  An *adaptive policy* is a
strategy (a frozen dataclass, registered and configured like any other) that also trades
closed-loop:

* ``schedule(problem)`` is its **plan at the open**, made from the training window only like
  any strategy's schedule; the evaluator reports its predicted cost
  (``predicted_cost(problem, plan)``) as the row's prediction;
* ``start(problem) -> state`` returns the policy's initial state for one parent order;
* ``decide(state, observation) -> (shares, state)`` is called once per interval t = 0 .. N-1,
  in order, and returns the shares to trade in interval t and the new state.

Policies are **pure**: everything a policy remembers lives in the state it returns (no
attribute is set on the policy, no global), the same inputs give the same outputs, and
policy, state and observations pickle.  The evaluator checks every decided child order and
clips it into what is still feasible (:func:`feasible_range`); the last interval receives
the remainder, so the executed schedule always sums to S.

What an observation holds, and why nothing later is reachable
-------------------------------------------------------------
:class:`Observation` of interval t carries the test day's book that opens t
(:class:`IntervalSnapshot`: both sides' levels, and the continuous volume of the intervals
already finished, 0 .. t-1, never that of t, which is not known at its start), the policy's
own executions so far (total shares and impact cost, and the last child order's), the shares
remaining, the intervals left, and the market's state caused by the policy's own orders
(unrecovered depletion, permanent price shift).  Every array in it is a read-only copy made
when the observation is built (:func:`models.frozen.frozen_array`): no observation holds a
view of, or a reference to, the day's arrays or the market, so a later snapshot cannot be
reached from it, whatever the policy does.  Earlier snapshots are the policy's to keep in its
state if it needs them (it saw every one of them).

Units: shares, dollars, dollars per share; intervals are 0-based.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from models.book_walk import side_sign
from models.errors import InvalidParameterError
from models.frozen import frozen_array

from .base import Strategy
from .problem import AllocationProblem

__all__ = [
    "AdaptivePolicy",
    "IntervalSnapshot",
    "Observation",
    "feasible_range",
    "is_adaptive",
]


@dataclass(frozen=True, eq=False)
class IntervalSnapshot:
    """The test day's book that opens interval t, and the volume of the finished intervals.

    Every array is copied on construction into a read-only buffer of its own: a snapshot
    never shares memory with the arrays it was built from.

    Parameters
    ----------
    interval : int
        t, 0-based.
    bid_px, ask_px : array_like, shape (L,)
        Level prices, dollars (NaN for an empty level), as replayed: without the policy's own
        impact (see :attr:`Observation.own_price_shift_usd`).
    bid_sz, ask_sz : array_like, shape (L,)
        Displayed shares per level (0 where empty), as replayed.
    past_volume : array_like, shape (t,)
        Continuous volume of intervals 0 .. t-1, shares.

    Raises
    ------
    InvalidParameterError
        If the shapes disagree or ``past_volume`` does not have ``interval`` entries.
    """

    interval: int
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    past_volume: np.ndarray

    def __post_init__(self) -> None:
        t = int(self.interval)
        if t < 0:
            raise InvalidParameterError(f"interval must be >= 0; got {self.interval!r}")
        names = ("bid_px", "bid_sz", "ask_px", "ask_sz")
        try:
            raw = [np.asarray(getattr(self, name), dtype=float) for name in names]
            volume = np.asarray(self.past_volume, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"snapshot arrays must be numeric; got {exc}") from exc
        shape = raw[0].shape
        if len(shape) != 1 or any(a.shape != shape for a in raw):
            raise InvalidParameterError(
                "bid_px, bid_sz, ask_px and ask_sz must have one shape (L,); got "
                f"{[a.shape for a in raw]}"
            )
        if volume.shape != (t,):
            raise InvalidParameterError(
                f"past_volume must have shape ({t},) at interval {t}; got {volume.shape}"
            )
        # One read-only copy of everything (models.frozen), sliced: no view of the caller's
        # arrays, and nobody can switch writing back on.
        frozen = frozen_array(np.concatenate([*raw, volume]))
        n_levels = shape[0]
        arrays = {name: frozen[i * n_levels : (i + 1) * n_levels] for i, name in enumerate(names)}
        volume = frozen[4 * n_levels :]
        object.__setattr__(self, "interval", t)
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "past_volume", volume)
        mid = self.mid_usd
        object.__setattr__(self, "_ask_summary", _summary(self.ask_px, self.ask_sz, mid, 1.0))
        object.__setattr__(self, "_bid_summary", _summary(self.bid_px, self.bid_sz, mid, -1.0))

    @property
    def mid_usd(self) -> float:
        """Mid (best bid + best ask) / 2, dollars."""
        return 0.5 * (float(self.bid_px[0]) + float(self.ask_px[0]))

    @property
    def spread_usd(self) -> float:
        """Quoted spread best ask - best bid, dollars."""
        return float(self.ask_px[0]) - float(self.bid_px[0])

    def side_levels(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(price, size) of the side a ``side`` order walks (asks for a buy), shape (L,)."""
        if side_sign(side) > 0:
            return self.ask_px, self.ask_sz
        return self.bid_px, self.bid_sz

    def side_summary(self, side: str) -> tuple[float, float, float]:
        """(touch offset, visible depth, mean offset) of the side a ``side`` order walks.

        Offsets are from the mid in the order's direction, dollars per share: the touch
        offset is the half spread on a symmetric book, the mean offset is the slippage of an
        order walking the whole visible side (its VWAP minus the mid, for a buy).  The
        visible depth is in shares.  NaN when the side is empty.  Computed once, when the
        snapshot is built (every order of the interval shares it).
        """
        return self._ask_summary if side_sign(side) > 0 else self._bid_summary


def _summary(px: np.ndarray, sz: np.ndarray, mid: float, sign: float):
    visible = weighted = 0.0
    # Ten-odd levels: plain floats beat numpy's per-call overhead here.
    for price, size in zip(px.tolist(), sz.tolist(), strict=True):
        if not (size > 0 and price == price):
            break  # empty levels trail (BookSnapshots)
        visible += size
        weighted += size * sign * (price - mid)
    if visible > 0 and mid == mid:
        return (sign * (float(px[0]) - mid), visible, weighted / visible)
    return (np.nan, np.nan, np.nan)


@dataclass(frozen=True, eq=False)
class Observation:
    """What an adaptive policy knows at the start of interval t of the test day.

    Attributes
    ----------
    interval : int
        t, 0-based.
    n_intervals : int
        N, intervals in the day.
    snapshot : IntervalSnapshot
        The book that opens t and the volume of intervals 0 .. t-1.
    remaining_shares : float
        Shares still to trade in t .. N-1 (S minus what was executed).
    executed_shares : float
        Shares executed in 0 .. t-1.
    executed_cost_usd : float
        Their realised impact cost, dollars (fills versus each interval's own mid).
    last_shares : float
        The child order executed in t-1 (0 at t = 0), shares, after the evaluator's clipping.
    last_cost_usd : float
        Its realised impact cost, dollars (0 at t = 0).
    own_depletion_shares : float
        Shares of the walked side the policy's earlier orders consumed that have not
        recovered yet (the market's transient state; 0 without transient impact): the
        child order at t walks the snapshot with its first ``own_depletion_shares`` shares
        gone.
    own_price_shift_usd : float
        Permanent impact of the policy's earlier orders, dollars per share in the trade
        direction (up for a buy, down for a sell): every price of the snapshot, mid
        included, is shifted by it for this order (0 without permanent impact).
    """

    interval: int
    n_intervals: int
    snapshot: IntervalSnapshot
    remaining_shares: float
    executed_shares: float
    executed_cost_usd: float
    last_shares: float = 0.0
    last_cost_usd: float = 0.0
    own_depletion_shares: float = 0.0
    own_price_shift_usd: float = 0.0

    @property
    def intervals_left(self) -> int:
        """Intervals t .. N-1 still to come, this one included."""
        return self.n_intervals - self.interval

    @property
    def is_last(self) -> bool:
        """True at the last interval, where the remainder is traded whatever is decided."""
        return self.interval == self.n_intervals - 1


def feasible_range(remaining, lower, upper, later_lower, later_upper):
    """The child orders of interval t that keep the rest of the order feasible, shares.

    ``lo = min(max(lower_t, R - sum_{s>t} upper_s, 0), R)`` and
    ``hi = max(min(upper_t, R - sum_{s>t} lower_s, R), lo)`` with R the remaining shares:
    any x in [lo, hi] leaves a remainder that the later intervals can still hold within
    their bounds.  At the last interval (both sums 0) lo = hi = R: the remainder is forced.
    Works on floats or on arrays (one entry per order).

    Parameters
    ----------
    remaining : float or ndarray
        R, shares not yet executed.
    lower, upper : float or ndarray
        ``lower_t`` and ``upper_t``, shares.
    later_lower, later_upper : float or ndarray
        ``sum_{s>t} lower_s`` and ``sum_{s>t} upper_s``, shares (0 at the last interval).

    Returns
    -------
    (lo, hi)
        Floats or arrays, lo <= hi <= R, shares.
    """
    lo = np.minimum(np.maximum(np.maximum(lower, remaining - later_upper), 0.0), remaining)
    hi = np.maximum(np.minimum(np.minimum(upper, remaining - later_lower), remaining), lo)
    return lo, hi


@dataclass(frozen=True)
class AdaptivePolicy(Strategy):
    """Base class of adaptive policies: a Strategy that also decides interval by interval.

    Subclasses are frozen dataclasses (``@dataclass(frozen=True)``) and implement
    :meth:`schedule` (the plan at the open), :meth:`start` and :meth:`decide`.  ``start``
    gets the problem checked like ``schedule`` does (an AllocationProblem of a supported
    kind).

    Attributes
    ----------
    adaptive : ClassVar[bool]
        True: the evaluator executes the policy by stepping the market
        (:func:`is_adaptive`).
    """

    adaptive: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("start")
        if own is None or getattr(own, "__isabstractmethod__", False):
            return
        if getattr(own, "_checks_problem", False):
            return

        @functools.wraps(own)
        def start(self, problem, *args, **kw):
            return own(self, self._check(problem), *args, **kw)

        start._checks_problem = True
        cls.start = start

    @abstractmethod
    def start(self, problem: AllocationProblem) -> Any:
        """The initial state of one parent order (picklable; the policy is not changed)."""

    @abstractmethod
    def decide(self, state: Any, observation: Observation) -> tuple[float, Any]:
        """Shares to trade in ``observation.interval`` and the new state.

        Parameters
        ----------
        state : object
            What :meth:`start` or the previous ``decide`` returned.
        observation : Observation
            The book that opens the interval, the executions so far and what remains.

        Returns
        -------
        (float, object)
            The child order in shares (finite; the evaluator clips it into
            :func:`feasible_range`) and the state to pass to the next call.
        """


def is_adaptive(strategy: object) -> bool:
    """True for an :class:`AdaptivePolicy` (executed by stepping), False for a static one."""
    return isinstance(strategy, AdaptivePolicy)
