"""A third-party strategy plugin: a front-loaded blend of TWAP and a linearly falling profile.

Use it in a scenario without registering anything, either as an importable module (run from
the repository root, whose directory is then put on ``sys.path``)::

    strategies:
      - {name: "examples.custom_strategy:FrontLoaded", params: {front_weight: 0.5}}

or as a file path resolved against the scenario file's directory::

    strategies:
      - {name: "../examples/custom_strategy.py:FrontLoaded", params: {front_weight: 0.5}}

A package would instead advertise it through the ``tradealloc.strategies`` entry-point group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.errors import InvalidParameterError
from strategies import AllocationProblem, Strategy, project_capped_simplex

__all__ = ["FrontLoaded"]


@dataclass(frozen=True)
class FrontLoaded(Strategy):
    """Trade more early in the day: a blend of TWAP and a linearly decreasing schedule.

    The target is ``S * ((1 - w) / N + w * 2 (N - t) / (N (N + 1)))`` shares in interval
    ``t = 0 .. N-1`` (``w = front_weight``); both profiles sum to 1, so the target sums to
    ``S``.  With bounds, the result is the feasible schedule closest (Euclidean) to it.

    Parameters
    ----------
    front_weight : float, default 0.5
        Weight w of the linearly falling profile, in [0, 1]; 0 is TWAP, 1 trades the first
        interval N times as much as the last.
    """

    name: ClassVar[str] = "front-loaded"
    description: ClassVar[str] = "Blend of TWAP and a linearly falling schedule (example plugin)"
    invalid_params: ClassVar[tuple[dict, ...]] = ({"front_weight": -0.1}, {"front_weight": 1.5})

    front_weight: float = 0.5

    def __post_init__(self) -> None:
        w = self.front_weight
        if (
            isinstance(w, bool)
            or not isinstance(w, int | float)
            or not (math.isfinite(w) and 0.0 <= w <= 1.0)
        ):
            raise InvalidParameterError(f"front_weight must be in [0, 1]; got {w!r}")

    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """Return the front-loaded schedule in shares per interval, shape (N,).

        Parameters
        ----------
        problem : AllocationProblem

        Returns
        -------
        ndarray of shape (N,)
            Shares per interval, summing to ``problem.total_shares`` within the bounds.
        """
        problem = self._check(problem)
        n = problem.n_intervals
        falling = 2.0 * (n - np.arange(n)) / (n * (n + 1.0))
        weights = (1.0 - self.front_weight) / n + self.front_weight * falling
        target = problem.total_shares * weights
        if not problem.has_bounds:
            return target
        return project_capped_simplex(target, problem.total_shares, problem.lower, problem.upper)[0]
