"""fit_impact_model options against independent least squares: intercept modes, pooled
exponent, standard errors, day screening, fit_info, and fit_per_day."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.optimize import curve_fit

from models import (
    BookSnapshots,
    DataError,
    FitWarning,
    fit_impact_model,
    fit_per_day,
    load_model,
    regular_session_starts,
)

TICK = 0.01


def _books(ask_off, ask_sz, bid_off, bid_sz, mid):
    days, n, _ = ask_off.shape
    return BookSnapshots(
        bid_px=mid[..., None] - bid_off,
        bid_sz=bid_sz,
        ask_px=mid[..., None] + ask_off,
        ask_sz=ask_sz,
        volume=np.ones((days, n)),
        dates=np.datetime64("2024-01-02") + np.arange(days),
        interval_starts=regular_session_starts()[:n],
    )


def _random_side(rng, days, n, levels, hs):
    steps = rng.uniform(0.5, 2.0, (days, n, levels)) * TICK
    steps[..., 0] = 0.0
    off = hs[..., None] + np.cumsum(steps, axis=-1)
    sizes = rng.lognormal(np.log(300.0), 0.6, (days, n, levels))
    return off, sizes


def _asymmetric(seed=0, days=4, n=5, levels=8):
    """Books whose bids and asks differ in depth and shape (same touch spread)."""
    rng = np.random.default_rng(seed)
    hs = rng.uniform(2.0, 4.0, (days, n)) * TICK
    ask_off, ask_sz = _random_side(rng, days, n, levels, hs)
    bid_off, bid_sz = _random_side(rng, days, n, levels, hs)
    bid_sz = 4.0 * bid_sz  # a deeper bid side: a sell fit must not see the asks
    mid = 50.0 + rng.normal(0, 0.1, (days, n))
    return _books(ask_off, ask_sz, bid_off, bid_sz, mid), (ask_off, ask_sz), (bid_off, bid_sz), hs


def _slippage_points(off, sz):
    """Independent pandas-free recomputation: VWAP slippage at each cumulative depth."""
    q = np.cumsum(sz, axis=-1)
    return q, np.cumsum(sz * off, axis=-1) / q


# ---------------------------------------------------------------------- intercept modes
@pytest.mark.parametrize("h", ["fit", "per_day", "half_spread", "zero"])
def test_asymmetric_books_buy_fits_asks_and_sell_fits_bids(h):
    books, asks, bids, hs = _asymmetric()
    days, n = hs.shape
    for side, (off, sz) in (("buy", asks), ("sell", bids)):
        model = fit_impact_model(books, "linear", side, h=h)
        x, y = _slippage_points(off, sz)
        for t in range(n):
            xt, yt = x[:, t], y[:, t]  # (days, levels)
            if h == "fit":
                design = np.column_stack([np.ones(xt.size), xt.ravel()])
                coef = np.linalg.lstsq(design, yt.ravel(), rcond=None)[0]
                assert coef[0] > 0  # the constraint h >= 0 is not active here
                ref_beta, ref_h = coef[1], coef[0]
            elif h == "per_day":
                dummies = np.repeat(np.eye(days), xt.shape[1], axis=0)
                design = np.column_stack([dummies, xt.ravel()])
                coef = np.linalg.lstsq(design, yt.ravel(), rcond=None)[0]
                ref_beta, ref_h = coef[-1], coef[:-1].mean()
            elif h == "half_spread":
                target = (yt - hs[:, t, None]).ravel()
                ref_beta = (target @ xt.ravel()) / (xt.ravel() @ xt.ravel())
                ref_h = hs[:, t].mean()
            else:
                ref_beta = (yt.ravel() @ xt.ravel()) / (xt.ravel() @ xt.ravel())
                ref_h = 0.0
            np.testing.assert_allclose(model.beta[t], ref_beta, rtol=1e-8)
            np.testing.assert_allclose(model.h[t], ref_h, rtol=1e-8, atol=1e-14)
    buy = fit_impact_model(books, "linear", "buy", h=h)
    sell = fit_impact_model(books, "linear", "sell", h=h)
    # The deeper bid side has a flatter slippage curve.
    assert np.all(sell.beta < buy.beta)


def test_asymmetric_power_with_fixed_exponent_matches_least_squares():
    books, asks, bids, _ = _asymmetric(seed=1)
    for side, (off, sz) in (("buy", asks), ("sell", bids)):
        model = fit_impact_model(books, "power", side, h="fit", delta=0.6)
        x, y = _slippage_points(off, sz)
        for t in range(books.n_intervals):
            design = np.column_stack([np.ones(x[:, t].size), x[:, t].ravel() ** 0.6])
            coef = np.linalg.lstsq(design, y[:, t].ravel(), rcond=None)[0]
            assert coef[0] > 0
            np.testing.assert_allclose([model.h[t], model.alpha[t]], coef, rtol=1e-7)


def test_per_day_intercepts_remove_the_between_day_bias():
    # Every day has slope 1e-5 $/share per share, but deep days (1,000 shares per level
    # 2 cents apart) have a tight spread and thin days (100 shares 0.2 cents apart) a wide
    # one.  A pooled line sees low slippage at large sizes and high slippage at small ones:
    # it is far too flat.  Day intercepts leave only the within-day slope.
    n, levels = 3, 8
    deep = np.arange(levels) * 0.02 + 0.01, np.full(levels, 1000.0)
    thin = np.arange(levels) * 0.002 + 0.05, np.full(levels, 100.0)
    kinds = [deep, thin, deep, thin, deep]
    off = np.stack([np.broadcast_to(k[0], (n, levels)) for k in kinds])
    sz = np.stack([np.broadcast_to(k[1], (n, levels)) for k in kinds])
    books = _books(off, sz, off, sz, np.full((len(kinds), n), 40.0))
    # Thin days hold 10x less depth: screening would drop them as outliers.
    per_day = fit_impact_model(books, "linear", h="per_day", drop_days="none")
    np.testing.assert_allclose(per_day.beta, 1e-5, rtol=1e-9)
    # Day intercepts: hs - gap / 2 = 0 (deep) and 0.049 (thin); h is their mean over days.
    np.testing.assert_allclose(per_day.h, (3 * 0.0 + 2 * 0.049) / 5, rtol=1e-9)
    pooled = fit_impact_model(books, "linear", h="fit", drop_days="none")
    assert np.all(pooled.beta < 0.5e-5)


# ---------------------------------------------------------------------- exponents
def _power_books(h, alpha, delta, level_sizes, days=2):
    q = np.cumsum(level_sizes, axis=-1)
    q0 = np.concatenate([np.zeros(q.shape[:-1] + (1,)), q], axis=-1)
    cost = h[:, None] * q0 + alpha[:, None] * q0 ** (1 + delta[:, None])
    off = np.diff(cost, axis=-1) / level_sizes
    off = np.broadcast_to(off, (days,) + off.shape)
    sz = np.broadcast_to(level_sizes, off.shape)
    return _books(off, sz, off, sz, np.full(off.shape[:2], 60.0))


def test_pooled_exponent_recovers_a_common_delta():
    n = 5
    h = np.array([0.005, 0.01, 0.002, 0.02, 0.0])
    alpha = np.array([2e-3, 5e-4, 1e-2, 1e-4, 3e-3])
    sizes = np.broadcast_to(100.0 * 1.3 ** np.arange(10), (n, 10))
    books = _power_books(h, alpha, np.full(n, 0.7), sizes)
    model = fit_impact_model(books, "power", h="fit")
    # Noise-free: each interval's RSS vanishes at 0.7 and is floored at 1e-12 of its sum of
    # squares in the pooled objective, which limits the resolution to about 1e-6 in delta.
    np.testing.assert_allclose(model.delta, 0.7, rtol=1e-5)
    np.testing.assert_allclose(model.alpha, alpha, rtol=1e-3)
    np.testing.assert_allclose(model.h, h, rtol=2e-3, atol=1e-6)
    assert model.fit_info["delta_mode"] == "pooled" and model.fit_info["delta_at_bounds"] == 0


def _noisy_books(seed, days=4, n=6, levels=10):
    rng = np.random.default_rng(seed)
    hs = rng.uniform(2.0, 4.0, (days, n)) * TICK
    off, sz = _random_side(rng, days, n, levels, hs)
    return _books(off, sz, off, sz, 50.0 + np.zeros((days, n))), (off, sz), hs


@pytest.mark.parametrize("h", ["half_spread", "per_day"])
def test_pooled_exponent_maximises_the_profile_likelihood(h):
    # Independent reference: per-interval least squares by numpy at each exponent of a
    # fine grid, objective sum_t n_t log RSS_t; the fitted delta must do at least as well.
    books, (off, sz), hs = _noisy_books(seed=3)
    model = fit_impact_model(books, "power", h=h)
    x, y = _slippage_points(off, sz)
    days, n, levels = x.shape

    def objective(delta):
        total = 0.0
        for t in range(n):
            z = (x[:, t] ** delta).ravel()
            if h == "half_spread":
                target = (y[:, t] - hs[:, t, None]).ravel()
                design = z[:, None]
            else:
                target = y[:, t].ravel()
                design = np.column_stack([np.repeat(np.eye(days), levels, axis=0), z])
            resid = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
            total += target.size * np.log(resid @ resid)
        return total

    grid = np.exp(np.linspace(np.log(0.05), np.log(3.0), 600))
    values = np.array([objective(d) for d in grid])
    fitted = objective(float(model.delta[0]))
    assert fitted <= values.min() + 1e-9 * abs(values.min())
    best = grid[np.argmin(values)]
    assert model.delta[0] == pytest.approx(best, rel=0.01)


def test_per_interval_exponents_stay_available():
    n = 3
    delta = np.array([0.4, 0.9, 1.6])
    sizes = np.broadcast_to(100.0 * 1.3 ** np.arange(10), (n, 10))
    books = _power_books(np.full(n, 0.01), np.array([1e-3, 1e-4, 1e-6]), delta, sizes)
    model = fit_impact_model(books, "power", h="fit", delta="per_interval")
    np.testing.assert_allclose(model.delta, delta, rtol=1e-4)
    assert model.fit_info["delta_mode"] == "per_interval"
    pooled = fit_impact_model(books, "power", h="fit")
    assert np.ptp(pooled.delta) == 0


# ---------------------------------------------------------------------- standard errors
def _power_curve(x, h, alpha, delta):
    return h + alpha * x**delta


def _power_jac(x, h, alpha, delta):
    z = x**delta
    return np.column_stack([np.ones_like(x), z, alpha * z * np.log(x)])


def test_per_interval_standard_errors_match_curve_fit():
    # curve_fit works on the unscaled x: its covariance of (h, alpha, delta) is an
    # independent reference for the delta method alpha = b scale**-delta (cross term).
    books, (off, sz), _ = _noisy_books(seed=4)
    model = fit_impact_model(books, "power", h="fit", delta="per_interval")
    x, y = _slippage_points(off, sz)
    diag = model.diagnostics
    for t in range(books.n_intervals):
        xt, yt = x[:, t].ravel(), y[:, t].ravel()
        p0 = [model.h[t], model.alpha[t], model.delta[t]]
        p, cov = curve_fit(_power_curve, xt, yt, p0=p0, jac=_power_jac, method="lm")
        assert p[0] > 0
        np.testing.assert_allclose(p, p0, rtol=1e-5)
        ref = np.sqrt(np.diag(cov))
        got = diag.loc[t, ["stderr_h", "stderr_alpha", "stderr_delta"]].to_numpy(float)
        np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_alpha_standard_error_cross_term_sign():
    # Delta method by hand on the scaled fit, with both signs of the cross term: only the
    # one in fitting.py matches curve_fit's covariance of alpha in unscaled units.
    books, (off, sz), _ = _noisy_books(seed=5, n=3)
    model = fit_impact_model(books, "power", h="fit", delta="per_interval")
    x, y = _slippage_points(off, sz)
    t = 1
    xt, yt = x[:, t].ravel(), y[:, t].ravel()
    p0 = [model.h[t], model.alpha[t], model.delta[t]]
    _, cov = curve_fit(_power_curve, xt, yt, p0=p0, jac=_power_jac, method="lm")
    # The same fit on u = x / s: b = alpha s**delta; cov of (b, delta) from curve_fit too.
    s = 1234.5
    _, cov_u = curve_fit(
        _power_curve, xt / s, yt, p0=[p0[0], p0[1] * s ** p0[2], p0[2]], jac=_power_jac
    )
    alpha, delta = p0[1], p0[2]
    base = cov_u[1, 1] * s ** (-2 * delta) + (alpha * np.log(s)) ** 2 * cov_u[2, 2]
    cross = 2 * alpha * np.log(s) * cov_u[1, 2] * s**-delta
    right, wrong = np.sqrt(base - cross), np.sqrt(base + cross)
    assert right == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-4)
    assert abs(wrong / np.sqrt(cov[1, 1]) - 1) > 0.01
    assert model.diagnostics.loc[t, "stderr_alpha"] == pytest.approx(right, rel=1e-4)


def test_pooled_exponent_standard_errors_match_the_joint_least_squares():
    # Reference: the joint weighted least squares over every interval's (h_t, alpha_t)
    # and the shared delta, each interval's residuals divided by its own sigma_t, with
    # the analytic Jacobian in unscaled units: (J'J)^-1 directly, no Schur complement.
    books, (off, sz), _ = _noisy_books(seed=6, n=4)
    model = fit_impact_model(books, "power", h="fit")
    x, y = _slippage_points(off, sz)
    n = books.n_intervals
    d = float(model.delta[0])
    rows = []
    for t in range(n):
        xt, yt = x[:, t].ravel(), y[:, t].ravel()
        resid = yt - _power_curve(xt, model.h[t], model.alpha[t], d)
        sigma = np.sqrt(resid @ resid / (xt.size - 2))
        jac = _power_jac(xt, model.h[t], model.alpha[t], d) / sigma
        block = np.zeros((xt.size, 2 * n + 1))
        block[:, 2 * t : 2 * t + 2] = jac[:, :2]
        block[:, -1] = jac[:, 2]
        rows.append(block)
        # Stationarity of the joint fit in (h_t, alpha_t): the per-interval normal equations.
        assert abs(jac[:, :2].T @ (resid / sigma)).max() < 1e-6 * np.abs(jac).max()
    joint = np.concatenate(rows)
    cov = np.linalg.inv(joint.T @ joint)
    se = np.sqrt(np.diag(cov))
    diag = model.diagnostics
    np.testing.assert_allclose(diag["stderr_delta"], se[-1], rtol=1e-4)
    np.testing.assert_allclose(diag["stderr_h"], se[0 : 2 * n : 2], rtol=1e-4)
    np.testing.assert_allclose(diag["stderr_alpha"], se[1 : 2 * n : 2], rtol=1e-4)
    assert model.fit_info["delta_stderr"] == pytest.approx(se[-1], rel=1e-4)


@pytest.mark.parametrize("h", ["per_day", "fit", "half_spread"])
def test_linear_standard_errors_match_the_textbook_regression(h):
    # Reference: ordinary least squares with numpy on the design of each mode (day dummies,
    # a constant, or none after subtracting the half spread), sigma^2 = RSS / (n - p).
    books, (off, sz), hs = _noisy_books(seed=7)
    model = fit_impact_model(books, "linear", h=h)
    x, y = _slippage_points(off, sz)
    days, n, levels = x.shape
    for t in range(n):
        target = y[:, t].ravel()
        if h == "per_day":
            design = np.column_stack([np.repeat(np.eye(days), levels, axis=0), x[:, t].ravel()])
            h_weights = np.r_[np.full(days, 1.0 / days), 0.0]  # h is the mean day intercept
        elif h == "fit":
            design = np.column_stack([np.ones(days * levels), x[:, t].ravel()])
            h_weights = np.array([1.0, 0.0])
        else:
            design = x[:, t].ravel()[:, None]
            target = target - np.repeat(hs[:, t], levels)
            h_weights = None
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        resid = target - design @ coef
        dof = resid.size - design.shape[1]
        cov = resid @ resid / dof * np.linalg.inv(design.T @ design)
        np.testing.assert_allclose(model.beta[t], coef[-1], rtol=1e-9)
        np.testing.assert_allclose(model.diagnostics["stderr_beta"][t], np.sqrt(cov[-1, -1]))
        if h_weights is None:
            assert np.isnan(model.diagnostics["stderr_h"][t])
        else:
            np.testing.assert_allclose(
                model.diagnostics["stderr_h"][t], np.sqrt(h_weights @ cov @ h_weights)
            )


# ---------------------------------------------------------------------- bad days
def _days_with_one_extreme(seed=8, days=10, n=30, levels=10, extreme=9):
    rng = np.random.default_rng(seed)
    hs = np.full((days, n), 0.01)
    off, sz = _random_side(rng, days, n, levels, hs)
    # One day 30x wider and 50x thinner: a pooled line through it turns every slope down.
    off[extreme] *= 30.0
    sz[extreme] *= 0.02
    return _books(off, sz, off, sz, np.full((days, n), 100.0))


def test_an_extreme_training_day_is_dropped_and_reported():
    books = _days_with_one_extreme()
    with pytest.warns(FitWarning, match=r"dropped 1 of 10 training days: 2024-01-11 \(median"):
        model = fit_impact_model(books, "linear", h="fit")
    info = model.fit_info
    assert info["days"] == 10 and info["days_used"] == 9
    assert [d["day"] for d in info["dropped_days"]] == [9]
    # Both of its reasons, in one line.
    assert re.fullmatch(
        r"median half spread 30x the typical day's; median visible depth 0\.0\d+x the "
        r"typical day's",
        info["dropped_days"][0]["reason"],
    )
    assert info["dropped_days"][0]["date"] == "2024-01-11"
    assert info["intervals_filled"] == 0
    # Exactly the fit of the nine other days.
    nine = fit_impact_model(books.select_days(slice(0, 9)), "linear", h="fit")
    np.testing.assert_allclose(model.beta, nine.beta, rtol=1e-12)
    with pytest.warns(FitWarning, match=r"2024-01-11 \(dropped by the caller\)"):
        explicit = fit_impact_model(books, "linear", h="fit", drop_days=[9])
    np.testing.assert_array_equal(explicit.beta, model.beta)
    # Without screening the pooled line is ruined: no interval keeps an increasing fit.
    with pytest.raises(DataError, match="no interval of 30 could be fitted"):
        fit_impact_model(books, "linear", h="fit", drop_days="none")


def test_screening_keeps_heterogeneous_but_ordinary_days():
    rng = np.random.default_rng(9)
    days, n, levels = 8, 5, 10
    hs = rng.uniform(0.5, 2.0, (days, 1)) * np.full((days, n), TICK)  # 4x range of spreads
    off, sz = _random_side(rng, days, n, levels, hs)
    books = _books(off, sz, off, sz, np.full((days, n), 20.0))
    model = fit_impact_model(books, "power")
    assert model.fit_info["dropped_days"] == [] and model.fit_info["days_used"] == days


# ---------------------------------------------------------------------- fit_info, JSON
def test_fit_info_is_saved_with_the_model(tmp_path):
    books = _days_with_one_extreme(n=6)
    with pytest.warns(FitWarning):
        model = fit_impact_model(books, "power")
    info = model.fit_info
    for key in (
        "days",
        "days_used",
        "dropped_days",
        "intervals_filled",
        "r2_median",
        "delta_median",
        "delta_stderr",
    ):
        assert key in info
    path = model.save(tmp_path / "m.json")
    assert json.loads(path.read_text())["fit_info"]["days_used"] == 9
    loaded = load_model(path)
    assert loaded.fit_info == info
    book = fit_impact_model(books, "book")
    assert load_model(book.save(tmp_path / "b.json")).fit_info == {
        "kind": "book",
        "side": "buy",
        "days": 10,
        "statistic": "median",
    }


# ---------------------------------------------------------------------- per-day fits
@pytest.mark.parametrize("kind", ["linear", "power"])
def test_fit_per_day_matches_each_days_own_least_squares(kind):
    books, (off, sz), hs = _noisy_books(seed=10)
    res = fit_per_day(books, kind, h="fit")
    pooled = fit_impact_model(books, kind, h="fit")
    name = "beta" if kind == "linear" else "alpha"
    np.testing.assert_array_equal(getattr(res.pooled, name), getattr(pooled, name))
    delta = 1.0 if kind == "linear" else float(pooled.delta[0])
    x, y = _slippage_points(off, sz)
    days, n, _ = x.shape
    assert res.params[name].shape == (days, n) and res.valid.all()
    for d in range(days):
        for t in range(n):
            design = np.column_stack([np.ones(x.shape[-1]), x[d, t] ** delta])
            coef = np.linalg.lstsq(design, y[d, t], rcond=None)[0]
            # Least squares with h >= 0: at the bound, the slope through the origin.
            through_origin = (design[:, 1] @ y[d, t]) / (design[:, 1] @ design[:, 1])
            coef = coef if coef[0] >= 0 else np.array([0.0, through_origin])
            np.testing.assert_allclose(res.params["h"][d, t], coef[0], rtol=1e-7, atol=1e-15)
            np.testing.assert_allclose(res.params[name][d, t], coef[1], rtol=1e-7)
    disp = res.dispersion()
    np.testing.assert_allclose(disp[f"{name}_std"], res.params[name].std(axis=0, ddof=1))
    np.testing.assert_allclose(disp["h_mean"], res.params["h"].mean(axis=0))
    assert list(disp["days"]) == [days] * n


def test_fit_per_day_half_spread_and_dropped_days():
    books = _days_with_one_extreme(n=4)
    with pytest.warns(FitWarning, match="dropped 1 of 10"):
        res = fit_per_day(books, "linear")
    assert res.used_in_pooled.tolist() == [True] * 9 + [False]
    np.testing.assert_allclose(res.params["h"], 0.5 * books.spread)
    # The extreme day is fitted on its own (it is far steeper) but left out of dispersion.
    assert np.all(res.params["beta"][9] > 10 * res.params["beta"][:9].max(axis=0))
    assert list(res.dispersion()["days"]) == [9] * 4
