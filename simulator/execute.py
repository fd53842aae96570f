"""Executing one test day's orders on its market: fixed schedules and adaptive policies.

Both produce an :class:`Execution` (labels, executed schedules, realisation), which
:mod:`simulator.score` turns into rows:

* fixed schedules are charged in one vectorised :meth:`simulator.market.Market.realize`
  call (:func:`execute_schedules`);
* adaptive policies (:class:`strategies.AdaptivePolicy`) are executed by stepping the
  market (:func:`step_policies`): every parent order of every policy and size steps
  together, one :meth:`~simulator.market.Market.step` call per interval for the vector of
  child orders.  At interval t each order's policy gets an :class:`strategies.Observation`
  built from read-only copies of the book that opens t and of the volume of the finished
  intervals (nothing later exists in it), decides, and its decision is checked and clipped
  into what is still feasible (:func:`strategies.policy.feasible_range`: >= 0, within the
  caps, never more than the remaining shares, enough left for the later caps; the last
  interval takes the remainder, so the total is S).

A policy that raises, exits, returns garbage (not a ``(shares, state)`` pair, or shares that
are not one finite number) or exceeds its time budget fails its own order: its later child
orders are 0, its rows are failures naming it, and the other orders step on unchanged.  The
time budget is ``strategy_timeout_s`` for all decisions of one order of the day together; in
the main thread of a process (serial runs, loky workers) a POSIX interval timer (one per
interval, see ``_Budget``) interrupts a decision that exceeds what is left of it, elsewhere
(threading, Dask) the order fails once a decision returns past the budget.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from signal import ITIMER_REAL, setitimer
from time import perf_counter

import numpy as np

from models.errors import InvalidParameterError
from strategies import (
    AdaptivePolicy,
    AllocationProblem,
    IntervalSnapshot,
    Observation,
    check_schedule,
    feasible_range,
)

from .market import Market, Realization, build_realization, realization_from_steps

__all__ = [
    "Execution",
    "PolicyOrder",
    "SteppedOrders",
    "concat_executions",
    "execute_schedules",
    "step_policies",
]

_CLIP_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class Execution:
    """The realised execution of a batch of orders of one size on one day.

    Attributes
    ----------
    labels : tuple of str
        Strategy labels, one per row of the arrays.
    schedules : ndarray, shape (K, N)
        Shares traded per interval (what was executed).
    realization : Realization
        Per-interval fills and costs from the market, arrays of shape (K, N).
    clipped : tuple of int, optional
        Per label, the number of decided child orders the evaluator changed to keep them
        feasible (0 for fixed schedules); empty means all 0.
    """

    labels: tuple[str, ...]
    schedules: np.ndarray
    realization: Realization
    clipped: tuple[int, ...] = ()


def execute_schedules(
    market: Market, day: int, labels: tuple[str, ...], schedules: np.ndarray, side: str
) -> Execution:
    """Charge fixed schedules their realised impact on one day of ``market``.

    Parameters
    ----------
    market : Market
        The market that charges (test-day books, transient and permanent impact).
    day : int
        Day position in the market's books.
    labels : tuple of str
        One label per schedule.
    schedules : ndarray, shape (K, N)
        Shares per interval, checked before (finite, >= 0, sums and bounds).
    side : {'buy', 'sell'}

    Returns
    -------
    Execution
    """
    batch = np.asarray(schedules, dtype=float)
    return Execution(
        labels=tuple(labels), schedules=batch, realization=market.realize(day, batch, side=side)
    )


@dataclass(frozen=True, eq=False)
class PolicyOrder:
    """One parent order to execute with an adaptive policy.

    Attributes
    ----------
    label : str
        The policy's label in results.
    policy : AdaptivePolicy
        The policy (placeholders already resolved).
    problem : AllocationProblem
        The parent order: S, bounds, the model fitted on the training window.
    """

    label: str
    policy: AdaptivePolicy
    problem: AllocationProblem


@dataclass(frozen=True, eq=False)
class SteppedOrders:
    """Outcome of :func:`step_policies`, one entry per order, in the order given.

    Attributes
    ----------
    schedules : ndarray, shape (M, N)
        Executed child orders, shares (a failed order's row holds what it executed before
        failing, then zeros).
    realization : Realization
        The market's fills and costs, arrays of shape (M, N).
    errors : tuple of str
        '' for an order that finished, else why it failed (one line naming the policy).
    decide_ms : ndarray, shape (M,)
        Wall time of ``start`` plus all decisions, milliseconds.
    clipped : ndarray of int, shape (M,)
        Decisions changed by more than 1e-9 S by the feasibility clip.
    """

    schedules: np.ndarray
    realization: Realization
    errors: tuple[str, ...]
    decide_ms: np.ndarray
    clipped: np.ndarray

    def execution(self, rows: Sequence[int], labels: Sequence[str]) -> Execution:
        """The :class:`Execution` of the given rows (finished orders), labelled."""
        idx = np.asarray(rows, dtype=int)
        return Execution(
            labels=tuple(labels),
            schedules=self.schedules[idx],
            realization=_take(self.realization, idx),
            clipped=tuple(int(c) for c in self.clipped[idx]),
        )


class _Alarm(BaseException):
    """A policy's decision ran out of time (a BaseException, so that the policy's own
    ``except Exception`` cannot swallow it)."""


class _Budget:
    """Per-order wall-clock budgets of the decisions, with a timer that interrupts them.

    In the main thread one POSIX interval timer is armed per interval (not per decision:
    arming costs more than a decision), for the smallest budget left among the orders
    still deciding.  When it fires inside order i's call: if i has used up its budget, i
    fails; otherwise the interval's time went to other orders, so i gets a timer for what
    it has left and its (pure) decision is made again.  A firing between calls is ignored
    and the timer re-armed at the next call.  Elsewhere (threads) nothing interrupts a
    call, and an order fails once a call returns past its budget.
    """

    def __init__(self, timeout_s: float | None, n_orders: int) -> None:
        self.timeout_s = timeout_s
        self.limit = math.inf if timeout_s is None else float(timeout_s)
        self.spent = [0.0] * n_orders  # seconds, plain floats (updated every decision)
        self.use_alarm = (
            timeout_s is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
        )
        self._inside = False
        self._expired = False
        self._previous = None

    def __enter__(self):
        if self.use_alarm:

            def on_alarm(signum, frame):
                if self._inside:
                    raise _Alarm
                self._expired = True

            self._previous = signal.signal(signal.SIGALRM, on_alarm)
        return self

    def __exit__(self, *exc) -> None:
        if self.use_alarm:
            setitimer(ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, self._previous)

    def arm(self, orders) -> None:
        """Arm the timer for the smallest budget left among ``orders`` (indices)."""
        if self.use_alarm and orders:
            left = min(self.limit - self.spent[i] for i in orders)
            self._expired = False
            setitimer(ITIMER_REAL, max(left, 1e-6))

    def disarm(self) -> None:
        """Stop the timer (end of an interval)."""
        if self.use_alarm:
            setitimer(ITIMER_REAL, 0.0)

    def call(self, i: int, fn, *args):
        """``fn(*args)`` charged to order i; raises _Alarm when its budget runs out."""
        spent = self.spent
        while True:
            if self._expired:
                self._expired = False
                setitimer(ITIMER_REAL, max(self.limit - spent[i], 1e-6))
            start = perf_counter()
            self._inside = True
            try:
                out = fn(*args)
            except _Alarm:
                self._inside = False
                spent[i] += perf_counter() - start
                if spent[i] >= self.limit:
                    raise
                setitimer(ITIMER_REAL, max(self.limit - spent[i], 1e-6))
                continue
            finally:
                self._inside = False
            spent[i] += perf_counter() - start
            if spent[i] > self.limit:
                raise _Alarm
            return out


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure(label: str, exc: BaseException, budget: _Budget, interval: int | None) -> str:
    where = "" if interval is None else f" at interval {interval}"
    if isinstance(exc, _Alarm):
        return (
            f"strategy {label!r} did not decide within strategy_timeout_s = "
            f"{budget.timeout_s:g} s{where}"
        )
    if isinstance(exc, SystemExit):
        return (
            f"strategy {label!r} called sys.exit({exc.code!r}){where}; a policy must return "
            "(shares, state)"
        )
    return f"strategy {label!r} raised {_describe(exc)}{where}"


class _Garbage(ValueError):
    """What a policy returned is not a decision."""


def _shares(label: str, raw, interval: int) -> tuple[float, object]:
    """(shares, state) from what ``decide`` returned, or _Garbage naming the rule."""
    if not (isinstance(raw, tuple) and len(raw) == 2):
        raise _Garbage(
            f"strategy {label!r}: decide must return (shares, state); got "
            f"{type(raw).__name__} at interval {interval}"
        )
    value, state = raw
    if type(value) is float and value - value == 0.0:  # the common case: a finite float
        return value, state
    try:
        if np.ndim(value) != 0:
            raise TypeError(f"shape {np.shape(value)}")
        shares = float(value)
    except (TypeError, ValueError) as exc:
        raise _Garbage(
            f"strategy {label!r}: decide must return one number of shares; got "
            f"{type(value).__name__} ({' '.join(str(exc).split())}) at interval {interval}"
        ) from None
    if not np.isfinite(shares):
        raise _Garbage(
            f"strategy {label!r}: decided shares must be finite; got {shares!r} at "
            f"interval {interval}"
        )
    return shares, state


def _snapshot(market: Market, day: int, t: int) -> IntervalSnapshot:
    books = market.books
    # IntervalSnapshot copies every array: nothing it holds is a view of the day's arrays.
    return IntervalSnapshot(
        interval=t,
        bid_px=books.bid_px[day, t],
        bid_sz=books.bid_sz[day, t],
        ask_px=books.ask_px[day, t],
        ask_sz=books.ask_sz[day, t],
        past_volume=books.volume[day, :t],
    )


def step_policies(
    market: Market,
    day: int,
    side: str,
    orders: Sequence[PolicyOrder],
    timeout_s: float | None = None,
    lot_size: float = 0.0,
) -> SteppedOrders:
    """Execute adaptive policies interval by interval on one day of ``market``.

    Parameters
    ----------
    market : Market
        The market that charges (the test day's books, transient and permanent impact).
    day : int
        Day position in the market's books.
    side : {'buy', 'sell'}
    orders : sequence of PolicyOrder
        Every (policy, size) to execute; they step together, one market call per interval.
    timeout_s : float, optional
        Wall-clock budget of one order's ``start`` and decisions together, seconds.
    lot_size : float, default 0
        Round every decision to whole lots of this many shares and clip it into the
        whole-lot part of the feasible range (0: no rounding); where caps that are not whole
        lots leave no whole-lot choice, the clip to the range itself wins.

    Returns
    -------
    SteppedOrders

    Raises
    ------
    InvalidParameterError
        If ``orders`` is empty.
    """
    m = len(orders)
    if m == 0:
        raise InvalidParameterError("orders must hold at least one PolicyOrder; got none")
    n = market.n_intervals
    budget = _Budget(timeout_s, m)
    states: list[object] = [None] * m
    errors = [""] * m
    totals = np.array([o.problem.total_shares for o in orders], dtype=float)
    # Bounds as (interval, order) rows: one contiguous row per interval.
    lower = np.stack([o.problem.lower for o in orders], axis=1)
    upper = np.stack([o.problem.upper for o in orders], axis=1)
    later_lower = np.concatenate([np.cumsum(lower[::-1], axis=0)[::-1], np.zeros((1, m))])
    later_upper = np.concatenate([np.cumsum(upper[::-1], axis=0)[::-1], np.zeros((1, m))])
    remaining = totals.copy()
    executed_usd = np.zeros(m)
    last_shares = np.zeros(m)
    last_usd = np.zeros(m)
    clipped = np.zeros(m, dtype=int)
    gamma = market.permanent_impact
    fills = []
    state = market.start(day, m, side)
    with budget:
        budget.arm(range(m))
        for i, order in enumerate(orders):
            try:
                states[i] = budget.call(i, order.policy.start, order.problem)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                errors[i] = _failure(order.label, exc, budget, None)
        budget.disarm()
        total_list = totals.tolist()
        decide = [o.policy.decide for o in orders]
        live_orders = [i for i in range(m) if not errors[i]]
        for t in range(n):
            snapshot = _snapshot(market, day, t)
            decided_list = [np.nan] * m
            # Plain floats for the observations (numpy scalars cost more to build them).
            rem, spent, last_x, last_c = (
                remaining.tolist(),
                executed_usd.tolist(),
                last_shares.tolist(),
                last_usd.tolist(),
            )
            depleted, shift = state.depletion.tolist(), (gamma * state.traded).tolist()
            budget.arm(live_orders)
            for i in live_orders:
                obs = Observation(
                    t,
                    n,
                    snapshot,
                    rem[i],
                    total_list[i] - rem[i],
                    spent[i],
                    last_x[i],
                    last_c[i],
                    depleted[i],
                    shift[i],
                )
                try:
                    raw = budget.call(i, decide[i], states[i], obs)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    errors[i] = _failure(orders[i].label, exc, budget, t)
                    continue
                try:
                    decided_list[i], states[i] = _shares(orders[i].label, raw, t)
                except _Garbage as exc:
                    errors[i] = str(exc)
            budget.disarm()
            live_orders = [i for i in live_orders if not errors[i]]
            decided = np.array(decided_list)
            # Every decision checked above, clipped here into what is still feasible.
            live = np.isfinite(decided)
            lo, hi = feasible_range(
                remaining, lower[t], upper[t], later_lower[t + 1], later_upper[t + 1]
            )
            wanted = np.where(live, decided, 0.0)
            if lot_size > 0:
                # Whole lots, within the whole-lot part of the range where it has one.
                wanted = lot_size * np.round(wanted / lot_size)
                lo_lots = lot_size * np.ceil(lo / lot_size - 1e-9)
                hi_lots = lot_size * np.floor(hi / lot_size + 1e-9)
                whole = lo_lots <= hi_lots
                lo, hi = np.where(whole, lo_lots, lo), np.where(whole, hi_lots, hi)
            x = np.where(live, np.minimum(np.maximum(wanted, lo), hi), 0.0)
            clipped += live & (np.abs(x - wanted) > _CLIP_RTOL * totals)
            fill, state = market.step(state, x)
            fills.append(fill)
            remaining = np.maximum(remaining - x, 0.0)
            executed_usd += fill.impact_cost_usd
            last_shares = x
            last_usd = fill.impact_cost_usd
    realization = realization_from_steps(fills, state)
    schedules = np.array(realization.shares)
    for i, order in enumerate(orders):
        if not errors[i]:
            try:
                check_schedule(schedules[i], order.problem)
            except ValueError as exc:
                errors[i] = f"strategy {order.label!r}: executed schedule invalid: {exc}"
    return SteppedOrders(
        schedules=schedules,
        realization=realization,
        errors=tuple(errors),
        decide_ms=1e3 * np.asarray(budget.spent),
        clipped=clipped,
    )


def _take(real: Realization, idx: np.ndarray) -> Realization:
    return build_realization(
        lambda name: np.array(getattr(real, name)[idx]), real.arrival_mid, real.side, real.day
    )


def concat_executions(parts: Sequence[Execution], order: Sequence[str] | None = None) -> Execution:
    """One :class:`Execution` holding the rows of ``parts`` (same day and side).

    Parameters
    ----------
    parts : sequence of Execution
    order : sequence of str, optional
        Labels in the order wanted (each label of ``parts`` exactly once); default: the
        order of ``parts``.

    Raises
    ------
    InvalidParameterError
        If ``parts`` holds no order, or ``order`` is not a permutation of their labels.
    """
    parts = [p for p in parts if len(p.labels)]
    if not parts:
        raise InvalidParameterError("parts must hold at least one executed order; got none")
    labels = [label for p in parts for label in p.labels]
    if order is None:
        order = labels
    if sorted(order) != sorted(labels):
        raise InvalidParameterError(
            f"order must list the labels {labels} once each; got {list(order)}"
        )
    idx = np.array([labels.index(label) for label in order], dtype=int)
    first = parts[0].realization

    realization = build_realization(
        lambda name: np.concatenate([np.atleast_2d(getattr(p.realization, name)) for p in parts])[
            idx
        ],
        first.arrival_mid,
        first.side,
        first.day,
    )
    clipped = []
    for p in parts:
        clipped += list(p.clipped) if p.clipped else [0] * len(p.labels)
    return Execution(
        labels=tuple(order),
        schedules=np.concatenate([np.atleast_2d(p.schedules) for p in parts])[idx],
        realization=realization,
        clipped=tuple(clipped[i] for i in idx),
    )
