from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from models import InvalidParameterError
from strategies import Strategy, available_strategies, get_strategy
from strategies.registry import resolve_strategy_class
from strategies.testing import check_strategy, default_problems, parametrize_with_checks

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
    assert "check_not_worse_than_equal" in names and len(names) == 9


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
