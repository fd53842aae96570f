import numpy as np
import pytest

from models import InfeasibleProblemError, InvalidParameterError, InvalidTypeError, LinearImpact
from strategies import AllocationProblem


@pytest.fixture
def model():
    return LinearImpact(beta=np.full(4, 1e-6))


def test_defaults(model):
    p = AllocationProblem(model, 1000)
    assert p.n_intervals == 4
    np.testing.assert_array_equal(p.lower, 0)
    assert np.all(np.isinf(p.upper))
    assert p.side == "buy" and p.volume_profile is None and not p.has_bounds


@pytest.mark.parametrize("s", [0, -5, np.nan, np.inf])
def test_total_shares(model, s):
    with pytest.raises(InvalidParameterError, match="total_shares"):
        AllocationProblem(model, s)


def test_bounds_validation(model):
    with pytest.raises(InvalidParameterError, match="lower must have shape"):
        AllocationProblem(model, 10, lower=np.zeros(3))
    with pytest.raises(InvalidParameterError, match="lower must be >= 0"):
        AllocationProblem(model, 10, lower=[-1, 0, 0, 0])
    with pytest.raises(InvalidParameterError, match="lower must be finite"):
        AllocationProblem(model, 10, lower=[np.inf, 0, 0, 0])
    with pytest.raises(InvalidParameterError, match="upper must be >= lower"):
        AllocationProblem(model, 10, lower=[2, 0, 0, 0], upper=[1, 5, 5, 5])


def test_infeasible_states_shortfall(model):
    with pytest.raises(InfeasibleProblemError, match="shortfall 600 shares"):
        AllocationProblem(model, 1000, upper=100)
    with pytest.raises(InfeasibleProblemError, match="excess 200 shares"):
        AllocationProblem(model, 1000, lower=300)
    AllocationProblem(model, 1000, lower=250, upper=250)


def test_side_and_profile(model):
    with pytest.raises(InvalidParameterError, match="side"):
        AllocationProblem(model, 10, side="hold")
    with pytest.raises(InvalidParameterError, match="side must match"):
        AllocationProblem(model, 10, side="sell")
    with pytest.raises(InvalidParameterError, match="volume_profile must be finite"):
        AllocationProblem(model, 10, volume_profile=[1, -1, 1, 1])
    with pytest.raises(InvalidParameterError, match="volume_profile must have shape"):
        AllocationProblem(model, 10, volume_profile=[1, 1])
    with pytest.raises(InvalidTypeError, match="model"):
        AllocationProblem(object(), 10)


def test_arrays_are_copies_and_readonly(model):
    lo = np.zeros(4)
    p = AllocationProblem(model, 10, lower=lo)
    lo[0] = 5
    assert p.lower[0] == 0
    with pytest.raises(ValueError):
        p.lower[0] = 1
