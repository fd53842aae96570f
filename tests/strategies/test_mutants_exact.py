"""Exact-solver cases that kill surviving mutants: the power-law Newton's closed-form start."""

from __future__ import annotations

import numpy as np
import pytest

import strategies.exact as exact
from models import PowerLawImpact
from strategies import solve_exact_batch


@pytest.mark.parametrize("delta", [0.5, 0.7, 1.5])
def test_power_newton_start_is_exact_with_one_exponent_and_one_intercept(delta, monkeypatch):
    # Without bounds the multiplier has a closed form when every interval shares delta and
    # h: lambda = h + (S / sum_t a_t**(-1/delta))**delta with a_t = alpha_t (1 + delta), and
    # x_t = ((lambda - h) / a_t)**(1/delta).  Both Newton paths start there: one evaluation.
    rng = np.random.default_rng(0)
    n, s, h = 50, 1e5, 0.01
    alpha = rng.uniform(1e-4, 1e-3, n)
    a = alpha * (1 + delta)
    lam = h + (s / np.sum(a ** (-1 / delta))) ** delta
    expected = ((lam - h) / a) ** (1 / delta)
    x, n_eval = exact._power_1d(
        alpha, np.full(n, delta), np.full(n, h), s, np.zeros(n), np.full(n, np.inf)
    )
    assert n_eval == 1
    np.testing.assert_allclose(x, expected, rtol=1e-12)
    calls = []
    real = exact._power_inverse
    monkeypatch.setattr(exact, "_power_inverse", lambda *args: calls.append(1) or real(*args))
    model = PowerLawImpact(alpha=alpha, delta=np.full(n, delta), h=np.full(n, h))
    xb = solve_exact_batch(model, [s, s])
    assert len(calls) <= 2
    np.testing.assert_allclose(xb, np.stack([expected, expected]), rtol=1e-12)


def test_one_problem_gives_one_row():
    n = 6
    rng = np.random.default_rng(2)
    beta = rng.uniform(1e-6, 1e-5, n)
    shapes = {
        "piecewise_linear": exact.waterfill_piecewise_linear(1 / beta, np.zeros(n), 100.0),
        "linear": exact.waterfill_linear(beta, 0.01, 100.0, upper=np.full(n, 40.0)),
        "power": exact.waterfill_power(beta, np.full(n, 0.5), 0.01, 100.0),
        "book": exact.waterfill_book(
            np.tile([0.01, 0.02], (n, 1)), np.full((n, 2), 30.0), 100.0, lower=np.zeros(n)
        ),
        "projection": exact.project_capped_simplex(rng.uniform(0, 30, n), 100.0),
    }
    for name, x in shapes.items():
        assert x.shape == (1, n), name
        assert x.sum() == pytest.approx(100.0, rel=1e-12), name


def test_single_linear_and_pure_power_problems_take_the_fast_path(monkeypatch):
    # solve_exact's documented dispatch: a linear model and a power law with h = 0 and one
    # delta are solved by variable fixing on 1-D arrays, never as a batch; 'breakpoints' is
    # the sorted-breakpoint method when asked for.
    from models import LinearImpact

    rng = np.random.default_rng(4)
    n = 8
    models = [
        LinearImpact(beta=rng.uniform(1e-6, 1e-5, n), h=0.01),
        PowerLawImpact(alpha=rng.uniform(1e-4, 1e-3, n), delta=0.6, h=0.0),
    ]
    expected = [exact.solve_exact_batch(m, 500.0)[0] for m in models]

    def no_batch(*args, **kwargs):
        raise AssertionError("the single-problem path must not build a batch")

    monkeypatch.setattr(exact, "solve_exact_batch", no_batch)
    for model, ref in zip(models, expected, strict=True):
        np.testing.assert_allclose(exact.solve_exact(model, 500.0), ref, rtol=1e-9)
    calls = []
    real = exact._breakpoints
    monkeypatch.setattr(exact, "_breakpoints", lambda *a: calls.append(1) or real(*a))
    k = rng.uniform(1.0, 2.0, n)
    x = exact.waterfill_piecewise_linear(k, np.zeros(n), 10.0, method="breakpoints")
    assert calls == [1]
    np.testing.assert_allclose(x[0], 10.0 * k / k.sum(), rtol=1e-12)
