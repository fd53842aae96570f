import sys
import types
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from models import InvalidParameterError, InvalidTypeError, LinearImpact
from strategies import (
    AllocationProblem,
    EqualStrategy,
    Strategy,
    available_strategies,
    get_strategy,
    register,
)

BUILTINS = {
    "equal",
    "vwap",
    "analytical",
    "exact",
    "linear-optimal",
    "nonlinear-optimal",
    "almgren-chriss",
}


@dataclass(frozen=True)
class FrontLoaded(Strategy):
    """Test plugin: geometric front-loading."""

    description: ClassVar[str] = "front-loaded test plugin"
    decay: float = 0.9

    def schedule(self, problem):
        problem = self._check(problem)
        w = self.decay ** np.arange(problem.n_intervals)
        return problem.total_shares * w / w.sum()


def test_builtins_listed():
    names = available_strategies()
    assert BUILTINS <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())


def test_unknown_name_lists_valid():
    with pytest.raises(InvalidParameterError) as err:
        get_strategy("twapp")
    msg = str(err.value)
    assert "twapp" in msg and "'equal'" in msg and "'exact'" in msg


def test_bad_param_named():
    with pytest.raises(InvalidParameterError, match="'bogus'"):
        get_strategy("equal", bogus=1)
    with pytest.raises(InvalidParameterError, match="solver"):
        get_strategy("linear-optimal", solver="newton")
    with pytest.raises(InvalidParameterError, match="cvxpy_solver"):
        get_strategy("linear-optimal", cvxpy_solver="NOPE")


def test_module_class_string(monkeypatch):
    mod = types.ModuleType("tradealloc_test_plugin")
    mod.FrontLoaded = FrontLoaded
    monkeypatch.setitem(sys.modules, "tradealloc_test_plugin", mod)
    s = get_strategy("tradealloc_test_plugin:FrontLoaded", decay=0.5)
    assert isinstance(s, FrontLoaded) and s.decay == 0.5
    p = AllocationProblem(LinearImpact(beta=np.ones(3)), 7.0)
    np.testing.assert_allclose(s.schedule(p), 7 * np.array([4, 2, 1]) / 7)
    with pytest.raises(InvalidParameterError, match="Nope"):
        get_strategy("tradealloc_test_plugin:Nope")
    with pytest.raises(InvalidParameterError, match="importable"):
        get_strategy("no_such_module_xyz:Thing")


def test_register_decorator_and_entry_points(monkeypatch):
    @register("test-front-loaded")
    @dataclass(frozen=True)
    class Registered(FrontLoaded):
        """A registered subclass with nothing of its own."""

    assert isinstance(get_strategy("test-front-loaded"), Registered)
    assert "test-front-loaded" in available_strategies()

    class FakeEP:
        name = "ep-front-loaded"
        value = "x:FrontLoaded"

        def load(self):
            return FrontLoaded

    import strategies.registry as reg

    monkeypatch.setattr(
        reg, "entry_points", lambda group: [FakeEP()] if group == reg.ENTRY_POINT_GROUP else []
    )
    assert isinstance(get_strategy("ep-front-loaded"), FrontLoaded)
    assert available_strategies()["ep-front-loaded"] == "front-loaded test plugin"


def test_register_rejects_non_strategy():
    with pytest.raises(InvalidTypeError, match="Strategy subclass"):
        register("bad")(int)
    assert get_strategy("equal") == EqualStrategy()
