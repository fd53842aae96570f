"""Invariants of every impact model: c(0) = 0, increasing, convex, derivatives consistent."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models import BookImpact, LinearImpact, PowerLawImpact

N = 4
SETTINGS = settings(max_examples=40, deadline=None)

positive = st.floats(1e-7, 1e-2)
nonneg = st.floats(0.0, 0.2)


@st.composite
def linear_models(draw):
    beta = draw(st.lists(positive, min_size=N, max_size=N))
    h = draw(st.lists(nonneg, min_size=N, max_size=N))
    return LinearImpact(beta=beta, h=h)


@st.composite
def power_models(draw):
    alpha = draw(st.lists(positive, min_size=N, max_size=N))
    delta = draw(st.lists(st.floats(0.05, 3.0), min_size=N, max_size=N))
    h = draw(st.lists(nonneg, min_size=N, max_size=N))
    return PowerLawImpact(alpha=alpha, delta=delta, h=h)


@st.composite
def book_models(draw):
    levels = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    steps = rng.uniform(0.001, 0.05, (N, levels))
    offsets = np.cumsum(steps, axis=1)
    sizes = rng.uniform(1.0, 500.0, (N, levels))
    # Some intervals show fewer levels (trailing empty levels).
    shown = rng.integers(1, levels + 1, N)
    empty = np.arange(levels)[None, :] >= shown[:, None]
    offsets[empty] = np.nan
    sizes[empty] = 0.0
    return BookImpact(
        offsets=offsets,
        sizes=sizes,
        reference_mid=rng.uniform(5.0, 500.0, N),
        side=draw(st.sampled_from(["buy", "sell"])),
        beyond_depth_bps=draw(st.floats(0.0, 100.0)),
    )


any_model = st.one_of(linear_models(), power_models(), book_models())
sizes = st.lists(st.floats(0.0, 5000.0), min_size=N, max_size=N).map(np.array)


@SETTINGS
@given(model=any_model, a=sizes, b=sizes, t=st.floats(0.0, 1.0))
def test_cost_zero_increasing_convex(model, a, b, t):
    np.testing.assert_array_equal(model.cost(np.zeros(N)), 0.0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    c_lo, c_hi = model.cost(lo), model.cost(hi)
    tol = 1e-9 * (1.0 + np.abs(c_hi))
    assert np.all(c_lo <= c_hi + tol)
    assert np.all(model.cost(lo) >= 0)
    mix = t * a + (1 - t) * b
    assert np.all(model.cost(mix) <= t * model.cost(a) + (1 - t) * model.cost(b) + tol)
    # Marginal cost is non-decreasing too (convexity) and non-negative (increasing).
    m_lo, m_hi = model.marginal_cost(lo), model.marginal_cost(hi)
    assert np.all(m_lo >= 0)
    assert np.all(m_lo <= m_hi + 1e-12 * (1 + np.abs(m_hi)))


@SETTINGS
@given(model=st.one_of(linear_models(), power_models()), x=sizes)
def test_smooth_models_agree_with_finite_differences(model, x):
    x = x + 1.0  # away from 0, where x**delta has an unbounded derivative for delta < 1
    eps = 1e-4 * x
    fd = (model.cost(x + eps) - model.cost(x - eps)) / (2 * eps)
    np.testing.assert_allclose(model.marginal_cost(x), fd, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(model.slippage(x), model.cost(x) / x, rtol=1e-12)


@SETTINGS
@given(model=book_models(), x=sizes)
def test_book_marginal_is_left_derivative(model, x):
    x = x + 1.0
    eps = 1e-3
    cum = np.cumsum(model.sizes, axis=1)
    # The cost is piecewise linear, then quadratic beyond the visible depth: compare away
    # from the level boundaries, where the mean of the marginal over [x - eps, x] is exact.
    near_kink = np.any(np.abs(cum - x[:, None]) < 2 * eps, axis=1)
    fd = (model.cost(x) - model.cost(x - eps)) / eps
    mean_marginal = 0.5 * (model.marginal_cost(x) + model.marginal_cost(x - eps))
    np.testing.assert_allclose(mean_marginal[~near_kink], fd[~near_kink], rtol=1e-6, atol=1e-9)
    # Beyond the depth, the marginal is the deepest offset plus the tail's slope.
    beyond = x > model.visible_depth
    expected = model.deepest_offset + model.tail_slope * (x - model.visible_depth)
    np.testing.assert_allclose(model.marginal_cost(x)[beyond], expected[beyond], rtol=1e-12)
    np.testing.assert_allclose(model.slippage(x), model.cost(x) / x, rtol=1e-10)
