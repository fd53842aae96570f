"""Strategy protocol: a frozen dataclass turning an AllocationProblem into a schedule."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from models.errors import InvalidParameterError, InvalidTypeError, TradeallocError

from .problem import AllocationProblem

__all__ = ["Strategy", "OptimizingStrategy", "SolveResult", "SolverError", "check_problem"]


class SolverError(TradeallocError, RuntimeError):
    """A numerical solver did not return a trustworthy schedule (``success`` is False)."""


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Outcome of one numerical solve, in the spirit of ``scipy.optimize.OptimizeResult``.

    Attributes
    ----------
    x : ndarray of shape (N,)
        Schedule in shares per interval (the solver's answer, repaired to the exact total
        and the bounds only when its own violation was within tolerance).
    success : bool
        True when the solver converged and the schedule satisfies the constraints.
    message : str
        Solver status in words; says which constraint was violated when ``success`` is False.
    objective : float
        Total impact cost of ``x`` under the problem's model, in dollars.
    n_iter : int
        Iterations the solver used (0 for closed forms).
    solve_ms : float
        Wall-clock solve time in milliseconds.
    """

    x: np.ndarray
    success: bool
    message: str
    objective: float
    n_iter: int
    solve_ms: float


def check_problem(problem: object, strategy_name: str) -> AllocationProblem:
    """Return ``problem`` if it is an AllocationProblem, else raise InvalidTypeError."""
    if not isinstance(problem, AllocationProblem):
        raise InvalidTypeError(
            f"problem of strategy {strategy_name!r} must be an AllocationProblem; "
            f"got {type(problem).__name__}"
        )
    return problem


@dataclass(frozen=True)
class Strategy(ABC):
    """Base class of every strategy: a pure, frozen, keyword-friendly dataclass.

    Subclasses set the class attributes and implement :meth:`schedule`.

    Attributes
    ----------
    name : ClassVar[str]
        Registry name, e.g. ``'equal'``.
    description : ClassVar[str]
        One-line description shown by ``available_strategies()``.
    optimizes_model : ClassVar[bool]
        True for strategies that minimise the problem's model cost (the contract checks then
        require them never to be worse than ``equal``).
    supported_kinds : ClassVar[tuple[str, ...]]
        Model kinds the strategy accepts.
    invalid_params : ClassVar[tuple[dict, ...]]
        Examples of bad parameters the contract checks use; each must raise
        InvalidParameterError naming the parameter.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    optimizes_model: ClassVar[bool] = False
    supported_kinds: ClassVar[tuple[str, ...]] = ("linear", "power", "book")
    invalid_params: ClassVar[tuple[dict, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        """Check the problem before every subclass's ``schedule`` runs.

        A plugin's ``schedule`` therefore never sees anything but an AllocationProblem of a
        kind it declares in ``supported_kinds``; otherwise InvalidTypeError or
        InvalidParameterError is raised naming the strategy, the kind and the value.
        """
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("schedule")
        if own is None or getattr(own, "__isabstractmethod__", False):
            return
        if getattr(own, "_checks_problem", False):
            return

        @functools.wraps(own)
        def schedule(self, problem, *args, **kw):
            return own(self, self._check(problem), *args, **kw)

        schedule._checks_problem = True
        cls.schedule = schedule

    @abstractmethod
    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """Return the schedule in shares per interval, shape (N,), summing to S within bounds."""

    def predicted_cost(self, problem: AllocationProblem, schedule: np.ndarray) -> float:
        """The cost this strategy's own planning model predicts for ``schedule``, dollars.

        The evaluator reports it as ``predicted_cost_usd`` (the gap to the realised cost is
        the central measurement).  The default is the problem's model cost
        ``sum_t c_t(x_t)``; a strategy that plans with more than the problem's model (for
        example the book's own depletion) overrides this so its prediction states what it
        believed.
        """
        return problem.objective(schedule)

    def _check(self, problem: object) -> AllocationProblem:
        problem = check_problem(problem, self.name or type(self).__name__)
        if problem.kind not in self.supported_kinds:
            raise InvalidParameterError(
                f"model kind of strategy {self.name!r} must be one of "
                f"{list(self.supported_kinds)}; got {problem.kind!r}"
            )
        return problem


@dataclass(frozen=True)
class OptimizingStrategy(Strategy):
    """A strategy computed by a numerical solve that can fail and says so.

    ``solve(problem)`` returns a :class:`SolveResult`; ``schedule(problem)`` returns its ``x``
    or raises :class:`SolverError` when ``success`` is False. The last result is kept in
    :attr:`last_result` (not a dataclass field: it does not affect equality).
    """

    optimizes_model: ClassVar[bool] = True

    @abstractmethod
    def solve(self, problem: AllocationProblem) -> SolveResult:
        """Solve ``problem`` and report the status; see :class:`SolveResult`."""

    @property
    def last_result(self) -> SolveResult | None:
        """The SolveResult of the most recent ``solve`` or ``schedule`` call, or None."""
        return self.__dict__.get("_last_result")

    def _remember(self, result: SolveResult) -> SolveResult:
        object.__setattr__(self, "_last_result", result)
        return result

    def schedule(self, problem: AllocationProblem) -> np.ndarray:
        """Return ``solve(problem).x``.

        Raises
        ------
        SolverError
            If the solve did not succeed; the message is the solver's.
        """
        result = self.solve(problem)
        if not result.success:
            raise SolverError(f"strategy {self.name!r} failed: {result.message}")
        return np.array(result.x, dtype=float)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_last_result", None)
        return state

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
