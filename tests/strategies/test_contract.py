from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from models import InvalidParameterError, InvalidTypeError
from strategies import Strategy, available_strategies, get_strategy
from strategies.registry import resolve_strategy_class
from strategies.testing import (
    CHECKS,
    check_not_worse_than_equal,
    check_strategy,
    default_problems,
    parametrize_with_checks,
)

PROBLEMS = default_problems(n_intervals=16)


@dataclass(frozen=True)
class LateHeavy(Strategy):
    """Plugin defined in the tests: linear ramp, projected onto the bounds."""

    description: ClassVar[str] = "ramp test plugin"
    invalid_params: ClassVar[tuple] = ({"slope": -1.0},)
    slope: float = 1.0

    def __post_init__(self):
        if not self.slope >= 0:
            raise InvalidParameterError(f"slope must be >= 0; got {self.slope!r}")

    def schedule(self, problem):
        from strategies import project_capped_simplex

        problem = self._check(problem)
        w = 1.0 + self.slope * np.arange(problem.n_intervals)
        target = problem.total_shares * w / w.sum()
        return project_capped_simplex(target, problem.total_shares, problem.lower, problem.upper)[0]


def _registered():
    out = []
    for name in sorted(available_strategies()):
        cls = resolve_strategy_class(name)
        if name == "linear-optimal":
            out += [cls(), cls(solver="slsqp")]
        elif name == "nonlinear-optimal":
            out += [cls(), cls(solver="exact")]
        elif name == "almgren-chriss":
            out += [cls(), cls(risk_aversion=1e-6, sigma=0.02)]
        else:
            out.append(cls())
    return out


@parametrize_with_checks(_registered(), problems=PROBLEMS)
def test_registered_strategies(strategy, check):
    check(strategy)


@parametrize_with_checks([LateHeavy, LateHeavy(slope=0.0)], problems=PROBLEMS)
def test_plugin_strategy(strategy, check):
    check(strategy)


def test_check_strategy_runs_all():
    names = check_strategy(get_strategy("exact"), PROBLEMS)
    assert "check_not_worse_than_equal" in names and len(names) == len(CHECKS) == 10


def test_not_worse_than_equal_is_not_a_silent_pass_for_non_optimisers():
    # equal does not optimise the model: the check is not applicable, so it is not run (and
    # not counted as passed), and calling it directly is an error.
    names = check_strategy(get_strategy("equal"), PROBLEMS)
    assert "check_not_worse_than_equal" not in names and len(names) == len(CHECKS) - 1
    with pytest.raises(TypeError, match="optimizes_model"):
        check_not_worse_than_equal(get_strategy("equal"), PROBLEMS)


@dataclass(frozen=True)
class Naive(Strategy):
    """A plugin that neither checks its problem nor respects the caps."""

    def schedule(self, problem):
        return np.full(problem.n_intervals, problem.total_shares / problem.n_intervals)


def test_plugin_without_a_problem_check_still_rejects_non_problems():
    # The base class checks the problem before a subclass's schedule runs.
    with pytest.raises(InvalidTypeError, match="must be an AllocationProblem"):
        Naive().schedule(np.ones(3))
    free = [p for p in PROBLEMS if not p.has_bounds]
    assert check_strategy(Naive(), free)[-1] == "check_bad_parameters"
    # ... and ignoring the caps is caught by the evaluator's own gate.
    with pytest.raises(AssertionError, match="check_valid_schedule.*above the cap"):
        check_strategy(Naive(), PROBLEMS)


@dataclass(frozen=True)
class Broken(LateHeavy):
    optimizes_model: ClassVar[bool] = True

    def schedule(self, problem):
        return super().schedule(problem) * (1 + 1e-6)


@dataclass(frozen=True)
class Worse(LateHeavy):
    optimizes_model: ClassVar[bool] = True


def test_checks_catch_a_broken_strategy():
    with pytest.raises(AssertionError, match="check_sums_to_total"):
        check_strategy(Broken, PROBLEMS)
    with pytest.raises(AssertionError, match="check_not_worse_than_equal"):
        check_strategy(Worse(slope=5.0), PROBLEMS)
