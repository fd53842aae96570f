"""The numpy AR(1) filter against scipy.signal.lfilter (the independent reference)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from simulator.filters import ar1_filter


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    axis_pick=st.integers(0, 2),
    coefficient=st.floats(-0.999, 0.999),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_lfilter(shape, axis_pick, coefficient, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    axis = axis_pick % len(shape)
    expected = lfilter([1.0], [1.0, -coefficient], x, axis=axis)
    got = ar1_filter(x, coefficient, axis=axis)
    assert got.shape == x.shape
    scale = 1.0 + np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("coefficient", [0.0, 0.5, 0.999999])
def test_long_series_and_exact_small_cases(coefficient):
    x = np.random.default_rng(1).standard_normal((3, 390))
    np.testing.assert_allclose(
        ar1_filter(x, coefficient), lfilter([1.0], [1.0, -coefficient], x), atol=1e-11
    )
    # By hand: y = (1, 1 + c, 1 + c + c^2).
    c = coefficient
    np.testing.assert_allclose(ar1_filter(np.ones(3), c), [1.0, 1.0 + c, 1.0 + c + c * c])


def test_input_untouched_and_views_allowed():
    x = np.arange(10.0)
    before = x.copy()
    reversed_view = x[::-1]
    np.testing.assert_allclose(
        ar1_filter(reversed_view, 0.7), lfilter([1.0], [1.0, -0.7], reversed_view), atol=1e-12
    )
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(ar1_filter([1, 2, 3], 0.5), [1.0, 2.5, 4.25])
