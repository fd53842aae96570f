"""Fitting cases that kill surviving mutants: Brent's method takes its parabolic steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from models.fitting import _brent

CENTRES = np.array([0.3, -0.7, 1.1])
LOW = np.array([-1.0, -2.0, 0.0])
HIGH = np.array([1.0, 0.5, 3.0])
START = np.array([0.9, 0.2, 2.5])

FUNCTIONS = {
    "parabola": lambda x: (x - CENTRES) ** 2 * np.array([1.0, 3.0, 0.5]),
    "quartic": lambda x: np.cosh(x - CENTRES) + 0.1 * (x - CENTRES) ** 4,
    "log-rss": lambda x: np.log1p((np.exp(x) - np.exp(CENTRES)) ** 2),
}


@pytest.mark.parametrize(
    ("name", "max_evaluations"), [("parabola", 5), ("quartic", 10), ("log-rss", 14)]
)
def test_brent_converges_superlinearly_on_smooth_rows(name, max_evaluations):
    # Golden sections alone need about 36 evaluations to shrink these brackets to 1e-7;
    # Brent's parabolic steps need as few as scipy's bounded Brent (fminbound) does, and a
    # parabola's minimum is found by the first parabolic step.
    fun = FUNCTIONS[name]
    calls = []

    def f(x):
        calls.append(x.copy())
        return fun(x)

    x = _brent(f, LOW.copy(), HIGH.copy(), START.copy(), fun(START))
    np.testing.assert_allclose(x, CENTRES, rtol=0, atol=1e-7)
    assert len(calls) <= max_evaluations
    for i in range(3):
        ref = minimize_scalar(
            lambda t, i=i: fun(np.full(3, t))[i],
            bounds=(LOW[i], HIGH[i]),
            method="bounded",
            options={"xatol": 1e-9},
        )
        assert x[i] == pytest.approx(ref.x, abs=1e-7)


def test_an_unknown_option_is_named():
    from models import BookSnapshots, fit_per_day, regular_session_starts
    from models.errors import InvalidParameterError

    shape = (2, 3, 2)
    offsets = np.broadcast_to([0.01, 0.02], shape)
    books = BookSnapshots(
        bid_px=50.0 - offsets,
        bid_sz=np.full(shape, 100.0),
        ask_px=50.0 + offsets,
        ask_sz=np.full(shape, 100.0),
        volume=np.ones(shape[:2]),
        dates=np.datetime64("2024-01-02") + np.arange(2),
        interval_starts=regular_session_starts()[:3],
    )
    with pytest.raises(InvalidParameterError, match=r"^option must be one of .*; got 'bogus'$"):
        fit_per_day(books, "linear", bogus=1)
