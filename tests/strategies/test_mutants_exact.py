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
