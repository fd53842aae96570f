"""Checking a schedule against its problem before anything is realised or ranked.

A strategy (built-in or plugin) returns an array; nothing guarantees it is a schedule of the
problem it was given.  :func:`check_schedule` is the one gate every schedule passes before
the evaluator realises it, and the contract checks of :mod:`strategies.testing` use it too.
The rules, with their tolerances:

* shape (N,), a numeric array;
* every entry finite and >= 0 shares (a buy buys and a sell sells: schedules are unsigned);
* ``|sum(x) - S| <= SUM_RTOL * S``;
* ``lower_t - BOUND_RTOL * S <= x_t <= upper_t + BOUND_RTOL * S`` for every interval.

A violation raises :class:`ScheduleError` whose one-line message names the rule and the
numbers, e.g. ``"sum(x) = 2,195 != S = 4,390 shares"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.errors import InvalidParameterError

from .problem import AllocationProblem

__all__ = ["ScheduleError", "check_schedule", "SUM_RTOL", "BOUND_RTOL"]

SUM_RTOL = 1e-9
"""Relative tolerance of the total: ``|sum(x) - S| <= SUM_RTOL * S``."""

BOUND_RTOL = 1e-9
"""Slack on the per-interval bounds, as a fraction of S (shares)."""


class ScheduleError(InvalidParameterError):
    """A schedule is not a valid answer to its allocation problem."""


def _shares(value: float) -> str:
    """Shares for a message: thousands separators, at most 6 significant digits."""
    if abs(value) >= 1e15 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.6g}"
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


def check_schedule(schedule: Any, problem: AllocationProblem) -> np.ndarray:
    """Return ``schedule`` as a float array of shape (N,) if it solves ``problem``.

    Parameters
    ----------
    schedule : array_like
        What a strategy returned: shares per interval.
    problem : AllocationProblem
        The problem it was asked to solve (N, S, lower and upper in shares).

    Returns
    -------
    ndarray of shape (N,)
        A new float array, shares per interval.

    Raises
    ------
    ScheduleError
        If the schedule is not numeric, has the wrong shape, has a non-finite or negative
        entry, does not sum to S within ``SUM_RTOL``, or leaves the bounds by more than
        ``BOUND_RTOL * S``; the message names the rule and the numbers.
    """
    n = problem.n_intervals
    s = problem.total_shares
    if schedule is None:
        raise ScheduleError(f"schedule must be an array of shape ({n},) shares; got None")
    try:
        x = np.array(schedule, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(
            f"schedule must be an array of shape ({n},) shares; got {type(schedule).__name__} "
            f"({' '.join(str(exc).split())})"
        ) from None
    if x.shape != (n,):
        raise ScheduleError(f"schedule must have shape ({n},); got shape {x.shape}")
    bad = ~np.isfinite(x)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ScheduleError(
            f"schedule must be finite; got x[{i}] = {float(x[i])!r} ({int(bad.sum())} non-finite)"
        )
    if np.any(x < 0):
        i = int(np.argmin(x))
        raise ScheduleError(
            f"schedule must be >= 0 shares in every interval; got x[{i}] = {_shares(x[i])} "
            f"({int((x < 0).sum())} negative)"
        )
    total = float(x.sum())
    if abs(total - s) > SUM_RTOL * s:
        raise ScheduleError(
            f"sum(x) = {_shares(total)} != S = {_shares(s)} shares "
            f"(relative error {abs(total - s) / s:.2e} > {SUM_RTOL:g})"
        )
    slack = BOUND_RTOL * s
    over = x - (problem.upper + slack)
    if np.any(over > 0):
        i = int(np.argmax(over))
        raise ScheduleError(
            f"x[{i}] = {_shares(x[i])} > upper[{i}] = {_shares(problem.upper[i])} shares "
            f"({int((over > 0).sum())} interval(s) above the cap)"
        )
    under = (problem.lower - slack) - x
    if np.any(under > 0):
        i = int(np.argmax(under))
        raise ScheduleError(
            f"x[{i}] = {_shares(x[i])} < lower[{i}] = {_shares(problem.lower[i])} shares "
            f"({int((under > 0).sum())} interval(s) below the floor)"
        )
    return x
