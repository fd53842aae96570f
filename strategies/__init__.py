"""Allocation problems, strategy plugins and exact solvers."""

from .adaptive import AdaptiveStrategy
from .almgren_chriss import (
    AlmgrenChrissStrategy,
    AlmgrenChrissTrajectory,
    almgren_chriss_trajectory,
)
from .base import OptimizingStrategy, SolverError, SolveResult, Strategy
from .builtin import AnalyticalStrategy, EqualStrategy, ExactStrategy, VwapStrategy
from .evidence import TrainingEvidence
from .exact import (
    project_capped_simplex,
    solve_exact,
    solve_exact_batch,
    waterfill_book,
    waterfill_linear,
    waterfill_power,
)
from .numerical import LinearOptimalStrategy, NonlinearOptimalStrategy, solve_cvxpy, solve_slsqp
from .policy import AdaptivePolicy, IntervalSnapshot, Observation, feasible_range, is_adaptive
from .problem import AllocationProblem
from .registry import available_strategies, get_strategy, register
from .robust import RobustStrategy, ShrunkModel
from .rounding import round_schedule
from .transient import (
    TransientOptimalStrategy,
    depletion,
    ow_schedule,
    solve_transient_qp,
    transient_cost,
)
from .validation import ScheduleError, check_schedule

__all__ = [
    "AdaptivePolicy",
    "AdaptiveStrategy",
    "AllocationProblem",
    "AlmgrenChrissStrategy",
    "AlmgrenChrissTrajectory",
    "AnalyticalStrategy",
    "EqualStrategy",
    "ExactStrategy",
    "IntervalSnapshot",
    "LinearOptimalStrategy",
    "NonlinearOptimalStrategy",
    "Observation",
    "OptimizingStrategy",
    "RobustStrategy",
    "ScheduleError",
    "ShrunkModel",
    "SolveResult",
    "SolverError",
    "Strategy",
    "TrainingEvidence",
    "TransientOptimalStrategy",
    "VwapStrategy",
    "almgren_chriss_trajectory",
    "available_strategies",
    "check_schedule",
    "depletion",
    "feasible_range",
    "get_strategy",
    "is_adaptive",
    "ow_schedule",
    "project_capped_simplex",
    "register",
    "round_schedule",
    "solve_cvxpy",
    "solve_exact",
    "solve_exact_batch",
    "solve_slsqp",
    "solve_transient_qp",
    "transient_cost",
    "waterfill_book",
    "waterfill_linear",
    "waterfill_power",
]
