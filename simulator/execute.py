"""Executing the planned schedules of one order size on the test day's market.

Static schedules are fixed before the open, so the whole batch is charged in one vectorised
:meth:`simulator.market.Market.realize` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .market import Market, Realization

__all__ = ["Execution", "execute_schedules"]


@dataclass(frozen=True, eq=False)
class Execution:
    """The realised execution of a batch of schedules of one order size.

    Attributes
    ----------
    labels : tuple of str
        Strategy labels, one per row of the arrays.
    schedules : ndarray, shape (K, N)
        Shares traded per interval (what was executed).
    realization : Realization
        Per-interval fills and costs from the market, arrays of shape (K, N).
    """

    labels: tuple[str, ...]
    schedules: np.ndarray
    realization: Realization


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
