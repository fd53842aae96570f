import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from models import InfeasibleProblemError, InvalidParameterError, LinearImpact
from strategies import round_schedule, solve_exact


@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 2**32 - 1), n=hst.integers(1, 390), lot=hst.sampled_from([1, 10, 100]))
def test_round_keeps_total_and_bounds(seed, n, lot):
    rng = np.random.default_rng(seed)
    lots = int(rng.integers(n, 50 * n))
    s = float(lots * lot)
    up = np.ceil(rng.uniform(1.2, 4.0, n) * s / n / lot) * lot
    model = LinearImpact(beta=rng.uniform(1e-6, 1e-5, n))
    x = solve_exact(model, s, upper=up)
    r = round_schedule(x, lot=lot, upper=up)
    assert r.sum() == s
    assert np.all(r % lot == 0) and np.all(r >= 0) and np.all(r <= up)
    assert np.all(np.abs(r - x) < lot + 1e-9)


def test_largest_remainder():
    np.testing.assert_array_equal(round_schedule([1.2, 1.7, 2.1]), [1, 2, 2])
    np.testing.assert_array_equal(round_schedule([1.4, 1.4, 1.2], lower=[0, 0, 2]), [1, 1, 2])


def test_errors():
    with pytest.raises(InvalidParameterError, match="whole number of lots"):
        round_schedule([1.5, 1.0])
    with pytest.raises(InvalidParameterError, match="lot"):
        round_schedule([1.0], lot=0)
    with pytest.raises(InfeasibleProblemError, match="shortfall"):
        round_schedule([1.5, 1.5], upper=[1.2, 1.2])
